//! The client of a running `lazyhost serve`, for `lazyhost stats --server`
//! and `lazyhost clusters --server`: plain HTTP/1.1 GET requests with an
//! optional bearer token.

use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::monitor::Snapshot;
use crate::output::ClusterRow;

/// Environment variable with the daemon's bearer token.
pub const TOKEN_ENV: &str = "LAZYHOST_TOKEN";

/// Time to open the TCP connection to the daemon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time for one whole request, reply body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest reply body read, in bytes.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Errors of a request to the daemon. Each names the daemon's URL.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The `--server` value is not an `http://` URL.
    #[error("invalid --server URL `{url}`: {reason}; use a form such as http://127.0.0.1:9464")]
    InvalidUrl {
        /// The value given.
        url: String,
        /// The problem found.
        reason: String,
    },
    /// No connection could be made, or it broke before a reply came.
    #[error(
        "cannot reach lazyhost at {url}: {reason}; is `lazyhost serve` running with --listen {listen}?"
    )]
    Unreachable {
        /// The daemon's URL.
        url: String,
        /// The connection error.
        reason: String,
        /// The host and port of the URL.
        listen: String,
    },
    /// No whole reply came within the request timeout.
    #[error("lazyhost at {url} did not reply to {path} within {timeout:?}")]
    Timeout {
        /// The daemon's URL.
        url: String,
        /// The endpoint requested.
        path: String,
        /// The limit.
        timeout: Duration,
    },
    /// The daemon requires a token and none was given.
    #[error("lazyhost at {url} requires a bearer token: pass --token or set {TOKEN_ENV}")]
    TokenRequired {
        /// The daemon's URL.
        url: String,
    },
    /// The daemon rejected the token given.
    #[error(
        "lazyhost at {url} rejected the bearer token: pass the daemon's token with --token or \
         {TOKEN_ENV}"
    )]
    TokenRejected {
        /// The daemon's URL.
        url: String,
    },
    /// The daemon replied with an error status.
    #[error("lazyhost at {url} returned HTTP {status} for {path}: {message}")]
    Status {
        /// The daemon's URL.
        url: String,
        /// The endpoint requested.
        path: String,
        /// The reply's status.
        status: StatusCode,
        /// The reply's `error` field, or its body.
        message: String,
    },
    /// The reply could not be read or parsed.
    #[error("invalid reply from lazyhost at {url} for {path}: {reason}")]
    InvalidReply {
        /// The daemon's URL.
        url: String,
        /// The endpoint requested.
        path: String,
        /// The problem found.
        reason: String,
    },
}

