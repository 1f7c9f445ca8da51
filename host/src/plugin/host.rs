//! The host side of the plugin interfaces `client`, `kube-client` and
//! `stats`.
//!
//! Each call checks that the cluster it names is one the plugin may use,
//! checks out that cluster's client from the pool, and converts the result
//! into the interface's types. A failure the plugin can handle, such as a
//! missing object or a denied cluster, is returned as an `error` value and
//! never traps.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{client, kube_client, stats, types};
use super::limiter::StoreLimiter;
use super::limits::{Limit, Limits};
use crate::cluster::{
    ClusterClient, ErrorKind, KubePool, ListOptions, ObjectRef, RequestError, RequestMode,
};
use crate::discovery::ResourceType;
use crate::inventory::ClusterConfig;
use crate::monitor::{CallVerb, ConfigStats, LatencyStats, Monitor};
use crate::policy::{Access, Denial, Policy, Verb};
use crate::pool::{ClusterState, PoolStats};

/// A record of writes beyond the log, written as each is sent, such as
/// the daemon's audit file.
pub trait AuditSink: Send + Sync {
    /// Records `write`, sent by `plugin` impersonating `identity`, if any.
    fn record(&self, plugin: &str, identity: Option<&str>, write: &Write);
}

/// The state shared by every invocation of one plugin: the pool, the
/// monitor and the clusters the plugin may use.
pub struct HostContext {
    pool: Arc<KubePool>,
    monitor: Arc<Monitor>,
    clusters: Vec<Arc<ClusterConfig>>,
    policy: Policy,
    mode: Arc<RequestMode>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl HostContext {
    /// Creates a context that lets the plugin use `clusters`.
    pub fn new(
        pool: Arc<KubePool>,
        monitor: Arc<Monitor>,
        clusters: Vec<Arc<ClusterConfig>>,
    ) -> Self {
        Self {
            pool,
            monitor,
            clusters,
            policy: Policy::default(),
            mode: Arc::default(),
            audit: None,
        }
    }

    /// Records every write in `sink` as well as in the log.
    #[must_use]
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// Returns the clusters the plugin may use.
    pub fn clusters(&self) -> &[Arc<ClusterConfig>] {
        &self.clusters
    }

    /// Sets how the plugin's requests are sent: as which Kubernetes
    /// identity, and whether writes are only server-side dry runs.
    #[must_use]
    pub fn with_mode(mut self, mode: RequestMode) -> Self {
        self.mode = Arc::new(mode);
        self
    }

    /// Returns how the plugin's requests are sent.
    pub fn mode(&self) -> &RequestMode {
        &self.mode
    }

    /// Sets what the plugin may do on its clusters; the default reads
    /// every resource but Secrets.
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Returns what the plugin may do on its clusters.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks `access` against the policy; a denial is logged and becomes
    /// the interface's `denied` error.
    fn authorize(&self, cluster: &str, access: &Access) -> Result<(), types::Error> {
        self.policy.check(access).map_err(|denial| {
            self.monitor.record_denial();
            deny(cluster, denial)
        })
    }

    /// Returns the pool.
    pub fn pool(&self) -> &Arc<KubePool> {
        &self.pool
    }

    /// Returns the monitor.
    pub fn monitor(&self) -> &Arc<Monitor> {
        &self.monitor
    }

    /// Returns the statistics snapshot, with figures of the pool and the
    /// configuration cache.
    pub fn snapshot(&self) -> crate::monitor::Snapshot {
        let config = ConfigStats::from_inventory(&self.pool.inventory());
        self.monitor.snapshot(self.pool.stats(), config)
    }

    /// Returns what plugin `plugin` may see of the statistics: figures of
    /// its own clusters only, and the timings it recorded itself.
    pub fn plugin_snapshot(&self, plugin: &str) -> crate::monitor::Snapshot {
        let threshold = self.pool.config().idle_threshold;
        let mut pool = PoolStats {
            total: u32::try_from(self.clusters.len()).unwrap_or(u32::MAX),
            ..PoolStats::default()
        };
        for (cluster, state) in self.pool.states() {
            if let ClusterState::Ready { idle_for, .. } = state
                && self.is_allowed(&cluster.name)
            {
                pool.initialized += 1;
                pool.idle += u32::from(idle_for > threshold);
            }
        }
        self.snapshot()
            .scoped(plugin, |cluster| self.is_allowed(cluster), pool)
    }

    /// Returns the other names of `resource_type` when the policy lists
    /// resource types, which is the only check that reads them.
    fn aliases_of(&self, resource_type: &ResourceType) -> Vec<String> {
        if self.policy.resources.is_empty() {
            Vec::new()
        } else {
            resource_type.aliases()
        }
    }

    fn is_allowed(&self, cluster: &str) -> bool {
        self.clusters.iter().any(|allowed| allowed.name == cluster)
    }
}

/// The data of one plugin instance's store.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) table: ResourceTable,
    pub(super) limiter: StoreLimiter,
    pub(super) limits: Limits,
    pub(super) context: Arc<HostContext>,
    /// The plugin's name, for audit lines and recorded timings.
    pub(super) plugin: Arc<str>,
    /// Every write the invocation sent, in order.
    pub(super) writes: Vec<Write>,
}

