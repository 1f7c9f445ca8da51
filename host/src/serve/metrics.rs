//! Prometheus text exposition (format 0.0.4) of the daemon's figures.
//!
//! Every metric name starts with `lazyhost_`, except the standard
//! `process_resident_memory_bytes`. Counters end in `_total`, and times and
//! sizes are in seconds and bytes. Request figures come twice: per verb,
//! summed over every cluster, and per cluster and verb for a bounded set of
//! clusters only (see [`ClusterSeries`]), so a fleet of thousands of
//! clusters cannot flood the scraper with series.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::inventory::{Inventory, InventoryError};
use crate::monitor::{LatencyStats, Snapshot};
use crate::pool::PoolStats;

/// Content type of the text format this module writes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Default of `metrics_max_clusters`: the most clusters that get series of
/// their own.
pub const DEFAULT_MAX_CLUSTERS: usize = 50;

/// Returns the quantile labels of a request duration summary with the
/// recent percentiles of `stats` they stand for, in milliseconds.
fn quantiles(stats: &LatencyStats) -> [(&'static str, f64); 3] {
    [
        ("0.5", stats.p50_ms),
        ("0.95", stats.p95_ms),
        ("0.99", stats.p99_ms),
    ]
}

/// Everything the `/metrics` endpoint renders.
#[derive(Clone, Debug)]
pub struct MetricsInput {
    /// The host's statistics snapshot, with the runtime's figures set
    /// (see [`Snapshot::with_runtime`]).
    pub snapshot: Snapshot,
    /// The cluster pool's gauges and counters.
    pub pool: PoolStats,
    /// Figures of each plugin in the daemon's plugins folder, loaded or not.
    pub plugins: Vec<PluginMetrics>,
    /// The clusters that get per-cluster request series.
    pub cluster_series: ClusterSeries,
}

/// Figures of one plugin of the daemon.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginMetrics {
    /// The plugin's name.
    pub name: String,
    /// Whether the plugin's current file is loaded and scheduled.
    pub loaded: bool,
    /// Times loading the plugin's file failed.
    pub load_failures: u64,
    /// Scheduled runs in which every invocation succeeded.
    pub runs_ok: u64,
    /// Scheduled runs in which at least one invocation failed.
    pub runs_error: u64,
    /// Invocations (one per cluster of a run) that succeeded.
    pub invocations_ok: u64,
    /// Invocations that failed, trapped or timed out.
    pub invocations_error: u64,
    /// Wall-clock time of every finished invocation, added up, in seconds.
    pub invocation_seconds_sum: f64,
    /// Watch events delivered to the plugin.
    pub watch_events: u64,
}

/// The bounded set of clusters that get request series per cluster and
/// verb: the first `max` clusters, in name order, that match the label
/// selector of `[serve] metrics_clusters` (every cluster when it is not
/// set). Requests to every other cluster still count, but only in the
/// series per verb, which sum over all clusters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterSeries {
    clusters: BTreeSet<String>,
    left_out: usize,
}

impl ClusterSeries {
    /// Selects the clusters of `inventory` whose labels match `selector`
    /// (all of them for `None`), keeping the first `max` in name order.
    ///
    /// # Errors
    ///
    /// Fails when the selector is blank or invalid.
    pub fn select(
        inventory: &Inventory,
        selector: Option<&str>,
        max: usize,
    ) -> Result<Self, InventoryError> {
        let matching = match selector {
            None => inventory.clusters().to_vec(),
            Some(text) if text.trim().is_empty() => {
                return Err(InventoryError::Selector {
                    selector: text.to_string(),
                    reason: "the selector of `metrics_clusters` is empty: leave the key out to \
                             give every cluster series, up to `metrics_max_clusters`"
                        .to_string(),
                });
            }
            Some(text) => inventory.select_by_labels(text)?,
        };
        Ok(Self::from_names(
            matching.iter().map(|cluster| cluster.name.clone()),
            max,
        ))
    }

    /// Keeps the first `max` of `names` in name order.
    pub fn from_names(names: impl IntoIterator<Item = String>, max: usize) -> Self {
        let mut clusters: BTreeSet<String> = names.into_iter().collect();
        let left_out = clusters.len().saturating_sub(max);
        while clusters.len() > max {
            clusters.pop_last();
        }
        Self { clusters, left_out }
    }

