//! The HTTPS front of one simulated cluster: accepts TCP connections, completes
//! the TLS handshake, serves HTTP/1.1 with hyper, counts traffic, injects the
//! cluster's faults, authenticates requests by client certificate or bearer
//! token and hands them to [`super::api`].
//!
//! [`serve_cluster`] serves a cluster on its own port; [`super::shared_port`]
//! serves many clusters on one port and reuses the pieces here.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::CLIENT_HEADER;
use super::api::{self, ApiRequest, Impersonation, Reply};
use super::body::ResponseBody;
use super::cluster::Cluster;
use super::query::Query;
use super::request_info;
use super::status::ApiError;
use super::x509;

/// Header naming the user a request impersonates.
const IMPERSONATE_USER: &str = "impersonate-user";
/// Header naming a group a request impersonates, once per group.
const IMPERSONATE_GROUP: &str = "impersonate-group";

/// Largest request body accepted, the same 3 MiB limit kube-apiserver applies.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Time allowed for a client to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause before binding a cluster's address again after a failed attempt.
const REBIND_RETRY: Duration = Duration::from_millis(200);

/// Body of every API response.
pub(crate) type Body = ResponseBody;

/// Time open connections get to finish their current request at shutdown.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS configurations that a listener chooses from for each connection.
#[derive(Clone)]
pub(crate) struct TlsConfigs {
    /// Certificate signed by the fleet's certificate authority.
    pub(crate) fleet: Arc<ServerConfig>,
    /// Certificate signed by another authority, for the `wrong_ca` fault.
    pub(crate) wrong_ca: Arc<ServerConfig>,
}

/// Serves `cluster` on its own listener until `shutdown` turns true, then drains
/// the open connections.
///
/// While the cluster's `down` fault is set the listener is closed, so connections
/// are refused; clearing it binds the same address again. Each connection gets the
/// certificate that the `wrong_ca` fault selects when it is accepted. Setting
/// either fault closes the open connections.
pub(crate) async fn serve_cluster(
    cluster: Arc<Cluster>,
    listener: TcpListener,
    tls: TlsConfigs,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut faults = cluster.faults.subscribe();
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        let down = cluster.faults().down;
        listener = match (listener, down) {
            (_, true) => None,
            (None, false) => rebind(&cluster).await,
            (open, false) => open,
        };
        tokio::select! {
            accepted = accept(listener.as_ref(), down) => match accepted {
                None => {}
                Some(Ok((stream, peer))) => {
                    cluster.counters.record_connection();
                    tracing::trace!(cluster = %cluster.name, %peer, "accepted connection");
                    let config = if cluster.faults().wrong_ca { &tls.wrong_ca } else { &tls.fleet };
                    let task = serve_connection(cluster.clone(), config.clone(), stream, shutdown.clone());
                    connections.spawn(task);
                }
                Some(Err(error)) => {
                    tracing::warn!(cluster = %cluster.name, %error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = faults.changed() => {
                if cluster.faults().needs_own_port() {
                    // A cluster that goes down or changes its certificate drops
                    // the connections that clients keep alive, so they reconnect.
                    connections.abort_all();
                }
            }
            () = stopped(&mut shutdown) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    drain(&cluster.name, connections).await;
}

/// Accepts from `listener`. Without a listener it waits forever while the
/// cluster is down, and otherwise returns `None` after a pause so that the caller
/// retries a failed rebind.
async fn accept(
    listener: Option<&TcpListener>,
    down: bool,
) -> Option<std::io::Result<(TcpStream, SocketAddr)>> {
    match listener {
        Some(listener) => Some(listener.accept().await),
        None if down => std::future::pending().await,
        None => {
            tokio::time::sleep(REBIND_RETRY).await;
            None
        }
    }
}

/// Opens the cluster's listener again after its `down` fault is cleared.
async fn rebind(cluster: &Cluster) -> Option<TcpListener> {
    match TcpListener::bind(cluster.address).await {
        Ok(listener) => {
            tracing::info!(cluster = %cluster.name, address = %cluster.address, "listening again");
            Some(listener)
        }
        Err(error) => {
            tracing::warn!(cluster = %cluster.name, address = %cluster.address, %error, "failed to listen again; retrying");
            None
        }
    }
}

/// Waits for open connections to finish, up to [`DRAIN_TIMEOUT`], then aborts the rest.
pub(crate) async fn drain(label: &str, mut connections: JoinSet<()>) {
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            listener = label,
            open = connections.len(),
            "closing connections that did not finish in time"
        );
        connections.abort_all();
    }
}

async fn serve_connection(
    cluster: Arc<Cluster>,
    tls: Arc<ServerConfig>,
    stream: TcpStream,
    shutdown: watch::Receiver<bool>,
) {
    let Some(tls_stream) = handshake(&cluster.name, tls, stream).await else {
        return;
    };
    cluster.counters.record_handshake();
    let user = certificate_user(&tls_stream);
    let service_cluster = cluster.clone();
    let service =
        service_fn(move |request| serve_request(service_cluster.clone(), user.clone(), request));
    serve_http(&cluster.name, tls_stream, service, shutdown).await;
}

/// Completes the TLS handshake within [`HANDSHAKE_TIMEOUT`]; logs and returns
/// `None` when it fails.
pub(crate) async fn handshake(
    label: &str,
    tls: Arc<ServerConfig>,
    stream: TcpStream,
) -> Option<TlsStream<TcpStream>> {
    let accepted =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, TlsAcceptor::from(tls).accept(stream)).await;
    match accepted {
        Ok(Ok(tls_stream)) => Some(tls_stream),
        Ok(Err(error)) => {
            tracing::debug!(listener = label, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(listener = label, "TLS handshake timed out");
            None
        }
    }
}

/// Returns the user name of the client certificate that the handshake on
/// `stream` verified: its subject common name, as kube-apiserver takes it.
///
/// Returns `None` when the client presented no certificate or its subject has
/// no common name. Every server configuration verifies client certificates
/// against the fleet's certificate authority, so a certificate here is one that
/// the authority signed.
pub(crate) fn certificate_user(stream: &TlsStream<TcpStream>) -> Option<Arc<str>> {
    let (_, connection) = stream.get_ref();
    let certificate = connection.peer_certificates()?.first()?;
    let user = x509::common_name(certificate)?;
    tracing::trace!(user, "client certificate verified");
    Some(Arc::from(user))
}

/// Serves HTTP/1.1 on `stream` with `service`; at shutdown lets the current
/// request finish, then closes.
pub(crate) async fn serve_http<S>(
    label: &str,
    stream: TlsStream<TcpStream>,
    service: S,
    mut shutdown: watch::Receiver<bool>,
) where
    S: hyper::service::HttpService<Incoming, ResBody = Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(listener = label, %error, "connection closed with an error");
    }
}