/// A write a plugin sent to a cluster, for the audit log and the run's
/// results.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Write {
    /// The cluster written to.
    pub cluster: String,
    /// `create`, `patch` or `delete`, or the method of a raw request in
    /// lower case, such as `put`.
    pub verb: String,
    /// The resource type, as `plural` or `plural.group`, with `/subresource`
    /// for a raw request to one.
    pub resource: String,
    /// The object's namespace, if it has one.
    pub namespace: Option<String>,
    /// The object's name, when the request names one.
    pub name: Option<String>,
    /// Whether it was sent as a server-side dry run, which stores nothing.
    pub dry_run: bool,
    /// `ok`, or `error` with the reason in [`Write::error`].
    pub result: &'static str,
    /// The failure, for a write that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HostState {
    /// Logs a write as an audit line and keeps it for the invocation's
    /// result. A raw request's `status` of 400 or more counts as failed.
    fn audit(&mut self, mut write: Write, outcome: Result<(), String>) {
        write.dry_run = self.context.mode.dry_run;
        let plugin = &*self.plugin;
        let impersonating = self
            .context
            .mode
            .identity
            .as_ref()
            .map_or("", |identity| identity.user.as_str());
        match outcome {
            Ok(()) => tracing::info!(
                target: "lazyhost::audit",
                plugin,
                cluster = %write.cluster,
                verb = %write.verb,
                resource = %write.resource,
                namespace = write.namespace.as_deref().unwrap_or(""),
                name = write.name.as_deref().unwrap_or(""),
                dry_run = write.dry_run,
                impersonating,
                result = "ok",
                "plugin wrote to a cluster"
            ),
            Err(error) => {
                tracing::info!(
                    target: "lazyhost::audit",
                    plugin,
                    cluster = %write.cluster,
                    verb = %write.verb,
                    resource = %write.resource,
                    namespace = write.namespace.as_deref().unwrap_or(""),
                    name = write.name.as_deref().unwrap_or(""),
                    dry_run = write.dry_run,
                    impersonating,
                    result = "error",
                    %error,
                    "plugin write failed"
                );
                write.result = "error";
                write.error = Some(error);
            }
        }
        if let Some(sink) = &self.context.audit {
            let identity = self.context.mode.identity.as_ref();
            sink.record(
                plugin,
                identity.map(|identity| identity.user.as_str()),
                &write,
            );
        }
        self.writes.push(write);
    }
}

