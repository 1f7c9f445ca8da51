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

use parking_lot::Mutex;
use serde::Serialize;
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

/// Request figures of one cluster and verb.
///
/// Every percentile reads as the midpoint of a histogram bucket, within
/// 12.5% of the exact latency. Latencies under 0.128 ms read as 0.064 ms, and
/// those of 134217.728 ms or more read as 134217.728 ms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Cluster name.
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
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
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
}

/// Timings one plugin recorded for a cluster and verb.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
    #[must_use]
    pub fn scoped(mut self, plugin: &str, visible: impl Fn(&str) -> bool, pool: PoolStats) -> Self {
        self.latencies.retain(|latency| visible(&latency.cluster));
        self.plugin_latencies
            .retain(|recorded| recorded.plugin == plugin && visible(&recorded.latency.cluster));
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
        };

        let window = self.window();
        let mut total_ms = 0.0;
        for ((cluster, verb), series) in self.series.lock().iter() {
            snapshot.perf_total_requests += series.requests;
            snapshot.perf_error_count += series.errors;
            total_ms += series.total_ms;
            snapshot
                .latencies
                .push(latency_stats(cluster, verb, series, window));
        }
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
    fn empty_monitor_reports_full_success() {
        let snapshot = Monitor::new().snapshot(PoolStats::default(), ConfigStats::default());
        assert_eq!(snapshot.perf_total_requests, 0);
        assert_eq!(snapshot.perf_success_rate, 100.0);
    }
}
