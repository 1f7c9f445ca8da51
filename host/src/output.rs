//! Rendering of run reports and cluster lists for people and scripts.
//!
//! The table form is for terminals: one row per cluster, the plugin's own
//! output lines under it, then a summary line. The JSON form is one
//! document whose shape scripts can rely on.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::Identity;
use crate::inspect::{Inspection, Kind};
use crate::inventory::ClusterConfig;
use crate::monitor::{LatencyStats, Snapshot};
use crate::plugin::Write;
use crate::pool::{ClusterState, EvictReason};
use crate::run::{ClusterResult, Report, Status};

/// Widest result text shown in a table row before it is cut.
const RESULT_WIDTH: usize = 100;

/// Output format chosen with `-o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document for scripts.
    Json,
}

/// Renders a run report as a table with a summary line.
pub fn report_table(report: &Report) -> String {
    let rows: Vec<[String; 4]> = report
        .results
        .iter()
        .map(|result| {
            [
                result.cluster.clone(),
                status_text(result.status).to_string(),
                format_millis(result.duration_ms),
                result_text(result),
            ]
        })
        .collect();
    let header = ["CLUSTER", "STATUS", "DURATION", "RESULT"].map(String::from);
    let widths = column_widths(&header, &rows);

    let mut text = String::new();
    push_row(&mut text, &header, &widths);
    for (row, result) in rows.iter().zip(&report.results) {
        push_row(&mut text, row, &widths);
        for line in result.stdout.lines().chain(result.stderr.lines()) {
            let _ = writeln!(text, "  | {line}");
        }
        for write in &result.writes {
            let _ = writeln!(text, "  {}", write_text(write, &result.cluster));
        }
    }

    text.push('\n');
    if let Some(manifest) = &report.manifest {
        let _ = writeln!(text, "manifest: {}", manifest.display());
    }
    let _ = write!(text, "granted: {}", report.policy);
    if !report.requested_not_granted.is_empty() {
        let _ = write!(
            text,
            "\nrequested but not granted: {}",
            report.requested_not_granted.summary()
        );
    }
    if let Some(identity) = &report.identity {
        let _ = write!(text, "\nimpersonates: {}", identity_text(identity));
    }
    if report.dry_run {
        text.push_str("\ndry run: writes are sent as server-side dry runs, so nothing is stored");
    }
    let summary = &report.summary;
    let noun = if summary.total == 1 {
        "cluster"
    } else {
        "clusters"
    };
    let _ = writeln!(
        text,
        "\n{} {noun}: {} ok, {} failed, {} cancelled in {}",
        summary.total,
        summary.ok,
        summary.error,
        summary.cancelled,
        format_millis(summary.duration_ms)
    );
    text
}

/// Describes an impersonated identity: `user bot, groups ops, audit`.
fn identity_text(identity: &Identity) -> String {
    let mut text = format!("user {}", identity.user);
    if !identity.groups.is_empty() {
        let _ = write!(text, ", groups {}", identity.groups.join(", "));
    }
    text
}

/// Describes a write in one line, naming its cluster when it is not the
/// invocation's own.
fn write_text(write: &Write, invocation_cluster: &str) -> String {
    let mut text = String::from("write: ");
    if write.dry_run {
        text.push_str("(dry run) ");
    }
    let _ = write!(text, "{} {}", write.verb, write.resource);
    match (&write.namespace, &write.name) {
        (Some(namespace), Some(name)) => {
            let _ = write!(text, " {namespace}/{name}");
        }
        (Some(namespace), None) => {
            let _ = write!(text, " in {namespace}");
        }
        (None, Some(name)) => {
            let _ = write!(text, " {name}");
        }
        (None, None) => {}
    }
    if write.cluster != invocation_cluster {
        let _ = write!(text, " on {}", write.cluster);
    }
    match &write.error {
        None => text.push_str(": ok"),
        Some(error) => {
            let _ = write!(text, ": failed: {}", shorten(error, 160));
        }
    }
    text
}

