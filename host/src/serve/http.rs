//! The daemon's HTTP endpoints: health, readiness, statistics, Prometheus
//! metrics, plugins and clusters.
//!
//! The server speaks HTTP/1.1 only, accepts GET alone, and serves each
//! connection in a task of its own, so a slow client delays no other. A
//! client that has not sent a whole request head within
//! [`HEADER_READ_TIMEOUT`], on a new or a kept-alive connection, is
//! disconnected. When a bearer token is configured, every endpoint but
//! `/healthz` and `/readyz` requires it: probes, such as a kubelet's,
//! cannot send a secret header, and the two tell nothing but whether the
//! daemon is up.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::metrics::{self, MetricsInput};
use crate::monitor::Snapshot;
use crate::output::{self, ClusterRow};

/// Time a client has to send a whole request head, on a new connection
/// and between requests on a kept-alive one.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Time open connections get to finish their current request once the
/// server shuts down; connections still open then are closed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Pause after a failed accept, such as when the process is out of file
/// descriptors, so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The endpoints, for the error of an unknown path.
const ROUTES: [&str; 6] = [
    "/healthz",
    "/readyz",
    "/stats",
    "/metrics",
    "/plugins",
    "/clusters",
];

/// The endpoints that need no bearer token.
const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Source of the figures and state the endpoints return.
pub trait Status: Send + Sync + 'static {
    /// Returns `Ok` once the daemon is ready to serve, else the reason it
    /// is not, such as `plugins folder not scanned yet`.
    fn ready(&self) -> Result<(), String>;
    /// Returns the statistics snapshot, as `lazyhost stats` prints it.
    fn stats(&self) -> Snapshot;
    /// Returns the configured clusters and their pool state, as
    /// `lazyhost clusters` prints them.
    fn clusters(&self) -> Vec<ClusterRow>;
    /// Returns the plugins of the daemon as one JSON document.
    fn plugins(&self) -> serde_json::Value;
    /// Returns every figure `/metrics` renders.
    fn metrics(&self) -> MetricsInput;
}

/// Settings of the HTTP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token every endpoint but `/healthz` and `/readyz` requires,
    /// if any.
    pub token: Option<String>,
}

/// Errors of starting the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The listening socket could not be opened.
    #[error(
        "cannot listen on {addr}: {source}; stop the process that uses it, or choose another \
         address with --listen or `listen` under [serve]"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The address is reachable from other machines but no token is set.
    #[error(
        "listen address {addr} is not loopback, so the endpoints need a bearer token: set \
         token_file under [serve] or LAZYHOST_TOKEN"
    )]
    TokenRequired {
        /// The address.
        addr: SocketAddr,
    },
    /// A token is configured but empty.
    #[error(
        "the bearer token for {addr} is empty: put a token in the file of token_file under \
         [serve] or in LAZYHOST_TOKEN"
    )]
    EmptyToken {
        /// The address.
        addr: SocketAddr,
    },
}

/// Opens the listening socket on `addr`.
///
/// # Errors
///
/// Fails with [`HttpError::Bind`], which names the address, when the
/// address is in use, not local, or needs privileges.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// Checks that a server on `addr` may run with `token`: an address other
/// than loopback requires a token, and a configured token must not be
/// empty.
///
/// # Errors
///
/// Fails with [`HttpError::TokenRequired`] or [`HttpError::EmptyToken`].
pub fn check_token_required(addr: &SocketAddr, token: Option<&str>) -> Result<(), HttpError> {
    match token {
        Some(token) if token.trim().is_empty() => Err(HttpError::EmptyToken { addr: *addr }),
        Some(_) => Ok(()),
        None if addr.ip().is_loopback() => Ok(()),
        None => Err(HttpError::TokenRequired { addr: *addr }),
    }
}

/// Serves the endpoints on `listener` until `shutdown` completes. Then it
/// stops accepting, lets open connections finish their current request
/// for up to [`SHUTDOWN_GRACE`], and closes the rest.
pub async fn serve(
    listener: TcpListener,
    status: Arc<dyn Status>,
    token: Option<String>,
    shutdown: impl Future<Output = ()>,
) {
    let token = token.map(|token| Arc::new(TokenDigest::of(&token)));
    let (closing_sender, closing) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reaps finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "failed to accept an HTTP connection");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        let handler = Handler {
            status: Arc::clone(&status),
            token: token.clone(),
        };
        connections.spawn(serve_connection(stream, peer, handler, closing.clone()));
    }

    drop(listener);
    let open = connections.len();
    tracing::debug!(open, "HTTP server stopping");
    let _ = closing_sender.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace = ?SHUTDOWN_GRACE,
            "closed HTTP connections still open after the shutdown grace period"
        );
        connections.shutdown().await;
    }
}

