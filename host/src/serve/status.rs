//! The daemon's own state as its endpoints return it: readiness,
//! statistics, clusters, metrics and the plugins view of `/plugins`.

use std::sync::atomic::Ordering;

use serde::Serialize;
use serde_json::{Value, json};

use super::Daemon;
use super::http::Status;
use super::metrics::{ClusterSeries, MetricsInput, PluginMetrics};
use super::plugins::{Failure, Kind, Loaded, Slot, rfc3339};
use super::records::RunRecord;
use crate::monitor::{ConfigStats, Snapshot};
use crate::output::ClusterRow;

/// One plugin as `/plugins` shows it.
#[derive(Serialize)]
struct PluginView<'a> {
    name: &'a str,
    /// `loaded`, `failed` (no version loaded) or `unloaded` (the file is
    /// gone; its history is kept).
    state: &'static str,
    path: Option<String>,
    /// The version that runs.
    version: Option<Value>,
    /// The last failed load; a version may still run.
    last_error: Option<&'a Failure>,
    running: bool,
    runs_ok: u64,
    runs_error: u64,
    runs_skipped: u64,
    /// The last runs, newest first.
    runs: Vec<RunRecord>,
}

impl Daemon {
    /// Returns the `/plugins` document: every plugin of the folder, then
    /// the plugins no longer there whose runs the history keeps.
    pub fn plugins_json(&self) -> Value {
        let slots = self.slots.lock();
        let mut plugins: Vec<PluginView<'_>> = slots
            .iter()
            .map(|(name, slot)| self.slot_view(name, slot))
            .collect();
        let history_names = self.history.plugins();
        let mut gone: Vec<PluginView<'_>> = history_names
            .iter()
            .filter(|name| !slots.contains_key(name.as_str()))
            .map(|name| PluginView {
                name,
                state: "unloaded",
                path: None,
                version: None,
                last_error: None,
                running: false,
                runs_ok: 0,
                runs_error: 0,
                runs_skipped: 0,
                runs: self.history.runs(name),
            })
            .collect();
        plugins.append(&mut gone);
        json!({
            "folder": self.options.plugins_dir.display().to_string(),
            "allocator": self.runtime.allocator().as_str(),
            "plugins": plugins,
        })
    }

    fn slot_view<'a>(&self, name: &'a str, slot: &'a Slot) -> PluginView<'a> {
        let counters = &slot.counters;
        PluginView {
            name,
            state: if slot.loaded.is_some() {
                "loaded"
            } else {
                "failed"
            },
            path: Some(slot.path.display().to_string()),
            version: slot.loaded.as_deref().map(version_view),
            last_error: slot.failure.as_ref(),
            running: slot.busy.load(Ordering::Relaxed),
            runs_ok: counters.runs_ok.load(Ordering::Relaxed),
            runs_error: counters.runs_error.load(Ordering::Relaxed),
            runs_skipped: counters.runs_skipped.load(Ordering::Relaxed),
            runs: self.history.runs(name),
        }
    }
}

/// Describes the version of a plugin that runs.
fn version_view(loaded: &Loaded) -> Value {
    let mode = loaded.context.mode();
    let watches = match &loaded.kind {
        Kind::Job(_) => Value::Null,
        Kind::Controller { watches, .. } => watches.lock().as_ref().map_or(
            Value::Null,
            |watches| json!({ "watches": watches.statuses(), "counts": watches.counts() }),
        ),
    };
    json!({
        "digest": format!("sha256:{}", loaded.digest),
        "loaded_at": rfc3339(loaded.loaded_at),
        "world": loaded.world(),
        "allocator": loaded.allocator().as_str(),
        "size": loaded.size(),
        "schedule": loaded.schedule.as_ref().map(ToString::to_string),
        "next_run": loaded.next_run.lock().map(rfc3339),
        "clusters": loaded.targets().iter().map(|cluster| cluster.name.as_str()).collect::<Vec<_>>(),
        "policy": loaded.context.policy().summary(),
        "dry_run": mode.dry_run,
        "identity": mode.identity,
        "manifest": loaded.manifest.as_ref().map(|path| path.display().to_string()),
        "requested_not_granted": loaded.not_granted,
        "args": loaded.options.args.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "concurrency": loaded.options.concurrency,
        "limits": loaded.options.limits.summary(),
        "watches": watches,
    })
}

impl Status for Daemon {
    fn ready(&self) -> Result<(), String> {
        if *self.stopping.borrow() {
            return Err("shutting down".to_string());
        }
        if !self.scanned.load(Ordering::Relaxed) {
            return Err("the plugins present at start are still loading".to_string());
        }
        Ok(())
    }

    fn stats(&self) -> Snapshot {
        let config = ConfigStats::from_inventory(&self.pool.inventory());
        self.monitor
            .snapshot(self.pool.stats(), config)
            .with_runtime(
                self.runtime.compilations(),
                self.runtime.cache_hits(),
                self.runtime.allocator().as_str(),
            )
    }

    fn clusters(&self) -> Vec<ClusterRow> {
        ClusterRow::of_pool(&self.pool)
    }

    fn plugins(&self) -> Value {
        self.plugins_json()
    }

    fn metrics(&self) -> MetricsInput {
        let config = self.config();
        let serve = &config.serve;
        let inventory = self.pool.inventory();
        // The selector was checked when the configuration was read.
        let cluster_series = ClusterSeries::select(
            &inventory,
            serve.metrics_clusters.as_deref(),
            serve.metrics_max_clusters,
        )
        .unwrap_or_else(|_| ClusterSeries::from_names([], 0));
        let plugins = self
            .slots
            .lock()
            .iter()
            .map(|(name, slot)| plugin_metrics(name, slot))
            .collect();
        MetricsInput {
            snapshot: self.stats(),
            pool: self.pool.stats(),
            plugins,
            cluster_series,
        }
    }
}

/// Reads the metrics of one plugin from its counters and watches.
fn plugin_metrics(name: &str, slot: &Slot) -> PluginMetrics {
    let counters = &slot.counters;
    let read = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let watch_events = slot
        .loaded
        .as_deref()
        .map_or(0, |loaded| match &loaded.kind {
            Kind::Controller { watches, .. } => watches
                .lock()
                .as_ref()
                .map_or(0, |watches| watches.counts().events_delivered),
            Kind::Job(_) => 0,
        });
    PluginMetrics {
        name: name.to_string(),
        loaded: slot.loaded.is_some(),
        load_failures: read(&counters.load_failures),
        runs_ok: read(&counters.runs_ok),
        runs_error: read(&counters.runs_error),
        invocations_ok: read(&counters.invocations_ok),
        invocations_error: read(&counters.invocations_error),
        invocation_seconds_sum: read(&counters.invocation_micros) as f64 / 1e6,
        watch_events,
    }
}
