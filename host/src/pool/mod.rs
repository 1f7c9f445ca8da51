//! The lazy cluster pool: a client exists only while a cluster is in use.
//!
//! Each configured cluster has an entry whose state is not started,
//! starting, ready, failed or evicted. The first checkout of a cluster
//! starts its client; concurrent first checkouts share that one start, so a
//! cluster never gets two clients at once. The rules of [`PoolConfig`] then
//! apply:
//!
//! - a failed start is remembered, and its error returned without dialling
//!   again, until a backoff that doubles with each failure has passed;
//! - a client checked out `max_access_count` times is replaced on its next
//!   checkout;
//! - a client unused for `max_idle` is evicted by [`Pool::evict_idle`],
//!   which the janitor task calls;
//! - beyond `max_live` live clients, the least recently used is evicted.
//!
//! A cluster with a live [`Hold`] is in use even when nothing checks it
//! out, as when a watch streams from it: every eviction above skips it.
//!
//! The pool hands out clones of the client, which are cheap handles, so an
//! eviction or a replacement never breaks a request already running: it
//! finishes on the old client. How a client is built is behind
//! [`ClientFactory`], which keeps the pool's rules testable without a
//! cluster.

mod config;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::{Mutex, RwLock};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::PoolConfig;

use crate::inventory::{ClusterConfig, Inventory, InventoryCache, InventoryError, Refresh};

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
    #[error("failed to build client: {}", crate::cluster::kube_message(.0))]
    Build(kube::Error),
    /// The cluster's discovery requests failed.
    #[error("discovery failed: {}", crate::cluster::kube_message(.0))]
    Discovery(kube::Error),
    /// The user's credential could not be set up.
    #[error("{0}")]
    Credential(String),
    /// Starting took longer than allowed.
    #[error(
        "timed out after {} starting the client: check that the server answers and that any \
         exec credential plugin finishes, or raise pool.init_timeout",
        humantime::format_duration(*.0)
    )]
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
    #[error("failed to start the client of cluster `{cluster}`: {source} (server {server})")]
    Connect {
        /// The cluster.
        cluster: String,
        /// Its API server URL.
        server: String,
        /// The start's error, shared by every caller that waited on it.
        #[source]
        source: Arc<ConnectError>,
    },
}

/// The reason a live client was evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictReason {
    /// Unused for longer than `max_idle`.
    Idle,
    /// Least recently used while the pool was over `max_live`.
    OverCap,
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
        /// Time since the client was built.
        age: Duration,
        /// Time since the client was last checked out.
        idle_for: Duration,
    },
    /// The last start failed.
    Failed {
        /// The start's error.
        error: String,
        /// Failed starts in a row.
        failures: u32,
        /// Time until the next start may be tried.
        retry_in: Duration,
    },
    /// The client was evicted; the next checkout starts a new one.
    Evicted(EvictReason),
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
    /// Starts that failed.
    pub start_failures: u64,
    /// Clients evicted for being idle.
    pub evicted_idle: u64,
    /// Clients evicted to stay within `max_live`.
    pub evicted_over_cap: u64,
    /// Clients replaced after `max_access_count` checkouts.
    pub recycled: u64,
}

type StartFuture<C> = Shared<BoxFuture<'static, Result<C, Arc<ConnectError>>>>;

enum State<C> {
    NotStarted,
    Starting(StartFuture<C>),
    Ready(Live<C>),
    Failed {
        error: Arc<ConnectError>,
        failures: u32,
        retry_at: Instant,
    },
    Evicted(EvictReason),
}

struct Live<C> {
    client: C,
    serial: u64,
    created: Instant,
    last_access: Instant,
    accesses: u64,
}

struct Entry<C> {
    cluster: Mutex<Arc<ClusterConfig>>,
    state: Mutex<State<C>>,
    /// Live [`Hold`]s on the cluster.
    holds: Arc<AtomicUsize>,
}

impl<C> Entry<C> {
    fn new(cluster: &Arc<ClusterConfig>) -> Arc<Self> {
        Arc::new(Self {
            cluster: Mutex::new(Arc::clone(cluster)),
            state: Mutex::new(State::NotStarted),
            holds: Arc::default(),
        })
    }

    fn cluster(&self) -> Arc<ClusterConfig> {
        Arc::clone(&self.cluster.lock())
    }

