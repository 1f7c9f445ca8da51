//! The statistics snapshot after a known workload against the simulated
//! fleet: every figure is checked, and request counts are checked against
//! the servers' own counters, so no figure can sit at zero unnoticed. The
//! `lazyhost stats` command is checked against a `lazyhost sim` process.
//!
//! Starting a client sends one discovery request for `/version`, one for
//! `/api/v1`, one for `/apis`, and one per API group: `apps` and
//! `apiextensions.k8s.io` on every simulated cluster, plus `example.com` on
//! `sim-1` and `sim-3`, which define the Widget kind. So `sim-1` and `sim-3`
//! take 6 discovery requests each, and `sim-2` takes 5.

mod common;

use std::sync::Arc;

use lazyhost::cluster::{ListOptions, ObjectRef};
use lazyhost::plugin::HostContext;

use common::{SimChild, arg, json, lazyhost, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_snapshot_covers_only_its_clusters() {
    let fleet = common::start_fleet(3).await;
    let (inventory, monitor, pool) = common::pool_over(fleet.kubeconfig());
    for cluster in ["sim-1", "sim-2"] {
        let client = pool.checkout(cluster).await.unwrap();
        client.list("pods", &ListOptions::default()).await.unwrap();
    }
    let millis = std::time::Duration::from_millis;
    monitor.record_for_plugin("audit", "sim-1", "probe", millis(40), true);
    monitor.record_for_plugin("audit", "sim-2", "probe", millis(40), false);
    monitor.record_for_plugin("other", "sim-2", "probe", millis(40), true);
    let clusters = inventory.clusters()[1..].to_vec();
    let context = HostContext::new(Arc::clone(&pool), Arc::clone(&monitor), clusters);

    let snapshot = context.plugin_snapshot("audit");
    let sim_2 = fleet.counts("sim-2").unwrap().requests;
    fleet.shutdown().await;

    let seen: Vec<(&str, &str)> = snapshot
        .latencies
        .iter()
        .map(|latency| (latency.cluster.as_str(), latency.verb.as_str()))
        .collect();
    assert_eq!(seen, [("sim-2", "discovery"), ("sim-2", "list")]);
    assert_eq!(snapshot.perf_total_requests, sim_2);
    assert_eq!(snapshot.perf_error_count, 0);
    assert_eq!(snapshot.perf_success_rate, 100.0);
    assert_eq!(snapshot.lazy_total_clusters, 2);
    assert_eq!(snapshot.lazy_initialized_clusters, 1);
    assert_eq!(snapshot.config_cached_clusters, 2);
    let recorded: Vec<(&str, &str, &str, u64)> = snapshot
        .plugin_latencies
        .iter()
        .map(|r| {
            let latency = &r.latency;
            (
                r.plugin.as_str(),
                latency.cluster.as_str(),
                latency.verb.as_str(),
                latency.errors,
            )
        })
        .collect();
    assert_eq!(recorded, [("audit", "sim-2", "probe", 1)]);

    // The host's own snapshot has every series, and the recorded timings
    // stay out of its request figures.
    let host = context.snapshot();
    assert_eq!(host.plugin_latencies.len(), 3);
    assert!(host.latencies.iter().all(|latency| latency.verb != "probe"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_after_known_workload() {
    let fleet = common::start_fleet(3).await;
    let (inventory, monitor, pool) = common::pool_over(fleet.kubeconfig());
    let context = HostContext::new(
        Arc::clone(&pool),
        Arc::clone(&monitor),
        inventory.clusters().to_vec(),
    );

    for cluster in ["sim-1", "sim-2"] {
        let client = pool.checkout(cluster).await.unwrap();
        for _ in 0..5 {
            client.list("pods", &ListOptions::default()).await.unwrap();
        }
        let missing = ObjectRef {
            resource: "cm",
            namespace: Some("default"),
            name: "no-such-config-map",
        };
        assert!(client.get(&missing).await.is_err());
    }
    monitor.record(
        "sim-1",
        "plugin-verb",
        std::time::Duration::from_millis(40),
        true,
    );

    let snapshot = context.snapshot();
    let served: u64 = ["sim-1", "sim-2", "sim-3"]
        .iter()
        .map(|cluster| fleet.counts(cluster).unwrap().requests)
        .sum();
    fleet.shutdown().await;

    assert_eq!(
        snapshot.perf_total_requests,
        served + 1,
        "every request sent, plus the recorded one"
    );
    assert_eq!(snapshot.perf_error_count, 2);
    let expected_rate =
        (snapshot.perf_total_requests - 2) as f64 * 100.0 / snapshot.perf_total_requests as f64;
    assert_eq!(snapshot.perf_success_rate, expected_rate);
    assert!(snapshot.perf_avg_response_time_ms > 0.0);

    let series = |cluster: &str, verb: &str| {
        snapshot
            .latencies
            .iter()
            .find(|latency| latency.cluster == cluster && latency.verb == verb)
            .unwrap_or_else(|| panic!("no series for {cluster} {verb}"))
            .clone()
    };
    assert_eq!(series("sim-1", "list").count, 5);
    assert_eq!(series("sim-2", "list").count, 5);
    assert_eq!(series("sim-2", "get").count, 1);
    assert_eq!(series("sim-2", "get").errors, 1);
    assert_eq!(series("sim-2", "list").errors, 0);
    assert_eq!(series("sim-1", "discovery").count, 6);
    assert_eq!(series("sim-2", "discovery").count, 5);

    let recorded = series("sim-1", "plugin-verb");
    assert_eq!(recorded.count, 1);
    assert_eq!(recorded.recent_count, 1);
    assert_eq!(recorded.avg_ms, 40.0, "the mean is exact");
    assert_eq!(
        recorded.p50_ms, 36.864,
        "midpoint of the 32.768-40.96 ms bucket"
    );
    assert_eq!(recorded.p99_ms, 36.864);
    assert_eq!(recorded.all_time.p50_ms, 36.864);
    assert_eq!(recorded.all_time.p99_ms, 36.864);

    let list = series("sim-1", "list");
    assert_eq!(list.recent_count, 5);
    assert!(list.avg_ms > 0.0);
    assert!(list.p50_ms > 0.0);
    assert!(list.p50_ms <= list.p95_ms);
    assert!(list.p95_ms <= list.p99_ms);
    assert_eq!(list.all_time.p50_ms, list.p50_ms, "every request is recent");
    assert_eq!(list.all_time.p99_ms, list.p99_ms);
    assert!(
        snapshot
            .latencies
            .iter()
            .all(|latency| latency.cluster != "sim-3")
    );

    assert_eq!(snapshot.lazy_total_clusters, 3);
    assert_eq!(snapshot.lazy_initialized_clusters, 2);
    assert_eq!(snapshot.lazy_idle_clusters, 0);
    assert_eq!(snapshot.config_cached_clusters, 3);
    assert_eq!(snapshot.config_source_reads, 1);
    assert_eq!(snapshot.config_total_access, 2, "one lookup per checkout");
    assert_eq!(snapshot.memory_warnings, 0);
    assert_eq!(snapshot.tls_configs_built, 1, "one CA signs every cluster");
    assert_eq!(snapshot.tls_configs_shared, 1);
    assert_eq!(snapshot.http_throttled_requests, 0);
    assert_eq!(snapshot.http_retried_reads, 0);
    assert_eq!(snapshot.http_credential_refreshes, 0);
    assert_eq!(snapshot.policy_denials, 0);
    assert!(snapshot.memory_usage_mb > 1.0);
    assert!(snapshot.system_memory_mb > snapshot.memory_usage_mb);
    assert!(snapshot.tasks > 0);
}

/// Runs `lazyhost stats` with `args` against the kubeconfig of `sim`.
fn stats_command(sim: &SimChild, args: &[&str]) -> std::process::Output {
    let kubeconfig = sim.kubeconfig();
    let mut full = vec!["stats", "--kubeconfig", arg(&kubeconfig)];
    full.extend_from_slice(args);
    lazyhost(&full)
}

#[test]
fn stats_command_json_after_check() {
    let mut sim = SimChild::start(3);
    let output = stats_command(&sim, &["--check", "-o", "json"]);
    sim.stop();

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let snapshot = json(&output);
    let mut keys: Vec<&str> = snapshot
        .as_object()
        .expect("the snapshot is a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected_keys = [
        "memory_usage_mb",
        "system_memory_mb",
        "tasks",
        "perf_total_requests",
        "perf_error_count",
        "perf_success_rate",
        "perf_avg_response_time_ms",
        "latencies",
        "lazy_total_clusters",
        "lazy_initialized_clusters",
        "lazy_idle_clusters",
        "config_cached_clusters",
        "config_total_access",
        "memory_warnings",
        "config_source_reads",
        "http_throttled_requests",
        "http_retried_reads",
        "http_credential_refreshes",
        "tls_configs_built",
        "tls_configs_shared",
        "policy_denials",
        "plugin_latencies",
        "verb_latencies",
        "plugin_calls",
        "plugin_compilations",
        "plugin_cache_hits",
        "instance_allocator",
    ];
    expected_keys.sort_unstable();
    assert_eq!(keys, expected_keys);

    assert_eq!(snapshot["lazy_total_clusters"], 3);
    assert_eq!(snapshot["lazy_initialized_clusters"], 3);
    assert_eq!(snapshot["lazy_idle_clusters"], 0);
    assert_eq!(
        snapshot["perf_total_requests"], 17,
        "6 + 5 + 6 discovery requests"
    );
    assert_eq!(snapshot["perf_error_count"], 0);
    assert_eq!(snapshot["perf_success_rate"], 100.0);
    assert!(snapshot["perf_avg_response_time_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(snapshot["config_cached_clusters"], 3);
    assert_eq!(
        snapshot["config_total_access"], 3,
        "one lookup per checkout"
    );
    assert_eq!(snapshot["config_source_reads"], 1);
    assert_eq!(snapshot["memory_warnings"], 0);
    assert_eq!(snapshot["tls_configs_built"], 1);
    assert_eq!(snapshot["tls_configs_shared"], 2);
    assert_eq!(snapshot["http_throttled_requests"], 0);
    assert_eq!(snapshot["http_retried_reads"], 0);
    assert_eq!(snapshot["http_credential_refreshes"], 0);
    assert_eq!(snapshot["policy_denials"], 0);
    assert!(snapshot["memory_usage_mb"].as_f64().unwrap() > 1.0);
    assert!(snapshot["tasks"].as_u64().unwrap() > 0);
    assert_eq!(snapshot["plugin_calls"], serde_json::json!([]));
    assert_eq!(snapshot["plugin_compilations"], 0, "no plugin runtime runs");
    assert_eq!(snapshot["plugin_cache_hits"], 0);
    assert_eq!(snapshot["instance_allocator"], "");
    let verbs = &snapshot["verb_latencies"];
    assert_eq!(verbs[0]["verb"], "discovery", "{verbs}");
    assert_eq!(
        verbs[0]["count"], 17,
        "the discovery requests of every cluster"
    );

    let latencies = snapshot["latencies"]
        .as_array()
        .expect("latencies is a list");
    assert_eq!(latencies.len(), 3);
    for (latency, (cluster, count)) in
        latencies
            .iter()
            .zip([("sim-1", 6), ("sim-2", 5), ("sim-3", 6)])
    {
        assert_eq!(latency["cluster"], cluster);
        assert_eq!(latency["verb"], "discovery", "{cluster}");
        assert_eq!(latency["count"], count, "{cluster}");
        assert_eq!(latency["errors"], 0, "{cluster}");
        assert_eq!(latency["recent_count"], count, "{cluster}");
        assert!(latency["avg_ms"].as_f64().unwrap() > 0.0, "{cluster}");
        let p50 = latency["p50_ms"].as_f64().unwrap();
        let p95 = latency["p95_ms"].as_f64().unwrap();
        let p99 = latency["p99_ms"].as_f64().unwrap();
        assert!(p50 > 0.0, "{cluster}");
        assert!(p50 <= p95, "{cluster}");
        assert!(p95 <= p99, "{cluster}");
        let all_time = serde_json::json!({"p50_ms": p50, "p95_ms": p95, "p99_ms": p99});
        assert_eq!(
            latency["all_time"], all_time,
            "{cluster}: every request is recent"
        );
    }
}

#[test]
fn stats_command_checks_selected_context() {
    let mut sim = SimChild::start(3);
    let output = stats_command(&sim, &["--check", "--context", "sim-2", "-o", "json"]);
    sim.stop();

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let snapshot = json(&output);
    assert_eq!(snapshot["lazy_total_clusters"], 3);
    assert_eq!(snapshot["lazy_initialized_clusters"], 1);
    assert_eq!(snapshot["perf_total_requests"], 5);
    let latencies = snapshot["latencies"]
        .as_array()
        .expect("latencies is a list");
    assert_eq!(latencies.len(), 1);
    assert_eq!(latencies[0]["cluster"], "sim-2");
    assert_eq!(latencies[0]["verb"], "discovery");
}

#[test]
fn stats_command_checks_labelled_clusters() {
    let mut sim = SimChild::start(3);
    let folder = tempfile::tempdir().expect("temporary folder");
    let config = folder.path().join("lazyhost.toml");
    let kubeconfig = sim.kubeconfig();
    let kubeconfig = arg(&kubeconfig);
    let contents = format!(
        "[[clusters]]\nname = \"sim-1\"\nkubeconfig = \"{kubeconfig}\"\nlabels = {{ env = \"prod\" }}\n\n\
         [[clusters]]\nname = \"sim-3\"\nkubeconfig = \"{kubeconfig}\"\nlabels = {{ env = \"dev\" }}\n"
    );
    std::fs::write(&config, contents).expect("write the configuration");
    let config = arg(&config);
    let selected = lazyhost(&[
        "stats", "--config", config, "--check", "-l", "env=prod", "-o", "json",
    ]);
    let empty = lazyhost(&["stats", "--config", config, "--check", "-l", " "]);
    sim.stop();

    assert_eq!(
        selected.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&selected)
    );
    let snapshot = json(&selected);
    assert_eq!(snapshot["lazy_total_clusters"], 2);
    assert_eq!(snapshot["lazy_initialized_clusters"], 1);
    assert_eq!(snapshot["perf_total_requests"], 6);
    let latencies = snapshot["latencies"]
        .as_array()
        .expect("latencies is a list");
    assert_eq!(latencies.len(), 1);
    assert_eq!(latencies[0]["cluster"], "sim-1");

    assert_eq!(empty.status.code(), Some(2));
    assert!(
        stderr(&empty).contains(
            "the selector is empty and would match every cluster: leave out --selector to mean that"
        ),
        "{}",
        stderr(&empty)
    );
}

#[test]
fn stats_command_table_after_check() {
    let mut sim = SimChild::start(3);
    let output = stats_command(&sim, &["--check"]);
    sim.stop();

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    for (line, key) in lines
        .iter()
        .zip(["memory_usage_mb", "system_memory_mb", "tasks"])
    {
        let (name, value) = line.split_once(' ').expect("a key and a value");
        assert_eq!(name, key);
        assert!(value.trim().parse::<f64>().is_ok(), "{line}");
    }
    assert_eq!(lines[3], "perf_total_requests        17");
    assert_eq!(lines[4], "perf_error_count           0");
    assert_eq!(lines[5], "perf_success_rate          100.00");
    assert!(
        lines[6].starts_with("perf_avg_response_time_ms  "),
        "{}",
        lines[6]
    );
    let rest = [
        "lazy_total_clusters        3",
        "lazy_initialized_clusters  3",
        "lazy_idle_clusters         0",
        "config_cached_clusters     3",
        "config_total_access        3",
        "memory_warnings            0",
        "config_source_reads        1",
        "http_throttled_requests    0",
        "http_retried_reads         0",
        "http_credential_refreshes  0",
        "tls_configs_built          1",
        "tls_configs_shared         2",
        "policy_denials             0",
        "plugin_compilations        0",
        "plugin_cache_hits          0",
        "instance_allocator         -",
        "",
    ];
    assert_eq!(lines[7..24], rest);

    let header: Vec<&str> = lines[24]
        .split("  ")
        .map(str::trim)
        .filter(|cell| !cell.is_empty())
        .collect();
    let expected_header = [
        "CLUSTER",
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
    ];
    assert_eq!(header, expected_header);
    assert_eq!(lines.len(), 28, "{text}");
    for (line, (cluster, count)) in
        lines[25..]
            .iter()
            .zip([("sim-1", "6"), ("sim-2", "5"), ("sim-3", "6")])
    {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.len(), 12, "{line}");
        assert_eq!(cells[..4], [cluster, "discovery", count, "0"]);
        assert_eq!(cells[5], count, "recent count of {cluster}");
    }
}

#[test]
fn stats_command_rejects_missing_kubeconfig() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let missing = folder.path().join("no-such-kubeconfig");
    let output = lazyhost(&["stats", "--kubeconfig", arg(&missing), "--check"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "failed to read kubeconfig `{}`",
            missing.display()
        )),
        "{message}"
    );
}

#[test]
fn stats_command_selection_requires_check() {
    let output = lazyhost(&["stats", "--kubeconfig", "unused", "--context", "sim-1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--check"), "{}", stderr(&output));
}