/// Renders a run report as one pretty-printed JSON document.
pub fn report_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report always serializes to JSON")
}

/// Renders rows under a header with aligned columns.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(String::from);
    let widths = column_widths(&header, rows);
    let mut text = String::new();
    push_row(&mut text, &header, &widths);
    for row in rows {
        push_row(&mut text, row, &widths);
    }
    text
}

/// One cluster of `lazyhost clusters`: its configuration and pool state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterRow {
    /// Cluster name.
    pub name: String,
    /// Labels from the configuration.
    pub labels: BTreeMap<String, String>,
    /// API server URL.
    pub server: String,
    /// Kubeconfig context.
    pub context: String,
    /// Server version, once the client has started.
    pub version: Option<String>,
    /// `not-started`, `starting`, `ready`, `failed` or `evicted`.
    pub state: String,
    /// The state in words, with the error of a failed start.
    pub detail: String,
    /// Seconds since the live client was built.
    pub age_seconds: Option<u64>,
    /// Seconds since the live client was last checked out.
    pub idle_seconds: Option<u64>,
    /// Checkouts of the live client.
    pub accesses: Option<u64>,
    /// MD5 hash of the cluster's configuration.
    pub hash: String,
}

impl ClusterRow {
    /// Returns the row of every cluster of `pool`, in inventory order.
    pub fn of_pool(pool: &crate::cluster::KubePool) -> Vec<Self> {
        pool.states()
            .into_iter()
            .map(|(cluster, state)| {
                let version = pool
                    .peek(&cluster.name)
                    .map(|client| client.version().git_version.clone());
                Self::new(&cluster, state, version)
            })
            .collect()
    }

    /// Builds the row of `cluster` in `state`.
    pub fn new(cluster: &ClusterConfig, state: ClusterState, version: Option<String>) -> Self {
        let mut row = Self {
            name: cluster.name.clone(),
            labels: cluster.labels.clone(),
            server: cluster.server.clone(),
            context: cluster.context.clone(),
            version,
            state: "not-started".to_string(),
            detail: "not started".to_string(),
            age_seconds: None,
            idle_seconds: None,
            accesses: None,
            hash: cluster.hash.clone(),
        };
        match state {
            ClusterState::NotStarted => {}
            ClusterState::Starting => {
                (row.state, row.detail) = ("starting".to_string(), "starting".to_string())
            }
            ClusterState::Ready {
                serial,
                accesses,
                age,
                idle_for,
            } => {
                row.state = "ready".to_string();
                row.detail = format!("ready (client {serial})");
                row.age_seconds = Some(age.as_secs());
                row.idle_seconds = Some(idle_for.as_secs());
                row.accesses = Some(accesses);
            }
            ClusterState::Failed {
                error, failures, ..
            } => {
                row.state = "failed".to_string();
                row.detail = format!("failed ({failures} in a row): {error}");
            }
            ClusterState::Evicted(reason) => {
                row.state = "evicted".to_string();
                row.detail = match reason {
                    EvictReason::Idle => "evicted (idle)".to_string(),
                    EvictReason::OverCap => "evicted (over max_live)".to_string(),
                };
            }
        }
        row
    }
}

/// Renders clusters as a table.
pub fn clusters_table(rows: &[ClusterRow]) -> String {
    let header = [
        "NAME",
        "LABELS",
        "SERVER",
        "VERSION",
        "AGE",
        "LAST USED",
        "ACCESSES",
        "HASH",
        "STATE",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|row| {
            let labels: Vec<String> = row.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let seconds = |value: Option<u64>| value.map_or("-".to_string(), format_seconds);
            [
                row.name.clone(),
                if labels.is_empty() {
                    "-".to_string()
                } else {
                    labels.join(",")
                },
                row.server.clone(),
                row.version.clone().unwrap_or_else(|| "-".to_string()),
                seconds(row.age_seconds),
                seconds(row.idle_seconds),
                row.accesses
                    .map_or("-".to_string(), |count| count.to_string()),
                row.hash.chars().take(8).collect(),
                row.detail.clone(),
            ]
        })
        .collect();
    table(header, &cells)
}