    fn is_held(&self) -> bool {
        self.holds.load(Ordering::Acquire) > 0
    }
}

/// A claim on a cluster that keeps its client from being evicted, as
/// [`Pool::hold`] returns it. Dropping it releases the claim.
///
/// A hold belongs to the cluster's entry as the pool had it when the hold
/// was taken. When [`Pool::reload`] finds the cluster's configuration
/// changed, the new entry is not held, and the holder keeps the old client.
#[derive(Debug)]
pub struct Hold {
    cluster: String,
    holds: Arc<AtomicUsize>,
}

impl Hold {
    fn new(cluster: &str, holds: &Arc<AtomicUsize>) -> Self {
        holds.fetch_add(1, Ordering::AcqRel);
        Self {
            cluster: cluster.to_string(),
            holds: Arc::clone(holds),
        }
    }

    /// Returns the name of the held cluster.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holds.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The outcome of [`Pool::reload`], cluster by cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Clusters whose configuration hash is unchanged; live clients are kept.
    pub kept: Vec<String>,
    /// Clusters whose configuration changed; their client is rebuilt on next use.
    pub changed: Vec<String>,
    /// Clusters no longer configured; their clients are dropped.
    pub removed: Vec<String>,
    /// Clusters newly configured.
    pub added: Vec<String>,
}

#[derive(Default)]
struct Counters {
    serials: AtomicU64,
    start_failures: AtomicU64,
    evicted_idle: AtomicU64,
    evicted_over_cap: AtomicU64,
    recycled: AtomicU64,
}

/// The next action of a checkout.
enum Step<C> {
    /// Hand out the live client.
    Use(C),
    /// Wait for the start already under way.
    Wait(StartFuture<C>),
    /// Return the last start's error; the backoff has not passed.
    Fail(Arc<ConnectError>),
    /// Start a new client after `failures` failed starts in a row.
    Start { failures: u32 },
}

/// The part of the pool that the tasks starting clients share.
struct PoolInner<C> {
    entries: RwLock<HashMap<String, Arc<Entry<C>>>>,
    counters: Counters,
    config: PoolConfig,
}

/// The lazy pool of cluster clients.
pub struct Pool<F: ClientFactory> {
    factory: Arc<F>,
    inventory: RwLock<Arc<Inventory>>,
    shared: Arc<PoolInner<F::Client>>,
}

impl<F: ClientFactory> Pool<F> {
    /// Creates a pool over every cluster in `inventory` with the default
    /// rules. No client is built.
    pub fn new(inventory: Arc<Inventory>, factory: F) -> Self {
        Self::with_config(inventory, factory, PoolConfig::default())
    }

    /// Creates a pool with the given rules. No client is built.
    pub fn with_config(inventory: Arc<Inventory>, factory: F, config: PoolConfig) -> Self {
        let entries = inventory
            .clusters()
            .iter()
            .map(|cluster| (cluster.name.clone(), Entry::new(cluster)))
            .collect();
        let shared = PoolInner {
            entries: RwLock::new(entries),
            counters: Counters::default(),
            config,
        };
        Self {
            factory: Arc::new(factory),
            inventory: RwLock::new(inventory),
            shared: Arc::new(shared),
        }
    }

    /// Returns the inventory the pool currently serves.
    pub fn inventory(&self) -> Arc<Inventory> {
        Arc::clone(&self.inventory.read())
    }

    /// Switches the pool to a new inventory, comparing configuration hashes.
    ///
    /// An unchanged cluster keeps its entry and live client. A changed
    /// cluster gets a fresh entry, so its next checkout builds a new client
    /// while requests already running finish on the old one. A removed
    /// cluster's entry is dropped, and an added one starts not started.
    pub fn reload(&self, inventory: Arc<Inventory>) -> ReloadSummary {
        let mut summary = ReloadSummary::default();
        let mut entries = self.shared.entries.write();
        let mut next = HashMap::with_capacity(inventory.clusters().len());
        for cluster in inventory.clusters() {
            let name = cluster.name.clone();
            let entry = match entries.remove(&name) {
                Some(entry) if entry.cluster().hash == cluster.hash => {
                    *entry.cluster.lock() = Arc::clone(cluster);
                    summary.kept.push(name.clone());
                    entry
                }
                Some(_) => {
                    summary.changed.push(name.clone());
                    Entry::new(cluster)
                }
                None => {
                    summary.added.push(name.clone());
                    Entry::new(cluster)
                }
            };
            next.insert(name, entry);
        }
        summary.removed = entries.keys().cloned().collect();
        summary.removed.sort();
        *entries = next;
        let mut current = self.inventory.write();
        // Checkouts count lookups on the inventory they read, so the new
        // inventory starts from the old one's count and the figure stays a
        // running total. Reloading the same inventory keeps its count as is.
        if !Arc::ptr_eq(&current, &inventory) {
            inventory.add_accesses(current.accesses());
        }
        *current = inventory;
        drop(current);
        tracing::info!(
            kept = summary.kept.len(),
            changed = ?summary.changed,
            removed = ?summary.removed,
            added = ?summary.added,
            "pool reloaded its inventory"
        );
        summary
    }

