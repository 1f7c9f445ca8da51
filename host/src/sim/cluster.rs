//! One simulated cluster: its name, endpoint, bearer token, object store,
//! faults and traffic counters, and the check of a request's credentials.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use super::faults::{FaultState, Faults};
use super::store::Store;

/// Traffic counters of one cluster, as [`super::Fleet::counts`] and the control
/// endpoint report them.
///
/// On the fleet's shared port, a connection and its TLS handshake count for the
/// cluster named by the path of the connection's first request. A connection
/// that later addresses another cluster counts once for that cluster too.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterCounts {
    /// TCP connections accepted, whether or not the TLS handshake succeeded.
    pub connections: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// HTTP requests received, including rejected ones.
    pub requests: u64,
    /// Responses with status 401 Unauthorized: requests without a valid bearer
    /// token or client certificate, and requests that the `token_expires_after`
    /// fault rejected.
    pub unauthorized: u64,
    /// Distinct values of the [`super::CLIENT_HEADER`] request header.
    pub clients: u64,
    /// Requests per kube-apiserver verb: `get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete` and `deletecollection`.
    pub requests_by_verb: BTreeMap<String, u64>,
    /// Requests per verb and path, keyed `"<verb> <path>"` such as
    /// `"list /api/v1/pods"`; the path excludes the query and the fleet's path prefix.
    pub requests_by_verb_path: BTreeMap<String, u64>,
    /// Requests per impersonated user, from the `Impersonate-User` header.
    pub requests_by_impersonated_user: BTreeMap<String, u64>,
    /// Watch streams open now.
    pub watches_open: u64,
    /// Watch streams started since the fleet started.
    pub watches_started: u64,
}

/// Live counters behind [`ClusterCounts`].
#[derive(Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    tls_handshakes: AtomicU64,
    requests: AtomicU64,
    unauthorized: AtomicU64,
    clients: Mutex<HashSet<String>>,
    by_verb_path: Mutex<BTreeMap<(String, String), u64>>,
    by_impersonated_user: Mutex<BTreeMap<String, u64>>,
    watches_open: Arc<AtomicU64>,
    watches_started: AtomicU64,
}

/// An open watch stream, counted in `watches_open` until dropped.
pub(crate) struct OpenWatch(Arc<AtomicU64>);

impl Drop for OpenWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Counters {
    /// Counts one accepted connection.
    pub(crate) fn record_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one completed TLS handshake.
    pub(crate) fn record_handshake(&self) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request under its verb and path, and remembers its client id
    /// if it sent one.
    pub(crate) fn record_request(&self, client: Option<&str>, verb: String, path: &str) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *self
            .by_verb_path
            .lock()
            .entry((verb, path.to_string()))
            .or_default() += 1;
        if let Some(client) = client {
            let mut clients = self.clients.lock();
            if !clients.contains(client) {
                clients.insert(client.to_string());
            }
        }
    }

    /// Counts one request that impersonates `user`.
    pub(crate) fn record_impersonation(&self, user: &str) {
        *self
            .by_impersonated_user
            .lock()
            .entry(user.to_string())
            .or_default() += 1;
    }

    /// Counts one response with status 401 Unauthorized.
    pub(crate) fn record_unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a watch stream as started and open until the returned guard is dropped.
    pub(crate) fn record_watch(&self) -> OpenWatch {
        self.watches_started.fetch_add(1, Ordering::Relaxed);
        self.watches_open.fetch_add(1, Ordering::Relaxed);
        OpenWatch(self.watches_open.clone())
    }

    /// Returns the current counts.
    pub(crate) fn snapshot(&self) -> ClusterCounts {
        let mut requests_by_verb = BTreeMap::new();
        let mut requests_by_verb_path = BTreeMap::new();
        for ((verb, path), count) in self.by_verb_path.lock().iter() {
            *requests_by_verb.entry(verb.clone()).or_default() += count;
            requests_by_verb_path.insert(format!("{verb} {path}"), *count);
        }
        ClusterCounts {
            connections: self.connections.load(Ordering::Relaxed),
            tls_handshakes: self.tls_handshakes.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            clients: self.clients.lock().len() as u64,
            requests_by_verb,
            requests_by_verb_path,
            requests_by_impersonated_user: self.by_impersonated_user.lock().clone(),
            watches_open: self.watches_open.load(Ordering::Relaxed),
            watches_started: self.watches_started.load(Ordering::Relaxed),
        }
    }
}