    /// Returns whether `cluster` gets series of its own.
    pub fn contains(&self, cluster: &str) -> bool {
        self.clusters.contains(cluster)
    }

    /// Returns the clusters that get series of their own, in name order.
    pub fn clusters(&self) -> impl Iterator<Item = &str> {
        self.clusters.iter().map(String::as_str)
    }

    /// Returns how many matching clusters the cap left out.
    pub fn left_out(&self) -> usize {
        self.left_out
    }
}

/// Metric type of a family, as the `# TYPE` line spells it.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Summary => "summary",
        }
    }
}

/// Text being written, one metric family after another.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family with its `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// Writes one sample.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(label_value));
            }
            self.text.push('}');
        }
        self.text.push(' ');
        self.text.push_str(&format_value(value));
        self.text.push('\n');
    }

    /// Writes a family of one sample without labels.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// Writes the samples of one summary: a quantile sample each, read
    /// from the recent windows, then `_sum` and `_count` since the start.
    /// The quantiles are NaN when no request fell in the recent windows,
    /// as the format expects for a summary without observations.
    fn summary(&mut self, name: &str, labels: &[(&str, &str)], stats: &LatencyStats) {
        for (quantile, millis) in quantiles(stats) {
            // Percentiles are whole microseconds, so rounding to them
            // first keeps float noise such as 0.0009599999 out of the text.
            let value = if stats.recent_count == 0 {
                f64::NAN
            } else {
                (millis * 1000.0).round() / 1_000_000.0
            };
            let mut with_quantile = labels.to_vec();
            with_quantile.push(("quantile", quantile));
            self.sample(name, &with_quantile, value);
        }
        let sum_seconds = stats.avg_ms * stats.count as f64 / 1000.0;
        self.sample(&format!("{name}_sum"), labels, sum_seconds);
        self.sample(&format!("{name}_count"), labels, stats.count as f64);
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Escapes a `# HELP` text: backslash and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Formats a sample value as the format's parsers read it: `NaN`, `+Inf`
/// and `-Inf` for the special values, whole numbers without a fraction.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

/// Renders every metric of `input` in the Prometheus text format 0.0.4.
pub fn render(input: &MetricsInput) -> String {
    let mut out = Exposition::default();
    write_process(&mut out, &input.snapshot);
    write_requests(&mut out, &input.snapshot, &input.cluster_series);
    write_pool(&mut out, &input.pool);
    write_plugins(&mut out, &input.snapshot, &input.plugins);
    out.text
}

/// Writes the build, memory, task and transport figures.
fn write_process(out: &mut Exposition, snapshot: &Snapshot) {
    out.family(
        "lazyhost_build_info",
        Kind::Gauge,
        "Version of the running lazyhost binary; the value is always 1.",
    );
    out.sample(
        "lazyhost_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    out.single(
        "process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory of the lazyhost process in bytes.",
        (snapshot.memory_usage_mb * 1024.0 * 1024.0).round(),
    );
    out.single(
        "lazyhost_async_tasks",
        Kind::Gauge,
        "Live tasks in the async runtime.",
        snapshot.tasks as f64,
    );
    out.single(
        "lazyhost_memory_warnings_total",
        Kind::Counter,
        "Memory samples above the warning threshold of [monitor].",
        snapshot.memory_warnings as f64,
    );
    let transport = [
        (
            "lazyhost_http_throttled_requests_total",
            "Requests to clusters that waited for the rate limit or a Retry-After.",
            snapshot.http_throttled_requests,
        ),
        (
            "lazyhost_http_retried_reads_total",
            "Reads sent again after a 429, 502, 503 or 504 reply.",
            snapshot.http_retried_reads,
        ),
        (
            "lazyhost_http_credential_refreshes_total",
            "Cluster credentials refreshed after a 401 reply.",
            snapshot.http_credential_refreshes,
        ),
    ];
    for (name, help, value) in transport {
        out.single(name, Kind::Counter, help, value as f64);
    }
}

/// Writes the request figures per verb, then per cluster and verb for the
/// clusters of `series` only.
fn write_requests(out: &mut Exposition, snapshot: &Snapshot, series: &ClusterSeries) {
    let verbs = &snapshot.verb_latencies;
    out.family(
        "lazyhost_requests_total",
        Kind::Counter,
        "Requests sent to clusters, per verb, summed over every cluster.",
    );
    for stats in verbs {
        let labels = [("verb", stats.verb.as_str())];
        out.sample("lazyhost_requests_total", &labels, stats.count as f64);
    }
    out.family(
        "lazyhost_request_errors_total",
        Kind::Counter,
        "Requests to clusters that failed, per verb, summed over every cluster.",
    );
    for stats in verbs {
        let labels = [("verb", stats.verb.as_str())];
        out.sample(
            "lazyhost_request_errors_total",
            &labels,
            stats.errors as f64,
        );
    }
    out.family(
        "lazyhost_request_duration_seconds",
        Kind::Summary,
        "Request duration per verb over every cluster; quantiles cover the last 5 to 10 minutes.",
    );
    for stats in verbs {
        let labels = [("verb", stats.verb.as_str())];
        out.summary("lazyhost_request_duration_seconds", &labels, stats);
    }

    let per_cluster: Vec<&LatencyStats> = snapshot
        .latencies
        .iter()
        .filter(|stats| series.contains(&stats.cluster))
        .collect();
    out.family(
        "lazyhost_cluster_requests_total",
        Kind::Counter,
        "Requests per cluster and verb, for the clusters selected by metrics_clusters only.",
    );
    for stats in &per_cluster {
        let labels = [("cluster", stats.cluster.as_str()), ("verb", &stats.verb)];
        out.sample(
            "lazyhost_cluster_requests_total",
            &labels,
            stats.count as f64,
        );
    }
    out.family(
        "lazyhost_cluster_request_errors_total",
        Kind::Counter,
        "Failed requests per cluster and verb, for the clusters selected by metrics_clusters only.",
    );
    for stats in &per_cluster {
        let labels = [("cluster", stats.cluster.as_str()), ("verb", &stats.verb)];
        let name = "lazyhost_cluster_request_errors_total";
        out.sample(name, &labels, stats.errors as f64);
    }
    out.family(
        "lazyhost_cluster_request_duration_seconds",
        Kind::Summary,
        "Request duration per cluster and verb, for the clusters selected by metrics_clusters only.",
    );
    for stats in &per_cluster {
        let labels = [("cluster", stats.cluster.as_str()), ("verb", &stats.verb)];
        out.summary("lazyhost_cluster_request_duration_seconds", &labels, stats);
    }
    out.single(
        "lazyhost_metrics_clusters_left_out",
        Kind::Gauge,
        "Clusters matching metrics_clusters that get no series of their own because of metrics_max_clusters.",
        series.left_out() as f64,
    );
}

/// Writes the pool's gauges and counters.
fn write_pool(out: &mut Exposition, pool: &PoolStats) {
    let gauges = [
        (
            "lazyhost_pool_clusters",
            "Clusters configured.",
            u64::from(pool.total),
        ),
        (
            "lazyhost_pool_live_clusters",
            "Clusters with a live client.",
            u64::from(pool.initialized),
        ),
        (
            "lazyhost_pool_idle_clusters",
            "Live clients unused for longer than the idle threshold.",
            u64::from(pool.idle),
        ),
    ];
    for (name, help, value) in gauges {
        out.single(name, Kind::Gauge, help, value as f64);
    }
    let counters = [
        (
            "lazyhost_pool_clients_built_total",
            "Cluster clients built.",
            pool.clients_built,
        ),
        (
            "lazyhost_pool_start_failures_total",
            "Cluster client starts that failed.",
            pool.start_failures,
        ),
        (
            "lazyhost_pool_recycled_total",
            "Cluster clients replaced after max_access_count checkouts.",
            pool.recycled,
        ),
    ];
    for (name, help, value) in counters {
        out.single(name, Kind::Counter, help, value as f64);
    }
    out.family(
        "lazyhost_pool_evictions_total",
        Kind::Counter,
        "Cluster clients evicted, by reason: idle past max_idle, or over max_live.",
    );
    let name = "lazyhost_pool_evictions_total";
    out.sample(name, &[("reason", "idle")], pool.evicted_idle as f64);
    out.sample(
        name,
        &[("reason", "over_cap")],
        pool.evicted_over_cap as f64,
    );
}

/// Writes the policy, host call, plugin and plugin runtime figures.
fn write_plugins(out: &mut Exposition, snapshot: &Snapshot, plugins: &[PluginMetrics]) {
    out.single(
        "lazyhost_policy_denials_total",
        Kind::Counter,
        "Host calls that a plugin's policy denied.",
        snapshot.policy_denials as f64,
    );
    out.family(
        "lazyhost_plugin_host_calls_total",
        Kind::Counter,
        "Host calls of plugins (typed kube-client calls and raw requests) per plugin, verb and result.",
    );
    for calls in &snapshot.plugin_calls {
        let name = "lazyhost_plugin_host_calls_total";
        let labels = |result| {
            [
                ("plugin", calls.plugin.as_str()),
                ("verb", calls.verb.as_str()),
                ("result", result),
            ]
        };
        let ok = calls.count.saturating_sub(calls.errors);
        out.sample(name, &labels("ok"), ok as f64);
        out.sample(name, &labels("error"), calls.errors as f64);
    }

    out.family(
        "lazyhost_plugin_loaded",
        Kind::Gauge,
        "Whether the plugin's current file is loaded: 1 or 0.",
    );
    for plugin in plugins {
        let loaded = if plugin.loaded { 1.0 } else { 0.0 };
        out.sample(
            "lazyhost_plugin_loaded",
            &[("plugin", &plugin.name)],
            loaded,
        );
    }
    out.family(
        "lazyhost_plugin_load_failures_total",
        Kind::Counter,
        "Times loading a plugin's file failed.",
    );
    for plugin in plugins {
        let labels = [("plugin", plugin.name.as_str())];
        let value = plugin.load_failures as f64;
        out.sample("lazyhost_plugin_load_failures_total", &labels, value);
    }
    out.family(
        "lazyhost_plugin_runs_total",
        Kind::Counter,
        "Scheduled plugin runs by result: ok when every invocation succeeded.",
    );
    for plugin in plugins {
        let counts = (plugin.runs_ok, plugin.runs_error);
        write_by_result(out, "lazyhost_plugin_runs_total", &plugin.name, counts);
    }
    out.family(
        "lazyhost_plugin_invocations_total",
        Kind::Counter,
        "Plugin invocations, one per cluster of a run, by result.",
    );
    for plugin in plugins {
        let counts = (plugin.invocations_ok, plugin.invocations_error);
        write_by_result(
            out,
            "lazyhost_plugin_invocations_total",
            &plugin.name,
            counts,
        );
    }
    out.family(
        "lazyhost_plugin_invocation_seconds_total",
        Kind::Counter,
        "Wall-clock time of finished plugin invocations, added up, in seconds.",
    );
    for plugin in plugins {
        let labels = [("plugin", plugin.name.as_str())];
        let value = plugin.invocation_seconds_sum;
        out.sample("lazyhost_plugin_invocation_seconds_total", &labels, value);
    }
    out.family(
        "lazyhost_plugin_watch_events_total",
        Kind::Counter,
        "Watch events delivered to plugins.",
    );
    for plugin in plugins {
        let labels = [("plugin", plugin.name.as_str())];
        let value = plugin.watch_events as f64;
        out.sample("lazyhost_plugin_watch_events_total", &labels, value);
    }

    out.single(
        "lazyhost_plugin_compilations_total",
        Kind::Counter,
        "Plugin components compiled.",
        snapshot.plugin_compilations as f64,
    );
    out.single(
        "lazyhost_plugin_cache_hits_total",
        Kind::Counter,
        "Plugin components read from the compiled-component cache instead of compiled.",
        snapshot.plugin_cache_hits as f64,
    );
    let allocator = if snapshot.instance_allocator.is_empty() {
        "unknown"
    } else {
        snapshot.instance_allocator.as_str()
    };
    out.family(
        "lazyhost_instance_allocator_info",
        Kind::Gauge,
        "Instance allocator of the plugin runtime; the value is always 1.",
    );
    out.sample(
        "lazyhost_instance_allocator_info",
        &[("allocator", allocator)],
        1.0,
    );
}

/// Writes the `result="ok"` and `result="error"` samples of `plugin`.
fn write_by_result(out: &mut Exposition, name: &str, plugin: &str, (ok, error): (u64, u64)) {
    out.sample(name, &[("plugin", plugin), ("result", "ok")], ok as f64);
    out.sample(
        name,
        &[("plugin", plugin), ("result", "error")],
        error as f64,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::{ConfigStats, Monitor};
    use std::time::Duration;

    fn input() -> MetricsInput {
        let monitor = Monitor::new();
        let millis = Duration::from_millis;
        monitor.record("b", "list", millis(20), true);
        monitor.record("a", "list", millis(10), false);
        monitor.record("c", "get", millis(1), true);
        let snapshot = monitor
            .snapshot(PoolStats::default(), ConfigStats::default())
            .with_runtime(2, 1, "pooling");
        MetricsInput {
            snapshot,
            pool: PoolStats {
                total: 3,
                initialized: 2,
                evicted_idle: 4,
                ..PoolStats::default()
            },
            plugins: vec![PluginMetrics {
                name: "audit".to_string(),
                loaded: true,
                runs_ok: 3,
                invocations_error: 1,
                invocation_seconds_sum: 1.5,
                ..PluginMetrics::default()
            }],
            cluster_series: ClusterSeries::from_names(["c", "a", "b"].map(String::from), 2),
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("one\ntwo"), "one\\ntwo");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");

        let mut out = Exposition::default();
        out.sample("m", &[("plugin", "q\"\\\n")], 1.0);
        assert_eq!(out.text, "m{plugin=\"q\\\"\\\\\\n\"} 1\n");
    }

    #[test]
    fn special_values_use_format_spelling() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.025), "0.025");
    }

    #[test]
    fn cluster_series_keeps_first_names() {
        let series = ClusterSeries::from_names(["d", "b", "a", "c", "b"].map(String::from), 2);
        assert_eq!(series.clusters().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(series.left_out(), 2);
        assert!(!series.contains("c"));

        let all = ClusterSeries::from_names(["b", "a"].map(String::from), 50);
        assert_eq!(all.clusters().count(), 2);
        assert_eq!(all.left_out(), 0);
    }

    #[test]
    fn per_cluster_series_stop_at_cap() {
        let text = render(&input());
        assert!(text.contains("lazyhost_cluster_requests_total{cluster=\"a\",verb=\"list\"} 1\n"));
        assert!(text.contains("lazyhost_cluster_requests_total{cluster=\"b\",verb=\"list\"} 1\n"));
        assert!(!text.contains("cluster=\"c\""), "{text}");
        assert!(text.contains("lazyhost_metrics_clusters_left_out 1\n"));
        // Cluster c still counts in the per-verb series.
        assert!(text.contains("lazyhost_requests_total{verb=\"get\"} 1\n"));
        assert!(text.contains("lazyhost_requests_total{verb=\"list\"} 2\n"));
        assert!(text.contains("lazyhost_request_errors_total{verb=\"list\"} 1\n"));
    }

    #[test]
    fn summary_has_quantiles_sum_and_count() {
        let text = render(&input());
        let expected = "\
lazyhost_request_duration_seconds{verb=\"list\",quantile=\"0.5\"} 0.009216
lazyhost_request_duration_seconds{verb=\"list\",quantile=\"0.95\"} 0.018432
lazyhost_request_duration_seconds{verb=\"list\",quantile=\"0.99\"} 0.018432
lazyhost_request_duration_seconds_sum{verb=\"list\"} 0.03
lazyhost_request_duration_seconds_count{verb=\"list\"} 2
";
        assert!(text.contains(expected), "{text}");
    }

    #[test]
    fn every_family_has_help_and_type() {
        let text = render(&input());
        let mut typed = BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(typed.insert(name.to_string()), "{name} typed twice");
                assert!(
                    text.contains(&format!("# HELP {name} ")),
                    "{name} has no help"
                );
            }
        }
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| typed.contains(*base))
                .unwrap_or(name);
            assert!(typed.contains(family), "sample {name} has no TYPE line");
        }
    }

    #[test]
    fn runtime_and_plugin_figures() {
        let text = render(&input());
        for line in [
            "lazyhost_plugin_compilations_total 2",
            "lazyhost_plugin_cache_hits_total 1",
            "lazyhost_instance_allocator_info{allocator=\"pooling\"} 1",
            "lazyhost_plugin_loaded{plugin=\"audit\"} 1",
            "lazyhost_plugin_runs_total{plugin=\"audit\",result=\"ok\"} 3",
            "lazyhost_plugin_invocations_total{plugin=\"audit\",result=\"error\"} 1",
            "lazyhost_plugin_invocation_seconds_total{plugin=\"audit\"} 1.5",
            "lazyhost_pool_evictions_total{reason=\"idle\"} 4",
            "lazyhost_pool_live_clusters 2",
        ] {
            assert!(text.contains(&format!("{line}\n")), "missing {line}");
        }
    }
}
