//! Many clusters on one port, distinguished by a path prefix: cluster `sim-7` is
//! `https://127.0.0.1:<port>/clusters/sim-7`. kube and kubectl both keep a path
//! prefix of the kubeconfig `server:` URL in front of every request path.
//!
//! Every cluster on the port presents the fleet's certificate, so clusters with
//! a fault below HTTP (`down`, `wrong_ca`) get their own port instead.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::service::service_fn;
use parking_lot::Mutex;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::cluster::Cluster;
use super::server::{self, Body, stopped};
use super::status::ApiError;

/// First path segment of every cluster's prefix on the shared port.
pub(crate) const PREFIX_ROOT: &str = "/clusters";

/// Label of the shared listener in logs.
const LABEL: &str = "shared port";

/// Clusters on the shared port by name.
pub(crate) type Routes = Arc<HashMap<String, Arc<Cluster>>>;

/// Returns the path prefix of cluster `name` on the shared port.
pub(crate) fn path_prefix(name: &str) -> String {
    format!("{PREFIX_ROOT}/{name}")
}

/// Accepts connections for every cluster in `routes` until `shutdown` turns true,
/// then drains them.
pub(crate) async fn serve_shared(
    routes: Routes,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let task = serve_connection(routes.clone(), tls.clone(), stream, shutdown.clone());
                    connections.spawn(task);
                }
                Err(error) => {
                    tracing::warn!(%error, "failed to accept a connection on the shared port");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = stopped(&mut shutdown) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    server::drain(LABEL, connections).await;
}

/// Serves one connection. Only the request path names the cluster, so the
/// connection and its handshake count for each cluster when the connection first
/// addresses it. A failed handshake counts for no cluster.
async fn serve_connection(
    routes: Routes,
    tls: Arc<ServerConfig>,
    stream: TcpStream,
    shutdown: watch::Receiver<bool>,
) {
    let Some(tls_stream) = server::handshake(LABEL, tls, stream).await else {
        return;
    };
    let user = server::certificate_user(&tls_stream);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let service =
        service_fn(move |request| route(routes.clone(), seen.clone(), user.clone(), request));
    server::serve_http(LABEL, tls_stream, service, shutdown).await;
}

/// Finds the cluster that the path prefix names, removes the prefix and serves
/// the request; an unknown prefix gets 404 NotFound. `certificate_user` is the
/// user name of the connection's verified client certificate, if any.
async fn route(
    routes: Routes,
    seen: Arc<Mutex<HashSet<String>>>,
    certificate_user: Option<Arc<str>>,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let Some((name, uri)) = split_prefix(request.uri()) else {
        return Ok(server::render(Err(ApiError::unknown_path())));
    };
    let Some(cluster) = routes.get(&name) else {
        tracing::debug!(cluster = %name, "request for an unknown cluster on the shared port");
        return Ok(server::render(Err(ApiError::unknown_path())));
    };
    if seen.lock().insert(name) {
        cluster.counters.record_connection();
        cluster.counters.record_handshake();
    }
    *request.uri_mut() = uri;
    server::serve_request(cluster.clone(), certificate_user, request).await
}

/// Splits `/clusters/<name>/<rest>?<query>` into the name and `/<rest>?<query>`.
fn split_prefix(uri: &Uri) -> Option<(String, Uri)> {
    let after_root = uri.path().strip_prefix(PREFIX_ROOT)?.strip_prefix('/')?;
    let (name, rest) = match after_root.split_once('/') {
        Some((name, rest)) => (name, format!("/{rest}")),
        None => (after_root, "/".to_string()),
    };
    if name.is_empty() {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest,
    };
    Some((name.to_string(), path_and_query.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_split_from_path() {
        let uri: Uri = "/clusters/sim-7/api/v1/pods?limit=500".parse().unwrap();
        let (name, rest) = split_prefix(&uri).unwrap();
        assert_eq!(name, "sim-7");
        assert_eq!(rest, "/api/v1/pods?limit=500");

        let (name, rest) = split_prefix(&"/clusters/sim-2".parse().unwrap()).unwrap();
        assert_eq!(name, "sim-2");
        assert_eq!(rest, "/");

        assert!(split_prefix(&"/clusters/".parse().unwrap()).is_none());
        assert!(split_prefix(&"/api/v1/pods".parse().unwrap()).is_none());
        assert!(split_prefix(&"/clustersx/sim-1/version".parse().unwrap()).is_none());
    }
}
