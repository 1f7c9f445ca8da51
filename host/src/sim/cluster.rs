//! One simulated cluster: its name, bearer token, object store and traffic counters.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use super::store::Store;

/// Traffic counters of one cluster, as [`super::Fleet::counts`] and the control
/// endpoint report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterCounts {
    /// TCP connections accepted, whether or not the TLS handshake succeeded.
    pub connections: u64,
    /// HTTP requests received, including rejected ones.
    pub requests: u64,
    /// Distinct values of the [`super::CLIENT_HEADER`] request header.
    pub clients: u64,
}

/// Live counters behind [`ClusterCounts`].
#[derive(Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    clients: Mutex<HashSet<String>>,
}

impl Counters {
    /// Counts one accepted connection.
    pub(crate) fn record_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request and remembers its client id, if it sent one.
    pub(crate) fn record_request(&self, client: Option<&str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(client) = client {
            let mut clients = self.clients.lock();
            if !clients.contains(client) {
                clients.insert(client.to_string());
            }
        }
    }

    /// Returns the current counts.
    pub(crate) fn snapshot(&self) -> ClusterCounts {
        ClusterCounts {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            clients: self.clients.lock().len() as u64,
        }
    }
}

/// State of one simulated cluster shared by its connections.
pub(crate) struct Cluster {
    /// Cluster name, `sim-<index>`.
    pub(crate) name: String,
    /// Address the API server listens on.
    pub(crate) address: SocketAddr,
    /// Bearer token that requests must send. Never logged.
    pub(crate) token: String,
    /// Objects of the cluster.
    pub(crate) store: Store,
    /// Traffic counters.
    pub(crate) counters: Counters,
    /// Delay added before sending each response.
    pub(crate) request_latency: Duration,
}

impl Cluster {
    /// Returns the `https://` URL of the API server.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// Returns whether an `Authorization` header value carries this cluster's token.
    pub(crate) fn is_authorized(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|value| value.strip_prefix("Bearer ")) else {
            return false;
        };
        constant_time_eq(token.trim().as_bytes(), self.token.as_bytes())
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
        counters.record_request(Some("sim-1/1"));
        counters.record_request(Some("sim-1/1"));
        counters.record_request(Some("sim-1/2"));
        counters.record_request(None);
        let counts = counters.snapshot();
        assert_eq!(counts.requests, 4);
        assert_eq!(counts.clients, 2);
    }

    #[test]
    fn bearer_token_checked() {
        let cluster = Cluster {
            name: "sim-1".into(),
            address: "127.0.0.1:1".parse().unwrap(),
            token: "abc".into(),
            store: Store::new(1),
            counters: Counters::default(),
            request_latency: Duration::ZERO,
        };
        assert!(cluster.is_authorized(Some("Bearer abc")));
        assert!(!cluster.is_authorized(Some("Bearer abd")));
        assert!(!cluster.is_authorized(Some("Basic abc")));
        assert!(!cluster.is_authorized(None));
    }
}
