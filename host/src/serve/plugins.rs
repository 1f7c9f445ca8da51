//! The daemon's plugins: each file of the plugins folder, the version of
//! it that is loaded, and why a version failed to load.
//!
//! A plugin is prepared in full (digest checked, grant built, component
//! compiled, schedule parsed) before it replaces the version that runs, so
//! a file that fails at any step leaves the previous version in place.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::task::JoinHandle;

use super::schedule::Schedule;
use super::watch::Watches;
use crate::cluster::RequestMode;
use crate::config::{Config, PluginSection};
use crate::grant;
use crate::inventory::{ClusterConfig, Inventory};
use crate::manifest::Manifest;
use crate::plugin::{Allocator, AnyPlugin, Controller, HostContext, Plugin, PluginRuntime};
use crate::policy::Request;
use crate::run::RunOptions;

/// Invocations of one scheduled run at once, when the section sets none.
const DEFAULT_CONCURRENCY: usize = 8;

/// The kind of a plugin version, by the world it exports.
pub enum Kind {
    /// A plugin of the `plugin` world, run on its schedule.
    Job(Arc<Plugin>),
    /// A controller, called with the changes its watches see.
    Controller {
        /// The compiled component.
        controller: Arc<Controller>,
        /// Its running watches, once started; dropping them stops them.
        watches: Mutex<Option<Watches>>,
    },
}

/// A version of a plugin, ready to run.
pub struct Loaded {
    /// The compiled component.
    pub kind: Kind,
    /// SHA-256 of the file, in hex.
    pub digest: String,
    /// When this version was loaded.
    pub loaded_at: SystemTime,
    /// The grant, pool and clusters each invocation uses.
    pub context: Arc<HostContext>,
    /// Limits, arguments and concurrency of each run.
    pub options: RunOptions,
    /// When the plugin runs, if on a schedule.
    pub schedule: Option<Schedule>,
    /// The manifest that narrowed the grant, if any.
    pub manifest: Option<PathBuf>,
    /// What the manifest requested that the operator did not grant.
    pub not_granted: Request,
    /// When the next scheduled run is due.
    pub next_run: Mutex<Option<SystemTime>>,
}

impl Loaded {
    /// Returns the plugin's name.
    pub fn name(&self) -> &str {
        match &self.kind {
            Kind::Job(plugin) => plugin.name(),
            Kind::Controller { controller, .. } => controller.name(),
        }
    }

    /// Returns the allocator the plugin's instances come from.
    pub fn allocator(&self) -> Allocator {
        match &self.kind {
            Kind::Job(plugin) => plugin.allocator(),
            Kind::Controller { controller, .. } => controller.allocator(),
        }
    }

    /// Returns the component's size in bytes.
    pub fn size(&self) -> usize {
        match &self.kind {
            Kind::Job(plugin) => plugin.size(),
            Kind::Controller { controller, .. } => controller.size(),
        }
    }

    /// Returns the world the plugin exports, as `/plugins` shows it.
    pub fn world(&self) -> &'static str {
        match &self.kind {
            Kind::Job(_) => "plugin",
            Kind::Controller { .. } => "controller",
        }
    }

    /// Stops the watches of a controller; an invocation of its handler
    /// under way is dropped.
    pub async fn stop_watches(&self) {
        if let Kind::Controller { watches, .. } = &self.kind {
            let running = watches.lock().take();
            if let Some(running) = running {
                running.stop().await;
            }
        }
    }

    /// Returns the clusters each run covers.
    pub fn targets(&self) -> &[Arc<ClusterConfig>] {
        self.context.clusters()
    }
}

/// Counters of one plugin name, kept across its versions.
#[derive(Default)]
pub struct Counters {
    /// Runs whose every invocation succeeded.
    pub runs_ok: AtomicU64,
    /// Runs with a failed or cancelled invocation.
    pub runs_error: AtomicU64,
    /// Scheduled runs skipped because the previous one was still going.
    pub runs_skipped: AtomicU64,
    /// Invocations that returned a result.
    pub invocations_ok: AtomicU64,
    /// Invocations that failed, timed out or were cancelled.
    pub invocations_error: AtomicU64,
    /// Wall-clock time of every invocation, in microseconds.
    pub invocation_micros: AtomicU64,
    /// Versions that failed to load.
    pub load_failures: AtomicU64,
}

/// The reason a version of a plugin failed to load.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The error, naming what to do.
    pub message: String,
    /// When the load was tried, in RFC 3339.
    pub at: String,
    /// SHA-256 of the file that failed, when it could be read.
    pub digest: Option<String>,
}

/// One plugin name of the folder.
pub struct Slot {
    /// The file.
    pub path: PathBuf,
    /// The version that runs, if any loaded.
    pub loaded: Option<Arc<Loaded>>,
    /// The last failed load, cleared by a good one.
    pub failure: Option<Failure>,
    /// Whether a run of any version of the plugin is going.
    pub busy: Arc<AtomicBool>,
    /// The counters of the plugin name.
    pub counters: Arc<Counters>,
    /// The task that starts scheduled runs of the loaded version.
    pub scheduler: Option<JoinHandle<()>>,
    /// When the last scheduled run was due, so a reload keeps the rhythm
    /// of an `every` schedule instead of running at once.
    pub last_due: Arc<Mutex<Option<SystemTime>>>,
}

impl Slot {
    /// Creates the slot of a file not loaded yet, whose last run, if the
    /// history has one, started at `last_start`.
    pub fn new(path: PathBuf, last_start: Option<SystemTime>) -> Self {
        Self {
            path,
            loaded: None,
            failure: None,
            busy: Arc::default(),
            counters: Arc::default(),
            scheduler: None,
            last_due: Arc::new(Mutex::new(last_start)),
        }
    }

