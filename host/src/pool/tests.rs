//! The pool's rules, with a fake factory and tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use kube::config::Kubeconfig;

use super::*;

/// A factory whose clients are their serial numbers. It counts connects,
/// takes `delay` to connect and fails while `fail` is set.
struct FakeFactory {
    connects: AtomicU64,
    fail: AtomicBool,
    delay: Duration,
}

impl FakeFactory {
    fn new() -> Arc<Self> {
        Self::with_delay(Duration::from_millis(50))
    }

    fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            connects: AtomicU64::new(0),
            fail: AtomicBool::new(false),
            delay,
        })
    }

    fn connects(&self) -> u64 {
        self.connects.load(Ordering::SeqCst)
    }
}

impl ClientFactory for Arc<FakeFactory> {
    type Client = u64;

    async fn connect(&self, _: Arc<ClusterConfig>, serial: u64) -> Result<u64, ConnectError> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err(ConnectError::Interrupted(
                "refused by the fake factory".to_string(),
            ));
        }
        Ok(serial)
    }
}

fn inventory(names: &[&str]) -> Arc<Inventory> {
    let mut yaml = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for name in names {
        yaml += &format!("- name: {name}\n  cluster: {{server: 'https://127.0.0.1:1'}}\n");
    }
    yaml += "contexts:\n";
    for name in names {
        yaml += &format!("- name: {name}\n  context: {{cluster: {name}, user: u}}\n");
    }
    yaml += "users:\n- name: u\n  user: {token: t}\n";
    let kubeconfig = Kubeconfig::from_yaml(&yaml).unwrap();
    Arc::new(Inventory::from_kubeconfig(kubeconfig, "test").unwrap())
}

fn pool(factory: &Arc<FakeFactory>, config: PoolConfig) -> Pool<Arc<FakeFactory>> {
    Pool::with_config(inventory(&["a", "b", "c"]), Arc::clone(factory), config)
}

fn state(pool: &Pool<Arc<FakeFactory>>, cluster: &str) -> ClusterState {
    let states = pool.states();
    let (_, state) = states
        .iter()
        .find(|(config, _)| config.name == cluster)
        .unwrap();
    state.clone()
}

#[tokio::test(start_paused = true)]
async fn nothing_starts_before_use() {
    let factory = FakeFactory::new();
    let pool = pool(&factory, PoolConfig::default());
    assert_eq!(factory.connects(), 0);
    assert_eq!(pool.stats().initialized, 0);
    assert_eq!(pool.stats().total, 3);
    assert_eq!(state(&pool, "a"), ClusterState::NotStarted);
}

#[tokio::test(start_paused = true)]
async fn concurrent_first_use_builds_one_client() {
    let factory = FakeFactory::new();
    let pool = pool(&factory, PoolConfig::default());
    let checkouts = (0..20).map(|_| pool.checkout("a"));
    let clients = futures::future::join_all(checkouts).await;

    assert_eq!(factory.connects(), 1);
    assert!(
        clients
            .iter()
            .all(|client| client.as_ref().ok() == Some(&1))
    );
    assert!(matches!(
        state(&pool, "a"),
        ClusterState::Ready { accesses: 20, .. }
    ));
    assert_eq!(pool.stats().initialized, 1);
}

#[tokio::test(start_paused = true)]
async fn failed_start_is_cached_until_backoff() {
    let factory = FakeFactory::new();
    factory.fail.store(true, Ordering::SeqCst);
    let config = PoolConfig {
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(60),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);

    let (first, second) = tokio::join!(pool.checkout("b"), pool.checkout("b"));
    assert!(first.is_err());
    assert!(second.is_err());
    assert_eq!(factory.connects(), 1);

    let cached = pool.checkout("b").await.unwrap_err();
    assert_eq!(factory.connects(), 1, "no new dial within the backoff");
    assert_eq!(
        cached.to_string(),
        "failed to start the client of cluster `b`: client start was interrupted: refused by the fake factory \
         (server https://127.0.0.1:1)"
    );
    assert!(matches!(
        state(&pool, "b"),
        ClusterState::Failed { failures: 1, .. }
    ));

    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(pool.checkout("b").await.is_err());
    assert_eq!(factory.connects(), 2);
    assert!(matches!(
        state(&pool, "b"),
        ClusterState::Failed { failures: 2, .. }
    ));

    tokio::time::advance(Duration::from_millis(1500)).await;
    assert!(pool.checkout("b").await.is_err());
    assert_eq!(factory.connects(), 2, "the second backoff is two seconds");

    factory.fail.store(false, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(pool.checkout("b").await.unwrap(), 3);
    assert_eq!(pool.stats().start_failures, 2);
}

#[tokio::test(start_paused = true)]
async fn unused_client_counts_as_idle() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        idle_threshold: Duration::from_secs(60),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    pool.checkout("a").await.unwrap();
    assert_eq!(pool.stats().idle, 0);

    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(pool.stats().idle, 1);
    assert_eq!(pool.stats().initialized, 1);
    pool.checkout("a").await.unwrap();
    assert_eq!(pool.stats().idle, 0);
}

