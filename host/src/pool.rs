//! The lazy cluster pool: a client exists only once a cluster is used.
//!
//! Each configured cluster has an entry whose state is not started,
//! starting, ready or failed. The first checkout of a cluster starts its
//! client; concurrent first checkouts share that one start, so a cluster
//! never gets two clients at once. A failed start is returned to every
//! caller that waited on it, and the next checkout tries again.
//!
//! The pool hands out clones of the client, which are cheap handles, so a
//! client replaced later never breaks a request already running. How a
//! client is built is behind [`ClientFactory`], which keeps the pool's rules
//! testable without a cluster.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::inventory::{ClusterConfig, Inventory, InventoryError};

/// How long a live client may go unused before it counts as idle.
pub const DEFAULT_IDLE_THRESHOLD: Duration = Duration::from_secs(5 * 60);

/// Builds the client of one cluster.
pub trait ClientFactory: Send + Sync + 'static {
    /// The client handed out by the pool; clones must be cheap.
    type Client: Clone + Send + Sync + 'static;

    /// Builds a client for `cluster` and completes its first request.
    /// `serial` numbers the clients the pool has built, starting at 1.
    fn connect(
        &self,
        cluster: Arc<ClusterConfig>,
        serial: u64,
    ) -> impl Future<Output = Result<Self::Client, ConnectError>> + Send;
}

/// Why a cluster's client could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The cluster's configuration is unusable.
    #[error(transparent)]
    Config(#[from] InventoryError),
    /// The client could not be built from the configuration.
    #[error("failed to build client: {0}")]
    Build(#[source] kube::Error),
    /// The cluster's discovery requests failed.
    #[error("discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    /// Starting took longer than allowed.
    #[error("timed out after {} starting the client", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The task starting the client ended without a result.
    #[error("client start was interrupted: {0}")]
    Interrupted(String),
}

/// Errors returned by [`Pool::checkout`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    /// The cluster is not configured.
    #[error("unknown cluster `{0}`: run `lazyhost clusters` to list the configured ones")]
    UnknownCluster(String),
    /// The cluster's client failed to start.
    #[error("cluster `{cluster}` is unavailable: {source}")]
    Connect {
        /// The cluster.
        cluster: String,
        /// The start's error, shared by every caller that waited on it.
        #[source]
        source: Arc<ConnectError>,
    },
}

/// The pool state of one cluster, for display.
#[derive(Clone, Debug, PartialEq)]
pub enum ClusterState {
    /// No client has been built.
    NotStarted,
    /// A client is being built.
    Starting,
    /// A client is live.
    Ready {
        /// Serial number of the live client.
        serial: u64,
        /// Checkouts of the live client.
        accesses: u64,
        /// Time since the client was last checked out.
        idle_for: Duration,
    },
    /// The last start failed.
    Failed {
        /// The start's error.
        error: String,
    },
}

/// Pool figures for the statistics snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Clusters configured.
    pub total: u32,
    /// Clusters with a live client.
    pub initialized: u32,
    /// Live clients unused for longer than the idle threshold.
    pub idle: u32,
    /// Clients built since the pool was created.
    pub clients_built: u64,
}

type StartFuture<C> = Shared<BoxFuture<'static, Result<C, Arc<ConnectError>>>>;

enum State<C> {
    NotStarted,
    Starting(StartFuture<C>),
    Ready(Live<C>),
    Failed(Arc<ConnectError>),
}

struct Live<C> {
    client: C,
    serial: u64,
    last_access: Instant,
    accesses: u64,
}

struct Entry<C> {
    cluster: Arc<ClusterConfig>,
    state: Mutex<State<C>>,
}

/// The lazy pool of cluster clients.
pub struct Pool<F: ClientFactory> {
    factory: Arc<F>,
    inventory: Arc<Inventory>,
    entries: HashMap<String, Arc<Entry<F::Client>>>,
    serials: Arc<AtomicU64>,
    idle_threshold: Duration,
}