/// Renders clusters as one JSON document: `{"clusters": [...]}`.
pub fn clusters_json(rows: &[ClusterRow]) -> String {
    let document = serde_json::json!({ "clusters": rows });
    serde_json::to_string_pretty(&document).expect("cluster rows always serialize to JSON")
}

/// Renders a statistics snapshot as `key  value` lines with the snapshot's
/// key names, then a table of the request figures per cluster and verb.
pub fn stats_table(snapshot: &Snapshot) -> String {
    let figures = [
        (
            "memory_usage_mb",
            format!("{:.1}", snapshot.memory_usage_mb),
        ),
        (
            "system_memory_mb",
            format!("{:.1}", snapshot.system_memory_mb),
        ),
        ("tasks", snapshot.tasks.to_string()),
        (
            "perf_total_requests",
            snapshot.perf_total_requests.to_string(),
        ),
        ("perf_error_count", snapshot.perf_error_count.to_string()),
        (
            "perf_success_rate",
            format!("{:.2}", snapshot.perf_success_rate),
        ),
        (
            "perf_avg_response_time_ms",
            format_ms(snapshot.perf_avg_response_time_ms),
        ),
        (
            "lazy_total_clusters",
            snapshot.lazy_total_clusters.to_string(),
        ),
        (
            "lazy_initialized_clusters",
            snapshot.lazy_initialized_clusters.to_string(),
        ),
        (
            "lazy_idle_clusters",
            snapshot.lazy_idle_clusters.to_string(),
        ),
        (
            "config_cached_clusters",
            snapshot.config_cached_clusters.to_string(),
        ),
        (
            "config_total_access",
            snapshot.config_total_access.to_string(),
        ),
        ("memory_warnings", snapshot.memory_warnings.to_string()),
        (
            "config_source_reads",
            snapshot.config_source_reads.to_string(),
        ),
        (
            "http_throttled_requests",
            snapshot.http_throttled_requests.to_string(),
        ),
        (
            "http_retried_reads",
            snapshot.http_retried_reads.to_string(),
        ),
        (
            "http_credential_refreshes",
            snapshot.http_credential_refreshes.to_string(),
        ),
        ("tls_configs_built", snapshot.tls_configs_built.to_string()),
        (
            "tls_configs_shared",
            snapshot.tls_configs_shared.to_string(),
        ),
        ("policy_denials", snapshot.policy_denials.to_string()),
        (
            "plugin_compilations",
            snapshot.plugin_compilations.to_string(),
        ),
        ("plugin_cache_hits", snapshot.plugin_cache_hits.to_string()),
        (
            "instance_allocator",
            if snapshot.instance_allocator.is_empty() {
                "-".to_string()
            } else {
                snapshot.instance_allocator.clone()
            },
        ),
    ]
    .map(|(key, value)| [key.to_string(), value]);
    let widths = column_widths(&[String::new(), String::new()], &figures);
    let mut text = String::new();
    for figure in &figures {
        push_row(&mut text, figure, &widths);
    }

    if snapshot.latencies.is_empty() {
        text.push_str("\nno requests recorded\n");
    } else {
        let rows: Vec<[String; 12]> = snapshot.latencies.iter().map(latency_row).collect();
        text.push('\n');
        text.push_str(&table(latency_header("CLUSTER"), &rows));
    }
    if !snapshot.plugin_latencies.is_empty() {
        let rows: Vec<[String; 12]> = snapshot
            .plugin_latencies
            .iter()
            .map(|recorded| {
                let mut row = latency_row(&recorded.latency);
                row[0] = format!("{}/{}", recorded.plugin, row[0]);
                row
            })
            .collect();
        text.push_str("\nrecorded by plugins:\n");
        text.push_str(&table(latency_header("PLUGIN/CLUSTER"), &rows));
    }
    if !snapshot.plugin_calls.is_empty() {
        let rows: Vec<[String; 4]> = snapshot
            .plugin_calls
            .iter()
            .map(|calls| {
                [
                    calls.plugin.clone(),
                    calls.verb.clone(),
                    calls.count.to_string(),
                    calls.errors.to_string(),
                ]
            })
            .collect();
        text.push_str("\nhost calls of plugins:\n");
        text.push_str(&table(["PLUGIN", "VERB", "COUNT", "ERRORS"], &rows));
    }
    text
}

