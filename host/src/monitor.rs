//! Memory and performance figures of the host.
//!
//! The monitor counts every request sent to a cluster (and every request a
//! plugin records itself) per cluster and verb, keeps latency histograms for
//! percentiles, and reads the process's resident memory on demand. Key names
//! follow the figures operators already know: `memory_usage_mb`,
//! `perf_total_requests`, `lazy_initialized_clusters` and so on. Rust has no
//! garbage collector, so there is no `gc_count`; live async tasks take the
//! place of a goroutine count.

mod histogram;

use crate::transport::TransportCounters;
use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use self::histogram::Histogram;
use crate::inventory::Inventory;
use crate::pool::PoolStats;

/// Length of one recent window. Windows start when the monitor is created
/// and follow each other without gaps. The recent percentiles cover the
/// current window and the one before it, so between 5 and 10 minutes of
/// requests.
pub const RECENT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Request counts and latency histograms of one cluster and verb: 1016
/// bytes, plus the cluster and verb strings of its key.
///
/// `current` counts the requests of window number `window`, and `previous`
/// those of the window before it.
struct Series {
    requests: u64,
    errors: u64,
    total_ms: f64,
    window: u64,
    all_time: Histogram,
    current: Histogram,
    previous: Histogram,
}

impl Series {
    fn new(window: u64) -> Self {
        Self {
            requests: 0,
            errors: 0,
            total_ms: 0.0,
            window,
            all_time: Histogram::EMPTY,
            current: Histogram::EMPTY,
            previous: Histogram::EMPTY,
        }
    }

    /// Moves the window histograms forward to window number `window`.
    fn rotate(&mut self, window: u64) {
        match window.saturating_sub(self.window) {
            0 => return,
            1 => self.previous = self.current,
            _ => self.previous = Histogram::EMPTY,
        }
        self.current = Histogram::EMPTY;
        self.window = window;
    }

    /// Adds one request that took `duration`, in window number `window`.
    fn add(&mut self, window: u64, duration: Duration, success: bool) {
        self.rotate(window);
        self.requests += 1;
        self.total_ms += duration.as_secs_f64() * 1000.0;
        if !success {
            self.errors += 1;
        }
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.all_time.record(micros);
        self.current.record(micros);
    }

    /// Returns the latencies of window number `window` and the one before it.
    fn recent(&self, window: u64) -> Histogram {
        match window.saturating_sub(self.window) {
            0 => {
                let mut recent = self.current;
                recent.merge(&self.previous);
                recent
            }
            1 => self.current,
            _ => Histogram::EMPTY,
        }
    }
}

/// Request figures of one cluster and verb, or of one verb over every
/// cluster (see [`Snapshot::verb_latencies`]).
///
/// Every percentile reads as the midpoint of a histogram bucket, within
/// 12.5% of the exact latency. Latencies under 0.128 ms read as 0.064 ms, and
/// those of 134217.728 ms or more read as 134217.728 ms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Cluster name; empty, and left out of JSON, in the figures of a verb
    /// over every cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Verb, such as `list`.
    pub verb: String,
    /// Requests since the monitor started.
    pub count: u64,
    /// Failed requests since the monitor started.
    pub errors: u64,
    /// Exact mean latency since the monitor started, in milliseconds.
    pub avg_ms: f64,
    /// Requests in the recent windows (see [`RECENT_WINDOW`]).
    pub recent_count: u64,
    /// Median latency in milliseconds, over the recent windows.
    pub p50_ms: f64,
    /// 95th percentile latency in milliseconds, over the recent windows.
    pub p95_ms: f64,
    /// 99th percentile latency in milliseconds, over the recent windows.
    pub p99_ms: f64,
    /// Percentiles over every request since the monitor started.
    pub all_time: Percentiles,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram) -> Self {
        Self {
            p50_ms: histogram.percentile_ms(50),
            p95_ms: histogram.percentile_ms(95),
            p99_ms: histogram.percentile_ms(99),
        }
    }
}

/// Configuration cache figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConfigStats {
    /// Cluster configurations cached.
    pub cached_clusters: u32,
    /// Lookups served from the cache.
    pub total_access: u64,
    /// Times the sources were read.
    pub source_reads: u64,
}

