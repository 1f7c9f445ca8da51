//! `lazyhost serve`: the long-running daemon.
//!
//! The daemon loads every `.wasm` file of its plugins folder and keeps the
//! folder and the loaded versions in step: a new file is loaded, a changed
//! one reloaded and a removed one unloaded, each within about a second.
//! A plugin runs on its section's schedule (`every` or `cron`) over the
//! clusters its section allows, under the same grant, limits and fan-out
//! as `lazyhost run`. The HTTP endpoints show health, statistics, metrics,
//! plugins and clusters. Every write is appended to the audit file, and
//! each plugin's last runs are kept in the state folder.
//!
//! SIGTERM and Ctrl-C stop the schedules and let running invocations
//! finish within `grace_period`. A second signal, or the end of the grace
//! period, cancels what is left. SIGHUP reads lazyhost.toml and the
//! cluster sources again and reloads every plugin under the new grants.
//!
//! The parts:
//!
//! - [`folder`]: which plugin files changed since the last scan;
//! - [`plugins`]: loading one version of a plugin;
//! - [`runs`]: schedules and runs;
//! - [`schedule`]: intervals and cron expressions;
//! - [`watch`]: the watches of controllers;
//! - [`records`]: the audit file and the run history;
//! - [`http`] and [`metrics`]: the endpoints and their Prometheus text.

pub mod folder;
pub mod http;
pub mod metrics;
pub mod plugins;
pub mod records;
pub mod runs;
pub mod schedule;
mod status;
pub mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::cluster::{KubeFactory, KubePool};
use crate::config::Config;
use crate::inventory::Inventory;
use crate::monitor::Monitor;
use crate::plugin::{AuditSink, ComponentCache, HostContext, PluginRuntime, Write};
use folder::{Change, Folder};
use plugins::{Cause, Failure, Inputs, Kind, Loaded, Slot};
use records::{AuditLog, RunHistory, RunRecord};
use runs::InFlight;
use watch::{WatchConfig, Watches};

/// How often the plugins folder is read.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(500);

/// Reads lazyhost.toml and the cluster sources, at start and on SIGHUP.
pub type Loader = Box<dyn Fn() -> Result<(Config, Inventory), String> + Send + Sync>;

/// The daemon's folders and address: the plugins it loads, the endpoints
/// it serves and the records it keeps. The command line and `[serve]`
/// settle these once; they need a restart to change.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The folder of plugin files.
    pub plugins_dir: PathBuf,
    /// The address of the HTTP endpoints.
    pub listen: SocketAddr,
    /// The bearer token the endpoints require, if any.
    pub token: Option<String>,
    /// The folder of the run history.
    pub state_dir: PathBuf,
    /// The JSON-lines file of writes.
    pub audit_log: PathBuf,
}

