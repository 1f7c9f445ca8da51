//! Watches of controllers: the host side of the `controller` world.
//!
//! [`Watches::start`] runs, for one loaded [`Controller`], a kube-runtime
//! watcher per cluster of the controller and [`WatchSpec`], and passes each
//! change to [`Controller::handle`], one fresh instance per event.
//!
//! - Each cluster is held in the pool ([`crate::pool::Pool::hold`]) while
//!   its watches run, so the pool never evicts it, and watch events count
//!   as no access. A cluster that cannot be reached is retried with the
//!   backoff until it can.
//! - A watch needs `list` and `watch` on its resource and namespace under
//!   the controller's policy. A denied watch is logged, counted as a denial
//!   in the monitor and reported in [`Watches::statuses`], and never sent.
//! - The watchers of one cluster feed one bounded queue, and one task per
//!   cluster calls `handle` for each event in the order it arrived, so the
//!   events of a cluster are handled one at a time and in order.
//! - When a cluster's queue is full, its watchers wait until the handler
//!   takes the next event, and so stop reading their watch streams. No event
//!   is dropped by the host. An API server whose watch stream cannot be
//!   sent on for long enough closes it, and the watcher then lists again
//!   (events with `initial` set). Each wait is counted in
//!   [`WatchCounts::queue_full`].
//! - kube-runtime's watcher resumes a broken watch from its last
//!   resourceVersion and lists again after 410 Expired. After such a list,
//!   objects deleted while the watch was down are sent as `deleted` with
//!   `initial` set, built from the key the watcher had kept.
//!
//! Dropping [`Watches`], or [`Watches::stop`], ends every watcher and
//! handler of the controller and releases its holds.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, TypeMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::cluster::ClusterClient;
use crate::discovery::ResourceType;
use crate::plugin::{Change, Controller, HostContext, Limits, WatchEvent, WatchSpec};
use crate::policy::{Access, Verb};

/// Settings of the watches of one controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchConfig {
    /// Events queued per cluster before its watchers wait for the handler.
    pub queue_capacity: usize,
    /// Wait before the first retry of a failed watch, list or cluster start;
    /// it doubles with each further failure in a row.
    pub backoff_initial: Duration,
    /// Maximum wait between retries.
    pub backoff_max: Duration,
    /// Limits of each `handle` invocation.
    pub limits: Limits,
}

impl Default for WatchConfig {
    /// Returns kube-runtime's default backoff bounds (800 ms to 30 s, in
    /// kube-runtime 5.0) and a queue of 256 events per cluster.
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            backoff_initial: Duration::from_millis(800),
            backoff_max: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }
}

/// The state of one watch: one cluster and one watch spec.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "message", rename_all = "kebab-case")]
pub enum WatchState {
    /// The cluster's client has not started yet; it is retried with the
    /// backoff. The message is the last start's error, if any.
    Waiting(String),
    /// The watcher runs. It may be retrying a broken stream.
    Running,
    /// The policy denies `list` or `watch`, for the reason in the message.
    Denied(String),
    /// The watch cannot run on this cluster, such as for a resource type
    /// the cluster does not serve or that cannot be watched.
    Failed(String),
}

/// The state of the watch of one spec on one cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WatchStatus {
    /// The cluster.
    pub cluster: String,
    /// The spec's resource, as the controller named it.
    pub resource: String,
    /// The spec's namespace, if any.
    pub namespace: Option<String>,
    /// The watch's state.
    pub state: WatchState,
}

/// Counters of one controller's watches, as [`Watches::counts`] returns them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WatchCounts {
    /// Events passed to `handle`.
    pub events_delivered: u64,
    /// `handle` invocations that failed: an error, a trap, a limit or the
    /// timeout.
    pub handle_failures: u64,
    /// Times a watcher found its cluster's queue full and waited.
    pub queue_full: u64,
    /// Lists that restarted a watch after its first list, such as after a
    /// 410 Expired.
    pub relists: u64,
    /// Errors of the watchers: failed lists and watch requests, broken
    /// streams and error events, each followed by a retry.
    pub watch_errors: u64,
}

