//! Controllers: components of the `controller` world, which react to
//! changes of cluster objects.
//!
//! A [`Controller`] is loaded and checked like a [`super::Plugin`], and each
//! call of its exports runs in a fresh store under the plugin's
//! [`Limits`], with the same timeout, output capture, write audit and
//! errors as [`super::Plugin::invoke`]. The host side of the watches is in
//! `crate::serve::watch`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime::component::{Component, HasSelf, Linker};

use super::bindings::controller_world::{self, watch_types};
use super::{
    Allocator, Backend, HostContext, HostState, Invocation, InvocationError, InvocationStore,
    Limit, LimitExceeded, Limits, LoadError, PluginRuntime, check_world, instantiate_error,
    limit_error, plugin_name, read_wasm, trap_error,
};

/// A set of objects a controller watches on each of its clusters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchSpec {
    /// The resource type as kubectl takes it, such as `configmaps`, `cm` or
    /// `deployments.apps`.
    pub resource: String,
    /// Namespace to watch in; `None` watches every namespace.
    pub namespace: Option<String>,
    /// Label selector; `None` matches every object.
    pub label_selector: Option<String>,
}

/// The kind of change of a watched object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Created, modified, or listed when a watch starts or restarts.
    Applied,
    /// Deleted, or no longer matching the watch's label selector.
    Deleted,
}

/// One change of one watched object, as the controller's `handle` gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The cluster of the object.
    pub cluster: String,
    /// The resource of the watch spec, as the spec names it.
    pub resource: String,
    /// The kind of change.
    pub change: Change,
    /// The object as JSON text.
    pub object: String,
    /// Whether the event comes from the list that starts or restarts a watch.
    pub initial: bool,
}

/// Links the interface that only the `controller` world imports. The
/// interfaces it shares with the `plugin` world are linked once, for both.
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    watch_types::add_to_linker::<_, HasSelf<HostState>>(linker, |state| state)
}

impl watch_types::Host for HostState {}

impl PluginRuntime {
    /// Reads, compiles and checks a controller component, one of the
    /// `controller` world.
    ///
    /// # Errors
    ///
    /// Fails as [`PluginRuntime::load`] does, and with
    /// [`LoadError::NotController`] when the component does not fit the
    /// `controller` world; the message then states whether it fits the
    /// `plugin` world instead.
    pub fn load_controller(&self, path: &Path) -> Result<Controller, LoadError> {
        let bytes = read_wasm(path)?;
        self.load_controller_bytes(path, &bytes, &Limits::default())
    }

    /// Compiles and checks the controller component in `bytes`, read from
    /// `path`, whose invocations run under `limits`; see
    /// [`PluginRuntime::load_bytes`].
    ///
    /// # Errors
    ///
    /// As [`PluginRuntime::load_controller`].
    pub fn load_controller_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Controller, LoadError> {
        let (component, backend) = self.prepare(path, bytes, limits)?;
        let pre = check_controller_world(backend, path, &component)?;
        Ok(Controller::new(path, bytes.len(), backend.allocator, pre))
    }
}

/// Links `component` against `backend`'s host interfaces as a component of
/// the `controller` world. The error states whether the component fits the
/// `plugin` world instead.
pub(super) fn check_controller_world(
    backend: &Backend,
    path: &Path,
    component: &Component,
) -> Result<controller_world::ControllerPre<HostState>, LoadError> {
    let not_controller = |error: wasmtime::Error| {
        let mut reason = format!("{error:#}");
        if check_world(backend, path, component).is_ok() {
            reason.push_str(" (it fits world `plugin`, so run it with `lazyhost run` instead)");
        }
        LoadError::NotController {
            path: path.to_path_buf(),
            reason,
        }
    };
    let instance_pre = backend
        .linker
        .instantiate_pre(component)
        .map_err(not_controller)?;
    controller_world::ControllerPre::new(instance_pre).map_err(not_controller)
}

/// A compiled plugin that fits the `controller` world.
pub struct Controller {
    name: Arc<str>,
    path: PathBuf,
    size: usize,
    allocator: Allocator,
    pre: controller_world::ControllerPre<HostState>,
}

impl Controller {
    pub(super) fn new(
        path: &Path,
        size: usize,
        allocator: Allocator,
        pre: controller_world::ControllerPre<HostState>,
    ) -> Self {
        Self {
            name: plugin_name(path).into(),
            path: path.to_path_buf(),
            size,
            allocator,
            pre,
        }
    }