    /// Stops starting scheduled runs; a run already going finishes.
    pub fn stop_scheduler(&mut self) {
        if let Some(task) = self.scheduler.take() {
            task.abort();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stop_scheduler();
    }
}

/// The daemon's state that loading a plugin version needs.
pub struct Inputs<'a> {
    /// The configuration in force.
    pub config: &'a Config,
    /// The clusters configured.
    pub inventory: &'a Inventory,
    /// The engine.
    pub runtime: &'a PluginRuntime,
    /// Builds the context of the plugin's invocations from its clusters,
    /// grant and request mode.
    pub context:
        &'a dyn Fn(Vec<Arc<ClusterConfig>>, crate::policy::Policy, RequestMode) -> HostContext,
}

/// A load that failed, with the digest of the file when it was read.
pub struct LoadFailure {
    /// The error, naming what to do.
    pub message: String,
    /// SHA-256 of the file, in hex.
    pub digest: Option<String>,
    /// What failed, which decides whether the running version may go on.
    pub cause: Cause,
}

/// The part of a load that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The file itself: unreadable, not a component, the wrong world, or a
    /// broken manifest. The version already running may go on.
    File,
    /// The file's digest is not on the allowlist. The version already
    /// running may go on only while its own digest is.
    Refused,
    /// The operator's grant: the plugin's section, schedule or clusters.
    /// These hold for every version, so the running one must stop too.
    Grant,
}

/// Reads, checks and compiles plugin `name` from `path`. This compiles, so
/// call it off the async runtime's threads.
///
/// # Errors
///
/// Fails when the file cannot be read, its digest is not allowed, its
/// section or manifest is invalid, the component does not load, its
/// schedule is invalid, or it may use no configured cluster.
pub fn load(inputs: &Inputs<'_>, name: &str, path: &Path) -> Result<Loaded, LoadFailure> {
    let bytes = std::fs::read(path).map_err(|error| LoadFailure {
        message: format!("failed to read plugin `{}`: {error}", path.display()),
        digest: None,
        cause: Cause::File,
    })?;
    let digest = crate::inspect::sha256_hex(&bytes);
    let fail = |cause: Cause| {
        let digest = digest.clone();
        move |message: String| LoadFailure {
            message,
            digest: Some(digest),
            cause,
        }
    };
    if !inputs.config.serve.allows_digest(&digest) {
        return Err(fail(Cause::Refused)(format!(
            "`{}` has digest sha256:{digest}, which `serve.allowed_digests` in lazyhost.toml does \
             not list, so it is refused: add the digest and send SIGHUP if the file is trusted",
            path.display()
        )));
    }

    let section = grant::plugin_section(inputs.config, name)
        .map_err(|error| fail(Cause::Grant)(error.to_string()))?;
    let manifest = Manifest::find(path).map_err(|error| fail(Cause::File)(error.to_string()))?;
    let operator = grant::operator_policy(&section, &[], &[])
        .map_err(|error| fail(Cause::Grant)(error.to_string()))?;
    let narrowed = grant::narrow_to_manifest(&operator, manifest.as_ref());
    let limits = section.to_limits();
    let kind = match inputs.runtime.load_any(path, &bytes, &limits) {
        Ok(AnyPlugin::Plugin(plugin)) => Kind::Job(Arc::new(plugin)),
        Ok(AnyPlugin::Controller(controller)) => Kind::Controller {
            controller: Arc::new(controller),
            watches: Mutex::new(None),
        },
        Err(error) => return Err(fail(Cause::File)(error.to_string())),
    };
    let schedule = schedule_of(&section, name).map_err(fail(Cause::Grant))?;
    if schedule.is_some() && matches!(kind, Kind::Controller { .. }) {
        return Err(fail(Cause::Grant)(format!(
            "plugin `{name}` is a controller, which runs on the changes it watches: remove \
             `every` and `cron` from [plugins.{name}]"
        )));
    }
    let targets = grant::scope_targets(inputs.inventory.clusters().to_vec(), false, &section, name)
        .map_err(|error| fail(Cause::Grant)(error.to_string()))?;
    let identity = section.to_identity().map_err(|(key, reason)| {
        fail(Cause::Grant)(format!("key `plugins.{name}.{key}`: {reason}"))
    })?;
    let mode = RequestMode {
        dry_run: section.dry_run,
        identity,
    };

    let context = (inputs.context)(targets, narrowed.policy, mode);
    Ok(Loaded {
        kind,
        digest,
        loaded_at: SystemTime::now(),
        context: Arc::new(context),
        options: RunOptions {
            concurrency: section.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            limits,
            args: section
                .args
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        },
        schedule,
        manifest: manifest.map(|manifest| manifest.path),
        not_granted: narrowed.not_granted,
        next_run: Mutex::new(None),
    })
}

/// Returns the schedule a plugin's section sets, if any.
fn schedule_of(section: &PluginSection, name: &str) -> Result<Option<Schedule>, String> {
    if let Some(every) = section.every {
        return Ok(Some(Schedule::Every(every)));
    }
    section
        .cron
        .as_deref()
        .map(|cron| {
            Schedule::parse_cron(cron)
                .map_err(|error| format!("key `plugins.{name}.cron`: {error}"))
        })
        .transpose()
}

/// Returns `time` in RFC 3339, to the second, in UTC.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Reads a counter.
pub fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