/// Serves one connection until the client closes it, a header read times
/// out, or the server shuts down.
///
/// NOTE: writes have no timeout, so a client that stops reading a reply
/// larger than the socket buffers keeps this task until shutdown. Other
/// connections are not delayed by it.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    handler: Handler,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler.handle(&request)) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    // The guard `wait_for` returns is dropped inside this block, because
    // it must not be held across an await of the connection task.
    let closed = async {
        let _ = closing.wait_for(|closing| *closing).await;
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = closed => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Timed-out headers and clients that hang up are routine.
        tracing::debug!(%peer, %error, "HTTP connection ended with an error");
    }
}

/// SHA-256 digest of the configured token. Comparing two fixed-size
/// digests byte by byte reveals neither the token's length nor where a
/// presented token first differs from it.
struct TokenDigest([u8; 32]);

impl TokenDigest {
    fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Returns whether `presented` is the token, in time independent of
    /// where the two differ.
    fn matches(&self, presented: &str) -> bool {
        let presented = Self::of(presented);
        let difference = self
            .0
            .iter()
            .zip(presented.0.iter())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

/// The request handler shared by a connection's requests.
#[derive(Clone)]
struct Handler {
    status: Arc<dyn Status>,
    token: Option<Arc<TokenDigest>>,
}

impl Handler {
    /// Routes one request to its endpoint and logs the result at debug level.
    fn handle(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let response = self.route(request);
        tracing::debug!(
            method = %request.method(),
            path = request.uri().path(),
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "HTTP request"
        );
        response
    }

    fn route(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        if !ROUTES.contains(&path) {
            return not_found(path);
        }
        if request.method() != Method::GET {
            let mut response = error_json(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "method {} is not allowed on {path}: use GET",
                    request.method()
                ),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        if !OPEN_PATHS.contains(&path)
            && let Some(token) = &self.token
            && !authorized(request, token)
        {
            return unauthorized();
        }
        match path {
            "/healthz" => text(StatusCode::OK, "ok\n".to_string()),
            "/readyz" => match self.status.ready() {
                Ok(()) => text(StatusCode::OK, "ok\n".to_string()),
                Err(reason) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {reason}\n"),
                ),
            },
            "/stats" => json(output::stats_json(&self.status.stats())),
            "/clusters" => json(output::clusters_json(&self.status.clusters())),
            "/plugins" => {
                let plugins = self.status.plugins();
                json(serde_json::to_string_pretty(&plugins).expect("a JSON value serializes"))
            }
            "/metrics" => {
                let body = metrics::render(&self.status.metrics());
                with_content_type(StatusCode::OK, metrics::CONTENT_TYPE, body)
            }
            _ => not_found(path),
        }
    }
}

/// Returns whether the request carries `Authorization: Bearer <token>`
/// with the configured token. The scheme name is case-insensitive.
fn authorized(request: &Request<Incoming>, token: &TokenDigest) -> bool {
    let Some(value) = request.headers().get(AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, presented)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && token.matches(presented.trim())
}

fn with_content_type(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_content_type(status, "text/plain; charset=utf-8", body)
}

fn json(mut body: String) -> Response<Full<Bytes>> {
    body.push('\n');
    with_content_type(StatusCode::OK, "application/json", body)
}

/// Returns `{"error": message}` with `status`.
fn error_json(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = format!("{}\n", serde_json::json!({ "error": message }));
    with_content_type(status, "application/json", body)
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    let message = format!(
        "no endpoint at {path}: the endpoints are {}",
        ROUTES.join(", ")
    );
    error_json(StatusCode::NOT_FOUND, &message)
}

fn unauthorized() -> Response<Full<Bytes>> {
    let mut response = error_json(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token: send the header Authorization: Bearer <token>",
    );
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digest_matches_only_the_token() {
        let token = TokenDigest::of("s3cret");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret "));
        assert!(!token.matches(""));
    }

    #[test]
    fn token_rules_by_address() {
        let loopback: SocketAddr = "127.0.0.1:9464".parse().unwrap();
        let loopback_v6: SocketAddr = "[::1]:9464".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9464".parse().unwrap();
        assert!(check_token_required(&loopback, None).is_ok());
        assert!(check_token_required(&loopback_v6, None).is_ok());
        assert!(check_token_required(&any, Some("t")).is_ok());
        let error = check_token_required(&any, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "listen address 0.0.0.0:9464 is not loopback, so the endpoints need a bearer \
             token: set token_file under [serve] or LAZYHOST_TOKEN"
        );
        assert!(matches!(
            check_token_required(&loopback, Some(" ")),
            Err(HttpError::EmptyToken { .. })
        ));
    }
}