impl ConfigStats {
    /// Reads the configuration cache figures of `inventory`.
    pub fn from_inventory(inventory: &Inventory) -> Self {
        Self {
            cached_clusters: u32::try_from(inventory.clusters().len()).unwrap_or(u32::MAX),
            total_access: inventory.accesses(),
            source_reads: inventory.source_reads(),
        }
    }
}

/// Every figure of the host at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Resident memory of this process, in MiB.
    pub memory_usage_mb: f64,
    /// Total memory of the machine, in MiB.
    pub system_memory_mb: f64,
    /// Live tasks in the async runtime.
    pub tasks: u64,
    /// Requests sent to clusters or recorded by plugins.
    pub perf_total_requests: u64,
    /// Requests that failed.
    pub perf_error_count: u64,
    /// Share of successful requests, in percent (100 when none were sent).
    pub perf_success_rate: f64,
    /// Mean latency in milliseconds.
    pub perf_avg_response_time_ms: f64,
    /// Request figures per cluster and verb, sorted by cluster, then verb.
    pub latencies: Vec<LatencyStats>,
    /// Request figures per verb over every cluster, sorted by verb, with
    /// an empty `cluster`. The percentiles come from the merged latency
    /// histograms of the verb's clusters.
    pub verb_latencies: Vec<LatencyStats>,
    /// Clusters configured.
    pub lazy_total_clusters: u32,
    /// Clusters with a live client.
    pub lazy_initialized_clusters: u32,
    /// Live clients idle past the threshold.
    pub lazy_idle_clusters: u32,
    /// Cluster configurations cached.
    pub config_cached_clusters: u32,
    /// Lookups served from the configuration cache.
    pub config_total_access: u64,
    /// Memory samples above the warning threshold.
    pub memory_warnings: u64,
    /// Times the configuration sources were read.
    pub config_source_reads: u64,
    /// Requests that waited for the rate limit or a `Retry-After`.
    pub http_throttled_requests: u64,
    /// Reads sent again after a 429, 502, 503 or 504 reply.
    pub http_retried_reads: u64,
    /// Credentials refreshed after a 401 reply.
    pub http_credential_refreshes: u64,
    /// rustls configurations built; clients with equal TLS settings share one.
    pub tls_configs_built: u64,
    /// Client starts that reused a rustls configuration already built.
    pub tls_configs_shared: u64,
    /// Host calls that a plugin's policy denied.
    pub policy_denials: u64,
    /// Timings that plugins recorded themselves, per plugin, cluster and
    /// verb, sorted in that order. They are kept apart from the host's own
    /// request figures above.
    pub plugin_latencies: Vec<PluginLatency>,
    /// Host calls of plugins per plugin and verb, sorted in that order:
    /// each typed `kube-client` call and each raw `client.request`.
    pub plugin_calls: Vec<PluginCalls>,
    /// Plugin components compiled by this process's plugin runtime; 0 where
    /// no runtime is running.
    pub plugin_compilations: u64,
    /// Plugin components read from the compiled-component cache instead of
    /// compiled; 0 where no runtime is running.
    pub plugin_cache_hits: u64,
    /// Instance allocator of the plugin runtime, such as `pooling` or
    /// `on-demand`; empty when unknown.
    pub instance_allocator: String,
}

/// Host calls one plugin made with one verb.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginCalls {
    /// The plugin's name.
    pub plugin: String,
    /// The verb, as [`CallVerb::as_str`] spells it.
    pub verb: String,
    /// Calls, failed ones included.
    pub count: u64,
    /// Calls that returned an error, or a raw request's HTTP status of 400
    /// or more.
    pub errors: u64,
}

/// The verb of a plugin's host call: a typed `kube-client` function, or
/// the method of a raw `client.request` in lower case. A typed `get` and a
/// raw GET share [`CallVerb::Get`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallVerb {
    /// Typed `get`, or a raw GET.
    Get,
    /// Typed `list`.
    List,
    /// Typed `create`.
    Create,
    /// Typed `patch`, or a raw PATCH.
    Patch,
    /// Typed `delete`, or a raw DELETE.
    Delete,
    /// A raw HEAD.
    Head,
    /// A raw POST.
    Post,
    /// A raw PUT.
    Put,
}

