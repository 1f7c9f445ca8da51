//! The WebAssembly plugin host.
//!
//! One [`PluginRuntime`] per process owns the wasmtime engine and a linker
//! with the WASI 0.2 interfaces and lazyhost's own. A [`Plugin`] is a
//! component compiled once and checked against the `plugin` world. Each
//! [`Plugin::invoke`] instantiates it in a fresh store, so invocations share
//! nothing and a trapped instance is never reused: its store is dropped
//! with it.
//!
//! Each invocation runs under the [`Limits`] of its plugin: wall-clock
//! time, linear memory, table elements, instances, result size, captured
//! output and request body size.
//!
//! WASI is linked because real toolchains import it, but it grants nothing:
//! no environment, no arguments, no preopened directories and no network.
//! Opening a file is a runtime error inside the plugin, not a link failure.
//! stdout and stderr are captured per invocation.

mod allocator;
mod bindings;
mod cache;
mod capture;
mod controller;
mod host;
mod limiter;
mod limits;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;

pub use allocator::Allocator;
pub use cache::{CACHE_DIR_ENV, ComponentCache};
pub use capture::CapturedOutput;
pub use controller::{Change, Controller, WatchEvent, WatchSpec};
pub use host::{AuditSink, HostContext, HostState, Write};
pub use limits::{Limit, LimitExceeded, Limits, format_size, parse_size};

use limiter::StoreLimiter;

/// How often the engine's epoch advances, and so how often a running plugin
/// yields to the async runtime.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: &[u8] = b"\0asm";
/// The version field of a core module, as opposed to a component.
const CORE_MODULE_VERSION: &[u8] = &[1, 0, 0, 0];

/// Errors from setting up the engine or loading a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine or linker could not be set up.
    #[error("failed to set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The plugin file could not be read.
    #[error("failed to read plugin `{path}`: {source}; pass the path of a .wasm component")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not WebAssembly at all.
    #[error(
        "`{path}` is not a WebAssembly file: pass a component built for the wasm32-wasip2 target"
    )]
    NotWasm {
        /// The plugin file.
        path: PathBuf,
    },
    /// The file is a core module rather than a component.
    #[error(
        "`{path}` is a core WebAssembly module, not a component: build it for the wasm32-wasip2 \
         target, or wrap it with `wasm-tools component new`"
    )]
    CoreModule {
        /// The plugin file.
        path: PathBuf,
    },
    /// The component failed to compile.
    #[error(
        "failed to compile component `{path}`: {reason}; the file may be truncated or corrupt, so rebuild the plugin"
    )]
    Compile {
        /// The plugin file.
        path: PathBuf,
        /// The compiler's message.
        reason: String,
    },
    /// The component's imports or exports do not match the plugin world.
    #[error(
        "`{path}` does not fit the lazyhost plugin world: {reason}; build it against world \
         `plugin` of the WIT package lazyhost:plugin"
    )]
    WrongWorld {
        /// The plugin file.
        path: PathBuf,
        /// The mismatch, as wasmtime reports it.
        reason: String,
    },
    /// The component's imports or exports do not match the controller world.
    #[error(
        "`{path}` does not fit the lazyhost controller world: {reason}; build it against world \
         `controller` of the WIT package lazyhost:plugin"
    )]
    NotController {
        /// The plugin file.
        path: PathBuf,
        /// The mismatch, as wasmtime reports it, and whether the component
        /// fits the `plugin` world instead.
        reason: String,
    },
}

/// The failure of an invocation that produced no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    /// The plugin's `run` returned an error.
    #[error("{0}")]
    Failed(String),
    /// The plugin trapped: a panic, an out-of-bounds access, a call stack
    /// exhausted.
    #[error("plugin trapped: {0}")]
    Trapped(String),
    /// The plugin went past a size or count limit and was stopped.
    #[error(
        "{error}; raise `{key}` under [plugins.{plugin}] in lazyhost.toml if the plugin needs more",
        key = error.limit.key()
    )]
    LimitExceeded {
        /// The limit and by how much.
        error: LimitExceeded,
        /// The plugin's name, which is its section in `lazyhost.toml`.
        plugin: String,
    },
    /// The invocation ran past its wall-clock limit.
    #[error(
        "timed out after {}, host calls included: raise --timeout, or `timeout` in the \
         plugin's section of lazyhost.toml, if the plugin or its cluster needs longer",
        humantime::format_duration(*.0)
    )]
    TimedOut(Duration),
    /// The component could not be instantiated.
    #[error("failed to instantiate plugin: {0}")]
    Instantiate(String),
}