/// Renders a statistics snapshot as one JSON document with the snapshot's
/// key names.
pub fn stats_json(snapshot: &Snapshot) -> String {
    serde_json::to_string_pretty(snapshot).expect("a snapshot always serializes to JSON")
}

/// Returns the header of a latency table whose first column is `first`.
fn latency_header(first: &str) -> [&str; 12] {
    [
        first,
        "VERB",
        "COUNT",
        "ERRORS",
        "AVG MS",
        "RECENT",
        "P50 MS",
        "P95 MS",
        "P99 MS",
        "ALL P50 MS",
        "ALL P95 MS",
        "ALL P99 MS",
    ]
}

/// Returns the cells of one latency series under [`latency_header`].
fn latency_row(latency: &LatencyStats) -> [String; 12] {
    [
        latency.cluster.clone(),
        latency.verb.clone(),
        latency.count.to_string(),
        latency.errors.to_string(),
        format_ms(latency.avg_ms),
        latency.recent_count.to_string(),
        format_ms(latency.p50_ms),
        format_ms(latency.p95_ms),
        format_ms(latency.p99_ms),
        format_ms(latency.all_time.p50_ms),
        format_ms(latency.all_time.p95_ms),
        format_ms(latency.all_time.p99_ms),
    ]
}

/// Renders an inspection as `key  value` lines, then tables of the
/// imports and exports.
pub fn inspect_table(inspection: &Inspection) -> String {
    let kind = match inspection.kind {
        Kind::Component => "component",
        Kind::CoreModule => "core module",
    };
    let world = if inspection.fits_plugin_world {
        "fits"
    } else {
        "does not fit"
    };
    let mut lines: Vec<(&str, String)> = vec![
        ("path", inspection.path.display().to_string()),
        ("plugin", inspection.plugin.clone()),
        ("size", format!("{} bytes", inspection.size)),
        ("sha256", inspection.sha256.clone()),
        ("kind", kind.to_string()),
        ("plugin world", world.to_string()),
    ];
    if let Some(rejection) = &inspection.rejection {
        lines.push(("reason", rejection.clone()));
    }
    match &inspection.manifest {
        Some(manifest) => {
            lines.push(("manifest", manifest.path.display().to_string()));
            if let Some(name) = &manifest.name {
                lines.push(("name", name.clone()));
            }
            if let Some(description) = &manifest.description {
                lines.push(("description", description.clone()));
            }
            lines.push(("requests", manifest.request.summary()));
        }
        None => lines.push(("manifest", "none".to_string())),
    }
    lines.push(("operator grant", inspection.operator_policy.clone()));
    lines.push(("granted", inspection.policy.clone()));
    if !inspection.requested_not_granted.is_empty() {
        lines.push((
            "requested but not granted",
            inspection.requested_not_granted.summary(),
        ));
    }
    lines.push(("clusters", inspection.clusters.clone()));
    if let Some(identity) = &inspection.identity {
        lines.push(("impersonates", identity_text(identity)));
    }
    if inspection.dry_run {
        lines.push(("dry run", "writes are server-side dry runs".to_string()));
    }
    lines.push(("limits", inspection.limits.clone()));
    let lines: Vec<[String; 2]> = lines
        .into_iter()
        .map(|(key, value)| [format!("{key}:"), value])
        .collect();
    let widths = column_widths(&[String::new(), String::new()], &lines);
    let mut text = String::new();
    for line in &lines {
        push_row(&mut text, line, &widths);
    }

    for (header, items) in [
        ("IMPORT", &inspection.imports),
        ("EXPORT", &inspection.exports),
    ] {
        text.push('\n');
        if items.is_empty() {
            let _ = writeln!(text, "no {}s", header.to_lowercase());
            continue;
        }
        let rows: Vec<[String; 2]> = items
            .iter()
            .map(|item| [item.name.clone(), item.kind.to_string()])
            .collect();
        text.push_str(&table([header, "KIND"], &rows));
    }
    text
}