impl CallVerb {
    /// Every verb, in the order of the counters.
    const ALL: [Self; 8] = [
        Self::Get,
        Self::List,
        Self::Create,
        Self::Patch,
        Self::Delete,
        Self::Head,
        Self::Post,
        Self::Put,
    ];

    /// Returns the verb in lower case, such as `list` or `put`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Create => "create",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::Head => "head",
            Self::Post => "post",
            Self::Put => "put",
        }
    }

    /// Returns the verb of a raw request's HTTP method, in any case, or
    /// `None` for a method the policy rejects anyway.
    pub fn from_method(method: &str) -> Option<Self> {
        let verbs = [
            ("GET", Self::Get),
            ("HEAD", Self::Head),
            ("POST", Self::Post),
            ("PUT", Self::Put),
            ("PATCH", Self::Patch),
            ("DELETE", Self::Delete),
        ];
        verbs
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(method))
            .map(|(_, verb)| verb)
    }
}

/// Host call counters of one plugin: successes and failures per verb, in
/// the order of [`CallVerb::ALL`].
#[derive(Default)]
struct CallCounters {
    ok: [std::sync::atomic::AtomicU64; CallVerb::ALL.len()],
    error: [std::sync::atomic::AtomicU64; CallVerb::ALL.len()],
}

impl CallCounters {
    fn add(&self, verb: CallVerb, success: bool) {
        let counters = if success { &self.ok } else { &self.error };
        counters[verb as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Timings one plugin recorded for a cluster and verb.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginLatency {
    /// The plugin's name.
    pub plugin: String,
    /// The figures.
    #[serde(flatten)]
    pub latency: LatencyStats,
}

impl Snapshot {
    /// Returns the part of the snapshot that plugin `plugin` may see: the
    /// request figures of the clusters for which `visible` returns true,
    /// with totals over those alone, and the plugin's own recorded timings.
    /// Process-wide figures (memory, tasks, configuration cache, HTTP and
    /// policy counters) are kept; the pool's figures are replaced by `pool`.
    /// Host call counts are kept for `plugin` alone. The figures per verb
    /// are dropped, because they span clusters the plugin may not see and
    /// cannot be split again.
    #[must_use]
    pub fn scoped(mut self, plugin: &str, visible: impl Fn(&str) -> bool, pool: PoolStats) -> Self {
        self.latencies.retain(|latency| visible(&latency.cluster));
        self.verb_latencies.clear();
        self.plugin_latencies
            .retain(|recorded| recorded.plugin == plugin && visible(&recorded.latency.cluster));
        self.plugin_calls.retain(|calls| calls.plugin == plugin);
        self.perf_total_requests = self.latencies.iter().map(|latency| latency.count).sum();
        self.perf_error_count = self.latencies.iter().map(|latency| latency.errors).sum();
        let total_ms: f64 = self
            .latencies
            .iter()
            .map(|latency| latency.avg_ms * latency.count as f64)
            .sum();
        (self.perf_success_rate, self.perf_avg_response_time_ms) =
            rates(self.perf_total_requests, self.perf_error_count, total_ms);
        self.lazy_total_clusters = pool.total;
        self.lazy_initialized_clusters = pool.initialized;
        self.lazy_idle_clusters = pool.idle;
        self.config_cached_clusters = self.config_cached_clusters.min(pool.total);
        self
    }

    /// Sets the plugin runtime's figures: components compiled, components
    /// read from the compiled-component cache, and the instance allocator
    /// (empty when unknown).
    #[must_use]
    pub fn with_runtime(mut self, compilations: u64, cache_hits: u64, allocator: &str) -> Self {
        self.plugin_compilations = compilations;
        self.plugin_cache_hits = cache_hits;
        self.instance_allocator = allocator.to_string();
        self
    }
}

/// Returns the success rate in percent and the mean latency in
/// milliseconds of `total` requests with `errors` failures taking
/// `total_ms` together; 100% and 0 ms without requests.
fn rates(total: u64, errors: u64, total_ms: f64) -> (f64, f64) {
    if total == 0 {
        return (100.0, 0.0);
    }
    let count = total as f64;
    let successes = count - errors as f64;
    (successes * 100.0 / count, total_ms / count)
}

/// Collects request figures and reads memory.
pub struct Monitor {
    started: Instant,
    series: Mutex<BTreeMap<(String, String), Series>>,
    plugin_series: Mutex<BTreeMap<(String, String, String), Series>>,
    /// Host call counters per plugin. Only a plugin's first call takes the
    /// write lock; later calls share the read lock and add atomically.
    plugin_calls: RwLock<std::collections::HashMap<Box<str>, CallCounters>>,
    memory_warnings: std::sync::atomic::AtomicU64,
    policy_denials: std::sync::atomic::AtomicU64,
    transport: std::sync::Arc<TransportCounters>,
}

impl Default for Monitor {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            series: Mutex::default(),
            plugin_series: Mutex::default(),
            plugin_calls: RwLock::default(),
            memory_warnings: std::sync::atomic::AtomicU64::new(0),
            policy_denials: std::sync::atomic::AtomicU64::new(0),
            transport: std::sync::Arc::default(),
        }
    }
}

/// Settings of the memory watch.
#[derive(Clone, Debug)]
pub struct MemoryWatch {
    /// Time between samples.
    pub interval: Duration,
    /// Resident memory, in MiB, above which a warning is logged.
    pub warning_mb: u64,
    /// Whether to evict idle clients when memory passes the threshold.
    pub evict_idle_on_pressure: bool,
}

impl Monitor {
    /// Creates an empty monitor whose first recent window starts now.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the number of the recent window that contains now.
    fn window(&self) -> u64 {
        self.started.elapsed().as_secs() / RECENT_WINDOW.as_secs()
    }

