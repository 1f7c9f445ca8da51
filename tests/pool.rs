//! The lazy pool with the real kube client against the simulated fleet,
//! counted on the servers' side.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::config::Kubeconfig;
use lazyhost::cluster::{KubeFactory, KubePool, ListOptions};
use lazyhost::inventory::{Inventory, InventoryCache, Refresh, Sources};
use lazyhost::monitor::Monitor;
use lazyhost::pool::{PoolError, ReloadSummary};
use lazyhost::sim::{ClusterCounts, Faults, Fleet, FleetOptions};
use tokio::task::JoinSet;

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

/// Discovery requests that every client start sends, keyed as the simulator
/// counts them: the server version, the core group, the group list, then the
/// preferred version of each built-in named group.
const BUILT_IN_DISCOVERY: [&str; 5] = [
    "get /version",
    "get /api/v1",
    "get /apis",
    "get /apis/apps/v1",
    "get /apis/apiextensions.k8s.io/v1",
];

/// Discovery request for the Widget custom resource's group, which only the
/// clusters that define Widget serve.
const WIDGET_DISCOVERY: &str = "get /apis/example.com/v1";

/// Returns whether `sim-<index>` defines the Widget custom resource: `sim-1`
/// and `sim-3`, then every even index, as the simulator's cluster profiles
/// cycle from `sim-4` on.
fn serves_widgets(index: usize) -> bool {
    index == 1 || index == 3 || (index >= 4 && index.is_multiple_of(2))
}

/// Returns the discovery requests of one client start of `sim-<index>`, each
/// sent once.
fn one_start_discovery(index: usize) -> BTreeMap<String, u64> {
    let mut requests: BTreeMap<String, u64> = BUILT_IN_DISCOVERY
        .iter()
        .map(|key| (key.to_string(), 1))
        .collect();
    if serves_widgets(index) {
        requests.insert(WIDGET_DISCOVERY.to_string(), 1);
    }
    requests
}

/// Returns the `get` requests that a cluster counted. The tests here send no
/// `get` of their own, so these are the discovery requests of client starts.
fn discovery_requests(counts: &ClusterCounts) -> BTreeMap<String, u64> {
    counts
        .requests_by_verb_path
        .iter()
        .filter(|(key, _)| key.starts_with("get "))
        .map(|(key, count)| (key.clone(), *count))
        .collect()
}

async fn list_pods(pool: &KubePool, cluster: &str) {
    let client = pool.checkout(cluster).await.expect("client starts");
    client
        .list("pods", &ListOptions::default())
        .await
        .expect("list succeeds");
}

/// A fleet, a kubeconfig file that lists some of its clusters, the cache
/// that reads that file, and a pool built from the cache's first read.
struct FileFleet {
    fleet: Fleet,
    /// Entries of every cluster in the fleet, listed in the file or not.
    kubeconfig: Kubeconfig,
    path: PathBuf,
    _dir: tempfile::TempDir,
    /// Modification time of the file's first version. Each later write
    /// moves it one second forward, so the cache detects every write.
    first_modified: SystemTime,
    writes: u32,
    cache: InventoryCache,
    pool: Arc<KubePool>,
}

impl FileFleet {
    /// Starts a fleet of `clusters` and a pool over the file listing `listed`.
    async fn start(clusters: usize, listed: &[&str]) -> Self {
        let fleet = Fleet::start(FleetOptions {
            clusters,
            ..FleetOptions::default()
        })
        .await
        .expect("fleet starts");
        let kubeconfig = fleet.kubeconfig();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let first_modified = SystemTime::now();
        write_file(
            &path,
            &to_yaml(&listing(&kubeconfig, listed)),
            first_modified,
        );

        let sources = Sources {
            kubeconfigs: vec![path.clone()],
            ..Sources::default()
        };
        // With an hour between timed reads, only a changed modification
        // time makes refresh() read the file.
        let cache = InventoryCache::load(sources, Duration::from_secs(3600)).expect("file reads");
        let factory = KubeFactory::new(Arc::new(Monitor::new()));
        let pool = Arc::new(KubePool::new(cache.current(), factory));
        Self {
            fleet,
            kubeconfig,
            path,
            _dir: dir,
            first_modified,
            writes: 0,
            cache,
            pool,
        }
    }

    /// Replaces the file's contents and moves its modification time forward.
    fn write(&mut self, text: &str) {
        self.writes += 1;
        let modified = self.first_modified + Duration::from_secs(u64::from(self.writes));
        write_file(&self.path, text, modified);
    }

    /// Rewrites the file to list `listed`, with their fleet entries.
    fn write_listing(&mut self, listed: &[&str]) {
        let text = to_yaml(&listing(&self.kubeconfig, listed));
        self.write(&text);
    }

    /// Returns the inventory of a refresh that must read the file again.
    fn reloaded(&mut self) -> Arc<Inventory> {
        match self.cache.refresh() {
            Refresh::Reloaded(inventory) => inventory,
            other => panic!("expected the changed file to be read again, got {other:?}"),
        }
    }

