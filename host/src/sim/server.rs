//! The HTTPS front of one simulated cluster: accepts TCP connections, completes
//! the TLS handshake, serves HTTP/1.1 with hyper, checks the bearer token, counts
//! traffic and hands requests to [`super::api`].

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::CLIENT_HEADER;
use super::api::{self, ApiRequest, Reply};
use super::cluster::Cluster;
use super::query::Query;
use super::status::ApiError;

/// Largest request body accepted, the same 3 MiB limit kube-apiserver applies.
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Time allowed for a client to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time open connections get to finish their current request at shutdown.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts connections for `cluster` until `shutdown` turns true, then drains them.
pub(crate) async fn serve_cluster(
    cluster: Arc<Cluster>,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    cluster.counters.record_connection();
                    tracing::trace!(cluster = %cluster.name, %peer, "accepted connection");
                    let task = serve_connection(cluster.clone(), acceptor.clone(), stream, shutdown.clone());
                    connections.spawn(task);
                }
                Err(error) => {
                    tracing::warn!(cluster = %cluster.name, %error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = stopped(&mut shutdown) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    drain(&cluster.name, connections).await;
}

async fn drain(cluster: &str, mut connections: JoinSet<()>) {
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            cluster,
            open = connections.len(),
            "closing connections that did not finish in time"
        );
        connections.abort_all();
    }
}

async fn serve_connection(
    cluster: Arc<Cluster>,
    acceptor: TlsAcceptor,
    stream: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls_stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => tls_stream,
        Ok(Err(error)) => {
            tracing::debug!(cluster = %cluster.name, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(cluster = %cluster.name, "TLS handshake timed out");
            return;
        }
    };
    let service_cluster = cluster.clone();
    let service = service_fn(move |request| serve_request(service_cluster.clone(), request));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(tls_stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(cluster = %cluster.name, %error, "connection closed with an error");
    }
}

async fn serve_request(
    cluster: Arc<Cluster>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers = request.headers();
    cluster
        .counters
        .record_request(header(headers, CLIENT_HEADER));
    if !cluster.request_latency.is_zero() {
        tokio::time::sleep(cluster.request_latency).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let reply = if cluster.is_authorized(header(headers, AUTHORIZATION.as_str())) {
        match read_request(request).await {
            Ok(api_request) => api::handle(&cluster, &api_request),
            Err(error) => Err(error),
        }
    } else {
        Err(ApiError::unauthorized())
    };
    let response = render(reply);
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
        body,
    })
}

/// Resolves once the shutdown flag is true (or its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`, so it must not outlive this call.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Turns a handler result into an HTTP response; failures become `Status` objects.
fn render(reply: Result<Reply, ApiError>) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match reply {
        Ok(Reply::Json(status, body)) => (status, body.to_string(), "application/json"),
        Ok(Reply::Text(text)) => (
            StatusCode::OK,
            text.to_string(),
            "text/plain; charset=utf-8",
        ),
        Err(error) => (
            error.code,
            error.to_status().to_string(),
            "application/json",
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