    /// Returns how many samples found memory above the warning threshold.
    pub fn memory_warnings(&self) -> u64 {
        self.memory_warnings
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a task that samples resident memory every `watch.interval`
    /// until the monitor is dropped. Above the threshold it logs a warning,
    /// counts it, and, when enabled, calls `relieve`, which returns how many
    /// idle clients it evicted.
    pub fn spawn_memory_watch(
        monitor: &std::sync::Arc<Self>,
        watch: MemoryWatch,
        relieve: impl Fn() -> usize + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let weak = std::sync::Arc::downgrade(monitor);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(watch.interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(monitor) = weak.upgrade() else { break };
                let (resident_mb, _) = memory_mb();
                if resident_mb <= watch.warning_mb as f64 {
                    continue;
                }
                monitor
                    .memory_warnings
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let evicted = if watch.evict_idle_on_pressure {
                    relieve()
                } else {
                    0
                };
                tracing::warn!(
                    resident_mb,
                    threshold_mb = watch.warning_mb,
                    evicted,
                    "memory above the warning threshold"
                );
            }
        })
    }

    /// Records one request to `cluster` with `verb`.
    pub fn record(&self, cluster: &str, verb: &str, duration: Duration, success: bool) {
        let window = self.window();
        let mut series = self.series.lock();
        series
            .entry((cluster.to_string(), verb.to_string()))
            .or_insert_with(|| Series::new(window))
            .add(window, duration, success);
    }

    /// Records a request that plugin `plugin` timed itself, in a series
    /// of its own that the host's request figures do not include.
    pub fn record_for_plugin(
        &self,
        plugin: &str,
        cluster: &str,
        verb: &str,
        duration: Duration,
        success: bool,
    ) {
        let window = self.window();
        let mut series = self.plugin_series.lock();
        series
            .entry((plugin.to_string(), cluster.to_string(), verb.to_string()))
            .or_insert_with(|| Series::new(window))
            .add(window, duration, success);
    }