#[derive(Default)]
struct Counters {
    events_delivered: AtomicU64,
    handle_failures: AtomicU64,
    queue_full: AtomicU64,
    relists: AtomicU64,
    watch_errors: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> WatchCounts {
        WatchCounts {
            events_delivered: self.events_delivered.load(Ordering::Relaxed),
            handle_failures: self.handle_failures.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            relists: self.relists.load(Ordering::Relaxed),
            watch_errors: self.watch_errors.load(Ordering::Relaxed),
        }
    }
}

/// The state that the tasks of one controller share.
struct Shared {
    controller: Arc<Controller>,
    context: Arc<HostContext>,
    specs: Vec<WatchSpec>,
    config: WatchConfig,
    counters: Counters,
    /// States keyed by cluster, then by the spec's position in `specs`.
    states: Mutex<BTreeMap<String, Vec<WatchState>>>,
}

impl Shared {
    fn set_state(&self, cluster: &str, index: usize, state: WatchState) {
        if let Some(states) = self.states.lock().get_mut(cluster) {
            states[index] = state;
        }
    }

    fn set_all_states(&self, cluster: &str, state: &WatchState) {
        if let Some(states) = self.states.lock().get_mut(cluster) {
            states.fill(state.clone());
        }
    }
}

/// The running watches of one controller. Dropping it stops them.
pub struct Watches {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watches {
    /// Starts the watches of `specs` on every cluster of `context`, for
    /// `controller`, and returns once each cluster has been tried once:
    /// its watches then run, are denied or failed, or wait for the cluster
    /// to start. Must be called within a tokio runtime.
    pub async fn start(
        controller: Arc<Controller>,
        context: Arc<HostContext>,
        specs: Vec<WatchSpec>,
        config: WatchConfig,
    ) -> Self {
        let clusters: Vec<String> = context
            .clusters()
            .iter()
            .map(|cluster| cluster.name.clone())
            .collect();
        let waiting = WatchState::Waiting(String::new());
        let states = clusters
            .iter()
            .map(|cluster| (cluster.clone(), vec![waiting.clone(); specs.len()]))
            .collect();
        let shared = Arc::new(Shared {
            controller,
            context,
            specs,
            config,
            counters: Counters::default(),
            states: Mutex::new(states),
        });
        tracing::info!(
            plugin = shared.controller.name(),
            clusters = clusters.len(),
            specs = shared.specs.len(),
            "starting controller watches"
        );

        let mut tasks = Vec::with_capacity(clusters.len());
        let mut first_tries = Vec::with_capacity(clusters.len());
        for cluster in clusters {
            let (tried, first_try) = tokio::sync::oneshot::channel();
            let task = run_cluster(Arc::clone(&shared), cluster, tried);
            tasks.push(tokio::spawn(task));
            first_tries.push(first_try);
        }
        // A task that ended before its first try closes its channel, which
        // also ends the wait.
        futures::future::join_all(first_tries).await;
        Self { shared, tasks }
    }

    /// Returns the name of the controller.
    pub fn plugin(&self) -> &str {
        self.shared.controller.name()
    }

    /// Returns the state of every watch, by cluster, then in the order of
    /// the controller's specs.
    pub fn statuses(&self) -> Vec<WatchStatus> {
        let states = self.shared.states.lock();
        let mut statuses = Vec::new();
        for (cluster, cluster_states) in states.iter() {
            for (spec, state) in self.shared.specs.iter().zip(cluster_states) {
                statuses.push(WatchStatus {
                    cluster: cluster.clone(),
                    resource: spec.resource.clone(),
                    namespace: spec.namespace.clone(),
                    state: state.clone(),
                });
            }
        }
        statuses
    }

    /// Returns the watch counters of this controller.
    pub fn counts(&self) -> WatchCounts {
        self.shared.counters.snapshot()
    }