    fn entry(&self, cluster: &str) -> Option<Arc<Entry<F::Client>>> {
        self.shared.entries.read().get(cluster).cloned()
    }

    /// Returns the pool's rules.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Checks out the client of `cluster`, starting it when it has none.
    /// One checkout counts as one access.
    ///
    /// # Errors
    ///
    /// Fails when the cluster is not configured or its client fails to
    /// start. Callers that waited on the same start share its error, and
    /// until the backoff has passed the same error is returned without a
    /// new start.
    pub async fn checkout(&self, cluster: &str) -> Result<F::Client, PoolError> {
        self.inventory.read().count_access();
        let entry = self
            .entry(cluster)
            .ok_or_else(|| PoolError::UnknownCluster(cluster.to_string()))?;
        self.acquire(cluster, &entry, true).await
    }

    /// Holds `cluster` and returns its client, starting it when it has none,
    /// without counting an access.
    ///
    /// While the returned [`Hold`] lives, idle eviction (also the memory
    /// monitor's) and eviction over `max_live` skip the cluster, and the
    /// client is not recycled by this call. Its idle time still grows, since
    /// only checkouts count as use.
    ///
    /// # Errors
    ///
    /// Fails as [`Pool::checkout`] does; no hold is kept then.
    pub async fn hold(&self, cluster: &str) -> Result<(F::Client, Hold), PoolError> {
        let entry = self
            .entry(cluster)
            .ok_or_else(|| PoolError::UnknownCluster(cluster.to_string()))?;
        // The hold is taken before the client starts, so that the start's
        // own eviction pass over `max_live` already skips the cluster.
        let hold = Hold::new(cluster, &entry.holds);
        let client = self.acquire(cluster, &entry, false).await?;
        Ok((client, hold))
    }

    /// Returns the number of live holds on `cluster`, 0 for an unknown cluster.
    pub fn holds(&self, cluster: &str) -> usize {
        self.entry(cluster)
            .map_or(0, |entry| entry.holds.load(Ordering::Acquire))
    }

    /// Returns the client of `entry`, starting it when it has none. With
    /// `counted`, it counts an access and may recycle the client.
    async fn acquire(
        &self,
        cluster: &str,
        entry: &Arc<Entry<F::Client>>,
        counted: bool,
    ) -> Result<F::Client, PoolError> {
        let connect_error = |source| PoolError::Connect {
            cluster: cluster.to_string(),
            server: entry.cluster().server.clone(),
            source,
        };

        let start = {
            let mut state = entry.state.lock();
            let step = match &*state {
                State::Ready(live) if !counted => Step::Use(live.client.clone()),
                _ => self.next_step(cluster, &mut state),
            };
            match step {
                Step::Use(client) => return Ok(client),
                Step::Fail(error) => return Err(connect_error(error)),
                Step::Wait(start) => start,
                Step::Start { failures } => {
                    let start = self.start(Arc::clone(entry), failures);
                    *state = State::Starting(start.clone());
                    start
                }
            }
        };

        let result = start.await;
        if counted && let State::Ready(live) = &mut *entry.state.lock() {
            live.accesses += 1;
            live.last_access = Instant::now();
        }
        result.map_err(connect_error)
    }