    /// Returns the timings plugin `plugin` recorded, per cluster and verb,
    /// sorted by cluster, then verb.
    pub fn plugin_latencies(&self, plugin: &str) -> Vec<LatencyStats> {
        let window = self.window();
        self.plugin_series
            .lock()
            .iter()
            .filter(|((owner, _, _), _)| owner == plugin)
            .map(|((_, cluster, verb), series)| latency_stats(cluster, verb, series, window))
            .collect()
    }

    /// Counts one host call of plugin `plugin` with `verb`, as failed
    /// unless `success`.
    pub fn record_plugin_call(&self, plugin: &str, verb: CallVerb, success: bool) {
        if let Some(counters) = self.plugin_calls.read().get(plugin) {
            counters.add(verb, success);
            return;
        }
        self.plugin_calls
            .write()
            .entry(Box::from(plugin))
            .or_default()
            .add(verb, success);
    }

    /// Returns the host call counts per plugin and verb, sorted in that
    /// order, leaving out verbs a plugin never called.
    fn plugin_calls(&self) -> Vec<PluginCalls> {
        let mut calls = Vec::new();
        for (plugin, counters) in self.plugin_calls.read().iter() {
            for verb in CallVerb::ALL {
                let ok = counter(&counters.ok[verb as usize]);
                let errors = counter(&counters.error[verb as usize]);
                if ok + errors == 0 {
                    continue;
                }
                calls.push(PluginCalls {
                    plugin: plugin.to_string(),
                    verb: verb.as_str().to_string(),
                    count: ok + errors,
                    errors,
                });
            }
        }
        calls.sort_by(|a, b| (&a.plugin, &a.verb).cmp(&(&b.plugin, &b.verb)));
        calls
    }

    /// Counts one host call denied by a plugin's policy.
    pub fn record_denial(&self) {
        self.policy_denials
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Returns the counters the clusters' HTTP stacks add to.
    pub fn transport(&self) -> &std::sync::Arc<TransportCounters> {
        &self.transport
    }

    /// Returns every figure, with the pool's and configuration cache's
    /// figures as given.
    pub fn snapshot(&self, pool: PoolStats, config: ConfigStats) -> Snapshot {
        let (memory_usage_mb, system_memory_mb) = memory_mb();
        let mut snapshot = Snapshot {
            memory_usage_mb,
            system_memory_mb,
            tasks: live_tasks(),
            perf_total_requests: 0,
            perf_error_count: 0,
            perf_success_rate: 100.0,
            perf_avg_response_time_ms: 0.0,
            latencies: Vec::new(),
            verb_latencies: Vec::new(),
            lazy_total_clusters: pool.total,
            lazy_initialized_clusters: pool.initialized,
            lazy_idle_clusters: pool.idle,
            config_cached_clusters: config.cached_clusters,
            config_total_access: config.total_access,
            config_source_reads: config.source_reads,
            memory_warnings: self.memory_warnings(),
            http_throttled_requests: counter(&self.transport.throttled_requests),
            http_retried_reads: counter(&self.transport.retried_reads),
            http_credential_refreshes: counter(&self.transport.credential_refreshes),
            tls_configs_built: counter(&self.transport.tls_configs_built),
            tls_configs_shared: counter(&self.transport.tls_configs_shared),
            policy_denials: counter(&self.policy_denials),
            plugin_latencies: Vec::new(),
            plugin_calls: self.plugin_calls(),
            plugin_compilations: 0,
            plugin_cache_hits: 0,
            instance_allocator: String::new(),
        };

        let window = self.window();
        let mut total_ms = 0.0;
        let mut verbs: BTreeMap<&str, VerbTotals> = BTreeMap::new();
        let series = self.series.lock();
        for ((cluster, verb), series) in series.iter() {
            snapshot.perf_total_requests += series.requests;
            snapshot.perf_error_count += series.errors;
            total_ms += series.total_ms;
            snapshot
                .latencies
                .push(latency_stats(cluster, verb, series, window));
            verbs.entry(verb).or_default().add(series, window);
        }
        snapshot.verb_latencies = verbs
            .into_iter()
            .map(|(verb, totals)| totals.latency_stats(verb))
            .collect();
        drop(series);
        (
            snapshot.perf_success_rate,
            snapshot.perf_avg_response_time_ms,
        ) = rates(
            snapshot.perf_total_requests,
            snapshot.perf_error_count,
            total_ms,
        );
        for ((plugin, cluster, verb), series) in self.plugin_series.lock().iter() {
            snapshot.plugin_latencies.push(PluginLatency {
                plugin: plugin.clone(),
                latency: latency_stats(cluster, verb, series, window),
            });
        }
        snapshot
    }
}

/// Request figures of one verb, summed over its clusters.
struct VerbTotals {
    requests: u64,
    errors: u64,
    total_ms: f64,
    recent: Histogram,
    all_time: Histogram,
}

impl Default for VerbTotals {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            total_ms: 0.0,
            recent: Histogram::EMPTY,
            all_time: Histogram::EMPTY,
        }
    }
}