    /// Checks out every cluster of the pool's inventory and lists pods there.
    async fn list_everywhere(&self) {
        for cluster in self.pool.inventory().clusters() {
            list_pods(&self.pool, &cluster.name).await;
        }
    }

    fn counts(&self, cluster: &str) -> ClusterCounts {
        self.fleet.counts(cluster).expect("cluster is in the fleet")
    }
}

/// Returns `full` with only the cluster, user and context entries named in
/// `names`. The fleet names all three entries after the cluster.
fn listing(full: &Kubeconfig, names: &[&str]) -> Kubeconfig {
    let listed = |name: &String| names.contains(&name.as_str());
    let mut kubeconfig = full.clone();
    kubeconfig.clusters.retain(|entry| listed(&entry.name));
    kubeconfig.auth_infos.retain(|entry| listed(&entry.name));
    kubeconfig.contexts.retain(|entry| listed(&entry.name));
    kubeconfig
}

fn to_yaml(kubeconfig: &Kubeconfig) -> String {
    serde_yaml::to_string(kubeconfig).expect("kubeconfig serializes")
}

fn write_file(path: &std::path::Path, text: &str, modified: SystemTime) {
    std::fs::write(path, text).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(modified).unwrap();
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_callers_build_one_client_per_cluster() {
    let (fleet, pool) = fleet_and_pool(100).await;
    let clusters = fleet.cluster_names();
    let mut callers = JoinSet::new();
    for _round in 0..10 {
        for cluster in &clusters {
            let pool = Arc::clone(&pool);
            let cluster = cluster.clone();
            callers.spawn(async move { list_pods(&pool, &cluster).await });
        }
    }
    while let Some(joined) = callers.join_next().await {
        joined.expect("caller completes");
    }

    let mut discovery_total = 0;
    for (position, cluster) in clusters.iter().enumerate() {
        let counts = fleet.counts(cluster).unwrap();
        let discovery = discovery_requests(&counts);
        let discovery_count: u64 = discovery.values().sum();
        let expected_count = if serves_widgets(position + 1) { 6 } else { 5 };
        assert_eq!(counts.clients, 1, "{cluster}: {counts:?}");
        assert_eq!(discovery, one_start_discovery(position + 1), "{cluster}");
        assert_eq!(discovery_count, expected_count, "{cluster}");
        assert_eq!(
            counts.requests_by_verb_path["list /api/v1/pods"], 10,
            "{cluster}"
        );
        assert_eq!(counts.requests, discovery_count + 10, "{cluster}");
        discovery_total += discovery_count;
    }
    // 51 of the 100 clusters define Widget and make 6 discovery requests,
    // the other 49 make 5.
    assert_eq!(discovery_total, 551);

    let stats = pool.stats();
    assert_eq!(stats.total, 100);
    assert_eq!(stats.clients_built, 100);
    assert_eq!(stats.initialized, 100);
    assert_eq!(stats.start_failures, 0);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_cluster_alone_is_rebuilt() {
    let clusters = ["sim-1", "sim-2", "sim-3", "sim-4", "sim-5"];
    let mut setup = FileFleet::start(5, &clusters).await;
    setup.list_everywhere().await;
    let old_client = setup.pool.checkout("sim-3").await.unwrap();

    // The server certificate names both 127.0.0.1 and localhost, so the
    // rebuilt client, which verifies the server as localhost, still connects.
    let mut edited = listing(&setup.kubeconfig, &clusters);
    let entry = edited
        .clusters
        .iter_mut()
        .find(|entry| entry.name == "sim-3")
        .and_then(|entry| entry.cluster.as_mut())
        .unwrap();
    entry.tls_server_name = Some("localhost".to_string());
    setup.write(&to_yaml(&edited));
    let inventory = setup.reloaded();

    // A request that the old client sends before the reload is still
    // running, held by the server's latency, when the pool switches over.
    let latency = Faults {
        latency: Duration::from_millis(500),
        ..Faults::default()
    };
    setup.fleet.set_faults("sim-3", latency).unwrap();
    let running = {
        let client = old_client.clone();
        tokio::spawn(async move { client.list("pods", &ListOptions::default()).await })
    };
    for _ in 0..500 {
        if setup.counts("sim-3").requests_by_verb_path["list /api/v1/pods"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        setup.counts("sim-3").requests_by_verb_path["list /api/v1/pods"],
        2,
        "the old client's request reached the server"
    );

    let summary = setup.pool.reload(inventory);
    assert_eq!(
        summary,
        ReloadSummary {
            kept: names(&["sim-1", "sim-2", "sim-4", "sim-5"]),
            changed: names(&["sim-3"]),
            removed: vec![],
            added: vec![],
        }
    );
    setup.fleet.clear_faults("sim-3").unwrap();
    setup.list_everywhere().await;
    let finished = running.await.unwrap();
    assert!(finished.is_ok(), "running request failed: {finished:?}");
    let after = old_client.list("pods", &ListOptions::default()).await;
    assert!(after.is_ok(), "old client failed after reload: {after:?}");

    for (position, cluster) in clusters.iter().enumerate() {
        let counts = setup.counts(cluster);
        let starts = if *cluster == "sim-3" { 2 } else { 1 };
        let expected: BTreeMap<String, u64> = one_start_discovery(position + 1)
            .into_iter()
            .map(|(key, count)| (key, count * starts))
            .collect();
        assert_eq!(counts.clients, starts, "{cluster}: {counts:?}");
        assert_eq!(discovery_requests(&counts), expected, "{cluster}");
    }
    let stats = setup.pool.stats();
    assert_eq!(stats.clients_built, 6);
    assert_eq!(stats.initialized, 5);
    // Eleven checkouts: five before the reload, the old client's, five after.
    let inventory = setup.pool.inventory();
    assert_eq!(inventory.accesses(), 11);
    assert_eq!(inventory.source_reads(), 2);
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_configuration_changes_nothing() {
    let clusters = ["sim-1", "sim-2", "sim-3", "sim-4", "sim-5"];
    let mut setup = FileFleet::start(5, &clusters).await;
    setup.list_everywhere().await;
    let inventory_before = setup.pool.inventory();
    let counts_before: Vec<ClusterCounts> = clusters
        .iter()
        .map(|cluster| setup.counts(cluster))
        .collect();
    let read_error_prefix = format!("failed to read kubeconfig `{}`: ", setup.path.display());

    setup.write("clusters: [unterminated");
    let Refresh::Failed(invalid) = setup.cache.refresh() else {
        panic!("invalid YAML must fail the read");
    };
    assert!(
        invalid.to_string().starts_with(&read_error_prefix),
        "{invalid}"
    );
    // Tests run as root, which reads a file whatever its mode, so a deleted
    // file takes the place of one without read permission.
    std::fs::remove_file(&setup.path).unwrap();
    let Refresh::Failed(missing) = setup.cache.refresh() else {
        panic!("a deleted file must fail the read");
    };
    assert!(
        missing.to_string().starts_with(&read_error_prefix),
        "{missing}"
    );
    assert!(matches!(setup.cache.refresh(), Refresh::Fresh));
    assert_eq!(setup.cache.reads(), 3);
    assert_eq!(setup.cache.failed_reads(), 2);
    let cached: Vec<String> = setup
        .cache
        .current()
        .clusters()
        .iter()
        .map(|cluster| cluster.name.clone())
        .collect();
    assert_eq!(cached, names(&clusters));

    setup.list_everywhere().await;
    assert!(Arc::ptr_eq(&setup.pool.inventory(), &inventory_before));
    for (cluster, before) in clusters.iter().zip(&counts_before) {
        let counts = setup.counts(cluster);
        // The same client served the request. Its connection pool may
        // still open a second connection when a busy machine delays the
        // return of the first, so connections are not compared.
        assert_eq!(counts.clients, 1, "{cluster}: {counts:?}");
        assert_eq!(counts.requests, before.requests + 1, "{cluster}");
    }
    assert_eq!(setup.pool.stats().clients_built, 5);

    // The same configuration written back is read again, and every cluster
    // keeps its client.
    setup.write_listing(&clusters);
    let inventory = setup.reloaded();
    let summary = setup.pool.reload(inventory);
    assert_eq!(summary.kept, names(&clusters));
    assert!(summary.changed.is_empty(), "{summary:?}");
    setup.list_everywhere().await;
    for cluster in clusters {
        assert_eq!(setup.counts(cluster).clients, 1, "{cluster}");
    }
    assert_eq!(setup.pool.stats().clients_built, 5);
    assert_eq!(setup.cache.reads(), 4);
    assert_eq!(setup.cache.failed_reads(), 2);
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_cluster_unknown_and_added_one_built() {
    let mut setup = FileFleet::start(6, &["sim-1", "sim-2", "sim-3", "sim-4", "sim-5"]).await;
    setup.list_everywhere().await;
    let removed_before = setup.counts("sim-2");
    assert_eq!(setup.counts("sim-6").requests, 0);

    let listed = ["sim-1", "sim-3", "sim-4", "sim-5", "sim-6"];
    setup.write_listing(&listed);
    let inventory = setup.reloaded();
    let summary = setup.pool.reload(inventory);
    assert_eq!(
        summary,
        ReloadSummary {
            kept: names(&["sim-1", "sim-3", "sim-4", "sim-5"]),
            changed: vec![],
            removed: names(&["sim-2"]),
            added: names(&["sim-6"]),
        }
    );

    let error = setup.pool.checkout("sim-2").await.err();
    assert!(
        matches!(&error, Some(PoolError::UnknownCluster(name)) if name == "sim-2"),
        "{error:?}"
    );
    assert!(setup.pool.peek("sim-2").is_none());
    setup.list_everywhere().await;

    let added = setup.counts("sim-6");
    assert_eq!(added.clients, 1, "{added:?}");
    assert_eq!(discovery_requests(&added), one_start_discovery(6));
    for cluster in listed {
        assert_eq!(setup.counts(cluster).clients, 1, "{cluster}");
    }
    assert_eq!(setup.counts("sim-2"), removed_before);
    let stats = setup.pool.stats();
    assert_eq!(stats.total, 5);
    assert_eq!(stats.initialized, 5);
    assert_eq!(stats.clients_built, 6);
    setup.fleet.shutdown().await;
}