    /// Decides what a checkout does in the entry's current state.
    fn next_step(&self, cluster: &str, state: &mut State<F::Client>) -> Step<F::Client> {
        match state {
            State::Ready(live) if !self.shared.config.recycle_due(live.accesses) => {
                Step::Use(live.touch())
            }
            State::Ready(live) => {
                self.shared
                    .counters
                    .recycled
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    cluster,
                    serial = live.serial,
                    accesses = live.accesses,
                    "recycling client"
                );
                Step::Start { failures: 0 }
            }
            State::Starting(start) => Step::Wait(start.clone()),
            State::Failed {
                error, retry_at, ..
            } if Instant::now() < *retry_at => Step::Fail(Arc::clone(error)),
            State::Failed { failures, .. } => Step::Start {
                failures: *failures,
            },
            State::NotStarted | State::Evicted(_) => Step::Start { failures: 0 },
        }
    }

    /// Starts a client in its own task, so that a caller that gives up
    /// waiting does not cancel the start for the others. `failures` counts
    /// the failed starts before this one.
    fn start(&self, entry: Arc<Entry<F::Client>>, failures: u32) -> StartFuture<F::Client> {
        let factory = Arc::clone(&self.factory);
        let shared = Arc::clone(&self.shared);
        let serial = shared.counters.serials.fetch_add(1, Ordering::Relaxed) + 1;

        let task = tokio::spawn(async move {
            let cluster = entry.cluster();
            let timeout = shared.config.init_timeout;
            tracing::debug!(cluster = %cluster.name, serial, "starting client");
            let connect = factory.connect(Arc::clone(&cluster), serial);
            let result = tokio::time::timeout(timeout, connect)
                .await
                .unwrap_or(Err(ConnectError::Timeout(timeout)))
                .map_err(Arc::new);
            shared.finish_start(&entry, serial, failures, &result);
            result
        });

        async move {
            task.await
                .unwrap_or_else(|error| Err(Arc::new(ConnectError::Interrupted(error.to_string()))))
        }
        .boxed()
        .shared()
    }

    /// Returns the live client of `cluster`, if it has one, without starting
    /// it or counting an access.
    pub fn peek(&self, cluster: &str) -> Option<F::Client> {
        match &*self.entry(cluster)?.state.lock() {
            State::Ready(live) => Some(live.client.clone()),
            _ => None,
        }
    }

    /// Evicts every live client unused for longer than `max_idle` and
    /// returns how many were evicted.
    pub fn evict_idle(&self) -> usize {
        self.evict_unused_for(self.shared.config.max_idle)
    }

    /// Evicts every live client unused for longer than `max_idle`, and
    /// returns how many were evicted. The memory monitor calls this with the
    /// shorter idle threshold to relieve pressure. A held cluster is kept.
    pub fn evict_unused_for(&self, max_idle: Duration) -> usize {
        let now = Instant::now();
        let mut evicted = 0;
        for entry in self.shared.entries.read().values() {
            let mut state = entry.state.lock();
            let State::Ready(live) = &*state else {
                continue;
            };
            if now.saturating_duration_since(live.last_access) <= max_idle || entry.is_held() {
                continue;
            }
            tracing::info!(cluster = %entry.cluster().name, serial = live.serial, reason = "idle", "client evicted");
            *state = State::Evicted(EvictReason::Idle);
            evicted += 1;
        }
        self.shared
            .counters
            .evicted_idle
            .fetch_add(evicted as u64, Ordering::Relaxed);
        evicted
    }

    /// Starts a task that, every `interval` until the pool is dropped,
    /// refreshes `cache` and reloads the pool when the sources changed.
    pub fn spawn_refresher(
        pool: &Arc<Self>,
        mut cache: InventoryCache,
        interval: Duration,
    ) -> JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(pool);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = weak.upgrade() else { break };
                if let Refresh::Reloaded(inventory) = cache.refresh() {
                    pool.reload(inventory);
                }
            }
        })
    }

    /// Starts a task that evicts idle clients every `interval` until the
    /// pool is dropped.
    pub fn spawn_janitor(pool: &Arc<Self>, interval: Duration) -> JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(pool);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = weak.upgrade() else { break };
                let evicted = pool.evict_idle();
                if evicted > 0 {
                    tracing::debug!(evicted, "janitor evicted idle clients");
                }
            }
        })
    }

    /// Returns the pool state of every configured cluster, in inventory order.
    pub fn states(&self) -> Vec<(Arc<ClusterConfig>, ClusterState)> {
        let now = Instant::now();
        self.inventory()
            .clusters()
            .iter()
            .filter_map(|cluster| {
                let entry = self.entry(&cluster.name)?;
                let state = entry.state.lock().describe(now);
                Some((Arc::clone(cluster), state))
            })
            .collect()
    }

    /// Returns the pool's figures.
    pub fn stats(&self) -> PoolStats {
        let counters = &self.shared.counters;
        let mut stats = PoolStats {
            total: u32::try_from(self.shared.entries.read().len()).unwrap_or(u32::MAX),
            clients_built: counters.serials.load(Ordering::Relaxed),
            start_failures: counters.start_failures.load(Ordering::Relaxed),
            evicted_idle: counters.evicted_idle.load(Ordering::Relaxed),
            evicted_over_cap: counters.evicted_over_cap.load(Ordering::Relaxed),
            recycled: counters.recycled.load(Ordering::Relaxed),
            ..PoolStats::default()
        };
        for (_, state) in self.states() {
            if let ClusterState::Ready { idle_for, .. } = state {
                stats.initialized += 1;
                if idle_for > self.shared.config.idle_threshold {
                    stats.idle += 1;
                }
            }
        }
        stats
    }
}