/// The result and captured output of one invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The JSON text returned by `run`, or why there is none.
    pub result: Result<String, InvocationError>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// Wall-clock time of the invocation, instantiation included.
    pub duration: Duration,
    /// The writes the plugin sent, in order, including those of an
    /// invocation that failed or timed out.
    pub writes: Vec<Write>,
}

/// An engine and the linker of the host interfaces on it.
struct Backend {
    engine: Engine,
    linker: Linker<HostState>,
    allocator: Allocator,
}

impl Backend {
    /// Creates an engine whose instances come from `allocator`, starts its
    /// epoch clock and links the host interfaces.
    fn new(allocator: Allocator) -> Result<Self, LoadError> {
        let engine_error = |error: wasmtime::Error| LoadError::Engine(format!("{error:#}"));
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if allocator == Allocator::Pooling {
            config.allocation_strategy(allocator::pooling_strategy());
        }
        let engine = Engine::new(&config).map_err(engine_error)?;
        spawn_epoch_clock(&engine);

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        bindings::Plugin::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(engine_error)?;
        controller::add_to_linker(&mut linker).map_err(engine_error)?;
        Ok(Self {
            engine,
            linker,
            allocator,
        })
    }
}

/// The engines and linkers shared by every plugin of the process.
pub struct PluginRuntime {
    on_demand: Backend,
    pooling: Option<Backend>,
    pooling_unavailable: Option<String>,
    cache: Option<ComponentCache>,
    compilations: AtomicU64,
    cache_hits: AtomicU64,
}

impl PluginRuntime {
    /// Creates a runtime whose instances come from the on-demand
    /// allocator, which suits a process that runs each plugin once.
    ///
    /// # Errors
    ///
    /// Fails when wasmtime rejects the configuration or the linker.
    pub fn new() -> Result<Self, LoadError> {
        Ok(Self {
            on_demand: Backend::new(Allocator::OnDemand)?,
            pooling: None,
            pooling_unavailable: None,
            cache: None,
            compilations: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        })
    }