#[tokio::test(start_paused = true)]
async fn idle_client_is_evicted_then_restarted() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_idle: Duration::from_secs(60),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    pool.checkout("a").await.unwrap();
    pool.checkout("b").await.unwrap();

    tokio::time::advance(Duration::from_secs(30)).await;
    pool.checkout("b").await.unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(pool.evict_idle(), 1);
    assert_eq!(state(&pool, "a"), ClusterState::Evicted(EvictReason::Idle));
    assert!(matches!(state(&pool, "b"), ClusterState::Ready { .. }));

    assert_eq!(pool.checkout("a").await.unwrap(), 3);
    assert_eq!(factory.connects(), 3);
    assert_eq!(pool.stats().evicted_idle, 1);
}

#[tokio::test(start_paused = true)]
async fn janitor_evicts_idle_clients() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_idle: Duration::from_secs(60),
        ..PoolConfig::default()
    };
    let pool = Arc::new(pool(&factory, config));
    let janitor = Pool::spawn_janitor(&pool, Duration::from_secs(10));
    pool.checkout("c").await.unwrap();

    tokio::time::sleep(Duration::from_secs(55)).await;
    assert!(matches!(state(&pool, "c"), ClusterState::Ready { .. }));
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(state(&pool, "c"), ClusterState::Evicted(EvictReason::Idle));
    janitor.abort();
}

#[tokio::test(start_paused = true)]
async fn client_is_recycled_after_access_budget() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_access_count: 3,
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    let mut serials = Vec::new();
    for _ in 0..7 {
        serials.push(pool.checkout("a").await.unwrap());
    }
    assert_eq!(serials, [1, 1, 1, 2, 2, 2, 3]);
    assert_eq!(pool.stats().recycled, 2);
    assert_eq!(factory.connects(), 3);
}

#[tokio::test(start_paused = true)]
async fn least_recently_used_is_evicted_over_cap() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_live: Some(2),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    for cluster in ["a", "b"] {
        pool.checkout(cluster).await.unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    pool.checkout("a").await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    pool.checkout("c").await.unwrap();

    assert_eq!(
        state(&pool, "b"),
        ClusterState::Evicted(EvictReason::OverCap)
    );
    assert!(matches!(state(&pool, "a"), ClusterState::Ready { .. }));
    assert!(matches!(state(&pool, "c"), ClusterState::Ready { .. }));
    assert_eq!(pool.stats().initialized, 2);
    assert_eq!(pool.stats().evicted_over_cap, 1);
}

#[tokio::test(start_paused = true)]
async fn slow_start_times_out() {
    let factory = FakeFactory::with_delay(Duration::from_secs(120));
    let config = PoolConfig {
        init_timeout: Duration::from_secs(30),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    let error = pool.checkout("a").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "failed to start the client of cluster `a`: timed out after 30s starting the client: check that the server \
         answers and that any exec credential plugin finishes, or raise pool.init_timeout (server https://127.0.0.1:1)"
    );
}