/// Errors that stop the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration or the cluster sources could not be read.
    #[error("{0}")]
    Config(String),
    /// The plugins folder is missing or unreadable.
    #[error(
        "cannot read the plugins folder `{path}`: {source}; create it, or pass --plugins DIR \
         or set `plugins_dir` under [serve] in lazyhost.toml"
    )]
    PluginsDir {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The audit file or the state folder could not be opened.
    #[error(transparent)]
    Records(#[from] records::RecordsError),
    /// The WebAssembly engine could not be set up.
    #[error(transparent)]
    Engine(#[from] crate::plugin::LoadError),
    /// The HTTP endpoints could not be set up.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// The signal handlers could not be installed.
    #[error("failed to install the signal handlers: {0}")]
    Signals(std::io::Error),
}

/// The state of a running daemon, shared by its tasks.
pub struct Daemon {
    options: ServeOptions,
    loader: Loader,
    config: RwLock<Arc<Config>>,
    runtime: PluginRuntime,
    monitor: Arc<Monitor>,
    pool: Arc<KubePool>,
    history: Arc<RunHistory>,
    audit: Arc<AuditFile>,
    slots: Mutex<BTreeMap<String, Slot>>,
    in_flight: Arc<InFlight>,
    stopping: tokio::sync::watch::Sender<bool>,
    cancelling: tokio::sync::watch::Sender<bool>,
    reload_requested: AtomicBool,
    scanned: AtomicBool,
    run_ids: AtomicU64,
}

/// The audit file as the plugins' audit sink. A failed append is logged
/// as an error; the write itself has already been sent.
struct AuditFile(AuditLog);

impl AuditSink for AuditFile {
    fn record(&self, plugin: &str, identity: Option<&str>, write: &Write) {
        if let Err(error) = self.0.append(plugin, identity, write) {
            tracing::error!(plugin, %error, "failed to append a write to the audit file");
        }
    }
}

/// Runs the daemon until SIGTERM or Ctrl-C, and returns once the runs
/// still going have finished or the grace period has passed.
///
/// # Errors
///
/// Fails when the configuration, the plugins folder, the state folder,
/// the audit file, the engine or the listen address cannot be set up.
pub async fn serve(options: ServeOptions, loader: Loader) -> Result<(), ServeError> {
    let (config, inventory) = loader().map_err(ServeError::Config)?;
    http::check_token_required(&options.listen, options.token.as_deref())?;
    let listener = http::bind(options.listen).await?;
    let address = listener.local_addr().unwrap_or(options.listen);
    std::fs::read_dir(&options.plugins_dir).map_err(|source| ServeError::PluginsDir {
        path: options.plugins_dir.clone(),
        source,
    })?;
    let history = RunHistory::open(&options.state_dir, config.serve.runs_kept)?;
    let audit = AuditLog::open(&options.audit_log)?;
    let runtime = PluginRuntime::pooled()?.with_cache(ComponentCache::open_default());

    let monitor = Arc::new(Monitor::new());
    let factory =
        KubeFactory::with_transport(Arc::clone(&monitor), config.pool.to_transport_config());
    let pool = Arc::new(KubePool::with_config(
        Arc::new(inventory),
        factory,
        config.pool.to_pool_config(),
    ));
    let janitor_interval = (config.pool.max_idle / 4).clamp(SCAN_INTERVAL, Duration::from_secs(30));
    let janitor = KubePool::spawn_janitor(&pool, janitor_interval);
    crate::cluster::watch_memory(&monitor, &pool, &config.monitor);

    let daemon = Arc::new(Daemon {
        options,
        loader,
        config: RwLock::new(Arc::new(config)),
        runtime,
        monitor,
        pool,
        history: Arc::new(history),
        audit: Arc::new(AuditFile(audit)),
        slots: Mutex::default(),
        in_flight: Arc::default(),
        stopping: tokio::sync::watch::channel(false).0,
        cancelling: tokio::sync::watch::channel(false).0,
        reload_requested: AtomicBool::new(false),
        scanned: AtomicBool::new(false),
        run_ids: AtomicU64::new(0),
    });
    tracing::info!(
        plugins = %daemon.options.plugins_dir.display(),
        listen = %daemon.options.listen,
        state = %daemon.options.state_dir.display(),
        allocator = %daemon.runtime.allocator(),
        clusters = daemon.pool.inventory().clusters().len(),
        "daemon started"
    );

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(
        listener,
        Arc::clone(&daemon) as Arc<dyn http::Status>,
        daemon.options.token.clone(),
        async move {
            let _ = http_stopped.await;
        },
    ));
    tracing::info!(%address, "HTTP endpoints listening");

    let scanner = tokio::spawn(Arc::clone(&daemon).scan_loop());
    let result = daemon.wait_for_signals().await;
    daemon.shut_down().await;
    scanner.abort();
    janitor.abort();
    let _ = stop_http.send(());
    let _ = server.await;
    result
}

impl Daemon {
    /// Returns the configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.read())
    }

    /// Completes once the daemon starts to shut down.
    pub async fn stopping(&self) {
        let mut receiver = self.stopping.subscribe();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }

    /// Completes once runs still going must be cancelled.
    pub async fn cancelled(&self) {
        let mut receiver = self.cancelling.subscribe();
        let _ = receiver.wait_for(|cancelling| *cancelling).await;
    }

    /// Returns the id of the next run, for log lines.
    pub fn next_run_id(&self) -> u64 {
        self.run_ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Handles SIGHUP until SIGTERM or Ctrl-C arrives.
    async fn wait_for_signals(&self) -> Result<(), ServeError> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signals)?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signals)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(ServeError::Signals)?;
        loop {
            tokio::select! {
                _ = terminate.recv() => {
                    tracing::info!(signal = "SIGTERM", "shutting down");
                    break;
                }
                _ = interrupt.recv() => {
                    tracing::info!(signal = "SIGINT", "shutting down");
                    break;
                }
                _ = hangup.recv() => self.reload_config(),
            }
        }
        // A second signal during the grace period cancels what is left.
        let cancelling = self.cancelling.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
            tracing::warn!("second signal: cancelling the runs still going");
            cancelling.send_replace(true);
        });
        Ok(())
    }

    /// Stops the schedules, waits for the runs still going within the
    /// grace period, then cancels the rest and waits for their records.
    async fn shut_down(&self) {
        self.stopping.send_replace(true);
        let slots = std::mem::take(&mut *self.slots.lock());
        for slot in slots.values() {
            if let Some(loaded) = &slot.loaded {
                loaded.stop_watches().await;
            }
        }
        drop(slots);
        let grace = self.config().serve.grace_period;
        let running = self.in_flight.count();
        if running > 0 {
            tracing::info!(
                runs = running,
                grace_period = %humantime::format_duration(grace),
                "waiting for running invocations to finish"
            );
        }
        let mut cancelled = self.cancelling.subscribe();
        let finished = tokio::select! {
            () = self.in_flight.wait_idle() => true,
            () = tokio::time::sleep(grace) => false,
            _ = cancelled.wait_for(|cancelling| *cancelling) => false,
        };
        if !finished {
            tracing::warn!(
                runs = self.in_flight.count(),
                "grace period over: cancelling the runs still going"
            );
            self.cancelling.send_replace(true);
            self.in_flight.wait_idle().await;
        }
        tracing::info!("daemon stopped");
    }

    /// Reads the plugins folder every [`SCAN_INTERVAL`] and applies what
    /// changed, until the daemon stops.
    async fn scan_loop(self: Arc<Self>) {
        let mut folder = Folder::new(self.options.plugins_dir.clone());
        let mut ticks = tokio::time::interval(SCAN_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut folder_error = false;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = self.stopping() => return,
            }
            if self.reload_requested.swap(false, Ordering::SeqCst) {
                folder.reload_all();
            }
            let changes = match folder.scan() {
                Ok(changes) => {
                    if std::mem::take(&mut folder_error) {
                        tracing::info!(folder = %folder.dir().display(), "the plugins folder is readable again");
                    }
                    changes
                }
                Err(error) => {
                    if !std::mem::replace(&mut folder_error, true) {
                        tracing::error!(
                            folder = %folder.dir().display(),
                            %error,
                            "cannot read the plugins folder; the loaded plugins keep running"
                        );
                    }
                    continue;
                }
            };
            for change in changes {
                match change {
                    Change::Ready { name, path, .. } => Arc::clone(&self).load(name, path).await,
                    Change::Removed { name } => self.unload(&name).await,
                }
            }
            // Ready once the files present at start have been tried: the
            // first scan only notes them, the second loads them.
            if !self.scanned.load(Ordering::Relaxed) && folder.scans() >= 2 {
                self.scanned.store(true, Ordering::Relaxed);
                let (files, loaded) = {
                    let slots = self.slots.lock();
                    let loaded = slots.values().filter(|slot| slot.loaded.is_some()).count();
                    (slots.len(), loaded)
                };
                tracing::info!(
                    files,
                    loaded,
                    failed = files - loaded,
                    "plugins present at start tried"
                );
            }
        }
    }

    /// Loads `path` as plugin `name`, replacing the version that runs when
    /// the load succeeds and keeping it when the load fails.
    async fn load(self: Arc<Self>, name: String, path: PathBuf) {
        let daemon = Arc::clone(&self);
        let (task_name, task_path) = (name.clone(), path.clone());
        let result = tokio::task::spawn_blocking(move || {
            let config = daemon.config();
            let inventory = daemon.pool.inventory();
            let context = |targets, policy, mode| {
                HostContext::new(
                    Arc::clone(&daemon.pool),
                    Arc::clone(&daemon.monitor),
                    targets,
                )
                .with_policy(policy)
                .with_mode(mode)
                .with_audit(Arc::clone(&daemon.audit) as Arc<dyn AuditSink>)
            };
            let inputs = Inputs {
                config: &config,
                inventory: &inventory,
                runtime: &daemon.runtime,
                context: &context,
            };
            plugins::load(&inputs, &task_name, &task_path)
        })
        .await;

        let result = match result {
            Ok(Ok(loaded)) => self.start_watches(loaded).await,
            Ok(Err(failure)) => Err(failure),
            Err(error) => Err(plugins::LoadFailure {
                message: format!("the load task failed: {error}"),
                digest: None,
                cause: Cause::File,
            }),
        };

        let previous = {
            let mut slots = self.slots.lock();
            let slot = slots.entry(name.clone()).or_insert_with(|| {
                let last_start = self
                    .history
                    .runs(&name)
                    .first()
                    .and_then(RunRecord::started_at);
                Slot::new(path.clone(), last_start)
            });
            slot.path = path;
            match result {
                Ok(loaded) => self.install(&name, slot, loaded),
                Err(failure) => record_failure(&name, slot, failure, &self.config()),
            }
        };
        if let Some(previous) = previous {
            previous.stop_watches().await;
        }
    }

    /// Starts the watches of a controller; other plugins need none.
    async fn start_watches(&self, loaded: Loaded) -> Result<Arc<Loaded>, plugins::LoadFailure> {
        if let Kind::Controller {
            controller,
            watches,
        } = &loaded.kind
        {
            let failure = |message: String| plugins::LoadFailure {
                message,
                digest: Some(loaded.digest.clone()),
                cause: Cause::File,
            };
            let limits = &loaded.options.limits;
            let specs = controller
                .watches(Arc::clone(&loaded.context), limits)
                .await
                .map_err(|error| failure(format!("its `watches` export failed: {error}")))?;
            if specs.is_empty() {
                return Err(failure(
                    "its `watches` export returned no watch, so it would never be called: \
                     return at least one resource to watch"
                        .to_string(),
                ));
            }
            let config = WatchConfig {
                limits: limits.clone(),
                ..WatchConfig::default()
            };
            let started = Watches::start(
                Arc::clone(controller),
                Arc::clone(&loaded.context),
                specs,
                config,
            )
            .await;
            *watches.lock() = Some(started);
        }
        Ok(Arc::new(loaded))
    }

    /// Makes `loaded` the version of `slot` that runs, starts its
    /// schedule, and returns the version it replaced.
    fn install(
        self: &Arc<Self>,
        name: &str,
        slot: &mut Slot,
        loaded: Arc<Loaded>,
    ) -> Option<Arc<Loaded>> {
        let previous = slot.loaded.replace(Arc::clone(&loaded));
        slot.failure = None;
        slot.stop_scheduler();
        let schedule = loaded
            .schedule
            .as_ref()
            .map_or_else(|| "none".to_string(), ToString::to_string);
        match &previous {
            Some(previous) => tracing::info!(
                plugin = name,
                digest = runs::short(&loaded.digest),
                previous = runs::short(&previous.digest),
                world = loaded.world(),
                allocator = %loaded.allocator(),
                %schedule,
                "plugin reloaded"
            ),
            None => tracing::info!(
                plugin = name,
                digest = runs::short(&loaded.digest),
                world = loaded.world(),
                allocator = %loaded.allocator(),
                clusters = loaded.targets().len(),
                %schedule,
                "plugin loaded"
            ),
        }
        if loaded.schedule.is_some() && !*self.stopping.borrow() {
            let task = runs::schedule_loop(
                Arc::clone(self),
                loaded,
                Arc::clone(&slot.busy),
                Arc::clone(&slot.counters),
                Arc::clone(&slot.last_due),
            );
            slot.scheduler = Some(tokio::spawn(task));
        }
        previous
    }

    /// Unloads plugin `name`: no new run starts, and a run already going
    /// finishes on the version it started with.
    async fn unload(&self, name: &str) {
        let Some(mut slot) = self.slots.lock().remove(name) else {
            return;
        };
        slot.stop_scheduler();
        if let Some(loaded) = &slot.loaded {
            loaded.stop_watches().await;
        }
        let digest = slot
            .loaded
            .as_ref()
            .map_or("", |loaded| runs::short(&loaded.digest));
        tracing::info!(
            plugin = name,
            digest,
            running = slot.busy.load(Ordering::Relaxed),
            "plugin unloaded"
        );
    }

    /// Reads lazyhost.toml and the cluster sources again. On success the
    /// pool takes the new clusters and every plugin is reloaded under the
    /// new grants; on failure the previous configuration stays in force.
    fn reload_config(&self) {
        let (config, inventory) = match (self.loader)() {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(
                    %error,
                    "failed to reload the configuration; the previous one stays in force"
                );
                return;
            }
        };
        let previous = self.config();
        if config.serve.plugins_dir != previous.serve.plugins_dir
            || config.serve.listen != previous.serve.listen
            || config.serve.state_dir != previous.serve.state_dir
            || config.serve.audit_log != previous.serve.audit_log
        {
            tracing::warn!(
                "plugins_dir, listen, state_dir and audit_log under [serve] take effect at the next start"
            );
        }
        let summary = self.pool.reload(Arc::new(inventory));
        *self.config.write() = Arc::new(config);
        self.reload_requested.store(true, Ordering::SeqCst);
        tracing::info!(
            kept = summary.kept.len(),
            changed = summary.changed.len(),
            added = summary.added.len(),
            removed = summary.removed.len(),
            "configuration reloaded; reloading every plugin"
        );
    }
}