    /// Creates a runtime whose instances come from the pooling allocator
    /// where the machine allows it, for a process that runs plugins over
    /// and over. When the pool's address space cannot be reserved, the
    /// runtime logs why and uses the on-demand allocator alone; a plugin
    /// too large for a slot uses it too.
    ///
    /// # Errors
    ///
    /// As [`PluginRuntime::new`].
    pub fn pooled() -> Result<Self, LoadError> {
        let mut runtime = Self::new()?;
        match Backend::new(Allocator::Pooling) {
            Ok(backend) => runtime.pooling = Some(backend),
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the pooling allocator is not available on this machine, so every instance uses the on-demand allocator"
                );
                runtime.pooling_unavailable = Some(error.to_string());
            }
        }
        Ok(runtime)
    }

    /// Keeps compiled components in `cache`, so a plugin loaded again,
    /// also by a later process, is not compiled again.
    #[must_use]
    pub fn with_cache(mut self, cache: Option<ComponentCache>) -> Self {
        self.cache = cache;
        self
    }

    /// Returns how many components this runtime compiled.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// Returns how many components this runtime loaded from its cache
    /// instead of compiling them.
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    /// Returns the allocator that plugins which fit its slots use:
    /// pooling when the runtime has a pool, else on-demand.
    pub fn allocator(&self) -> Allocator {
        self.pooling
            .as_ref()
            .map_or(Allocator::OnDemand, |backend| backend.allocator)
    }

    /// Returns why the pooling allocator could not be set up, for a
    /// runtime that asked for it and fell back.
    pub fn pooling_unavailable(&self) -> Option<&str> {
        self.pooling_unavailable.as_deref()
    }

    /// Reads, compiles and checks a plugin component for invocations under
    /// the default limits.
    ///
    /// # Errors
    ///
    /// As [`PluginRuntime::load_for`].
    pub fn load(&self, path: &Path) -> Result<Plugin, LoadError> {
        self.load_for(path, &Limits::default())
    }

    /// Reads, compiles and checks a plugin component whose invocations run
    /// under `limits`. In a pooled runtime the plugin uses the pool when
    /// both its limits and its component fit a slot, and the on-demand
    /// allocator otherwise.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read, is not a WebAssembly component,
    /// does not compile, or does not fit the `plugin` world.
    pub fn load_for(&self, path: &Path, limits: &Limits) -> Result<Plugin, LoadError> {
        let bytes = read_wasm(path)?;
        self.load_bytes(path, &bytes, limits)
    }

    /// Compiles and checks the plugin component in `bytes`, read from
    /// `path`, as [`PluginRuntime::load_for`] does: for a caller that
    /// read the file itself, to take its digest from the same bytes.
    ///
    /// # Errors
    ///
    /// As [`PluginRuntime::load_for`].
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Plugin, LoadError> {
        let (component, backend) = self.prepare(path, bytes, limits)?;
        let pre = check_world(backend, path, &component)?;
        Ok(Plugin {
            name: plugin_name(path).into(),
            path: path.to_path_buf(),
            size: bytes.len(),
            allocator: backend.allocator,
            pre,
        })
    }

    /// Compiles and checks the component in `bytes`, read from `path`, as
    /// whichever world it exports: a [`Controller`] when it exports
    /// `handle` and not `run`, else a [`Plugin`].
    ///
    /// # Errors
    ///
    /// As [`PluginRuntime::load_bytes`] and
    /// [`PluginRuntime::load_controller_bytes`].
    pub fn load_any(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<AnyPlugin, LoadError> {
        let (component, backend) = self.prepare(path, bytes, limits)?;
        let ty = component.component_type();
        let exports = |name| ty.get_export(&backend.engine, name).is_some();
        if exports("handle") && !exports("run") {
            let pre = controller::check_controller_world(backend, path, &component)?;
            return Ok(AnyPlugin::Controller(Controller::new(
                path,
                bytes.len(),
                backend.allocator,
                pre,
            )));
        }
        let pre = check_world(backend, path, &component)?;
        Ok(AnyPlugin::Plugin(Plugin {
            name: plugin_name(path).into(),
            path: path.to_path_buf(),
            size: bytes.len(),
            allocator: backend.allocator,
            pre,
        }))
    }

    /// Checks that `bytes` are a component, picks the allocator that fits
    /// a plugin under `limits`, and compiles the component for it or takes
    /// it from the cache.
    fn prepare(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<(Component, &Backend), LoadError> {
        if !bytes.starts_with(WASM_MAGIC) {
            return Err(LoadError::NotWasm {
                path: path.to_path_buf(),
            });
        }
        if is_core_module(bytes) {
            return Err(LoadError::CoreModule {
                path: path.to_path_buf(),
            });
        }

        let started = Instant::now();
        let name = plugin_name(path);
        let mut backend = &self.on_demand;
        if let Some(pooling) = &self.pooling {
            match allocator::misfit_of_limits(limits) {
                None => backend = pooling,
                Some(reason) => log_misfit(&name, &reason),
            }
        }
        let (mut component, mut cached) = self.cached_or_compiled(backend, path, bytes)?;
        if backend.allocator == Allocator::Pooling
            && let Some(reason) = allocator::misfit_of_component(&component)
        {
            log_misfit(&name, &reason);
            backend = &self.on_demand;
            (component, cached) = self.cached_or_compiled(backend, path, bytes)?;
        }
        tracing::debug!(
            plugin = %name,
            bytes = bytes.len(),
            from_cache = cached,
            allocator = %backend.allocator,
            elapsed = ?started.elapsed(),
            "loaded plugin"
        );
        Ok((component, backend))
    }

    /// Returns the engine that compiles plugins for the on-demand
    /// allocator.
    pub(crate) fn engine(&self) -> &Engine {
        &self.on_demand.engine
    }

    /// Returns the component in `bytes` for `backend` from the cache, or
    /// compiles it and caches it, and whether it came from the cache.
    fn cached_or_compiled(
        &self,
        backend: &Backend,
        path: &Path,
        bytes: &[u8],
    ) -> Result<(Component, bool), LoadError> {
        let Some(cache) = &self.cache else {
            self.compilations.fetch_add(1, Ordering::Relaxed);
            return Ok((compile(&backend.engine, path, bytes)?, false));
        };
        let key = ComponentCache::key(&backend.engine, bytes);
        if let Some(component) = cache.load(&backend.engine, &key) {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component, true));
        }
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let component = compile(&backend.engine, path, bytes)?;
        cache.store(&key, &component);
        Ok((component, false))
    }

    /// Compiles the component in `bytes`, read from `path`, for the
    /// on-demand allocator.
    pub(crate) fn compile(&self, path: &Path, bytes: &[u8]) -> Result<Component, LoadError> {
        compile(&self.on_demand.engine, path, bytes)
    }

    /// Checks that `component` fits the `plugin` world, as [`Self::load`]
    /// does: every import is one the linker provides and the exports
    /// include `run` with its WIT signature.
    pub(crate) fn fits_world(&self, path: &Path, component: &Component) -> Result<(), LoadError> {
        check_world(&self.on_demand, path, component).map(drop)
    }
}

