//! Memory and performance figures of the host.
//!
//! The monitor counts every request sent to a cluster (and every request a
//! plugin records itself) per cluster and verb, keeps a window of recent
//! latencies for percentiles, and reads the process's resident memory on
//! demand. Key names follow the figures operators already know:
//! `memory_usage_mb`, `perf_total_requests`, `lazy_initialized_clusters`
//! and so on. Rust has no garbage collector, so there is no `gc_count`;
//! live async tasks take the place of a goroutine count.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::pool::PoolStats;

/// Latencies kept per cluster and verb for percentiles.
const LATENCY_WINDOW: usize = 1024;

/// Request counts and latencies of one cluster and verb.
#[derive(Default)]
struct Series {
    requests: u64,
    errors: u64,
    total_ms: f64,
    recent_ms: VecDeque<f64>,
}

/// Latency percentiles of one cluster and verb.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Cluster name.
    pub cluster: String,
    /// Verb, such as `list`.
    pub verb: String,
    /// Requests measured.
    pub count: u64,
    /// Median latency in milliseconds, over the recent window.
    pub p50_ms: f64,
    /// 95th percentile latency in milliseconds, over the recent window.
    pub p95_ms: f64,
    /// 99th percentile latency in milliseconds, over the recent window.
    pub p99_ms: f64,
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
    /// Percentiles per cluster and verb.
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
}

/// Collects request figures and reads memory.
#[derive(Default)]
pub struct Monitor {
    series: Mutex<BTreeMap<(String, String), Series>>,
    memory_warnings: std::sync::atomic::AtomicU64,
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
    /// Creates an empty monitor.
    pub fn new() -> Self {
        Self::default()
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
        let millis = duration.as_secs_f64() * 1000.0;
        let mut series = self.series.lock();
        let entry = series
            .entry((cluster.to_string(), verb.to_string()))
            .or_default();
        entry.requests += 1;
        entry.total_ms += millis;
        if !success {
            entry.errors += 1;
        }
        if entry.recent_ms.len() == LATENCY_WINDOW {
            entry.recent_ms.pop_front();
        }
        entry.recent_ms.push_back(millis);
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
        };

        let mut total_ms = 0.0;
        for ((cluster, verb), series) in self.series.lock().iter() {
            snapshot.perf_total_requests += series.requests;
            snapshot.perf_error_count += series.errors;
            total_ms += series.total_ms;
            snapshot
                .latencies
                .push(latency_stats(cluster, verb, series));
        }
        if snapshot.perf_total_requests > 0 {
            let total = snapshot.perf_total_requests as f64;
            let successes = total - snapshot.perf_error_count as f64;
            snapshot.perf_success_rate = successes * 100.0 / total;
            snapshot.perf_avg_response_time_ms = total_ms / total;
        }
        snapshot
    }
}

fn latency_stats(cluster: &str, verb: &str, series: &Series) -> LatencyStats {
    let mut sorted: Vec<f64> = series.recent_ms.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    LatencyStats {
        cluster: cluster.to_string(),
        verb: verb.to_string(),
        count: series.requests,
        p50_ms: percentile(&sorted, 50.0),
        p95_ms: percentile(&sorted, 95.0),
        p99_ms: percentile(&sorted, 99.0),
    }
}

/// Returns the nearest-rank percentile of sorted values, 0 when empty.
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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
    fn percentiles_use_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 95.0), 95.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
        assert_eq!(percentile(&[7.0], 1.0), 7.0);
    }

    #[test]
    fn window_keeps_recent_latencies() {
        let monitor = Monitor::new();
        for _ in 0..LATENCY_WINDOW {
            monitor.record("a", "get", Duration::from_millis(1), true);
        }
        monitor.record("a", "get", Duration::from_millis(500), true);
        let snapshot = monitor.snapshot(PoolStats::default(), ConfigStats::default());
        assert_eq!(snapshot.latencies[0].count, LATENCY_WINDOW as u64 + 1);
        assert_eq!(snapshot.latencies[0].p99_ms, 1.0);
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