impl<C: Clone> PoolInner<C> {
    /// Records the result of a start in its entry, then keeps the pool
    /// within `max_live`.
    fn finish_start(
        &self,
        entry: &Entry<C>,
        serial: u64,
        failures: u32,
        result: &Result<C, Arc<ConnectError>>,
    ) {
        let cluster = entry.cluster();
        let name = &cluster.name;
        {
            let mut state = entry.state.lock();
            match result {
                Ok(client) => {
                    tracing::debug!(cluster = %name, serial, "client ready");
                    let now = Instant::now();
                    *state = State::Ready(Live {
                        client: client.clone(),
                        serial,
                        created: now,
                        last_access: now,
                        accesses: 0,
                    });
                }
                Err(error) => {
                    let failures = failures.saturating_add(1);
                    let retry_in = self.config.backoff(failures);
                    self.counters.start_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(cluster = %name, serial, failures, ?retry_in, %error, "client failed to start");
                    *state = State::Failed {
                        error: Arc::clone(error),
                        failures,
                        retry_at: Instant::now() + retry_in,
                    };
                }
            }
        }
        if result.is_ok() {
            self.enforce_max_live(name);
        }
    }

    /// Evicts least recently used clients, never `keep` nor a held one,
    /// until at most `max_live` are live. When only held clients are left
    /// to evict, more than `max_live` stay live.
    fn enforce_max_live(&self, keep: &str) {
        let Some(max_live) = self.config.max_live else {
            return;
        };
        loop {
            let mut live = 0;
            let mut oldest: Option<(Instant, &Arc<Entry<C>>)> = None;
            let entries = self.entries.read();
            for (name, entry) in entries.iter() {
                let State::Ready(client) = &*entry.state.lock() else {
                    continue;
                };
                live += 1;
                if name != keep
                    && !entry.is_held()
                    && oldest.is_none_or(|(at, _)| client.last_access < at)
                {
                    oldest = Some((client.last_access, entry));
                }
            }
            let Some((_, entry)) = oldest.filter(|_| live > max_live) else {
                return;
            };

            let mut state = entry.state.lock();
            if matches!(&*state, State::Ready(_)) {
                tracing::info!(cluster = %entry.cluster().name, max_live, reason = "over max_live", "client evicted");
                *state = State::Evicted(EvictReason::OverCap);
                self.counters
                    .evicted_over_cap
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl<C> State<C> {
    fn describe(&self, now: Instant) -> ClusterState {
        match self {
            State::NotStarted => ClusterState::NotStarted,
            State::Starting(_) => ClusterState::Starting,
            State::Ready(live) => ClusterState::Ready {
                serial: live.serial,
                accesses: live.accesses,
                age: now.saturating_duration_since(live.created),
                idle_for: now.saturating_duration_since(live.last_access),
            },
            State::Failed {
                error,
                failures,
                retry_at,
            } => ClusterState::Failed {
                error: crate::cluster::error_chain(error.as_ref()),
                failures: *failures,
                retry_in: retry_at.saturating_duration_since(now),
            },
            State::Evicted(reason) => ClusterState::Evicted(*reason),
        }
    }
}

impl<C: Clone> Live<C> {
    fn touch(&mut self) -> C {
        self.accesses += 1;
        self.last_access = Instant::now();
        self.client.clone()
    }
}
