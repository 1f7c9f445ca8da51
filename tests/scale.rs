//! Scale test of the simulated fleet: 1,000 clusters in one process, each
//! listed by its own kube client, with exact server-side counters per cluster.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use http::{HeaderName, HeaderValue};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use lazyhost::sim::{CLIENT_HEADER, Fleet, FleetOptions, Listen};

const CLUSTERS: usize = 1000;

/// Extra objects per cluster: half config maps, half pods.
const EXTRA_OBJECTS: usize = 10;

/// Label of the extra objects, which the test lists so that the count does not
/// depend on each cluster's seed layout.
const EXTRA_LABEL: &str = "lazyhost.dev/extra=true";

/// Lists started at once, to keep the open connections well under the file limit.
const CONCURRENT_LISTS: usize = 100;

async fn client(kubeconfig: &Kubeconfig, cluster: &str) -> kube::Client {
    let options = KubeConfigOptions {
        context: Some(cluster.to_string()),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &options)
        .await
        .expect("the context is valid");
    let identity = HeaderValue::from_str(&format!("{cluster}/1")).unwrap();
    config
        .headers
        .push((HeaderName::from_static(CLIENT_HEADER), identity));
    kube::Client::try_from(config).expect("the client builds")
}

/// Lists the extra pods of `cluster` through a new client and returns how many
/// there are.
async fn count_pods(kubeconfig: &Kubeconfig, cluster: String) -> (String, usize) {
    let client = client(kubeconfig, &cluster).await;
    let pods: Api<Pod> = Api::all(client);
    let list = pods
        .list(&ListParams::default().labels(EXTRA_LABEL))
        .await
        .unwrap_or_else(|error| panic!("listing pods of {cluster} failed: {error}"));
    (cluster, list.items.len())
}

async fn list_every_cluster(fleet: &Fleet) -> BTreeMap<String, usize> {
    let mut kubeconfig = fleet.kubeconfig();
    // Each client needs only its own entries; a kubeconfig of 1,000 entries
    // cloned per client would dominate the test's time.
    let clusters = std::mem::take(&mut kubeconfig.clusters);
    let users = std::mem::take(&mut kubeconfig.auth_infos);
    let contexts = std::mem::take(&mut kubeconfig.contexts);
    let singles: Vec<(String, Kubeconfig)> = clusters
        .into_iter()
        .zip(users)
        .zip(contexts)
        .map(|((cluster, user), context)| {
            let single = Kubeconfig {
                clusters: vec![cluster],
                auth_infos: vec![user],
                contexts: vec![context.clone()],
                ..kubeconfig.clone()
            };
            (context.name, single)
        })
        .collect();
    futures::stream::iter(singles)
        .map(|(name, single)| async move { count_pods(&single, name).await })
        .buffer_unordered(CONCURRENT_LISTS)
        .collect()
        .await
}

/// Starts 1,000 clusters with the listening layout `listen`, prints the start time and
/// resident memory, and checks the URL of sim-17.
async fn start_fleet(listen: Listen) -> Fleet {
    let started = Instant::now();
    let options = FleetOptions {
        clusters: CLUSTERS,
        listen,
        objects: EXTRA_OBJECTS,
        ..FleetOptions::default()
    };
    let fleet = Fleet::start(options).await.expect("fleet starts");
    let start_time = started.elapsed();
    let memory_mib = fleet.resident_memory_at_start().unwrap_or(0) / (1024 * 1024);
    eprintln!(
        "{listen:?}: {CLUSTERS} clusters started in {start_time:?}, resident memory {memory_mib} MiB"
    );
    let url = fleet.cluster_url("sim-17").unwrap();
    match fleet.shared_addr() {
        Some(shared) => assert_eq!(url, format!("https://{shared}/clusters/sim-17")),
        None => assert!(!url.contains("/clusters/"), "{url}"),
    }
    fleet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_clusters_on_shared_port() {
    let fleet = start_fleet(Listen::SharedPort).await;
    assert!(fleet.shared_addr().is_some());
    list_and_check_counts(&fleet).await;
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_clusters_on_own_ports() {
    let fleet = start_fleet(Listen::PortPerCluster).await;
    assert_eq!(fleet.shared_addr(), None);
    list_and_check_counts(&fleet).await;
    fleet.shutdown().await;
}

/// Lists the extra pods of every cluster, each through its own client, and
/// checks every cluster's counters.
async fn list_and_check_counts(fleet: &Fleet) {
    let listed = Instant::now();
    let pods = list_every_cluster(fleet).await;
    eprintln!(
        "listed pods of {CLUSTERS} clusters in {:?}",
        listed.elapsed()
    );

    assert_eq!(pods.len(), CLUSTERS);
    for index in 1..=CLUSTERS {
        let name = format!("sim-{index}");
        assert_eq!(pods[&name], EXTRA_OBJECTS / 2, "{name}");
        let counts = fleet.counts(&name).unwrap();
        assert_eq!(counts.connections, 1, "{name}: {counts:?}");
        assert_eq!(counts.tls_handshakes, 1, "{name}: {counts:?}");
        assert_eq!(counts.requests, 1, "{name}: {counts:?}");
        assert_eq!(counts.clients, 1, "{name}: {counts:?}");
        assert_eq!(
            counts.requests_by_verb,
            BTreeMap::from([("list".to_string(), 1)]),
            "{name}"
        );
        assert_eq!(
            counts.requests_by_verb_path,
            BTreeMap::from([("list /api/v1/pods".to_string(), 1)]),
            "{name}"
        );
    }
}