    /// Stops every watcher and handler and waits until they have ended, so
    /// that their watch streams are closed and their holds released when it
    /// returns. An invocation of `handle` under way is dropped.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        tracing::info!(
            plugin = self.shared.controller.name(),
            "stopped controller watches"
        );
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs the watches of one cluster: takes a hold on the cluster, starts a watcher per
/// allowed spec, and hands their events to the controller in order.
async fn run_cluster(
    shared: Arc<Shared>,
    cluster: String,
    tried: tokio::sync::oneshot::Sender<()>,
) {
    let plugin = shared.controller.name();
    let mut tried = Some(tried);
    let mut backoff = RetryBackoff::new(&shared.config);
    let (client, _hold) = loop {
        match shared.context.pool().hold(&cluster).await {
            Ok(held) => break held,
            Err(error) => {
                let wait = backoff.next().unwrap_or(shared.config.backoff_max);
                tracing::warn!(plugin, %cluster, %error, retry_in = ?wait, "failed to start the watches of a cluster; retrying");
                shared.set_all_states(&cluster, &WatchState::Waiting(error.to_string()));
                if let Some(tried) = tried.take() {
                    let _ = tried.send(());
                }
                tokio::time::sleep(wait).await;
            }
        }
    };
    let client = client.with_mode(Arc::new(shared.context.mode().clone()));

    let (sender, mut receiver) = mpsc::channel(shared.config.queue_capacity.max(1));
    let mut watchers = JoinSet::new();
    for (index, spec) in shared.specs.iter().enumerate() {
        match prepare_watch(&shared, &cluster, &client, spec) {
            Ok(api) => {
                shared.set_state(&cluster, index, WatchState::Running);
                let watch = run_watcher(
                    Arc::clone(&shared),
                    cluster.clone(),
                    index,
                    api,
                    sender.clone(),
                );
                watchers.spawn(watch);
            }
            Err(state) => shared.set_state(&cluster, index, state),
        }
    }
    drop(sender);
    if let Some(tried) = tried.take() {
        let _ = tried.send(());
    }

    while let Some(event) = receiver.recv().await {
        handle_event(&shared, &event).await;
    }
}

/// Checks a spec against the cluster's discovery and the policy, and
/// returns the API to watch, or the state that keeps the watch from
/// running.
fn prepare_watch(
    shared: &Shared,
    cluster: &str,
    client: &ClusterClient,
    spec: &WatchSpec,
) -> Result<(Api<DynamicObject>, ApiResource), WatchState> {
    let plugin = shared.controller.name();
    let resource_type = client.resolve(&spec.resource).map_err(|error| {
        tracing::warn!(plugin, cluster, resource = %spec.resource, error = %error.message, "watch not started");
        WatchState::Failed(error.message)
    })?;
    let unsupported: Vec<&str> = ["list", "watch"]
        .into_iter()
        .filter(|verb| !resource_type.verbs.iter().any(|served| served == verb))
        .collect();
    if !unsupported.is_empty() {
        let message = format!(
            "{} does not support {} on this cluster, so it cannot be watched",
            resource_type.qualified_name(),
            unsupported.join(" and ")
        );
        tracing::warn!(plugin, cluster, resource = %spec.resource, %message, "watch not started");
        return Err(WatchState::Failed(message));
    }
    for action in ["list", "watch"] {
        let access = watch_access(action, resource_type, spec);
        if let Err(denial) = shared.context.policy().check(&access) {
            shared.context.monitor().record_denial();
            tracing::warn!(
                plugin,
                cluster,
                resource = %spec.resource,
                rule = denial.rule,
                message = %denial.message,
                "watch denied by the policy"
            );
            return Err(WatchState::Denied(denial.message));
        }
    }

    let api_resource = ApiResource {
        group: resource_type.group.clone(),
        version: resource_type.version.clone(),
        api_version: resource_type.api_version(),
        kind: resource_type.kind.clone(),
        plural: resource_type.plural.clone(),
    };
    let kube_client = client
        .kube_client()
        .map_err(|error| WatchState::Failed(error.message))?;
    let api = match &spec.namespace {
        Some(namespace) if resource_type.namespaced => {
            Api::namespaced_with(kube_client, namespace, &api_resource)
        }
        _ => Api::all_with(kube_client, &api_resource),
    };
    Ok((api, api_resource))
}

/// Builds the policy's view of a list or watch of `spec`.
fn watch_access(action: &str, resource_type: &ResourceType, spec: &WatchSpec) -> Access {
    Access {
        action: action.to_string(),
        verb: Verb::Read,
        resource: resource_type.plural.clone(),
        subresource: None,
        namespace: spec.namespace.clone().filter(|_| resource_type.namespaced),
        namespaced: resource_type.namespaced,
        aliases: resource_type.aliases(),
    }
}

/// The part of an object that a watcher keeps, to report its deletion when
/// a relist no longer finds it.
struct KnownObject {
    uid: Option<String>,
}

/// Runs one watcher and queues its events until the task is aborted.
async fn run_watcher(
    shared: Arc<Shared>,
    cluster: String,
    index: usize,
    (api, api_resource): (Api<DynamicObject>, ApiResource),
    sender: mpsc::Sender<WatchEvent>,
) {
    let spec = &shared.specs[index];
    let plugin = shared.controller.name();
    let mut config = watcher::Config::default();
    if let Some(selector) = &spec.label_selector {
        config = config.labels(selector);
    }
    let types = TypeMeta {
        api_version: api_resource.api_version.clone(),
        kind: api_resource.kind.clone(),
    };
    let stream = watcher(api, config).backoff(RetryBackoff::new(&shared.config));
    let mut stream = std::pin::pin!(stream);

    let mut known: HashMap<(String, String), KnownObject> = HashMap::new();
    let mut listed: HashSet<(String, String)> = HashSet::new();
    let mut lists = 0_u64;
    let mut errors_in_a_row = 0_u64;
    let queue = Queue {
        shared: &shared,
        sender: &sender,
        cluster: &cluster,
        resource: &spec.resource,
    };

    while let Some(item) = stream.next().await {
        let event = match item {
            Ok(event) => event,
            Err(error) => {
                shared.counters.watch_errors.fetch_add(1, Ordering::Relaxed);
                errors_in_a_row += 1;
                // The first error after a success is a warning; the retries
                // that follow it are logged at debug level.
                if errors_in_a_row == 1 {
                    tracing::warn!(plugin, %cluster, resource = %spec.resource, %error, "watch failed; retrying with backoff");
                } else {
                    tracing::debug!(plugin, %cluster, resource = %spec.resource, %error, errors_in_a_row, "watch failed again");
                }
                continue;
            }
        };
        if errors_in_a_row > 0 {
            tracing::info!(plugin, %cluster, resource = %spec.resource, errors = errors_in_a_row, "watch recovered");
            errors_in_a_row = 0;
        }
        let sent = match event {
            watcher::Event::Init => {
                lists += 1;
                if lists > 1 {
                    shared.counters.relists.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(plugin, %cluster, resource = %spec.resource, "watch lists its objects again");
                }
                listed.clear();
                true
            }
            watcher::Event::InitApply(object) => {
                let key = object_key(&object);
                listed.insert(key.clone());
                known.insert(
                    key,
                    KnownObject {
                        uid: object.metadata.uid.clone(),
                    },
                );
                queue.send(Change::Applied, &object, &types, true).await
            }
            watcher::Event::InitDone => {
                let deleted_keys: Vec<_> = known
                    .keys()
                    .filter(|key| !listed.contains(*key))
                    .cloned()
                    .collect();
                let mut open = true;
                for key in deleted_keys {
                    let Some(entry) = known.remove(&key) else {
                        continue;
                    };
                    let stub = deleted_stub(&key, entry, &types);
                    open = queue.send(Change::Deleted, &stub, &types, true).await;
                    if !open {
                        break;
                    }
                }
                listed.clear();
                open
            }
            watcher::Event::Apply(object) => {
                known.insert(
                    object_key(&object),
                    KnownObject {
                        uid: object.metadata.uid.clone(),
                    },
                );
                queue.send(Change::Applied, &object, &types, false).await
            }
            watcher::Event::Delete(object) => {
                known.remove(&object_key(&object));
                queue.send(Change::Deleted, &object, &types, false).await
            }
        };
        if !sent {
            return;
        }
    }
}

/// The sending side of a cluster's queue, for one watcher.
struct Queue<'a> {
    shared: &'a Shared,
    sender: &'a mpsc::Sender<WatchEvent>,
    cluster: &'a str,
    resource: &'a str,
}