impl<F: ClientFactory> Pool<F> {
    /// Creates a pool over every cluster in `inventory`. No client is built.
    pub fn new(inventory: Arc<Inventory>, factory: F) -> Self {
        let entries = inventory
            .clusters()
            .iter()
            .map(|cluster| {
                let entry = Entry {
                    cluster: Arc::clone(cluster),
                    state: Mutex::new(State::NotStarted),
                };
                (cluster.name.clone(), Arc::new(entry))
            })
            .collect();
        Self {
            factory: Arc::new(factory),
            inventory,
            entries,
            serials: Arc::new(AtomicU64::new(0)),
            idle_threshold: DEFAULT_IDLE_THRESHOLD,
        }
    }

    /// Sets how long a live client may go unused before it counts as idle.
    pub fn with_idle_threshold(mut self, threshold: Duration) -> Self {
        self.idle_threshold = threshold;
        self
    }

    /// Returns the inventory the pool was built from.
    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.inventory
    }

    /// Checks out the client of `cluster`, starting it on first use. One
    /// checkout counts as one access.
    ///
    /// # Errors
    ///
    /// Fails when the cluster is not configured or its client fails to
    /// start. Callers that waited on the same start share its error.
    pub async fn checkout(&self, cluster: &str) -> Result<F::Client, PoolError> {
        let entry = self
            .entries
            .get(cluster)
            .ok_or_else(|| PoolError::UnknownCluster(cluster.to_string()))?;

        let start = {
            let mut state = entry.state.lock();
            match &mut *state {
                State::Ready(live) => return Ok(live.touch()),
                State::Starting(start) => start.clone(),
                State::NotStarted | State::Failed(_) => {
                    let start = self.start(Arc::clone(entry));
                    *state = State::Starting(start.clone());
                    start
                }
            }
        };

        let result = start.await;
        if let State::Ready(live) = &mut *entry.state.lock() {
            live.accesses += 1;
            live.last_access = Instant::now();
        }
        result.map_err(|source| PoolError::Connect {
            cluster: cluster.to_string(),
            source,
        })
    }

    /// Returns the live client of `cluster`, if it has one, without starting
    /// it or counting an access.
    pub fn peek(&self, cluster: &str) -> Option<F::Client> {
        match &*self.entries.get(cluster)?.state.lock() {
            State::Ready(live) => Some(live.client.clone()),
            _ => None,
        }
    }

    /// Starts a client in its own task, so that a caller that gives up
    /// waiting does not cancel the start for the others.
    fn start(&self, entry: Arc<Entry<F::Client>>) -> StartFuture<F::Client> {
        let factory = Arc::clone(&self.factory);
        let serial = self.serials.fetch_add(1, Ordering::Relaxed) + 1;
        let task_entry = Arc::clone(&entry);

        let task = tokio::spawn(async move {
            let cluster = Arc::clone(&task_entry.cluster);
            tracing::debug!(cluster = %cluster.name, serial, "starting client");
            let result = factory
                .connect(Arc::clone(&cluster), serial)
                .await
                .map_err(Arc::new);

            let mut state = task_entry.state.lock();
            match &result {
                Ok(client) => {
                    tracing::debug!(cluster = %cluster.name, serial, "client ready");
                    *state = State::Ready(Live {
                        client: client.clone(),
                        serial,
                        last_access: Instant::now(),
                        accesses: 0,
                    });
                }
                Err(error) => {
                    tracing::warn!(cluster = %cluster.name, serial, %error, "client failed to start");
                    *state = State::Failed(Arc::clone(error));
                }
            }
            result
        });

        async move {
            task.await
                .unwrap_or_else(|error| Err(Arc::new(ConnectError::Interrupted(error.to_string()))))
        }
        .boxed()
        .shared()
    }

    /// Returns the pool state of every configured cluster, in inventory order.
    pub fn states(&self) -> Vec<(Arc<ClusterConfig>, ClusterState)> {
        let now = Instant::now();
        self.inventory
            .clusters()
            .iter()
            .map(|cluster| {
                let entry = &self.entries[&cluster.name];
                let state = match &*entry.state.lock() {
                    State::NotStarted => ClusterState::NotStarted,
                    State::Starting(_) => ClusterState::Starting,
                    State::Ready(live) => ClusterState::Ready {
                        serial: live.serial,
                        accesses: live.accesses,
                        idle_for: now.saturating_duration_since(live.last_access),
                    },
                    State::Failed(error) => ClusterState::Failed {
                        error: error.to_string(),
                    },
                };
                (Arc::clone(cluster), state)
            })
            .collect()
    }

    /// Returns the pool's figures.
    pub fn stats(&self) -> PoolStats {
        let mut stats = PoolStats {
            total: u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
            clients_built: self.serials.load(Ordering::Relaxed),
            ..PoolStats::default()
        };
        for (_, state) in self.states() {
            if let ClusterState::Ready { idle_for, .. } = state {
                stats.initialized += 1;
                if idle_for > self.idle_threshold {
                    stats.idle += 1;
                }
            }
        }
        stats
    }
}

