//! The credential a cluster's requests carry, and its refresh after a 401.
//!
//! kube builds most credentials (static tokens, passwords, exec plugins,
//! auth providers). A token file lazyhost reads itself: it trims the
//! whitespace around the token, as kubectl does, so a file written with
//! `echo` works, and it can read the file again at once after a 401.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Request};
use kube::client::{Body, ConfigExt};
use parking_lot::Mutex;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

use super::HttpService;
use crate::pool::ConnectError;

/// A token file is read again when its token is older than this, so a
/// rotation reaches requests without a 401 first.
const TOKEN_FILE_RELOAD: Duration = Duration::from_secs(60);

/// The source of a cluster's credential.
pub(super) enum Credential {
    /// No header: client certificates, or a user with nothing set.
    Nothing,
    /// Built by kube from the user entry, held in a configuration with only
    /// the cluster URL and the user.
    Kube(Box<kube::Config>),
    /// A token file, read by lazyhost.
    TokenFile(PathBuf),
}

/// A credential once set up: what [`Credential::wrap`] puts on requests.
pub(super) enum Auth {
    /// Requests go out as they are. An exec plugin that returns a client
    /// certificate ends here too; its certificate is in the TLS settings.
    Nothing,
    /// kube's layer, which sets the `Authorization` header.
    Kube(kube::client::middleware::AuthLayer),
    /// The token of a file.
    TokenFile(Arc<TokenFile>),
}

/// The outcome of a credential refresh after a 401.
pub(super) enum Refreshed {
    /// The credential cannot be refreshed, or the refresh failed.
    No,
    /// The service in use now carries the new credential.
    InPlace,
    /// The new credential needs this service in place of the old one.
    Replace(HttpService),
}

impl Credential {
    /// Returns the credential of `config`'s user entry.
    pub(super) fn of(config: &kube::Config) -> Self {
        let auth = &config.auth_info;
        let kube_builds = auth.token.is_some()
            || auth.exec.is_some()
            || auth.auth_provider.is_some()
            || auth.username.is_some();
        if !kube_builds && let Some(path) = &auth.token_file {
            return Self::TokenFile(PathBuf::from(path));
        }
        if !kube_builds && auth.token_file.is_none() {
            return Self::Nothing;
        }
        let mut source = kube::Config::new(config.cluster_url.clone());
        source.auth_info = auth.clone();
        Self::Kube(Box::new(source))
    }

    /// Sets the credential up: runs kube's setup, which may run an exec
    /// plugin, on a blocking thread, or reads the token file.
    pub(super) async fn setup(&self) -> Result<Auth, ConnectError> {
        match self {
            Self::Nothing => Ok(Auth::Nothing),
            Self::TokenFile(path) => Ok(Auth::TokenFile(Arc::new(TokenFile::open(path)?))),
            Self::Kube(source) => {
                let source = source.as_ref().clone();
                let command = exec_command(&source);
                let layer = tokio::task::spawn_blocking(move || source.auth_layer())
                    .await
                    .map_err(|error| ConnectError::Interrupted(error.to_string()))?
                    .map_err(|error| credential_error(error, command.as_deref()))?;
                Ok(layer.map_or(Auth::Nothing, Auth::Kube))
            }
        }
    }

    /// Refreshes the credential after a 401: reads the token file again,
    /// or runs kube's setup again, which runs an exec plugin again. A
    /// static token, password or client certificate cannot be refreshed.
    pub(super) async fn refresh(&self, auth: &Auth, http: &HttpService) -> Refreshed {
        let refreshable = match self {
            Self::Nothing => false,
            Self::TokenFile(_) => true,
            Self::Kube(source) => {
                let user = &source.auth_info;
                user.exec.is_some() || user.auth_provider.is_some()
            }
        };
        if !refreshable {
            return Refreshed::No;
        }
        if let Auth::TokenFile(file) = auth {
            return match file.reload() {
                Ok(()) => Refreshed::InPlace,
                Err(error) => {
                    tracing::warn!(%error, "failed to refresh the credential after a 401 reply");
                    Refreshed::No
                }
            };
        }
        match self.setup().await {
            Ok(auth @ Auth::Kube(_)) => Refreshed::Replace(wrap(&auth, http)),
            Ok(_) => Refreshed::No,
            Err(error) => {
                tracing::warn!(%error, "failed to refresh the credential after a 401 reply");
                Refreshed::No
            }
        }
    }
}

