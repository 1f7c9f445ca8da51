//! End-to-end tests of controllers: the config-stamp controller watching
//! config maps on a simulated fleet, through outages, 410 Expired, a
//! denied watch, a stop and pool eviction.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::plugin;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use lazyhost::cluster::{KubeFactory, KubePool};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;
use lazyhost::plugin::{HostContext, Limits, LoadError, PluginRuntime};
use lazyhost::policy::Policy;
use lazyhost::pool::{ClusterState, PoolConfig};
use lazyhost::serve::watch::{WatchConfig, WatchState, Watches};
use lazyhost::sim::{Faults, Fleet};
use serde_json::json;

/// Maximum wait for anything the tests poll for.
const DEADLINE: Duration = Duration::from_secs(30);
/// The annotation config-stamp sets.
const STAMPED_BY: &str = "lazyhost.dev/stamped-by";
/// The list path of every config map, as the simulator counts it.
const LIST_CONFIG_MAPS: &str = "list /api/v1/configmaps";

/// A fleet, the pool and context of the config-stamp controller on it, and
/// the controller's watches once started.
struct Setup {
    fleet: Fleet,
    pool: Arc<KubePool>,
    context: Arc<HostContext>,
    watches: Option<Watches>,
}

/// Retries quickly, so an outage in a test ends in well under a second.
fn quick_config() -> WatchConfig {
    WatchConfig {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(500),
        ..WatchConfig::default()
    }
}

/// Starts `clusters` clusters and a pool with `pool_config` over them, and
/// a context for config-stamp under `policy`.
async fn setup(clusters: usize, pool_config: PoolConfig, policy: Policy) -> Setup {
    let fleet = common::start_fleet(clusters).await;
    let inventory = Arc::new(Inventory::from_kubeconfig(fleet.kubeconfig(), "test fleet").unwrap());
    let monitor = Arc::new(Monitor::new());
    let pool = Arc::new(KubePool::with_config(
        Arc::clone(&inventory),
        KubeFactory::new(Arc::clone(&monitor)),
        pool_config,
    ));
    let context = Arc::new(
        HostContext::new(Arc::clone(&pool), monitor, inventory.clusters().to_vec())
            .with_policy(policy),
    );
    Setup {
        fleet,
        pool,
        context,
        watches: None,
    }
}

fn write_policy() -> Policy {
    Policy {
        write: true,
        ..Policy::default()
    }
}

