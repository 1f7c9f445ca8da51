//! Runs of the daemon's plugins: the schedule loop of each loaded
//! version, one run over the plugin's clusters, and the count of runs
//! still going that shutdown waits for.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::Instrument as _;

use super::Daemon;
use super::plugins::{Counters, Kind, Loaded};
use super::records::{RunRecord, Trigger};
use super::schedule::Schedule;
use crate::plugin::Plugin;
use crate::run::{Status, run_plugin};

/// The runs going at once, which shutdown waits for.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One run counted in [`InFlight`] until it is dropped.
pub struct RunGuard(Arc<InFlight>);

impl InFlight {
    /// Counts a run until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> RunGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        RunGuard(Arc::clone(self))
    }

    /// Returns the runs going now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until no run is going.
    pub async fn wait_idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Starts the runs of `loaded` at the times of its schedule until the
/// daemon stops or the task is aborted. An `every` schedule runs an
/// interval after the last run of the plugin, of any version, in this
/// process or the one before it. It runs at once when there was none or
/// it is overdue. A cron schedule waits for its next time. `last_due` keeps that
/// time across versions, so a reload does not run the plugin again. A run
/// that is due while the previous one, of this version or an older one,
/// is still going is skipped and logged.
pub async fn schedule_loop(
    daemon: Arc<Daemon>,
    loaded: Arc<Loaded>,
    busy: Arc<AtomicBool>,
    counters: Arc<Counters>,
    last_due: Arc<Mutex<Option<SystemTime>>>,
) {
    let (Some(schedule), Kind::Job(plugin)) = (loaded.schedule.clone(), &loaded.kind) else {
        return;
    };
    let plugin = Arc::clone(plugin);
    let name = plugin.name().to_string();
    loop {
        let now = SystemTime::now();
        let last = *last_due.lock();
        let due = match (&schedule, last) {
            (Schedule::Every(_), None) => Some(now),
            (Schedule::Every(_), Some(last)) => schedule.next_after(last).map(|due| due.max(now)),
            (Schedule::Cron(_), last) => {
                schedule.next_after(last.map_or(now, |last| last.max(now)))
            }
        };
        *loaded.next_run.lock() = due;
        let Some(due) = due else {
            tracing::warn!(plugin = %name, %schedule, "the schedule has no time left to run at");
            return;
        };
        let wait = due
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = daemon.stopping() => return,
        }
        *last_due.lock() = Some(due);
        if busy.swap(true, Ordering::SeqCst) {
            counters.runs_skipped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                plugin = %name,
                %schedule,
                "run skipped: the previous run is still going"
            );
            continue;
        }
        let guard = daemon.in_flight.enter();
        let task = run_once(
            Arc::clone(&daemon),
            Arc::clone(&loaded),
            Arc::clone(&plugin),
            Trigger::Schedule,
            Arc::clone(&counters),
        );
        let busy = Arc::clone(&busy);
        tokio::spawn(async move {
            task.await;
            busy.store(false, Ordering::SeqCst);
            drop(guard);
        });
    }
}

/// Runs `loaded` once over its clusters, then records the run in the
/// history and the counters. The run is cancelled only when the daemon
/// gives up waiting for it at shutdown; its cancelled invocations are
/// recorded too.
pub async fn run_once(
    daemon: Arc<Daemon>,
    loaded: Arc<Loaded>,
    plugin: Arc<Plugin>,
    trigger: Trigger,
    counters: Arc<Counters>,
) {
    let run = daemon.next_run_id();
    let name = plugin.name().to_string();
    let started = SystemTime::now();
    tracing::info!(
        plugin = %name,
        run,
        %trigger,
        digest = %short(&loaded.digest),
        clusters = loaded.targets().len(),
        "run started"
    );
    let span = tracing::info_span!("run", run, digest = %short(&loaded.digest));
    let report = run_plugin(
        plugin,
        Arc::clone(&loaded.context),
        loaded.targets(),
        &loaded.options,
        daemon.cancelled(),
    )
    .instrument(span)
    .await;

    let summary = report.summary;
    let counter = if report.all_ok() {
        &counters.runs_ok
    } else {
        &counters.runs_error
    };
    counter.fetch_add(1, Ordering::Relaxed);
    for result in &report.results {
        let counter = if result.status == Status::Ok {
            &counters.invocations_ok
        } else {
            &counters.invocations_error
        };
        counter.fetch_add(1, Ordering::Relaxed);
        counters
            .invocation_micros
            .fetch_add(result.duration_ms.saturating_mul(1000), Ordering::Relaxed);
    }
    tracing::info!(
        plugin = %name,
        run,
        digest = %short(&loaded.digest),
        ok = summary.ok,
        error = summary.error,
        cancelled = summary.cancelled,
        duration_ms = summary.duration_ms,
        "run finished"
    );

    let record = RunRecord::from_report(&report, &loaded.digest, trigger, started);
    let history = Arc::clone(&daemon.history);
    let saved = tokio::task::spawn_blocking(move || history.record(record)).await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::error!(plugin = %name, run, %error, "failed to save the run in the history");
        }
        Err(error) => {
            tracing::error!(plugin = %name, run, %error, "failed to save the run in the history");
        }
    }
}

/// Returns the first 12 hex digits of a digest, enough to tell versions
/// apart in a log line.
pub fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