    /// Returns the controller's name: its file name without `.wasm`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the allocator the controller's instances come from.
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// Returns the path the controller was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the component's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Calls the controller's `watches` once, in a fresh instance under
    /// `limits`, and returns what it watches.
    ///
    /// What the call prints is logged at debug level. Host calls that
    /// `watches` makes are allowed and checked as in any invocation.
    ///
    /// # Errors
    ///
    /// Fails as an invocation fails: a trap, a limit, the timeout, or a
    /// list of specs larger than [`Limits::result_bytes`].
    pub async fn watches(
        &self,
        context: Arc<HostContext>,
        limits: &Limits,
    ) -> Result<Vec<WatchSpec>, InvocationError> {
        let mut invocation = InvocationStore::new(self.pre.engine(), &self.name, context, limits);
        let mut specs = Vec::new();
        let call = async {
            let instance = self
                .pre
                .instantiate_async(&mut invocation.store)
                .await
                .map_err(|error| instantiate_error(&self.name, &error, limits))?;
            let returned = instance
                .call_watches(&mut invocation.store)
                .await
                .map_err(|error| trap_error(&self.name, &error, limits))?;
            let bytes: usize = returned.iter().map(spec_size).sum();
            if bytes > limits.result_bytes {
                let detail = format!("its list of watch specs has {bytes} bytes");
                return Err(self.limit_error(limits.exceeded(Limit::Result, detail)));
            }
            specs = returned.into_iter().map(from_wit_spec).collect();
            Ok(String::new())
        };
        let result = tokio::time::timeout(limits.timeout, call)
            .await
            .unwrap_or(Err(InvocationError::TimedOut(limits.timeout)));
        let invocation = invocation.finish(result);
        log_output(&self.name, "watches", &invocation);
        invocation.result.map(|_| specs)
    }

    /// Calls the controller's `handle` with `event` in a fresh instance
    /// under `limits`.
    ///
    /// The invocation is bounded, captured and audited as
    /// [`super::Plugin::invoke`] is. Its `result` is an empty text when
    /// `handle` returned success, and [`InvocationError::Failed`] with the
    /// controller's message when it returned an error.
    pub async fn handle(
        &self,
        context: Arc<HostContext>,
        event: &WatchEvent,
        limits: &Limits,
    ) -> Invocation {
        let mut invocation = InvocationStore::new(self.pre.engine(), &self.name, context, limits);
        let call = async {
            let instance = self
                .pre
                .instantiate_async(&mut invocation.store)
                .await
                .map_err(|error| instantiate_error(&self.name, &error, limits))?;
            let returned = instance
                .call_handle(&mut invocation.store, &to_wit_event(event))
                .await
                .map_err(|error| trap_error(&self.name, &error, limits))?;
            match returned {
                Ok(()) => Ok(String::new()),
                Err(message) if message.len() > limits.result_bytes => {
                    let detail = format!("its error message has {} bytes", message.len());
                    Err(self.limit_error(limits.exceeded(Limit::Result, detail)))
                }
                Err(message) => Err(InvocationError::Failed(message)),
            }
        };
        let result = tokio::time::timeout(limits.timeout, call)
            .await
            .unwrap_or(Err(InvocationError::TimedOut(limits.timeout)));
        invocation.finish(result)
    }

    fn limit_error(&self, error: LimitExceeded) -> InvocationError {
        limit_error(&self.name, error)
    }
}

/// Logs what an export call printed, one debug line per stream.
fn log_output(plugin: &str, export: &str, invocation: &Invocation) {
    for (stream, text) in [
        ("stdout", &invocation.stdout),
        ("stderr", &invocation.stderr),
    ] {
        if !text.is_empty() {
            tracing::debug!(plugin, export, stream, output = %text.trim_end(), "controller output");
        }
    }
}

/// Returns the bytes of text in a spec, which the result size limit counts.
fn spec_size(spec: &watch_types::WatchSpec) -> usize {
    spec.resource.len()
        + spec.namespace.as_ref().map_or(0, String::len)
        + spec.label_selector.as_ref().map_or(0, String::len)
}

fn from_wit_spec(spec: watch_types::WatchSpec) -> WatchSpec {
    WatchSpec {
        resource: spec.resource,
        namespace: spec.namespace,
        label_selector: spec.label_selector,
    }
}

fn to_wit_event(event: &WatchEvent) -> watch_types::WatchEvent {
    watch_types::WatchEvent {
        cluster: event.cluster.clone(),
        resource: event.resource.clone(),
        change: match event.change {
            Change::Applied => watch_types::Change::Applied,
            Change::Deleted => watch_types::Change::Deleted,
        },
        object: event.object.clone(),
        initial: event.initial,
    }
}