impl HostState {
    /// Checks a request body against [`Limits::request_body_bytes`] before
    /// anything is sent. `request` names the call for the message, such
    /// as `create configmaps`.
    fn check_body(&self, cluster: &str, request: &str, body: &str) -> Result<(), types::Error> {
        if body.len() <= self.limits.request_body_bytes {
            return Ok(());
        }
        let detail = format!("{request} has a body of {} bytes", body.len());
        let error = self.limits.exceeded(Limit::RequestBody, detail);
        tracing::warn!(cluster, %error, "request not sent");
        Err(types::Error::Invalid(format!(
            "{error}; no request was sent: send less per request, or raise `{}` in the \
             plugin's section of lazyhost.toml",
            Limit::RequestBody.key()
        )))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Checks that the plugin may use `cluster` and checks out its client.
///
/// This takes the shared context rather than the store data, because the
/// store data is not `Sync` and must not be borrowed across an await.
async fn checkout(
    context: Arc<HostContext>,
    cluster: &str,
    call: &str,
) -> Result<ClusterClient, types::Error> {
    tracing::trace!(cluster, call, "host call");
    if !context.is_allowed(cluster) {
        let message = format!(
            "cluster `{cluster}` is not one this plugin may use: call client.clusters for the allowed ones"
        );
        tracing::warn!(
            cluster,
            "denied call to a cluster outside the plugin's targets"
        );
        return Err(types::Error::Denied(message));
    }
    let client = context
        .pool
        .checkout(cluster)
        .await
        .map_err(|error| to_wit_error(RequestError::from(error)))?;
    Ok(client.with_mode(Arc::clone(&context.mode)))
}

fn deny(cluster: &str, denial: Denial) -> types::Error {
    tracing::warn!(cluster, rule = denial.rule, message = %denial.message, "host call denied by the policy");
    types::Error::Denied(denial.message)
}

/// Checks a typed call on `resource` against the policy, resolving the
/// name the plugin typed to the resource type first.
///
/// NOTE: resolving needs the cluster's discovery table, so a denied typed
/// call may still start the cluster's client; the request itself is never sent.
fn authorize_typed(
    context: &HostContext,
    client: &ClusterClient,
    cluster: &str,
    (action, verb): (&str, Verb),
    resource: &str,
    namespace: Option<&str>,
) -> Result<String, types::Error> {
    let resource_type = client.resolve(resource).map_err(to_wit_error)?;
    let access = Access {
        action: action.to_string(),
        verb,
        resource: resource_type.plural.clone(),
        subresource: None,
        namespace: namespace.map(str::to_string),
        namespaced: resource_type.namespaced,
        aliases: context.aliases_of(resource_type),
    };
    context.authorize(cluster, &access)?;
    Ok(resource_type.qualified_name())
}

/// Converts a request error into the interface's error variant.
fn to_wit_error(error: RequestError) -> types::Error {
    let message = error.message;
    match error.kind {
        ErrorKind::NotFound => types::Error::NotFound(message),
        ErrorKind::AlreadyExists => types::Error::AlreadyExists(message),
        ErrorKind::Conflict => types::Error::Conflict(message),
        ErrorKind::Invalid => types::Error::Invalid(message),
        ErrorKind::Forbidden => types::Error::Forbidden(message),
        ErrorKind::Unauthorized => types::Error::Unauthorized(message),
        ErrorKind::Unavailable => types::Error::Unavailable(message),
        ErrorKind::Timeout => types::Error::Timeout(message),
        ErrorKind::Denied => types::Error::Denied(message),
    }
}

impl types::Host for HostState {}

impl client::Host for HostState {
    async fn clusters(&mut self) -> Vec<types::ClusterInfo> {
        let pool = &self.context.pool;
        self.context
            .clusters
            .iter()
            .map(|cluster| types::ClusterInfo {
                name: cluster.name.clone(),
                labels: cluster.labels.clone().into_iter().collect(),
                server: cluster.server.clone(),
                version: pool
                    .peek(&cluster.name)
                    .map(|client| client.version().git_version.clone()),
            })
            .collect()
    }

    async fn server_version(
        &mut self,
        cluster: String,
    ) -> Result<types::VersionInfo, types::Error> {
        let client = checkout(Arc::clone(&self.context), &cluster, "server-version").await?;
        let info = client.version();
        Ok(types::VersionInfo {
            major: info.major.clone(),
            minor: info.minor.clone(),
            git_version: info.git_version.clone(),
            platform: info.platform.clone(),
        })
    }

    async fn api_resources(
        &mut self,
        cluster: String,
    ) -> Result<Vec<types::ApiResource>, types::Error> {
        let client = checkout(Arc::clone(&self.context), &cluster, "api-resources").await?;
        let resources = client
            .resources()
            .types()
            .iter()
            .map(|resource| types::ApiResource {
                name: resource.plural.clone(),
                singular_name: resource.singular.clone(),
                kind: resource.kind.clone(),
                group: resource.group.clone(),
                version: resource.version.clone(),
                namespaced: resource.namespaced,
                short_names: resource.short_names.clone(),
                verbs: resource.verbs.clone(),
            })
            .collect();
        Ok(resources)
    }

    async fn request(
        &mut self,
        cluster: String,
        method: String,
        path: String,
        body: Option<String>,
    ) -> Result<types::HttpResponse, types::Error> {
        let verb = CallVerb::from_method(&method);
        let result = self.raw_request(cluster, method, path, body).await;
        if let Some(verb) = verb {
            let success = matches!(&result, Ok(response) if response.status < 400);
            self.count_call(verb, success);
        }
        result
    }
}

impl HostState {
    /// Counts one host call of this plugin with `verb`.
    fn count_call(&self, verb: CallVerb, success: bool) {
        self.context
            .monitor
            .record_plugin_call(&self.plugin, verb, success);
    }
}

impl kube_client::Host for HostState {
    async fn list(
        &mut self,
        cluster: String,
        resource: String,
        options: kube_client::ListOptions,
    ) -> Result<String, types::Error> {
        let result = self.typed_list(cluster, resource, options).await;
        self.count_call(CallVerb::List, result.is_ok());
        result
    }

    async fn get(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        name: String,
    ) -> Result<String, types::Error> {
        let result = self.typed_get(cluster, resource, namespace, name).await;
        self.count_call(CallVerb::Get, result.is_ok());
        result
    }

    async fn create(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, types::Error> {
        let result = self
            .typed_create(cluster, resource, namespace, object)
            .await;
        self.count_call(CallVerb::Create, result.is_ok());
        result
    }

    async fn patch(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        name: String,
        patch: String,
    ) -> Result<String, types::Error> {
        let result = self
            .typed_patch(cluster, resource, namespace, name, patch)
            .await;
        self.count_call(CallVerb::Patch, result.is_ok());
        result
    }

    async fn delete(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        name: String,
    ) -> Result<(), types::Error> {
        let result = self.typed_delete(cluster, resource, namespace, name).await;
        self.count_call(CallVerb::Delete, result.is_ok());
        result
    }
}

impl HostState {
    /// Checks the typed `list` call against the policy and sends it.
    async fn typed_list(
        &mut self,
        cluster: String,
        resource: String,
        options: kube_client::ListOptions,
    ) -> Result<String, types::Error> {
        let client = checkout(Arc::clone(&self.context), &cluster, "list").await?;
        let list = ("list", Verb::Read);
        let namespace = options.namespace.as_deref();
        authorize_typed(&self.context, &client, &cluster, list, &resource, namespace)?;
        let options = ListOptions {
            namespace: options.namespace,
            label_selector: options.label_selector,
            field_selector: options.field_selector,
            limit: options.limit,
            continue_token: options.continue_token,
        };
        client.list(&resource, &options).await.map_err(to_wit_error)
    }

    /// Checks the typed `get` call against the policy and sends it.
    async fn typed_get(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        name: String,
    ) -> Result<String, types::Error> {
        let client = checkout(Arc::clone(&self.context), &cluster, "get").await?;
        let get = ("get", Verb::Read);
        authorize_typed(
            &self.context,
            &client,
            &cluster,
            get,
            &resource,
            namespace.as_deref(),
        )?;
        let object = ObjectRef {
            resource: &resource,
            namespace: namespace.as_deref(),
            name: &name,
        };
        client.get(&object).await.map_err(to_wit_error)
    }

    /// Checks the typed `create` call against the policy and sends it.
    async fn typed_create(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        object: String,
    ) -> Result<String, types::Error> {
        self.check_body(&cluster, &format!("create {resource}"), &object)?;
        let client = checkout(Arc::clone(&self.context), &cluster, "create").await?;
        let in_object = serde_json::from_str::<serde_json::Value>(&object)
            .ok()
            .and_then(|value| value["metadata"]["namespace"].as_str().map(str::to_string));
        let target = namespace.clone().or(in_object);
        let create = ("create", Verb::Write);
        let qualified = authorize_typed(
            &self.context,
            &client,
            &cluster,
            create,
            &resource,
            target.as_deref(),
        )?;
        let result = client
            .create(&resource, namespace.as_deref(), &object)
            .await;
        let name = serde_json::from_str::<serde_json::Value>(&object)
            .ok()
            .and_then(|value| {
                let metadata = &value["metadata"];
                let name = metadata["name"]
                    .as_str()
                    .or(metadata["generateName"].as_str());
                name.map(str::to_string)
            });
        let write = typed_write(&cluster, "create", qualified, target, name);
        self.audit(write, outcome(&result));
        result.map_err(to_wit_error)
    }

    /// Checks the typed `patch` call against the policy and sends it.
    async fn typed_patch(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        name: String,
        patch: String,
    ) -> Result<String, types::Error> {
        self.check_body(&cluster, &format!("patch {resource} {name}"), &patch)?;
        let client = checkout(Arc::clone(&self.context), &cluster, "patch").await?;
        let patch_call = ("patch", Verb::Write);
        let target = namespace.as_deref();
        let qualified = authorize_typed(
            &self.context,
            &client,
            &cluster,
            patch_call,
            &resource,
            target,
        )?;
        let object = ObjectRef {
            resource: &resource,
            namespace: namespace.as_deref(),
            name: &name,
        };
        let result = client.patch(&object, &patch).await;
        let write = typed_write(&cluster, "patch", qualified, namespace, Some(name));
        self.audit(write, outcome(&result));
        result.map_err(to_wit_error)
    }

    /// Checks the typed `delete` call against the policy and sends it.
    async fn typed_delete(
        &mut self,
        cluster: String,
        resource: String,
        namespace: Option<String>,
        name: String,
    ) -> Result<(), types::Error> {
        let client = checkout(Arc::clone(&self.context), &cluster, "delete").await?;
        let delete = ("delete", Verb::Write);
        let qualified = authorize_typed(
            &self.context,
            &client,
            &cluster,
            delete,
            &resource,
            namespace.as_deref(),
        )?;
        let object = ObjectRef {
            resource: &resource,
            namespace: namespace.as_deref(),
            name: &name,
        };
        let result = client.delete(&object).await;
        let write = typed_write(&cluster, "delete", qualified, namespace, Some(name));
        self.audit(write, outcome(&result));
        result.map_err(to_wit_error)
    }

    /// Checks a raw `client.request` against the policy and sends it.
    async fn raw_request(
        &mut self,
        cluster: String,
        method: String,
        path: String,
        body: Option<String>,
    ) -> Result<types::HttpResponse, types::Error> {
        let mut access = Access::of_raw(&method, &path).map_err(|denial| {
            self.context.monitor.record_denial();
            deny(&cluster, denial)
        })?;
        self.context.authorize(&cluster, &access)?;
        if let Some(body) = &body {
            let request = format!("{} `{path}`", access.action);
            self.check_body(&cluster, &request, body)?;
        }
        let client = checkout(Arc::clone(&self.context), &cluster, "request").await?;
        // The path alone does not say whether a collection without a
        // namespace, such as /api/v1/pods, spans every namespace or is
        // cluster-scoped; the cluster's discovery does. A type it does not
        // know counts as namespaced, so a namespace limit still holds.
        // The resolved type also gives the names a `resources` list may use.
        if !access.resource.is_empty() {
            let resolved = client.resolve(&raw_resource_name(&path, &access.resource));
            if let Ok(resource_type) = &resolved {
                access.aliases = self.context.aliases_of(resource_type);
            }
            if access.namespace.is_none() {
                access.namespaced = resolved.map_or(true, |resource_type| resource_type.namespaced);
            }
            self.context.authorize(&cluster, &access)?;
        }
        let result = client.request(&method, &path, body.as_deref()).await;
        if access.verb == Verb::Write {
            let outcome = match &result {
                Ok((status, _)) if *status < 400 => Ok(()),
                Ok((status, body)) => Err(format!("HTTP {status}: {}", status_message(body))),
                Err(error) => Err(error.to_string()),
            };
            let resource = match &access.subresource {
                Some(subresource) => format!("{}/{subresource}", access.resource),
                None => access.resource.clone(),
            };
            let write = Write {
                cluster,
                verb: access.action.clone(),
                resource,
                name: raw_object_name(&path, &access.resource),
                namespace: access.namespace.filter(|_| access.namespaced),
                dry_run: false,
                result: "ok",
                error: None,
            };
            self.audit(write, outcome);
        }
        let (status, body) = result.map_err(to_wit_error)?;
        Ok(types::HttpResponse { status, body })
    }
}

/// Builds the record of a typed write, before its outcome is known.
fn typed_write(
    cluster: &str,
    verb: &str,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
) -> Write {
    Write {
        cluster: cluster.to_string(),
        verb: verb.to_string(),
        resource,
        namespace,
        name,
        dry_run: false,
        result: "ok",
        error: None,
    }
}

fn outcome<T>(result: &Result<T, RequestError>) -> Result<(), String> {
    result.as_ref().map(drop).map_err(ToString::to_string)
}

/// Returns the object name in a raw request's path: the segment after the
/// resource's plural, as in `/api/v1/namespaces/shop/configmaps/settings`.
fn raw_object_name(path: &str, resource: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('?').next()?.split('/').collect();
    let at = segments.iter().rposition(|segment| *segment == resource)?;
    segments.get(at + 1).map(|name| (*name).to_string())
}

/// Returns the discovery name of a raw request's resource: the plural for
/// the core group, `plural.group` under `/apis/GROUP/...`.
fn raw_resource_name(path: &str, plural: &str) -> String {
    let mut segments = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .skip(1);
    match (segments.next(), segments.next()) {
        (Some("apis"), Some(group)) => format!("{plural}.{group}"),
        _ => plural.to_string(),
    }
}

/// Returns the `message` of a Kubernetes `Status` reply, or the body.
fn status_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|status| status["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string())
}

impl stats::Host for HostState {
    async fn snapshot(&mut self) -> stats::StatsSnapshot {
        let snapshot = self.context.plugin_snapshot(&self.plugin);
        stats::StatsSnapshot {
            memory_usage_mb: snapshot.memory_usage_mb,
            system_memory_mb: snapshot.system_memory_mb,
            tasks: snapshot.tasks,
            perf_total_requests: snapshot.perf_total_requests,
            perf_error_count: snapshot.perf_error_count,
            perf_success_rate: snapshot.perf_success_rate,
            perf_avg_response_time_ms: snapshot.perf_avg_response_time_ms,
            latencies: snapshot.latencies.into_iter().map(to_wit_latency).collect(),
            lazy_total_clusters: snapshot.lazy_total_clusters,
            lazy_initialized_clusters: snapshot.lazy_initialized_clusters,
            lazy_idle_clusters: snapshot.lazy_idle_clusters,
            config_cached_clusters: snapshot.config_cached_clusters,
            config_total_access: snapshot.config_total_access,
            config_source_reads: snapshot.config_source_reads,
            memory_warnings: snapshot.memory_warnings,
        }
    }

    async fn record_request(
        &mut self,
        cluster: String,
        verb: String,
        duration_ms: f64,
        success: bool,
    ) {
        if !self.context.is_allowed(&cluster) {
            tracing::warn!(
                cluster,
                verb,
                "ignored a recorded request for a cluster outside the plugin's targets"
            );
            return;
        }
        let seconds = (duration_ms / 1000.0).clamp(0.0, 86_400.0);
        let duration = Duration::try_from_secs_f64(seconds).unwrap_or_default();
        self.context
            .monitor
            .record_for_plugin(&self.plugin, &cluster, &verb, duration, success);
    }

    async fn recorded(&mut self) -> Vec<stats::Latency> {
        self.context
            .monitor
            .plugin_latencies(&self.plugin)
            .into_iter()
            .filter(|latency| self.context.is_allowed(&latency.cluster))
            .map(to_wit_latency)
            .collect()
    }
}

fn to_wit_latency(latency: LatencyStats) -> stats::Latency {
    stats::Latency {
        cluster: latency.cluster,
        verb: latency.verb,
        count: latency.count,
        errors: latency.errors,
        avg_ms: latency.avg_ms,
        recent_count: latency.recent_count,
        p50_ms: latency.p50_ms,
        p95_ms: latency.p95_ms,
        p99_ms: latency.p99_ms,
        all_time: stats::Percentiles {
            p50_ms: latency.all_time.p50_ms,
            p95_ms: latency.all_time.p95_ms,
            p99_ms: latency.all_time.p99_ms,
        },
    }
}