impl Queue<'_> {
    /// Queues one event, waiting while the queue is full. Returns false when
    /// the cluster's handler has ended.
    async fn send(
        &self,
        change: Change,
        object: &DynamicObject,
        types: &TypeMeta,
        initial: bool,
    ) -> bool {
        let mut object = object.clone();
        if object.types.is_none() {
            // List items come without apiVersion and kind; the controller
            // gets them on every object.
            object.types = Some(types.clone());
        }
        let event = WatchEvent {
            cluster: self.cluster.to_string(),
            resource: self.resource.to_string(),
            change,
            object: serde_json::to_string(&object).unwrap_or_default(),
            initial,
        };
        match self.sender.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.shared
                    .counters
                    .queue_full
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    plugin = self.shared.controller.name(),
                    cluster = self.cluster,
                    "event queue full; the watcher waits for the handler"
                );
                self.sender.send(event).await.is_ok()
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Returns an object's namespace and name.
fn object_key(object: &DynamicObject) -> (String, String) {
    (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

/// Builds the object of a deletion that a relist revealed: its type,
/// name, namespace and uid, as that is all the watcher kept.
fn deleted_stub(key: &(String, String), known: KnownObject, types: &TypeMeta) -> DynamicObject {
    let (namespace, name) = key;
    let mut object = DynamicObject {
        types: Some(types.clone()),
        metadata: Default::default(),
        data: serde_json::Value::Null,
    };
    object.metadata.name = Some(name.clone());
    object.metadata.namespace = (!namespace.is_empty()).then(|| namespace.clone());
    object.metadata.uid = known.uid;
    object
}

/// Calls the controller for one event and logs the outcome.
async fn handle_event(shared: &Shared, event: &WatchEvent) {
    let plugin = shared.controller.name();
    shared
        .counters
        .events_delivered
        .fetch_add(1, Ordering::Relaxed);
    let context = Arc::clone(&shared.context);
    let invocation = shared
        .controller
        .handle(context, event, &shared.config.limits)
        .await;
    for line in invocation.stdout.lines().chain(invocation.stderr.lines()) {
        tracing::info!(target: "lazyhost::controller", plugin, cluster = %event.cluster, "{line}");
    }
    match &invocation.result {
        Ok(_) => tracing::debug!(
            plugin,
            cluster = %event.cluster,
            resource = %event.resource,
            change = ?event.change,
            initial = event.initial,
            duration = ?invocation.duration,
            "controller handled an event"
        ),
        Err(error) => {
            shared
                .counters
                .handle_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                plugin,
                cluster = %event.cluster,
                resource = %event.resource,
                change = ?event.change,
                %error,
                "controller failed to handle an event"
            );
        }
    }
}

/// A doubling backoff between `backoff_initial` and `backoff_max`, reset by
/// every success of the stream.
///
/// NOTE: it adds no jitter, so clusters that fail together retry together.
struct RetryBackoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl RetryBackoff {
    fn new(config: &WatchConfig) -> Self {
        Self {
            initial: config.backoff_initial,
            max: config.backoff_max,
            next: config.backoff_initial,
        }
    }
}

impl Iterator for RetryBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        Some(wait)
    }
}

impl Backoff for RetryBackoff {
    fn reset(&mut self) {
        self.next = self.initial;
    }
}