#[tokio::test(start_paused = true)]
async fn one_hanging_cluster_delays_no_other() {
    let factory = FakeFactory::with_delay(Duration::from_secs(20));
    let pool = Arc::new(pool(&factory, PoolConfig::default()));
    let hanging = {
        let pool = Arc::clone(&pool);
        tokio::spawn(async move { pool.checkout("a").await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let other = pool.checkout("b").await.unwrap();
    assert_eq!(other, 2);
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert_eq!(hanging.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn unknown_cluster_is_an_error() {
    let factory = FakeFactory::new();
    let error = pool(&factory, PoolConfig::default())
        .checkout("zz")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown cluster `zz`: run `lazyhost clusters` to list the configured ones"
    );
}

/// Builds an inventory of `names`, each at its server in `servers` or at
/// `https://127.0.0.1:1` when it has none.
fn inventory_at(names: &[&str], servers: &[(&str, &str)]) -> Arc<Inventory> {
    let server_of = |name: &str| {
        servers
            .iter()
            .find(|(cluster, _)| *cluster == name)
            .map_or("https://127.0.0.1:1", |(_, server)| *server)
    };
    let mut yaml = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for name in names {
        yaml += &format!(
            "- name: {name}\n  cluster: {{server: '{}'}}\n",
            server_of(name)
        );
    }
    yaml += "contexts:\n";
    for name in names {
        yaml += &format!("- name: {name}\n  context: {{cluster: {name}, user: u}}\n");
    }
    yaml += "users:\n- name: u\n  user: {token: t}\n";
    let kubeconfig = Kubeconfig::from_yaml(&yaml).unwrap();
    Arc::new(Inventory::from_kubeconfig(kubeconfig, "test").unwrap())
}

#[tokio::test(start_paused = true)]
async fn reload_rebuilds_only_changed_clusters() {
    let factory = FakeFactory::new();
    let pool = Pool::new(inventory_at(&["a", "b", "c"], &[]), Arc::clone(&factory));
    for cluster in ["a", "b", "c"] {
        pool.checkout(cluster).await.unwrap();
    }
    assert_eq!(factory.connects(), 3);
    let old_b = pool.peek("b").unwrap();

    let edited = inventory_at(&["a", "b", "d"], &[("b", "https://127.0.0.1:2")]);
    let summary = pool.reload(edited);
    assert_eq!(summary.kept, ["a"]);
    assert_eq!(summary.changed, ["b"]);
    assert_eq!(summary.removed, ["c"]);
    assert_eq!(summary.added, ["d"]);

    assert_eq!(
        pool.checkout("a").await.unwrap(),
        1,
        "unchanged keeps its client"
    );
    assert_eq!(factory.connects(), 3);
    assert_eq!(old_b, 2, "a client handed out before stays usable");
    assert_eq!(
        pool.checkout("b").await.unwrap(),
        4,
        "changed rebuilds on next use"
    );
    assert_eq!(factory.connects(), 4);
    assert!(pool.checkout("c").await.is_err(), "removed is gone");
    assert_eq!(state(&pool, "d"), ClusterState::NotStarted);
    assert_eq!(pool.stats().total, 3);
    assert_eq!(pool.inventory().clusters().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn reload_with_same_inventory_changes_nothing() {
    let factory = FakeFactory::new();
    let pool = Pool::new(inventory_at(&["a", "b"], &[]), Arc::clone(&factory));
    pool.checkout("a").await.unwrap();
    let summary = pool.reload(inventory_at(&["a", "b"], &[]));
    assert_eq!(summary.kept, ["a", "b"]);
    assert!(summary.changed.is_empty());
    assert!(summary.removed.is_empty());
    assert!(summary.added.is_empty());
    assert!(matches!(
        state(&pool, "a"),
        ClusterState::Ready { accesses: 1, .. }
    ));
    assert_eq!(factory.connects(), 1);
}

#[tokio::test(start_paused = true)]
async fn refresher_reloads_an_edited_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let yaml = |server_b: &str| {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n\
             - name: a\n  cluster: {{server: 'https://127.0.0.1:1'}}\n\
             - name: b\n  cluster: {{server: '{server_b}'}}\n\
             contexts:\n- name: a\n  context: {{cluster: a, user: u}}\n\
             - name: b\n  context: {{cluster: b, user: u}}\n\
             users:\n- name: u\n  user: {{token: t}}\n"
        )
    };
    std::fs::write(&path, yaml("https://127.0.0.1:2")).unwrap();
    let sources = crate::inventory::Sources {
        kubeconfigs: vec![path.clone()],
        ..Default::default()
    };
    let cache = InventoryCache::load(sources, Duration::from_secs(60)).unwrap();
    let factory = FakeFactory::new();
    let pool = Arc::new(Pool::new(cache.current(), Arc::clone(&factory)));
    let refresher = Pool::spawn_refresher(&pool, cache, Duration::from_secs(10));
    pool.checkout("a").await.unwrap();
    pool.checkout("b").await.unwrap();

    std::fs::write(&path, yaml("https://127.0.0.1:3")).unwrap();
    tokio::time::sleep(Duration::from_secs(65)).await;

    assert_eq!(
        pool.inventory().get("b").unwrap().server,
        "https://127.0.0.1:3"
    );
    assert!(
        matches!(state(&pool, "a"), ClusterState::Ready { .. }),
        "a keeps its client"
    );
    assert_eq!(
        state(&pool, "b"),
        ClusterState::NotStarted,
        "b is rebuilt on next use"
    );
    assert_eq!(pool.checkout("b").await.unwrap(), 3);
    assert_eq!(factory.connects(), 3);
    assert!(pool.inventory().source_reads() >= 2);
    refresher.abort();
}

#[tokio::test(start_paused = true)]
async fn hold_starts_client_without_access() {
    let factory = FakeFactory::new();
    let pool = pool(&factory, PoolConfig::default());
    let (client, hold) = pool.hold("a").await.unwrap();
    assert_eq!(client, 1);
    assert_eq!(hold.cluster(), "a");
    assert_eq!(factory.connects(), 1);
    assert_eq!(pool.holds("a"), 1);
    assert!(matches!(
        state(&pool, "a"),
        ClusterState::Ready { accesses: 0, .. }
    ));
    assert_eq!(pool.inventory().accesses(), 0, "a hold is no lookup");

    let (again, second) = pool.hold("a").await.unwrap();
    assert_eq!(again, 1, "a second hold shares the live client");
    assert_eq!(pool.holds("a"), 2);
    drop(hold);
    drop(second);
    assert_eq!(pool.holds("a"), 0);
}

#[tokio::test(start_paused = true)]
async fn held_client_is_not_evicted_idle() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_idle: Duration::from_secs(60),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    let (_, hold) = pool.hold("a").await.unwrap();
    pool.checkout("b").await.unwrap();

    tokio::time::advance(Duration::from_secs(120)).await;
    assert_eq!(pool.evict_idle(), 1);
    assert!(matches!(state(&pool, "a"), ClusterState::Ready { .. }));
    assert_eq!(state(&pool, "b"), ClusterState::Evicted(EvictReason::Idle));
    assert_eq!(
        pool.evict_unused_for(Duration::ZERO),
        0,
        "memory pressure keeps it too"
    );

    drop(hold);
    assert_eq!(pool.evict_idle(), 1, "released, it is idle again");
    assert_eq!(state(&pool, "a"), ClusterState::Evicted(EvictReason::Idle));
}

#[tokio::test(start_paused = true)]
async fn held_client_is_not_evicted_over_cap() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_live: Some(1),
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    let (_, hold) = pool.hold("a").await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    pool.checkout("b").await.unwrap();
    assert!(matches!(state(&pool, "a"), ClusterState::Ready { .. }));
    assert!(
        matches!(state(&pool, "b"), ClusterState::Ready { .. }),
        "the newest client is never the one evicted"
    );
    assert_eq!(pool.stats().initialized, 2);

    tokio::time::advance(Duration::from_secs(1)).await;
    pool.checkout("c").await.unwrap();
    assert_eq!(
        state(&pool, "b"),
        ClusterState::Evicted(EvictReason::OverCap)
    );
    assert!(matches!(state(&pool, "a"), ClusterState::Ready { .. }));

    drop(hold);
    tokio::time::advance(Duration::from_secs(1)).await;
    pool.checkout("b").await.unwrap();
    assert_eq!(
        state(&pool, "a"),
        ClusterState::Evicted(EvictReason::OverCap)
    );
}

#[tokio::test(start_paused = true)]
async fn hold_does_not_recycle_or_count() {
    let factory = FakeFactory::new();
    let config = PoolConfig {
        max_access_count: 2,
        ..PoolConfig::default()
    };
    let pool = pool(&factory, config);
    pool.checkout("a").await.unwrap();
    pool.checkout("a").await.unwrap();
    let (client, _hold) = pool.hold("a").await.unwrap();
    assert_eq!(client, 1, "a hold takes the live client as it is");
    assert!(matches!(
        state(&pool, "a"),
        ClusterState::Ready { accesses: 2, .. }
    ));
    assert_eq!(pool.stats().recycled, 0);
}

#[tokio::test(start_paused = true)]
async fn failed_hold_keeps_no_claim() {
    let factory = FakeFactory::new();
    factory.fail.store(true, Ordering::SeqCst);
    let pool = pool(&factory, PoolConfig::default());
    assert!(pool.hold("a").await.is_err());
    assert_eq!(pool.holds("a"), 0);
    assert!(pool.hold("zz").await.is_err());
}