/// Records a failed load in `slot`. The version already loaded keeps
/// running when only the new file failed. When the failure is in the
/// grant, which the running version shares, or the running version's own
/// digest is no longer allowed, that version is unloaded and returned. So
/// a narrowed configuration never leaves the wider one in force.
fn record_failure(
    name: &str,
    slot: &mut Slot,
    failure: plugins::LoadFailure,
    config: &Config,
) -> Option<Arc<Loaded>> {
    slot.counters.load_failures.fetch_add(1, Ordering::Relaxed);
    let revoked = slot
        .loaded
        .as_ref()
        .is_some_and(|loaded| match failure.cause {
            Cause::File => false,
            Cause::Refused => !config.serve.allows_digest(&loaded.digest),
            Cause::Grant => true,
        });
    let running = slot
        .loaded
        .as_ref()
        .map_or("none", |loaded| runs::short(&loaded.digest));
    if revoked {
        tracing::error!(
            plugin = name,
            digest = failure.digest.as_deref().map_or("", runs::short),
            error = %failure.message,
            unloaded = running,
            "plugin failed to load, and the configuration no longer allows the running version, so it is unloaded"
        );
    } else {
        tracing::error!(
            plugin = name,
            digest = failure.digest.as_deref().map_or("", runs::short),
            error = %failure.message,
            running,
            "plugin failed to load; the version already running, if any, keeps running"
        );
    }
    slot.failure = Some(Failure {
        message: failure.message,
        at: plugins::rfc3339(std::time::SystemTime::now()),
        digest: failure.digest,
    });
    if !revoked {
        return None;
    }
    slot.stop_scheduler();
    slot.loaded.take()
}
