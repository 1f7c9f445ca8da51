//! The lazy pool with the real kube client against the simulated fleet,
//! counted on the servers' side.

use std::sync::Arc;

use lazyhost::cluster::{KubeFactory, KubePool};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;
use lazyhost::sim::{Fleet, FleetOptions};

async fn fleet_and_pool(clusters: usize) -> (Fleet, Arc<KubePool>) {
    let fleet = Fleet::start(FleetOptions {
        clusters,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts");
    let inventory = Arc::new(Inventory::from_kubeconfig(fleet.kubeconfig(), "test fleet").unwrap());
    let monitor = Arc::new(Monitor::new());
    let factory = KubeFactory::new(monitor);
    (fleet, Arc::new(KubePool::new(inventory, factory)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_use_makes_one_client_per_cluster() {
    let (fleet, pool) = fleet_and_pool(4).await;
    let mut checkouts = tokio::task::JoinSet::new();
    for round in 0..25 {
        for cluster in ["sim-1", "sim-2", "sim-3"] {
            let pool = Arc::clone(&pool);
            checkouts.spawn(async move {
                let client = pool.checkout(cluster).await.expect("client starts");
                let options = lazyhost::cluster::ListOptions::default();
                let resource = if round % 2 == 0 { "pods" } else { "cm" };
                client
                    .list(resource, &options)
                    .await
                    .expect("list succeeds");
            });
        }
    }
    while let Some(joined) = checkouts.join_next().await {
        joined.expect("checkout task completes");
    }

    for cluster in ["sim-1", "sim-2", "sim-3"] {
        let counts = fleet.counts(cluster).unwrap();
        assert_eq!(counts.clients, 1, "{cluster}: {counts:?}");
        assert!(counts.connections >= 1, "{cluster}: {counts:?}");
        assert!(counts.requests >= 25, "{cluster}: {counts:?}");
    }
    let untouched = fleet.counts("sim-4").unwrap();
    assert_eq!(untouched.connections, 0);
    assert_eq!(untouched.requests, 0);
    assert_eq!(untouched.clients, 0);

    let stats = pool.stats();
    assert_eq!(stats.total, 4);
    assert_eq!(stats.initialized, 3);
    assert_eq!(stats.clients_built, 3);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_builds_nothing_before_use() {
    let (fleet, pool) = fleet_and_pool(3).await;
    assert_eq!(pool.stats().initialized, 0);
    for cluster in fleet.cluster_names() {
        assert_eq!(fleet.counts(&cluster).unwrap().connections, 0, "{cluster}");
    }
    fleet.shutdown().await;
}