impl Setup {
    /// Loads config-stamp, calls its `watches` and starts those watches.
    async fn start_watches(&mut self, config: WatchConfig) {
        let runtime = PluginRuntime::new().unwrap();
        let controller = Arc::new(runtime.load_controller(&plugin("config_stamp")).unwrap());
        let specs = controller
            .watches(Arc::clone(&self.context), &Limits::default())
            .await
            .unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].resource, "configmaps");
        let watches = Watches::start(controller, Arc::clone(&self.context), specs, config).await;
        self.watches = Some(watches);
    }

    fn watches(&self) -> &Watches {
        self.watches.as_ref().expect("watches started")
    }

    fn counts(&self, cluster: &str) -> lazyhost::sim::ClusterCounts {
        self.fleet.counts(cluster).expect("cluster exists")
    }

    async fn wait_for_open_watches(&self, cluster: &str, open: u64) {
        wait_until(&format!("{open} open watches on {cluster}"), || {
            self.counts(cluster).watches_open == open
        })
        .await;
    }

    /// Creates a config map in `default` of `cluster`, labelled for a stamp.
    async fn create_labelled(&self, cluster: &str, name: &str) {
        let config_maps = config_maps(&self.fleet, cluster).await;
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": {"lazyhost.dev/stamp": "true"},
            },
            "data": {"key": "value"},
        }))
        .unwrap();
        config_maps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    /// Polls the config map until it carries the stamp annotation.
    async fn wait_for_stamp(&self, cluster: &str, name: &str) {
        let config_maps = config_maps(&self.fleet, cluster).await;
        let deadline = Instant::now() + DEADLINE;
        loop {
            let object = config_maps.get(name).await.unwrap();
            let annotations = object.metadata.annotations.unwrap_or_default();
            if annotations.get(STAMPED_BY).map(String::as_str) == Some("config-stamp") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{cluster}: default/{name} got no stamp within {DEADLINE:?}; watch counts {:?}",
                self.watches().counts()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn config_maps(fleet: &Fleet, cluster: &str) -> Api<ConfigMap> {
    let options = kube::config::KubeConfigOptions {
        context: Some(cluster.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .unwrap();
    Api::namespaced(kube::Client::try_from(config).unwrap(), "default")
}

/// Polls `condition` every 50 ms until it holds, failing after [`DEADLINE`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn verb_count(counts: &lazyhost::sim::ClusterCounts, verb: &str) -> u64 {
    counts.requests_by_verb.get(verb).copied().unwrap_or(0)
}

fn path_count(counts: &lazyhost::sim::ClusterCounts, key: &str) -> u64 {
    counts.requests_by_verb_path.get(key).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_stamps_through_watch() {
    let mut setup = setup(2, PoolConfig::default(), write_policy()).await;
    setup.start_watches(WatchConfig::default()).await;
    for status in setup.watches().statuses() {
        assert_eq!(status.state, WatchState::Running, "{status:?}");
    }
    setup.wait_for_open_watches("sim-1", 1).await;
    setup.wait_for_open_watches("sim-2", 1).await;

    setup.create_labelled("sim-1", "stamp-me").await;
    setup.wait_for_stamp("sim-1", "stamp-me").await;

    let first = setup.counts("sim-1");
    assert_eq!(path_count(&first, LIST_CONFIG_MAPS), 1, "{first:?}");
    assert!(verb_count(&first, "watch") >= 1, "{first:?}");
    assert_eq!(
        path_count(
            &first,
            "patch /api/v1/namespaces/default/configmaps/stamp-me"
        ),
        1,
        "{first:?}"
    );
    let second = setup.counts("sim-2");
    assert_eq!(verb_count(&second, "patch"), 0, "{second:?}");
    assert_eq!(verb_count(&second, "create"), 0, "{second:?}");
    assert_eq!(path_count(&second, LIST_CONFIG_MAPS), 1, "{second:?}");

    let counts = setup.watches().counts();
    assert!(counts.events_delivered >= 2, "{counts:?}");
    assert_eq!(counts.handle_failures, 0, "{counts:?}");
    assert_eq!(counts.relists, 0, "{counts:?}");
    assert_eq!(setup.pool.holds("sim-1"), 1);
    assert_eq!(setup.pool.holds("sim-2"), 1);
    // sim-2's events ran handle without host calls, and a hold is no access.
    let states = setup.pool.states();
    let (_, sim_2) = states.iter().find(|(c, _)| c.name == "sim-2").unwrap();
    assert!(
        matches!(sim_2, ClusterState::Ready { accesses: 0, .. }),
        "{sim_2:?}"
    );

    setup.watches.take().unwrap().stop().await;
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_cluster_down() {
    let mut setup = setup(1, PoolConfig::default(), write_policy()).await;
    setup.start_watches(quick_config()).await;
    setup.wait_for_open_watches("sim-1", 1).await;

    let down = Faults {
        down: true,
        ..Faults::default()
    };
    setup.fleet.set_faults("sim-1", down).unwrap();
    setup.wait_for_open_watches("sim-1", 0).await;
    wait_until("a failed watch retry", || {
        setup.watches().counts().watch_errors >= 1
    })
    .await;
    setup.fleet.clear_faults("sim-1").unwrap();

    setup.wait_for_open_watches("sim-1", 1).await;
    setup.create_labelled("sim-1", "after-outage").await;
    setup.wait_for_stamp("sim-1", "after-outage").await;

    let counts = setup.counts("sim-1");
    assert!(counts.watches_started >= 2, "{counts:?}");
    assert_eq!(
        path_count(&counts, LIST_CONFIG_MAPS),
        1,
        "the watch resumes without a list: {counts:?}"
    );
    assert_eq!(setup.watches().counts().relists, 0);

    setup.watches.take().unwrap().stop().await;
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_relists_after_expired() {
    let mut setup = setup(1, PoolConfig::default(), write_policy()).await;
    // Held back by the delay, the event of the config map below is still
    // unsent when the history is compacted and the stream broken, so the
    // watch resumes from a resourceVersion older than the history.
    let slow = Faults {
        watch_delay: Duration::from_secs(5),
        ..Faults::default()
    };
    setup.fleet.set_faults("sim-1", slow).unwrap();
    setup.start_watches(quick_config()).await;
    setup.wait_for_open_watches("sim-1", 1).await;

    setup.create_labelled("sim-1", "after-expiry").await;
    setup.fleet.compact("sim-1").unwrap();
    let down = Faults {
        down: true,
        ..Faults::default()
    };
    setup.fleet.set_faults("sim-1", down).unwrap();
    setup.wait_for_open_watches("sim-1", 0).await;
    setup.fleet.clear_faults("sim-1").unwrap();

    setup.wait_for_stamp("sim-1", "after-expiry").await;
    let counts = setup.watches().counts();
    assert!(counts.relists >= 1, "{counts:?}");
    let sim = setup.counts("sim-1");
    assert!(path_count(&sim, LIST_CONFIG_MAPS) >= 2, "{sim:?}");

    setup.watches.take().unwrap().stop().await;
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_watches_and_holds() {
    let mut setup = setup(2, PoolConfig::default(), write_policy()).await;
    setup.start_watches(WatchConfig::default()).await;
    setup.wait_for_open_watches("sim-1", 1).await;
    setup.wait_for_open_watches("sim-2", 1).await;

    setup.watches.take().unwrap().stop().await;
    setup.wait_for_open_watches("sim-1", 0).await;
    setup.wait_for_open_watches("sim-2", 0).await;
    assert_eq!(setup.pool.holds("sim-1"), 0);
    assert_eq!(setup.pool.holds("sim-2"), 0);
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_watch_is_reported() {
    let policy = Policy {
        write: true,
        resources: BTreeSet::from(["pods".to_string()]),
        ..Policy::default()
    };
    let mut setup = setup(2, PoolConfig::default(), policy).await;
    setup.start_watches(WatchConfig::default()).await;

    let statuses = setup.watches().statuses();
    assert_eq!(statuses.len(), 2);
    for status in &statuses {
        let WatchState::Denied(message) = &status.state else {
            panic!("not denied: {status:?}");
        };
        assert!(
            message.contains("list configmaps: the plugin may use only the resources pods"),
            "{message}"
        );
    }
    assert_eq!(setup.context.snapshot().policy_denials, 2);
    for cluster in ["sim-1", "sim-2"] {
        let counts = setup.counts(cluster);
        assert_eq!(counts.watches_started, 0, "{counts:?}");
        assert_eq!(path_count(&counts, LIST_CONFIG_MAPS), 0, "{counts:?}");
    }
    setup.watches.take().unwrap().stop().await;
    setup.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_cluster_is_not_evicted() {
    let config = PoolConfig {
        max_idle: Duration::ZERO,
        ..PoolConfig::default()
    };
    let mut setup = setup(2, config, write_policy()).await;
    // Only sim-1 is watched: the context of this controller has sim-1 alone.
    let sim_1 = vec![Arc::clone(&setup.pool.inventory().clusters()[0])];
    setup.context = Arc::new(
        HostContext::new(
            Arc::clone(&setup.pool),
            Arc::clone(setup.context.monitor()),
            sim_1,
        )
        .with_policy(write_policy()),
    );
    setup.start_watches(quick_config()).await;
    setup.wait_for_open_watches("sim-1", 1).await;
    setup.pool.checkout("sim-2").await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    assert_eq!(setup.pool.evict_idle(), 1);
    let states = setup.pool.states();
    let state_of = |name: &str| {
        states
            .iter()
            .find(|(cluster, _)| cluster.name == name)
            .map(|(_, state)| state.clone())
            .unwrap()
    };
    assert!(matches!(state_of("sim-1"), ClusterState::Ready { .. }));
    assert!(matches!(state_of("sim-2"), ClusterState::Evicted(_)));

    setup.create_labelled("sim-1", "while-held").await;
    setup.wait_for_stamp("sim-1", "while-held").await;
    setup.watches.take().unwrap().stop().await;
    setup.fleet.shutdown().await;
}

#[test]
fn worlds_are_told_apart() {
    let runtime = PluginRuntime::new().unwrap();
    let error = runtime
        .load_controller(&plugin("pod_audit"))
        .err()
        .expect("pod-audit is no controller");
    assert!(matches!(error, LoadError::NotController { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("does not fit the lazyhost controller world"),
        "{message}"
    );
    assert!(message.contains("it fits world `plugin`"), "{message}");

    let error = runtime
        .load(&plugin("config_stamp"))
        .err()
        .expect("config-stamp is no plugin of the plugin world");
    assert!(matches!(error, LoadError::WrongWorld { .. }), "{error}");

    let error = runtime
        .load_controller(&plugin("other_world"))
        .err()
        .expect("other-world fits neither world");
    let message = error.to_string();
    assert!(!message.contains("it fits world"), "{message}");
}