/// Renders an inspection as one pretty-printed JSON document.
pub fn inspect_json(inspection: &Inspection) -> String {
    serde_json::to_string_pretty(inspection).expect("an inspection always serializes to JSON")
}

/// Formats milliseconds to the microsecond, the resolution of the
/// latency histograms.
fn format_ms(millis: f64) -> String {
    format!("{millis:.3}")
}

/// Formats seconds the way kubectl shows ages: `45s`, `12m`, `5h`, `3d`.
fn format_seconds(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

fn status_text(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Error => "error",
        Status::Cancelled => "cancelled",
    }
}

/// Returns the result cell: the plugin's JSON cut to fit, or the whole
/// error message, because its cause is usually at the end.
fn result_text(result: &ClusterResult) -> String {
    match (&result.output, &result.error) {
        (_, Some(error)) => error.replace(['\n', '\r'], " "),
        (Some(output), None) => shorten(&output.to_string(), RESULT_WIDTH),
        (None, None) => String::new(),
    }
}

fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width - 3).collect();
    format!("{kept}...")
}

/// Formats milliseconds as `850ms` or `1.2s`.
pub fn format_millis(millis: u64) -> String {
    if millis < 1000 {
        format!("{millis}ms")
    } else {
        format!("{:.1}s", millis as f64 / 1000.0)
    }
}

fn column_widths<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> [usize; N] {
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    widths
}

