//! The `[serve]` section: where `lazyhost serve` finds plugins, where it
//! listens and where it keeps its records.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The address the daemon's HTTP endpoints listen on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// The state folder used when neither `state_dir` nor `--state-dir` is given.
pub const DEFAULT_STATE_DIR: &str = "lazyhost-state";

/// The `[serve]` section of lazyhost.toml.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSection {
    /// The folder of plugin components, each a `.wasm` file; `--plugins`
    /// overrides it.
    pub plugins_dir: Option<PathBuf>,
    /// The address of the HTTP endpoints; `--listen` overrides it.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// A file holding the bearer token the endpoints require. Needed when
    /// `listen` is not a loopback address, unless `LAZYHOST_TOKEN` is set.
    pub token_file: Option<PathBuf>,
    /// The folder of the run history; `--state-dir` overrides it.
    pub state_dir: Option<PathBuf>,
    /// The JSON-lines file every write is appended to
    /// [default: `audit.jsonl` in the state folder].
    pub audit_log: Option<PathBuf>,
    /// SHA-256 digests of the only plugin files the daemon loads, as 64
    /// hex digits with or without `sha256:` before them; empty loads any
    /// file.
    pub allowed_digests: Vec<String>,
    /// How long running invocations may go on after SIGTERM or Ctrl-C.
    #[serde(deserialize_with = "super::duration")]
    pub grace_period: Duration,
    /// Runs kept per plugin in the history.
    pub runs_kept: usize,
    /// Label selector of the clusters that get series of their own in
    /// `/metrics`; the others count only in the per-verb totals.
    pub metrics_clusters: Option<String>,
    /// Most clusters with series of their own in `/metrics`.
    pub metrics_max_clusters: usize,
}

impl Default for ServeSection {
    fn default() -> Self {
        Self {
            plugins_dir: None,
            listen: DEFAULT_LISTEN
                .parse()
                .expect("the default listen address is a valid socket address"),
            token_file: None,
            state_dir: None,
            audit_log: None,
            allowed_digests: Vec::new(),
            grace_period: Duration::from_secs(30),
            runs_kept: 20,
            metrics_clusters: None,
            metrics_max_clusters: 50,
        }
    }
}

impl ServeSection {
    /// Makes relative paths relative to the configuration file's folder.
    pub(super) fn resolve_paths(&mut self, folder: &Path) {
        for path in [
            &mut self.plugins_dir,
            &mut self.token_file,
            &mut self.state_dir,
            &mut self.audit_log,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = folder.join(&*path);
            }
        }
    }

    /// Checks the values that TOML types alone cannot.
    pub(super) fn check(&self) -> Result<(), String> {
        if let Some(digest) = self
            .allowed_digests
            .iter()
            .find(|digest| !is_sha256_hex(hex_part(digest)))
        {
            return Err(format!(
                "key `serve.allowed_digests`: `{digest}` is not a SHA-256 digest: write the 64 \
                 hex digits that `lazyhost inspect` prints, with or without `sha256:` before them"
            ));
        }
        if self.runs_kept == 0 {
            return Err("key `serve.runs_kept`: must be at least 1".to_string());
        }
        if let Some(selector) = &self.metrics_clusters {
            crate::selector::LabelSelector::parse(selector)
                .map_err(|error| format!("key `serve.metrics_clusters`: {error}"))?;
        }
        Ok(())
    }

    /// Returns whether the SHA-256 digest `hex` (64 hex digits) is on the
    /// allowlist, or there is none.
    pub fn allows_digest(&self, hex: &str) -> bool {
        self.allowed_digests.is_empty()
            || self
                .allowed_digests
                .iter()
                .any(|allowed| hex_part(allowed).eq_ignore_ascii_case(hex))
    }
}

/// Returns a digest's hex digits, without the `sha256:` before them.
fn hex_part(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Returns whether `text` is 64 hex digits.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Deserializes an IP address and port, with a hint for a host name,
/// which the listener cannot take.
fn socket_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{text}` is not an IP address and port: write one such as 127.0.0.1:9464, or \
             0.0.0.0:9464 for every interface"
        ))
    })
}
