//! The fleet's control endpoint: plain HTTP on loopback, with no authentication,
//! for tests and benchmarks to read traffic counters and to inject faults.
//!
//! - `GET /fleet` returns the cluster count, the shared port and the resident
//!   memory of the process, at start and now.
//! - `GET /clusters` returns `{"sim-1": {<counts>}, ...}` with the fields of
//!   [`ClusterCounts`](super::ClusterCounts); `GET /clusters/<name>` returns one.
//! - `GET /clusters/<name>/faults` returns the cluster's [`Faults`];
//!   `PUT` replaces them with a JSON body such as `{"error_every": 2}` and
//!   `DELETE` clears them. Both return the faults now in force.
//!
//! - `POST /clusters/<name>/compact` drops the cluster's watch event history and
//!   returns `{"resourceVersion": "<compacted to>"}`, as `Fleet::compact` does.
//!
//! Errors are `{"error": "<message>"}` with 404 for an unknown cluster or path,
//! 400 for a body that is not a faults object, 422 for invalid faults and 409
//! for `down` or `wrong_ca` on a cluster that shares the fleet's port.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::cluster::Cluster;
use super::faults::Faults;
use super::server::stopped;
use super::{SimError, fleet};

/// State that the control endpoint reads and changes.
pub(crate) struct ControlState {
    /// The fleet's clusters, `sim-1` first.
    pub(crate) clusters: Arc<Vec<Arc<Cluster>>>,
    /// Address of the shared port, if clusters share one.
    pub(crate) shared_addr: Option<SocketAddr>,
    /// Resident memory in bytes once the servers were started.
    pub(crate) resident_memory_at_start: Option<u64>,
}

/// Serves the control endpoint until `shutdown` turns true.
pub(crate) async fn serve_control(
    state: Arc<ControlState>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    let service = service_fn(move |request| respond(state.clone(), request));
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

/// Largest request body the control endpoint reads.
const MAX_CONTROL_BODY_BYTES: usize = 64 * 1024;

/// Routes of the control endpoint, for error messages.
const ROUTES: &str = "GET /fleet, GET /clusters, GET /clusters/<name>, \
    POST /clusters/<name>/compact and GET, PUT or DELETE /clusters/<name>/faults";

/// A control response: status and JSON body.
type Reply = (StatusCode, Value);

async fn respond(
    state: Arc<ControlState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let (status, body) = match (&method, segments.as_slice()) {
        (&Method::GET, ["fleet"]) => (StatusCode::OK, fleet_document(&state)),
        (&Method::GET, ["clusters"]) => (StatusCode::OK, counts_document(&state.clusters)),
        (&Method::GET, ["clusters", name]) => {
            with_cluster(&state, name, |cluster| ok(&cluster.counters.snapshot()))
        }
        (&Method::POST, ["clusters", name, "compact"]) => with_cluster(&state, name, |cluster| {
            ok(&json!({"resourceVersion": cluster.store.compact().to_string()}))
        }),
        (_, ["clusters", name, "faults"]) => faults_request(&state, name, request).await,
        (&Method::GET, _) => error(
            StatusCode::NOT_FOUND,
            format!("not found: {path}; the control endpoint serves {ROUTES}"),
        ),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed: {method} {path}; the control endpoint serves {ROUTES}"),
        ),
    };
    tracing::debug!(%method, path, status = status.as_u16(), "served a control request");
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Reads, replaces or clears a cluster's faults; PUT takes a JSON [`Faults`]
/// body, and every method returns the faults in force afterwards.
async fn faults_request(state: &ControlState, name: &str, request: Request<Incoming>) -> Reply {
    let Some(cluster) = fleet::find(&state.clusters, name) else {
        return unknown_cluster(state, name);
    };
    let result = match request.method() {
        &Method::GET => Ok(()),
        &Method::DELETE => fleet::apply_faults(cluster, Faults::default()),
        &Method::PUT => match read_faults(request).await {
            Ok(faults) => fleet::apply_faults(cluster, faults),
            Err(reply) => return reply,
        },
        other => {
            let message = format!(
                "method not allowed: {other} /clusters/{name}/faults; use GET, PUT or DELETE"
            );
            return error(StatusCode::METHOD_NOT_ALLOWED, message);
        }
    };
    match result {
        Ok(()) => ok(&*cluster.faults()),
        Err(error @ SimError::SharedPortFault { .. }) => {
            self::error(StatusCode::CONFLICT, error.to_string())
        }
        Err(error) => self::error(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
    }
}

/// Parses a PUT body as [`Faults`]; a bad body becomes a 400 reply naming the problem.
async fn read_faults(request: Request<Incoming>) -> Result<Faults, Reply> {
    let body = Limited::new(request.into_body(), MAX_CONTROL_BODY_BYTES)
        .collect()
        .await
        .map_err(|_| {
            let message =
                format!("invalid faults: the body is larger than {MAX_CONTROL_BODY_BYTES} bytes");
            error(StatusCode::PAYLOAD_TOO_LARGE, message)
        })?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|source| {
        let message =
            format!("invalid faults: {source}; send a JSON object such as {{\"error_every\": 2}}");
        error(StatusCode::BAD_REQUEST, message)
    })
}

fn with_cluster(state: &ControlState, name: &str, reply: impl FnOnce(&Cluster) -> Reply) -> Reply {
    match fleet::find(&state.clusters, name) {
        Some(cluster) => reply(cluster),
        None => unknown_cluster(state, name),
    }
}

fn unknown_cluster(state: &ControlState, name: &str) -> Reply {
    let error = SimError::UnknownCluster {
        cluster: name.to_string(),
        clusters: state.clusters.len(),
    };
    self::error(StatusCode::NOT_FOUND, error.to_string())
}

fn ok(value: &impl Serialize) -> Reply {
    (StatusCode::OK, json!(value))
}

fn error(status: StatusCode, message: String) -> Reply {
    (status, json!({"error": message}))
}

fn fleet_document(state: &ControlState) -> Value {
    json!({
        "clusters": state.clusters.len(),
        "shared_port": state.shared_addr.map(|address| address.to_string()),
        "resident_memory_bytes_at_start": state.resident_memory_at_start,
        "resident_memory_bytes": resident_memory_bytes(),
    })
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

/// Returns the resident memory of this process in bytes, or `None` where the
/// operating system does not report it.
pub(crate) fn resident_memory_bytes() -> Option<u64> {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System};

    let pid = sysinfo::get_current_pid().ok()?;
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_memory(),
    );
    system.process(pid).map(|process| process.memory())
}
