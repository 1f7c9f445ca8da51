//! The statistics snapshot after a known workload against the simulated
//! fleet: every figure is checked, and request counts are checked against
//! the servers' own counters, so no figure can sit at zero unnoticed.

use std::sync::Arc;

use lazyhost::cluster::{KubeFactory, KubePool, ListOptions, ObjectRef};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;
use lazyhost::plugin::HostContext;
use lazyhost::sim::{Fleet, FleetOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_after_known_workload() {
    let fleet = Fleet::start(FleetOptions {
        clusters: 3,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts");
    let inventory = Arc::new(Inventory::from_kubeconfig(fleet.kubeconfig(), "test fleet").unwrap());
    let monitor = Arc::new(Monitor::new());
    let pool = Arc::new(KubePool::new(
        Arc::clone(&inventory),
        KubeFactory::new(Arc::clone(&monitor)),
    ));
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
    assert!(series("sim-1", "discovery").count >= 3);
    assert_eq!(series("sim-1", "plugin-verb").p50_ms, 40.0);
    let list = series("sim-1", "list");
    assert!(list.p50_ms > 0.0);
    assert!(list.p50_ms <= list.p95_ms);
    assert!(list.p95_ms <= list.p99_ms);
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
    assert!(snapshot.memory_usage_mb > 1.0);
    assert!(snapshot.system_memory_mb > snapshot.memory_usage_mb);
    assert!(snapshot.tasks > 0);
}