/// Logs that plugin `name` uses the on-demand allocator, and why.
fn log_misfit(name: &str, reason: &str) {
    tracing::info!(
        plugin = name,
        reason,
        "the plugin does not fit a pooling allocator slot, so its instances use the on-demand allocator"
    );
}

/// Compiles the component in `bytes`, read from `path`, with `engine`.
fn compile(engine: &Engine, path: &Path, bytes: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, bytes).map_err(|error| LoadError::Compile {
        path: path.to_path_buf(),
        reason: format!("{error:#}"),
    })
}

/// Links `component` against `backend`'s host interfaces: the pre-linked
/// instance that every invocation instantiates from.
fn check_world(
    backend: &Backend,
    path: &Path,
    component: &Component,
) -> Result<bindings::PluginPre<HostState>, LoadError> {
    let wrong_world = |error: wasmtime::Error| LoadError::WrongWorld {
        path: path.to_path_buf(),
        reason: format!("{error:#}"),
    };
    let instance_pre = backend
        .linker
        .instantiate_pre(component)
        .map_err(wrong_world)?;
    bindings::PluginPre::new(instance_pre).map_err(wrong_world)
}

/// Reads a plugin file and checks that it is WebAssembly: a component or
/// a core module.
pub(crate) fn read_wasm(path: &Path) -> Result<Vec<u8>, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !bytes.starts_with(WASM_MAGIC) {
        return Err(LoadError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Returns whether WebAssembly `bytes` are a core module rather than a
/// component, by the version field after the magic number.
pub(crate) fn is_core_module(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(CORE_MODULE_VERSION)
}

/// Returns a plugin's name: its file name without `.wasm`. The
/// configuration's `[plugins.NAME]` sections use it.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Advances the engine's epoch every tick until the engine is dropped.
fn spawn_epoch_clock(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("lazyhost-epoch".to_string())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning a thread fails only when the system is out of resources");
}

/// A compiled component of either world.
pub enum AnyPlugin {
    /// A component of the `plugin` world, which runs once per cluster.
    Plugin(Plugin),
    /// A component of the `controller` world, which reacts to changes.
    Controller(Controller),
}

/// A compiled plugin that fits the `plugin` world.
pub struct Plugin {
    name: Arc<str>,
    path: PathBuf,
    size: usize,
    allocator: Allocator,
    pre: bindings::PluginPre<HostState>,
}

impl Plugin {
    /// Returns the plugin's name: its file name without `.wasm`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the path the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the component's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns the allocator the plugin's instances come from.
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// Runs the plugin once against `cluster` in a fresh instance, under
    /// `limits`.
    ///
    /// The instance lives in a store of its own that is dropped when the
    /// invocation ends, so an instance that trapped or timed out is never
    /// called again. The timeout covers instantiation, the plugin's code
    /// and its host calls: a host call still waiting on a cluster when it
    /// passes is dropped, and with it the request. A client start that the
    /// call began goes on in the pool, bounded by `pool.init_timeout`.
    pub async fn invoke(
        &self,
        context: Arc<HostContext>,
        cluster: &str,
        args: &[(String, String)],
        limits: &Limits,
    ) -> Invocation {
        let mut invocation = InvocationStore::new(self.pre.engine(), &self.name, context, limits);
        let call = self.call_run(&mut invocation.store, cluster, args, limits);
        let result = tokio::time::timeout(limits.timeout, call)
            .await
            .unwrap_or(Err(InvocationError::TimedOut(limits.timeout)));
        invocation.finish(result)
    }

    /// Instantiates the plugin in `store`, calls its `run` and checks the
    /// returned text against [`Limits::result_bytes`].
    ///
    /// The text is copied out of the instance before it can be measured,
    /// because wasmtime 48 runs the export's post-return function, which
    /// may free the text, as soon as the call returns. That copy is bounded
    /// by the memory limit, and it is dropped when it is too large.
    async fn call_run(
        &self,
        store: &mut Store<HostState>,
        cluster: &str,
        args: &[(String, String)],
        limits: &Limits,
    ) -> Result<String, InvocationError> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|error| instantiate_error(&self.name, &error, limits))?;
        let returned = instance
            .call_run(&mut *store, cluster, args)
            .await
            .map_err(|error| trap_error(&self.name, &error, limits))?;

        let (text, what) = match &returned {
            Ok(text) => (text, "result"),
            Err(text) => (text, "error message"),
        };
        if text.len() > limits.result_bytes {
            let detail = format!("its {what} has {} bytes", text.len());
            return Err(limit_error(
                &self.name,
                limits.exceeded(Limit::Result, detail),
            ));
        }
        returned.map_err(InvocationError::Failed)
    }
}