impl VerbTotals {
    /// Adds the figures of one cluster's series, as of window `window`.
    fn add(&mut self, series: &Series, window: u64) {
        self.requests += series.requests;
        self.errors += series.errors;
        self.total_ms += series.total_ms;
        self.recent.merge(&series.recent(window));
        self.all_time.merge(&series.all_time);
    }

    fn latency_stats(&self, verb: &str) -> LatencyStats {
        let recent = Percentiles::of(&self.recent);
        LatencyStats {
            cluster: String::new(),
            verb: verb.to_string(),
            count: self.requests,
            errors: self.errors,
            avg_ms: self.total_ms / self.requests.max(1) as f64,
            recent_count: self.recent.count(),
            p50_ms: recent.p50_ms,
            p95_ms: recent.p95_ms,
            p99_ms: recent.p99_ms,
            all_time: Percentiles::of(&self.all_time),
        }
    }
}

fn counter(value: &std::sync::atomic::AtomicU64) -> u64 {
    value.load(std::sync::atomic::Ordering::Relaxed)
}

fn latency_stats(cluster: &str, verb: &str, series: &Series, window: u64) -> LatencyStats {
    let recent = series.recent(window);
    let recent_percentiles = Percentiles::of(&recent);
    LatencyStats {
        cluster: cluster.to_string(),
        verb: verb.to_string(),
        count: series.requests,
        errors: series.errors,
        avg_ms: series.total_ms / series.requests.max(1) as f64,
        recent_count: recent.count(),
        p50_ms: recent_percentiles.p50_ms,
        p95_ms: recent_percentiles.p95_ms,
        p99_ms: recent_percentiles.p99_ms,
        all_time: Percentiles::of(&series.all_time),
    }
}

/// Returns the process's resident memory and the machine's total memory, in MiB.
fn memory_mb() -> (f64, f64) {
    use sysinfo::{MemoryRefreshKind, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

    const MIB: f64 = 1024.0 * 1024.0;
    let mut system = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let resident = sysinfo::get_current_pid().ok().and_then(|pid| {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_memory(),
        );
        system.process(pid).map(|process| process.memory())
    });
    (
        resident.unwrap_or(0) as f64 / MIB,
        system.total_memory() as f64 / MIB,
    )
}