/// A running daemon's endpoints.
pub struct Remote {
    /// The URL as given, without a trailing `/`, for messages.
    url: String,
    /// `host:port` of the URL, port 80 when it has none.
    listen: String,
    /// Scheme and authority, the base of every request.
    base: Uri,
    /// Path before the endpoint, such as `/lazyhost` behind a proxy; empty
    /// for the root.
    prefix: String,
    token: Option<String>,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Remote {
    /// Creates the client of the daemon at `url`, such as
    /// `http://127.0.0.1:9464`, sending `token` as bearer token when set.
    ///
    /// # Errors
    ///
    /// Fails when `url` is not an `http://` URL with a host.
    pub fn new(url: &str, token: Option<String>) -> Result<Self, RemoteError> {
        let invalid = |reason: &str| RemoteError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|error: http::uri::InvalidUri| invalid(&error.to_string().to_lowercase()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(invalid(&format!(
                    "the scheme `{other}` is not supported, because lazyhost serve speaks plain HTTP"
                )));
            }
            None => return Err(invalid("the URL has no scheme")),
        }
        let Some(authority) = uri.authority() else {
            return Err(invalid("the URL has no host"));
        };
        if uri.query().is_some() {
            return Err(invalid("the URL must not have a query"));
        }
        let listen = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        let base = Uri::builder()
            .scheme("http")
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|error| invalid(&error.to_string()))?;
        let prefix = uri.path().trim_end_matches('/').to_string();

        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            listen,
            base,
            prefix,
            token: token.filter(|token| !token.is_empty()),
            client,
        })
    }

    /// Returns the daemon's URL as given, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends `GET path` and returns the body of a successful reply.
    ///
    /// # Errors
    ///
    /// Fails when the daemon cannot be reached or does not reply in time,
    /// requires or rejects the token, or replies with another error.
    pub async fn get(&self, path: &str) -> Result<String, RemoteError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.send(path))
            .await
            .map_err(|_| RemoteError::Timeout {
                url: self.url.clone(),
                path: path.to_string(),
                timeout: REQUEST_TIMEOUT,
            })?
    }

    /// Returns the daemon's statistics snapshot.
    ///
    /// # Errors
    ///
    /// Fails as [`Remote::get`] does, or when the reply is not a snapshot.
    pub async fn stats(&self) -> Result<Snapshot, RemoteError> {
        let body = self.get("/stats").await?;
        self.parse("/stats", &body)
    }

    /// Returns the daemon's clusters and their pool state.
    ///
    /// # Errors
    ///
    /// Fails as [`Remote::get`] does, or when the reply is not a cluster
    /// list.
    pub async fn clusters(&self) -> Result<Vec<ClusterRow>, RemoteError> {
        #[derive(serde::Deserialize)]
        struct Clusters {
            clusters: Vec<ClusterRow>,
        }
        let body = self.get("/clusters").await?;
        let document: Clusters = self.parse("/clusters", &body)?;
        Ok(document.clusters)
    }

    /// Parses the reply body of `path` as JSON.
    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &str,
    ) -> Result<T, RemoteError> {
        serde_json::from_str(body).map_err(|error| RemoteError::InvalidReply {
            url: self.url.clone(),
            path: path.to_string(),
            reason: error.to_string(),
        })
    }

    async fn send(&self, path: &str) -> Result<String, RemoteError> {
        let uri = format!(
            "{}{}{path}",
            self.base.to_string().trim_end_matches('/'),
            self.prefix
        );
        let mut request = http::Request::get(uri.as_str());
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::new())
            .map_err(|error| RemoteError::InvalidUrl {
                url: self.url.clone(),
                reason: error.to_string(),
            })?;
        let response =
            self.client
                .request(request)
                .await
                .map_err(|error| RemoteError::Unreachable {
                    url: self.url.clone(),
                    reason: connection_reason(&error),
                    listen: self.listen.clone(),
                })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|error| RemoteError::InvalidReply {
                url: self.url.clone(),
                path: path.to_string(),
                reason: format!("failed to read the body: {error}"),
            })?
            .to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            return Ok(body);
        }
        if status == StatusCode::UNAUTHORIZED {
            let url = self.url.clone();
            return Err(match self.token {
                None => RemoteError::TokenRequired { url },
                Some(_) => RemoteError::TokenRejected { url },
            });
        }
        Err(RemoteError::Status {
            url: self.url.clone(),
            path: path.to_string(),
            status,
            message: error_message(&body),
        })
    }
}

/// Returns the reason a request failed to connect or to get a reply, such
/// as `connection refused`: the kind of the innermost I/O error when it has
/// a standard name, else the innermost message.
fn connection_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = error;
    let mut io_error = None;
    while let Some(source) = innermost.source() {
        innermost = source;
        if let Some(found) = source.downcast_ref::<std::io::Error>() {
            io_error = Some(found);
        }
    }
    match io_error {
        Some(io_error) if io_error.kind() != std::io::ErrorKind::Other => {
            io_error.kind().to_string()
        }
        _ => innermost.to_string(),
    }
}

/// Returns the `error` field of a JSON error reply, else the body's first
/// line.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.lines().next().unwrap_or_default().trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_must_be_http_with_host() {
        assert!(Remote::new("http://127.0.0.1:9464", None).is_ok());
        let Err(https) = Remote::new("https://127.0.0.1:9464", None) else {
            panic!("an https URL is accepted");
        };
        assert!(
            https
                .to_string()
                .contains("the scheme `https` is not supported"),
            "{https}"
        );
        let Err(bare) = Remote::new("127.0.0.1:9464", None) else {
            panic!("a URL without a scheme is accepted");
        };
        assert!(matches!(bare, RemoteError::InvalidUrl { .. }), "{bare}");
    }

    #[test]
    fn listen_and_prefix_come_from_url() {
        let remote = Remote::new("http://localhost/lazyhost/", Some(String::new())).unwrap();
        assert_eq!(remote.listen, "localhost:80");
        assert_eq!(remote.prefix, "/lazyhost");
        assert_eq!(remote.url(), "http://localhost/lazyhost");
        assert!(remote.token.is_none(), "an empty token is no token");
    }

    #[test]
    fn error_message_prefers_json_field() {
        assert_eq!(error_message("{\"error\": \"no endpoint\"}"), "no endpoint");
        assert_eq!(
            error_message("not ready: scanning\nmore"),
            "not ready: scanning"
        );
    }
}