/// A fresh store for one invocation, with the output it captures.
pub(crate) struct InvocationStore {
    pub(crate) store: Store<HostState>,
    stdout: CapturedOutput,
    stderr: CapturedOutput,
    started: Instant,
}

impl InvocationStore {
    /// Creates the store of one invocation of `plugin` under `limits`.
    pub(crate) fn new(
        engine: &Engine,
        plugin: &Arc<str>,
        context: Arc<HostContext>,
        limits: &Limits,
    ) -> Self {
        let started = Instant::now();
        let stdout = CapturedOutput::new(limits.output_bytes);
        let stderr = CapturedOutput::new(limits.output_bytes);
        // The builder grants no network, environment, arguments or
        // directories by default. The socket grants are also switched off
        // here, so that a change of wasmtime's defaults cannot grant them.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: StoreLimiter::new(limits),
            limits: limits.clone(),
            context,
            plugin: Arc::clone(plugin),
            writes: Vec::new(),
        };

        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.limiter);
        // Yielding at every epoch tick lets a plugin that spins without host
        // calls be stopped by the timeout below or by a cancelled run, and
        // keeps it from holding a runtime thread for longer than one tick.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        Self {
            store,
            stdout,
            stderr,
            started,
        }
    }

    /// Ends the invocation with `result`, collecting its output and writes.
    pub(crate) fn finish(mut self, result: Result<String, InvocationError>) -> Invocation {
        Invocation {
            result,
            stdout: self.stdout.text(),
            stderr: self.stderr.text(),
            duration: self.started.elapsed(),
            writes: std::mem::take(&mut self.store.data_mut().writes),
        }
    }
}

fn limit_error(plugin: &str, error: LimitExceeded) -> InvocationError {
    InvocationError::LimitExceeded {
        error,
        plugin: plugin.to_string(),
    }
}

/// Describes a failed instantiation, naming the limit when one was hit.
pub(crate) fn instantiate_error(
    plugin: &str,
    error: &wasmtime::Error,
    limits: &Limits,
) -> InvocationError {
    match limit_of(error, limits) {
        Some(exceeded) => limit_error(plugin, exceeded),
        None => InvocationError::Instantiate(format!("{error:#}")),
    }
}

/// Describes a trap by its cause, not its backtrace, which goes to the
/// debug log. A limit that stopped the plugin is named.
pub(crate) fn trap_error(
    plugin: &str,
    error: &wasmtime::Error,
    limits: &Limits,
) -> InvocationError {
    tracing::debug!(error = format!("{error:?}"), "plugin trapped");
    if let Some(exceeded) = limit_of(error, limits) {
        return limit_error(plugin, exceeded);
    }
    let cause = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}")
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    InvocationError::Trapped(cause)
}

/// Returns the limit behind `error`: one the store's limiter raised, or
/// wasmtime's own count of instances, tables and memories.
fn limit_of(error: &wasmtime::Error, limits: &Limits) -> Option<LimitExceeded> {
    if let Some(exceeded) = error.downcast_ref::<LimitExceeded>() {
        return Some(exceeded.clone());
    }
    // wasmtime 48 words these as "resource limit exceeded: instance count
    // too high at 101", and likewise for tables and memories.
    let full = format!("{error:#}");
    let at = full.find("resource limit exceeded: ")?;
    let reason = full[at..].lines().next().unwrap_or_default();
    let (_, count) = reason.split_once(": ")?;
    let count = count.split(':').next().unwrap_or(count).trim();
    Some(limits.exceeded(Limit::Instances, format!("wasmtime reports {count}")))
}