/// Serves one request to `cluster`: counts it, applies the cluster's faults,
/// authenticates it and hands it to [`api::handle`].
///
/// `certificate_user` is the user name of the connection's verified client
/// certificate, from [`certificate_user`]; without one the request needs the
/// cluster's bearer token. `request`'s path is relative to the cluster's server
/// URL: the shared port's router removes the path prefix before calling this.
pub(crate) async fn serve_request(
    cluster: Arc<Cluster>,
    certificate_user: Option<Arc<str>>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let headers = request.headers();
    let path = request.uri().path().to_string();
    let verb = request_info::verb(request.method(), &path, request.uri().query());
    cluster
        .counters
        .record_request(header(headers, CLIENT_HEADER), verb, &path);
    if let Some(user) = header(headers, IMPERSONATE_USER) {
        cluster.counters.record_impersonation(user);
    }
    let plan = cluster.faults.plan_request();
    let delay = cluster.request_latency + plan.delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let method = request.method().clone();
    let reply = if let Some(failure) = plan.failure {
        tracing::debug!(cluster = %cluster.name, code = failure.code.as_u16(), "injected a fault");
        Err(failure)
    } else if cluster.is_authenticated(
        header(headers, AUTHORIZATION.as_str()),
        certificate_user.as_deref(),
    ) {
        match read_request(request).await {
            Ok(api_request) => api::handle(&cluster, &api_request),
            Err(error) => Err(error),
        }
    } else {
        Err(ApiError::unauthorized())
    };
    let response = render(reply);
    if response.status() == StatusCode::UNAUTHORIZED {
        cluster.counters.record_unauthorized();
    }
    tracing::debug!(cluster = %cluster.name, %method, path, status = response.status().as_u16(), "served request");
    Ok(response)
}

async fn read_request(request: Request<Incoming>) -> Result<ApiRequest, ApiError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| ApiError::too_large(MAX_BODY_BYTES))?
        .to_bytes();
    Ok(ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: Query::parse(parts.uri.query()),
        accept: header(&parts.headers, ACCEPT.as_str())
            .unwrap_or_default()
            .to_string(),
        content_type: header(&parts.headers, CONTENT_TYPE.as_str())
            .unwrap_or_default()
            .to_string(),
        impersonating: impersonation(&parts.headers),
        body,
    })
}

/// Reads the identity a request impersonates. The fleet's own credentials
/// may impersonate anyone, as a cluster administrator's may.
fn impersonation(headers: &HeaderMap) -> Option<Impersonation> {
    let user = header(headers, IMPERSONATE_USER)?.to_string();
    let groups = headers
        .get_all(IMPERSONATE_GROUP)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::to_string)
        .collect();
    Some(Impersonation { user, groups })
}

/// Resolves once the shutdown flag is true (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`, so it must not outlive this call.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Turns a handler result into an HTTP response; failures become `Status` objects,
/// with a `Retry-After` header when their details carry `retryAfterSeconds`.
pub(crate) fn render(reply: Result<Reply, ApiError>) -> Response<Body> {
    let mut retry_after = None;
    let (status, body, content_type) = match reply {
        Ok(reply) => reply.into_parts(),
        Err(error) => {
            retry_after = error
                .details
                .as_ref()
                .and_then(|details| details["retryAfterSeconds"].as_u64());
            let body = ResponseBody::text(error.to_status().to_string());
            (error.code, body, "application/json")
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(seconds) = retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