fn push_row<const N: usize>(text: &mut String, row: &[String; N], widths: &[usize; N]) {
    let mut line = String::new();
    for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
        if index + 1 == N {
            line.push_str(cell);
        } else {
            let _ = write!(line, "{cell:<width$}  ");
        }
    }
    text.push_str(line.trim_end());
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::inspect::{Item, Kind};
    use crate::manifest::Manifest;
    use crate::monitor::{LatencyStats, Percentiles, PluginCalls};
    use crate::policy::Request;
    use crate::run::Summary;

    fn report() -> Report {
        let ok = ClusterResult {
            cluster: "sim-1".to_string(),
            status: Status::Ok,
            duration_ms: 12,
            output: Some(serde_json::json!({"pods": 3})),
            error: None,
            stdout: "sim-1: 3 pods\n".to_string(),
            stderr: String::new(),
            writes: vec![
                Write {
                    cluster: "sim-1".to_string(),
                    verb: "patch".to_string(),
                    resource: "configmaps".to_string(),
                    namespace: Some("shop".to_string()),
                    name: Some("settings".to_string()),
                    dry_run: true,
                    result: "ok",
                    error: None,
                },
                Write {
                    cluster: "sim-2".to_string(),
                    verb: "delete".to_string(),
                    resource: "namespaces".to_string(),
                    namespace: None,
                    name: Some("old".to_string()),
                    dry_run: true,
                    result: "error",
                    error: Some("namespaces \"old\" not found".to_string()),
                },
            ],
        };
        let failed = ClusterResult {
            cluster: "sim-22".to_string(),
            status: Status::Error,
            duration_ms: 1500,
            output: None,
            error: Some("plugin trapped: unreachable".to_string()),
            stdout: String::new(),
            stderr: String::new(),
            writes: Vec::new(),
        };
        Report {
            policy: "read-only; every namespace; no Secrets".to_string(),
            manifest: None,
            requested_not_granted: Request::default(),
            plugin: "audit".to_string(),
            dry_run: true,
            identity: None,
            results: vec![ok, failed],
            summary: Summary {
                total: 2,
                ok: 1,
                error: 1,
                cancelled: 0,
                duration_ms: 1502,
            },
            interrupted: false,
        }
    }

    #[test]
    fn table_shows_rows_output_and_summary() {
        let expected = "\
CLUSTER  STATUS  DURATION  RESULT
sim-1    ok      12ms      {\"pods\":3}
  | sim-1: 3 pods
  write: (dry run) patch configmaps shop/settings: ok
  write: (dry run) delete namespaces old on sim-2: failed: namespaces \"old\" not found
sim-22   error   1.5s      plugin trapped: unreachable

granted: read-only; every namespace; no Secrets
dry run: writes are sent as server-side dry runs, so nothing is stored
2 clusters: 1 ok, 1 failed, 0 cancelled in 1.5s
";
        assert_eq!(report_table(&report()), expected);
    }

    #[test]
    fn table_shows_manifest_and_requests_not_granted() {
        let mut report = report();
        report.dry_run = false;
        report.manifest = Some(PathBuf::from("/plugins/PLUGIN.toml"));
        report
            .requested_not_granted
            .allow
            .insert("secrets".to_string());
        report
            .requested_not_granted
            .namespaces
            .insert("db".to_string());
        let text = report_table(&report);
        assert!(
            text.ends_with(
                "\nmanifest: /plugins/PLUGIN.toml\n\
                 granted: read-only; every namespace; no Secrets\n\
                 requested but not granted: secrets; namespaces db\n\
                 2 clusters: 1 ok, 1 failed, 0 cancelled in 1.5s\n"
            ),
            "{text}"
        );

        let value: serde_json::Value = serde_json::from_str(&report_json(&report)).unwrap();
        assert_eq!(value["manifest"], "/plugins/PLUGIN.toml");
        assert_eq!(
            value["requested_not_granted"],
            serde_json::json!({"allow": ["secrets"], "namespaces": ["db"]})
        );
    }

    #[test]
    fn inspect_table_shows_fields_and_items() {
        let mut request = Request::default();
        request.add_grant("write").unwrap();
        let inspection = Inspection {
            plugin: "fixer".to_string(),
            path: PathBuf::from("/plugins/fixer.wasm"),
            size: 1234,
            sha256: "ab".repeat(32),
            kind: Kind::Component,
            imports: vec![Item {
                name: "lazyhost:plugin/kube-client@1.1.0".to_string(),
                kind: "instance",
            }],
            exports: Vec::new(),
            fits_plugin_world: false,
            rejection: Some("no export `run` found".to_string()),
            manifest: Some(Manifest {
                path: PathBuf::from("/plugins/fixer.plugin.toml"),
                name: Some("label-fixer".to_string()),
                description: None,
                request: request.clone(),
            }),
            operator_policy: "read-only; every namespace; no Secrets".to_string(),
            policy: "read-only; every namespace; no Secrets".to_string(),
            requested_not_granted: request,
            clusters: "clusters labelled env=dev".to_string(),
            identity: Some(crate::cluster::Identity {
                user: "bot".to_string(),
                groups: vec!["ops".to_string()],
            }),
            dry_run: true,
            limits: "timeout 1m".to_string(),
        };
        let expected = format!(
            "\
path:                       /plugins/fixer.wasm
plugin:                     fixer
size:                       1234 bytes
sha256:                     {}
kind:                       component
plugin world:               does not fit
reason:                     no export `run` found
manifest:                   /plugins/fixer.plugin.toml
name:                       label-fixer
requests:                   write
operator grant:             read-only; every namespace; no Secrets
granted:                    read-only; every namespace; no Secrets
requested but not granted:  write
clusters:                   clusters labelled env=dev
impersonates:               user bot, groups ops
dry run:                    writes are server-side dry runs
limits:                     timeout 1m

IMPORT                             KIND
lazyhost:plugin/kube-client@1.1.0  instance

no exports
",
            "ab".repeat(32)
        );
        assert_eq!(inspect_table(&inspection), expected);

        let value: serde_json::Value = serde_json::from_str(&inspect_json(&inspection)).unwrap();
        assert_eq!(value["kind"], "component");
        assert_eq!(value["fits_plugin_world"], false);
        assert_eq!(value["manifest"]["requests"]["allow"][0], "write");
        assert_eq!(value["requested_not_granted"]["allow"][0], "write");
        assert_eq!(value["imports"][0]["kind"], "instance");
        assert_eq!(value["identity"]["groups"][0], "ops");
        assert_eq!(value["dry_run"], true);
    }

    #[test]
    fn json_has_the_documented_keys() {
        let value: serde_json::Value = serde_json::from_str(&report_json(&report())).unwrap();
        let first = &value["results"][0];
        for key in [
            "cluster",
            "status",
            "duration_ms",
            "output",
            "error",
            "stdout",
        ] {
            assert!(first.get(key).is_some(), "missing key {key}");
        }
        assert_eq!(first["status"], "ok");
        assert_eq!(first["error"], serde_json::Value::Null);
        assert_eq!(value["dry_run"], true);
        let write = &first["writes"][0];
        assert_eq!(write["verb"], "patch");
        assert_eq!(write["namespace"], "shop");
        assert_eq!(write["result"], "ok");
        assert!(write.get("error").is_none());
        assert_eq!(first["writes"][1]["result"], "error");
        assert_eq!(value["results"][1]["status"], "error");
        assert_eq!(value["summary"]["total"], 2);
    }

    fn snapshot() -> Snapshot {
        let latency = LatencyStats {
            cluster: "sim-1".to_string(),
            verb: "list".to_string(),
            count: 12,
            errors: 1,
            avg_ms: 2.5,
            recent_count: 4,
            p50_ms: 1.152,
            p95_ms: 3.584,
            p99_ms: 3.584,
            all_time: Percentiles {
                p50_ms: 0.96,
                p95_ms: 13.312,
                p99_ms: 13.312,
            },
        };
        Snapshot {
            memory_usage_mb: 21.44,
            system_memory_mb: 16_000.0,
            tasks: 7,
            perf_total_requests: 12,
            perf_error_count: 1,
            perf_success_rate: 100.0 * 11.0 / 12.0,
            perf_avg_response_time_ms: 2.5,
            latencies: vec![latency.clone()],
            verb_latencies: vec![LatencyStats {
                cluster: String::new(),
                ..latency
            }],
            lazy_total_clusters: 3,
            lazy_initialized_clusters: 1,
            lazy_idle_clusters: 0,
            config_cached_clusters: 3,
            config_total_access: 1,
            memory_warnings: 0,
            config_source_reads: 1,
            http_throttled_requests: 4,
            http_retried_reads: 2,
            http_credential_refreshes: 1,
            tls_configs_built: 1,
            tls_configs_shared: 2,
            policy_denials: 3,
            plugin_latencies: Vec::new(),
            plugin_calls: Vec::new(),
            plugin_compilations: 0,
            plugin_cache_hits: 0,
            instance_allocator: String::new(),
        }
    }

    #[test]
    fn stats_table_shows_figures_and_latencies() {
        let expected = "\
memory_usage_mb            21.4
system_memory_mb           16000.0
tasks                      7
perf_total_requests        12
perf_error_count           1
perf_success_rate          91.67
perf_avg_response_time_ms  2.500
lazy_total_clusters        3
lazy_initialized_clusters  1
lazy_idle_clusters         0
config_cached_clusters     3
config_total_access        1
memory_warnings            0
config_source_reads        1
http_throttled_requests    4
http_retried_reads         2
http_credential_refreshes  1
tls_configs_built          1
tls_configs_shared         2
policy_denials             3
plugin_compilations        0
plugin_cache_hits          0
instance_allocator         -

CLUSTER  VERB  COUNT  ERRORS  AVG MS  RECENT  P50 MS  P95 MS  P99 MS  ALL P50 MS  ALL P95 MS  ALL P99 MS
sim-1    list  12     1       2.500   4       1.152   3.584   3.584   0.960       13.312      13.312
";
        assert_eq!(stats_table(&snapshot()), expected);
    }

    #[test]
    fn stats_table_without_requests() {
        let mut snapshot = snapshot();
        snapshot.latencies.clear();
        let text = stats_table(&snapshot);
        assert!(
            text.ends_with("instance_allocator         -\n\nno requests recorded\n"),
            "{text}"
        );
    }

    #[test]
    fn stats_table_shows_runtime_and_host_calls() {
        let mut snapshot = snapshot().with_runtime(3, 2, "pooling");
        snapshot.plugin_calls = vec![
            PluginCalls {
                plugin: "audit".to_string(),
                verb: "list".to_string(),
                count: 7,
                errors: 1,
            },
            PluginCalls {
                plugin: "fixer".to_string(),
                verb: "patch".to_string(),
                count: 2,
                errors: 0,
            },
        ];
        let text = stats_table(&snapshot);
        assert!(text.contains("\nplugin_compilations        3\n"), "{text}");
        assert!(text.contains("\nplugin_cache_hits          2\n"), "{text}");
        assert!(
            text.contains("\ninstance_allocator         pooling\n"),
            "{text}"
        );
        let calls = "\
host calls of plugins:
PLUGIN  VERB   COUNT  ERRORS
audit   list   7      1
fixer   patch  2      0
";
        assert!(text.ends_with(calls), "{text}");

        let value: serde_json::Value = serde_json::from_str(&stats_json(&snapshot)).unwrap();
        assert_eq!(value["plugin_calls"][0]["plugin"], "audit");
        assert_eq!(value["plugin_calls"][0]["count"], 7);
        assert_eq!(value["plugin_calls"][0]["errors"], 1);
        assert_eq!(value["plugin_compilations"], 3);
        assert_eq!(value["instance_allocator"], "pooling");
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let mut snapshot = snapshot().with_runtime(1, 0, "on-demand");
        // serde_json parses floats to within one unit in the last place
        // unless its float_roundtrip feature is on, so this rate is exact.
        snapshot.perf_success_rate = 91.5;
        let parsed: Snapshot = serde_json::from_str(&stats_json(&snapshot)).unwrap();
        assert_eq!(parsed, snapshot);
        let verb = &serde_json::to_value(&snapshot).unwrap()["verb_latencies"][0];
        assert!(verb.get("cluster").is_none(), "{verb}");
        assert_eq!(verb["verb"], "list");
    }

    #[test]
    fn stats_json_keeps_snapshot_keys() {
        let value: serde_json::Value = serde_json::from_str(&stats_json(&snapshot())).unwrap();
        assert_eq!(value["perf_total_requests"], 12);
        assert_eq!(value["config_source_reads"], 1);
        let latency = &value["latencies"][0];
        assert_eq!(latency["recent_count"], 4);
        assert_eq!(latency["p50_ms"], 1.152);
        assert_eq!(latency["all_time"]["p95_ms"], 13.312);
    }

    #[test]
    fn long_results_are_cut() {
        let text = "x".repeat(150);
        assert_eq!(shorten(&text, 10), "xxxxxxx...");
        assert_eq!(shorten("short", 10), "short");
    }
}