/// State of one simulated cluster shared by its connections.
pub(crate) struct Cluster {
    /// Cluster name, `sim-<index>`.
    pub(crate) name: String,
    /// Address the API server listens on.
    pub(crate) address: SocketAddr,
    /// Path prefix of the server URL, such as `/clusters/sim-7` on the fleet's
    /// shared port; empty when the cluster has its own port.
    pub(crate) path_prefix: String,
    /// Bearer token that requests without a client certificate must send; replaced
    /// by [`Cluster::rotate_token`]. Never logged.
    pub(crate) token: RwLock<String>,
    /// Objects of the cluster.
    pub(crate) store: Store,
    /// Traffic counters.
    pub(crate) counters: Counters,
    /// Delay added before sending each response.
    pub(crate) request_latency: Duration,
    /// Injected faults.
    pub(crate) faults: FaultState,
}

impl Cluster {
    /// Returns the `https://` URL of the API server, with its path prefix.
    pub(crate) fn url(&self) -> String {
        format!("https://{}{}", self.address, self.path_prefix)
    }

    /// Returns the faults in force, such as `watch_delay` for the watch handler.
    pub(crate) fn faults(&self) -> Arc<Faults> {
        self.faults.current()
    }

    /// Returns the bearer token that authenticates requests now.
    pub(crate) fn token(&self) -> String {
        self.token.read().clone()
    }

    /// Replaces the bearer token with `token`; requests with the old token get
    /// 401 Unauthorized from then on.
    pub(crate) fn rotate_token(&self, token: String) {
        *self.token.write() = token;
    }

    /// Returns whether a request authenticates, checking credentials in
    /// kube-apiserver's order: first a client certificate that the TLS handshake
    /// verified, given as its user name in `certificate_user`, then a bearer token
    /// in the `Authorization` header value `authorization`.
    pub(crate) fn is_authenticated(
        &self,
        authorization: Option<&str>,
        certificate_user: Option<&str>,
    ) -> bool {
        if certificate_user.is_some_and(|user| !user.is_empty()) {
            return true;
        }
        let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return false;
        };
        constant_time_eq(token.trim().as_bytes(), self.token.read().as_bytes())
    }
}

/// Compares byte strings without stopping at the first difference.
fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_clients_counted_once() {
        let counters = Counters::default();
        counters.record_request(Some("sim-1/1"), "get".into(), "/version");
        counters.record_request(Some("sim-1/1"), "list".into(), "/api/v1/pods");
        counters.record_request(Some("sim-1/2"), "list".into(), "/api/v1/pods");
        counters.record_request(None, "get".into(), "/version");
        let counts = counters.snapshot();
        assert_eq!(counts.requests, 4);
        assert_eq!(counts.clients, 2);
        assert_eq!(counts.requests_by_verb["get"], 2);
        assert_eq!(counts.requests_by_verb["list"], 2);
        assert_eq!(counts.requests_by_verb_path["list /api/v1/pods"], 2);
        assert_eq!(counts.requests_by_verb_path["get /version"], 2);
    }

    fn test_cluster(token: &str) -> Cluster {
        Cluster {
            name: "sim-1".into(),
            address: "127.0.0.1:1".parse().unwrap(),
            path_prefix: String::new(),
            token: RwLock::new(token.into()),
            store: Store::new(1),
            counters: Counters::default(),
            request_latency: Duration::ZERO,
            faults: FaultState::new(Faults::default()),
        }
    }

    #[test]
    fn bearer_token_checked() {
        let cluster = test_cluster("abc");
        assert!(cluster.is_authenticated(Some("Bearer abc"), None));
        assert!(!cluster.is_authenticated(Some("Bearer abd"), None));
        assert!(!cluster.is_authenticated(Some("Basic abc"), None));
        assert!(!cluster.is_authenticated(None, None));
    }

    #[test]
    fn client_certificate_user_authenticates() {
        let cluster = test_cluster("abc");
        assert!(cluster.is_authenticated(None, Some("alice")));
        assert!(cluster.is_authenticated(Some("Bearer wrong"), Some("alice")));
        assert!(!cluster.is_authenticated(None, Some("")));
    }

    #[test]
    fn rotated_token_replaces_old_one() {
        let cluster = test_cluster("old");
        cluster.rotate_token("new".into());
        assert_eq!(cluster.token(), "new");
        assert!(cluster.is_authenticated(Some("Bearer new"), None));
        assert!(!cluster.is_authenticated(Some("Bearer old"), None));
    }

    #[test]
    fn unauthorized_responses_counted() {
        let counters = Counters::default();
        counters.record_unauthorized();
        counters.record_unauthorized();
        assert_eq!(counters.snapshot().unauthorized, 2);
    }
}