/// Returns `http` with `auth` set on every request.
pub(super) fn wrap(auth: &Auth, http: &HttpService) -> HttpService {
    match auth {
        Auth::Nothing => http.clone(),
        Auth::Kube(layer) => HttpService::new(layer.layer(http.clone())),
        Auth::TokenFile(file) => {
            let file = Arc::clone(file);
            HttpService::new(http.clone().map_request(move |mut request: Request<Body>| {
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, file.header());
                request
            }))
        }
    }
}

/// Returns the exec plugin's command, for messages.
fn exec_command(config: &kube::Config) -> Option<String> {
    config.auth_info.exec.as_ref()?.command.clone()
}

/// Turns kube's credential errors into messages that name the plugin and
/// say what to do, because kube's own text contains the process's debug output.
fn credential_error(error: kube::Error, command: Option<&str>) -> ConnectError {
    use kube::client::AuthError;

    let command = command.unwrap_or("the exec plugin");
    let message = match &error {
        kube::Error::Auth(AuthError::AuthExecRun { out, .. }) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            let message = if stderr.is_empty() {
                "no message on stderr".to_string()
            } else {
                stderr.to_string()
            };
            format!(
                "exec credential plugin `{command}` failed with {}: {message}; \
                 fix the plugin or the user's exec entry in the kubeconfig",
                out.status
            )
        }
        kube::Error::Auth(AuthError::AuthExecStart(io)) => format!(
            "cannot start exec credential plugin `{command}`: {io}; \
             check the command of the user's exec entry in the kubeconfig"
        ),
        kube::Error::Auth(AuthError::ExecPluginFailed | AuthError::AuthExecParse(_)) => format!(
            "exec credential plugin `{command}` printed no valid ExecCredential: {}; \
             it must print a JSON ExecCredential with a status on stdout",
            crate::cluster::kube_message(&error)
        ),
        _ => return ConnectError::Build(error),
    };
    ConnectError::Credential(message)
}

/// A bearer token read from a file, read again when it is older than a
/// minute or after a 401.
pub(super) struct TokenFile {
    path: PathBuf,
    current: Mutex<(HeaderValue, Instant)>,
}

impl TokenFile {
    fn open(path: &Path) -> Result<Self, ConnectError> {
        let header = read_token(path).map_err(ConnectError::Credential)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: Mutex::new((header, Instant::now())),
        })
    }

    /// Returns the header to send, reading the file again when the token
    /// is due; a failed read keeps the last good token.
    fn header(&self) -> HeaderValue {
        let (header, read_at) = self.current.lock().clone();
        if read_at.elapsed() < TOKEN_FILE_RELOAD {
            return header;
        }
        match read_token(&self.path) {
            Ok(fresh) => {
                *self.current.lock() = (fresh.clone(), Instant::now());
                fresh
            }
            Err(error) => {
                tracing::warn!(%error, "failed to read the token file again; keeping the last token");
                *self.current.lock() = (header.clone(), Instant::now());
                header
            }
        }
    }

    /// Reads the file again now.
    fn reload(&self) -> Result<(), String> {
        let header = read_token(&self.path)?;
        *self.current.lock() = (header, Instant::now());
        Ok(())
    }
}

/// Reads a token file into an `Authorization` header value.
fn read_token(path: &Path) -> Result<HeaderValue, String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "cannot read token file `{}`: {error}; check the tokenFile of the kubeconfig user",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "token file `{}` is empty; write the bearer token into it",
            path.display()
        ));
    }
    let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        format!(
            "token file `{}` contains characters a token cannot have; \
             it must hold one bearer token",
            path.display()
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc123\n").unwrap();
        let header = read_token(&path).unwrap();
        assert_eq!(header.to_str().unwrap(), "Bearer abc123");
        assert!(header.is_sensitive());
    }

    #[test]
    fn bad_token_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let missing = read_token(&path).unwrap_err();
        assert!(
            missing.starts_with(&format!("cannot read token file `{}`: ", path.display())),
            "{missing}"
        );
        std::fs::write(&path, " \n").unwrap();
        assert_eq!(
            read_token(&path).unwrap_err(),
            format!(
                "token file `{}` is empty; write the bearer token into it",
                path.display()
            )
        );
        std::fs::write(&path, "two\nlines").unwrap();
        assert!(
            read_token(&path)
                .unwrap_err()
                .contains("must hold one bearer token")
        );
    }
}