impl<C: Clone> Live<C> {
    fn touch(&mut self) -> C {
        self.accesses += 1;
        self.last_access = Instant::now();
        self.client.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::config::Kubeconfig;
    use std::sync::atomic::AtomicBool;

    /// A factory whose clients are their serial numbers, counting connects.
    #[derive(Default)]
    struct FakeFactory {
        connects: AtomicU64,
        fail: AtomicBool,
    }

    impl ClientFactory for Arc<FakeFactory> {
        type Client = u64;

        async fn connect(&self, _: Arc<ClusterConfig>, serial: u64) -> Result<u64, ConnectError> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(ConnectError::Timeout(Duration::from_secs(1)));
            }
            Ok(serial)
        }
    }

    fn pool(factory: &Arc<FakeFactory>) -> Pool<Arc<FakeFactory>> {
        let mut yaml = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
        for name in ["a", "b"] {
            yaml += &format!("- name: {name}\n  cluster: {{server: 'https://127.0.0.1:1'}}\n");
        }
        yaml += "contexts:\n";
        for name in ["a", "b"] {
            yaml += &format!("- name: {name}\n  context: {{cluster: {name}, user: u}}\n");
        }
        yaml += "users:\n- name: u\n  user: {token: t}\n";
        let inventory = Inventory::from_kubeconfig(Kubeconfig::from_yaml(&yaml).unwrap(), "test");
        Pool::new(Arc::new(inventory.unwrap()), Arc::clone(factory))
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_starts_before_use() {
        let factory = Arc::new(FakeFactory::default());
        let pool = pool(&factory);
        assert_eq!(factory.connects.load(Ordering::SeqCst), 0);
        assert_eq!(pool.stats().initialized, 0);
        assert_eq!(pool.stats().total, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_first_use_builds_one_client() {
        let factory = Arc::new(FakeFactory::default());
        let pool = pool(&factory);
        let checkouts = (0..20).map(|_| pool.checkout("a"));
        let clients = futures::future::join_all(checkouts).await;

        assert_eq!(factory.connects.load(Ordering::SeqCst), 1);
        assert!(
            clients
                .iter()
                .all(|client| client.as_ref().ok() == Some(&1))
        );
        let (_, state) = &pool.states()[0];
        assert!(
            matches!(state, ClusterState::Ready { accesses: 20, .. }),
            "{state:?}"
        );
        assert_eq!(pool.stats().initialized, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_start_is_shared_then_retried() {
        let factory = Arc::new(FakeFactory::default());
        factory.fail.store(true, Ordering::SeqCst);
        let pool = pool(&factory);
        let (first, second) = tokio::join!(pool.checkout("b"), pool.checkout("b"));
        assert!(first.is_err());
        assert!(second.is_err());
        assert_eq!(factory.connects.load(Ordering::SeqCst), 1);
        assert!(matches!(pool.states()[1].1, ClusterState::Failed { .. }));

        factory.fail.store(false, Ordering::SeqCst);
        assert_eq!(pool.checkout("b").await.unwrap(), 2);
        assert_eq!(factory.connects.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn unused_client_counts_as_idle() {
        let factory = Arc::new(FakeFactory::default());
        let pool = pool(&factory).with_idle_threshold(Duration::from_secs(60));
        pool.checkout("a").await.unwrap();
        assert_eq!(pool.stats().idle, 0);

        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(pool.stats().idle, 1);
        pool.checkout("a").await.unwrap();
        assert_eq!(pool.stats().idle, 0);
    }

    #[tokio::test]
    async fn unknown_cluster_is_an_error() {
        let factory = Arc::new(FakeFactory::default());
        let error = pool(&factory).checkout("zz").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown cluster `zz`: run `lazyhost clusters` to list the configured ones"
        );
    }
}
