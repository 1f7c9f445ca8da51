//! The fleet's control endpoint: plain HTTP on loopback, with no authentication,
//! for tests and benchmarks to read traffic counters.
//!
//! `GET /clusters` returns `{"sim-1": {"connections": .., "requests": .., "clients": ..}, ...}`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::cluster::Cluster;
use super::server::stopped;

/// Serves the control endpoint until `shutdown` turns true.
pub(crate) async fn serve_control(
    clusters: Arc<Vec<Arc<Cluster>>>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let clusters = clusters.clone();
                    let service = service_fn(move |request| respond(clusters.clone(), request));
                    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    connections.spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "control connection closed with an error");
                        }
                    });
                }
                Err(error) => tracing::warn!(%error, "failed to accept a control connection"),
            },
            () = stopped(&mut shutdown) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

async fn respond(
    clusters: Arc<Vec<Arc<Cluster>>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/clusters") => (StatusCode::OK, counts_document(&clusters)),
        (&Method::GET, _) => (
            StatusCode::NOT_FOUND,
            json!({"error": "not found: the control endpoint serves GET /clusters"}),
        ),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "method not allowed: the control endpoint serves GET /clusters"}),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn counts_document(clusters: &[Arc<Cluster>]) -> Value {
    let entries: Map<String, Value> = clusters
        .iter()
        .map(|cluster| {
            let counts = cluster.counters.snapshot();
            (cluster.name.clone(), json!(counts))
        })
        .collect();
    Value::Object(entries)
}