/// Returns the live tasks of the current tokio runtime, 0 outside one.
fn live_tasks() -> u64 {
    tokio::runtime::Handle::try_current()
        .map(|handle| handle.metrics().num_alive_tasks() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_and_average() {
        let monitor = Monitor::new();
        monitor.record("a", "list", Duration::from_millis(10), true);
        monitor.record("a", "list", Duration::from_millis(30), false);
        monitor.record("b", "get", Duration::from_millis(20), true);
        monitor.record("b", "get", Duration::from_millis(20), true);

        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        assert_eq!(snapshot.perf_total_requests, 4);
        assert_eq!(snapshot.perf_error_count, 1);
        assert_eq!(snapshot.perf_success_rate, 75.0);
        assert_eq!(snapshot.perf_avg_response_time_ms, 20.0);
        assert_eq!(snapshot.latencies.len(), 2);
        assert!(snapshot.memory_usage_mb > 0.0);
        assert!(snapshot.system_memory_mb >= snapshot.memory_usage_mb);
    }

    #[test]
    fn series_stays_under_one_kibibyte() {
        assert_eq!(std::mem::size_of::<Series>(), 1016);
        assert!(std::mem::size_of::<Series>() <= 1024);
    }

    #[test]
    fn latency_stats_read_bucket_values() {
        let monitor = Monitor::new();
        for _ in 0..98 {
            monitor.record("a", "get", Duration::from_millis(1), true);
        }
        monitor.record("a", "get", Duration::from_millis(500), false);
        monitor.record("a", "get", Duration::from_millis(500), true);

        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        let stats = &snapshot.latencies[0];
        assert_eq!(stats.count, 100);
        assert_eq!(stats.errors, 1);
        assert_eq!(stats.avg_ms, 10.98);
        assert_eq!(stats.recent_count, 100);
        assert_eq!(stats.p50_ms, 0.96);
        assert_eq!(stats.p95_ms, 0.96);
        assert_eq!(stats.p99_ms, 491.52);
        let all_time = Percentiles {
            p50_ms: 0.96,
            p95_ms: 0.96,
            p99_ms: 491.52,
        };
        assert_eq!(stats.all_time, all_time);
    }

    #[test]
    fn latencies_sort_by_cluster_then_verb() {
        let monitor = Monitor::new();
        for (cluster, verb) in [("b", "get"), ("a", "list"), ("a", "get")] {
            monitor.record(cluster, verb, Duration::from_millis(1), true);
        }
        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        let keys: Vec<(&str, &str)> = snapshot
            .latencies
            .iter()
            .map(|stats| (stats.cluster.as_str(), stats.verb.as_str()))
            .collect();
        assert_eq!(keys, [("a", "get"), ("a", "list"), ("b", "get")]);
    }

    #[tokio::test(start_paused = true)]
    async fn recent_windows_rotate() {
        let monitor = Monitor::new();
        let recent = |monitor: &Monitor| {
            let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
            snapshot.latencies[0].clone()
        };

        monitor.record("a", "get", Duration::from_millis(10), true);
        tokio::time::advance(RECENT_WINDOW - Duration::from_secs(1)).await;
        monitor.record("a", "get", Duration::from_millis(200), true);
        let stats = recent(&monitor);
        assert_eq!(stats.recent_count, 2, "both in the first window");
        assert_eq!(stats.p50_ms, 9.216);
        assert_eq!(stats.p99_ms, 212.992);

        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            recent(&monitor).recent_count,
            2,
            "the first window is now the previous one"
        );
        monitor.record("a", "get", Duration::from_millis(30), true);
        let stats = recent(&monitor);
        assert_eq!(stats.recent_count, 3, "previous and current windows");
        assert_eq!(stats.p50_ms, 30.72);

        tokio::time::advance(RECENT_WINDOW).await;
        let stats = recent(&monitor);
        assert_eq!(stats.recent_count, 1, "only the second window remains");
        assert_eq!(stats.p50_ms, 30.72);
        assert_eq!(stats.p99_ms, 30.72);

        tokio::time::advance(RECENT_WINDOW).await;
        let stats = recent(&monitor);
        assert_eq!(stats.recent_count, 0, "no request in the last two windows");
        assert_eq!(stats.p50_ms, 0.0);
        assert_eq!(stats.p99_ms, 0.0);
        assert_eq!(stats.count, 3);
        assert_eq!(stats.all_time.p50_ms, 30.72);
        assert_eq!(stats.all_time.p99_ms, 212.992);
    }

    #[tokio::test(start_paused = true)]
    async fn request_after_long_pause_clears_old_windows() {
        let monitor = Monitor::new();
        monitor.record("a", "get", Duration::from_millis(10), true);
        tokio::time::advance(RECENT_WINDOW * 3).await;
        monitor.record("a", "get", Duration::from_millis(1), true);

        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        let stats = &snapshot.latencies[0];
        assert_eq!(stats.recent_count, 1);
        assert_eq!(stats.p99_ms, 0.96);
        assert_eq!(stats.count, 2);
        assert_eq!(stats.all_time.p99_ms, 9.216);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_watch_warns_and_relieves() {
        let monitor = std::sync::Arc::new(Monitor::new());
        let relieved = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&relieved);
        let watch = MemoryWatch {
            interval: Duration::from_secs(30),
            warning_mb: 1,
            evict_idle_on_pressure: true,
        };
        let task = Monitor::spawn_memory_watch(&monitor, watch, move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            2
        });

        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(monitor.memory_warnings(), 2);
        assert_eq!(relieved.load(std::sync::atomic::Ordering::SeqCst), 2);
        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        assert_eq!(snapshot.memory_warnings, 2);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn memory_watch_is_quiet_below_threshold() {
        let monitor = std::sync::Arc::new(Monitor::new());
        let watch = MemoryWatch {
            interval: Duration::from_secs(30),
            warning_mb: u64::MAX,
            evict_idle_on_pressure: true,
        };
        let task =
            Monitor::spawn_memory_watch(&monitor, watch, || panic!("no pressure to relieve"));
        tokio::time::sleep(Duration::from_secs(95)).await;
        assert_eq!(monitor.memory_warnings(), 0);
        task.abort();
    }

    #[test]
    fn plugin_calls_count_per_plugin_and_verb() {
        let monitor = Monitor::new();
        monitor.record_plugin_call("fixer", CallVerb::Patch, true);
        monitor.record_plugin_call("audit", CallVerb::List, true);
        monitor.record_plugin_call("audit", CallVerb::List, false);
        monitor.record_plugin_call("audit", CallVerb::Get, false);

        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        let calls: Vec<(&str, &str, u64, u64)> = snapshot
            .plugin_calls
            .iter()
            .map(|calls| {
                (
                    calls.plugin.as_str(),
                    calls.verb.as_str(),
                    calls.count,
                    calls.errors,
                )
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("audit", "get", 1, 1),
                ("audit", "list", 2, 1),
                ("fixer", "patch", 1, 0)
            ]
        );

        let scoped = snapshot.scoped("audit", |_| true, PoolStats::default());
        assert_eq!(scoped.plugin_calls.len(), 2);
        assert!(
            scoped
                .plugin_calls
                .iter()
                .all(|calls| calls.plugin == "audit")
        );
    }

    #[test]
    fn call_verb_from_method() {
        assert_eq!(CallVerb::from_method("GET"), Some(CallVerb::Get));
        assert_eq!(CallVerb::from_method("put"), Some(CallVerb::Put));
        assert_eq!(CallVerb::from_method("Delete"), Some(CallVerb::Delete));
        assert_eq!(CallVerb::from_method("OPTIONS"), None);
        assert_eq!(CallVerb::Head.as_str(), "head");
    }

    #[test]
    fn verb_latencies_merge_clusters() {
        let monitor = Monitor::new();
        let millis = Duration::from_millis;
        monitor.record("a", "list", millis(1), true);
        monitor.record("b", "list", millis(500), false);
        monitor.record("b", "get", millis(10), true);

        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        let verbs: Vec<&str> = snapshot
            .verb_latencies
            .iter()
            .map(|stats| stats.verb.as_str())
            .collect();
        assert_eq!(verbs, ["get", "list"]);
        let list = &snapshot.verb_latencies[1];
        assert_eq!(list.cluster, "");
        assert_eq!(list.count, 2);
        assert_eq!(list.errors, 1);
        assert_eq!(list.recent_count, 2);
        assert_eq!(list.avg_ms, 250.5);
        assert_eq!(list.p50_ms, 0.96, "the 1 ms request of cluster a");
        assert_eq!(list.p99_ms, 491.52, "the 500 ms request of cluster b");
        assert_eq!(list.all_time.p99_ms, 491.52);

        let scoped = snapshot.scoped("audit", |_| true, PoolStats::default());
        assert!(scoped.verb_latencies.is_empty());
    }

    #[test]
    fn empty_monitor_reports_full_success() {
        let snapshot = Monitor::new().snapshot(PoolStats::default(), ConfigStats::default());
        assert_eq!(snapshot.perf_total_requests, 0);
        assert_eq!(snapshot.perf_success_rate, 100.0);
    }
}
