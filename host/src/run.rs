//! Fan-out of one plugin over a set of clusters.
//!
//! Each target cluster gets one invocation in its own instance, with at
//! most `concurrency` running at once. A cancellation (Ctrl-C) stops the
//! invocations still running or waiting and marks them cancelled; the
//! results gathered so far are kept.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::cluster::Identity;
use crate::inventory::ClusterConfig;
use crate::plugin::{HostContext, Invocation, InvocationError, Limits, Plugin, Write};
use crate::policy::Request;

/// Options of a run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Invocations running at once.
    pub concurrency: usize,
    /// Limits of each invocation.
    pub limits: Limits,
    /// The user's `--arg key=value` pairs, in order.
    pub args: Vec<(String, String)>,
}

/// Outcome of one cluster's invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The plugin returned a result.
    Ok,
    /// The plugin returned an error, trapped or timed out.
    Error,
    /// The run was interrupted before the invocation finished.
    Cancelled,
}

/// The result of one cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterResult {
    /// Cluster name.
    pub cluster: String,
    /// Outcome.
    pub status: Status,
    /// Wall-clock time of the invocation, in milliseconds.
    pub duration_ms: u64,
    /// The plugin's JSON result, on success.
    pub output: Option<serde_json::Value>,
    /// The failure message, otherwise.
    pub error: Option<String>,
    /// The plugin's captured stdout.
    pub stdout: String,
    /// The plugin's captured stderr.
    pub stderr: String,
    /// The writes the plugin sent, in order.
    pub writes: Vec<Write>,
}

/// Counts over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Target clusters.
    pub total: usize,
    /// Clusters that succeeded.
    pub ok: usize,
    /// Clusters that failed.
    pub error: usize,
    /// Clusters not finished when the run was interrupted.
    pub cancelled: usize,
    /// Wall-clock time of the run, in milliseconds.
    pub duration_ms: u64,
}

/// Every result of a run, in target order, and their counts.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Name of the plugin that ran.
    pub plugin: String,
    /// The plugin's grants, in one line.
    pub policy: String,
    /// Whether writes were sent as server-side dry runs.
    pub dry_run: bool,
    /// The Kubernetes identity every request impersonated, if any.
    pub identity: Option<Identity>,
    /// The manifest that narrowed the grants, if the plugin has one.
    pub manifest: Option<PathBuf>,
    /// Grants and namespaces the manifest requested that the operator did
    /// not grant.
    pub requested_not_granted: Request,
    /// One result per target cluster.
    pub results: Vec<ClusterResult>,
    /// Counts over the results.
    pub summary: Summary,
    /// Whether the run was interrupted.
    #[serde(skip)]
    pub interrupted: bool,
}

impl Report {
    /// Returns whether every cluster succeeded.
    pub fn all_ok(&self) -> bool {
        self.summary.ok == self.summary.total
    }
}

/// Runs `plugin` once per target cluster and gathers the results. When
/// `cancel` completes first, unfinished invocations are stopped and marked
/// cancelled. The report's `manifest` and `requested_not_granted` are left
/// empty, because the caller reads the manifest and fills them in.
pub async fn run_plugin(
    plugin: Arc<Plugin>,
    context: Arc<HostContext>,
    targets: &[Arc<ClusterConfig>],
    options: &RunOptions,
    cancel: impl Future<Output = ()>,
) -> Report {
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for (index, cluster) in targets.iter().enumerate() {
        let task = invoke_one(
            Arc::clone(&plugin),
            Arc::clone(&context),
            cluster.name.clone(),
            options.clone(),
            Arc::clone(&permits),
        );
        let span = tracing::info_span!("invocation", plugin = plugin.name(), cluster = %cluster.name, invocation = index + 1);
        tasks.spawn(async move { (index, task.await) }.instrument(span));
    }

    let mut results: Vec<Option<ClusterResult>> = vec![None; targets.len()];
    let interrupted = collect(&mut tasks, &mut results, cancel).await;
    if interrupted {
        tasks.abort_all();
        tracing::warn!(
            plugin = plugin.name(),
            "run interrupted, unfinished clusters are cancelled"
        );
    }

    // A cancelled invocation was waiting or running from the start of the
    // run until the interruption.
    let until_cancelled = started.elapsed();
    let results: Vec<ClusterResult> = results
        .into_iter()
        .zip(targets)
        .map(|(result, cluster)| {
            result.unwrap_or_else(|| cancelled(&cluster.name, until_cancelled))
        })
        .collect();
    let summary = summarize(&results, started.elapsed());
    Report {
        plugin: plugin.name().to_string(),
        policy: context.policy().summary(),
        dry_run: context.mode().dry_run,
        identity: context.mode().identity.clone(),
        manifest: None,
        requested_not_granted: Request::default(),
        results,
        summary,
        interrupted,
    }
}

/// Gathers finished invocations until all are done or `cancel` completes.
/// Returns whether the run was interrupted.
async fn collect(
    tasks: &mut JoinSet<(usize, ClusterResult)>,
    results: &mut [Option<ClusterResult>],
    cancel: impl Future<Output = ()>,
) -> bool {
    tokio::pin!(cancel);
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => return false,
                Some(Ok((index, result))) => results[index] = Some(result),
                Some(Err(error)) => tracing::error!(%error, "invocation task failed"),
            },
            () = &mut cancel => return true,
        }
    }
}

async fn invoke_one(
    plugin: Arc<Plugin>,
    context: Arc<HostContext>,
    cluster: String,
    options: RunOptions,
    permits: Arc<Semaphore>,
) -> ClusterResult {
    let _permit = permits.acquire().await;
    tracing::debug!("invocation started");
    let invocation = plugin
        .invoke(context, &cluster, &options.args, &options.limits)
        .await;
    let result = cluster_result(cluster, invocation);
    match &result.error {
        None => tracing::info!(duration_ms = result.duration_ms, "invocation succeeded"),
        Some(error) => {
            tracing::info!(duration_ms = result.duration_ms, %error, "invocation failed")
        }
    }
    result
}

fn cluster_result(cluster: String, invocation: Invocation) -> ClusterResult {
    let parsed = invocation.result.and_then(|text| {
        serde_json::from_str(&text).map_err(|error| {
            InvocationError::Failed(format!("plugin returned invalid JSON: {error}"))
        })
    });
    let (status, output, error) = match parsed {
        Ok(value) => (Status::Ok, Some(value), None),
        Err(error) => (Status::Error, None, Some(error.to_string())),
    };
    ClusterResult {
        cluster,
        status,
        duration_ms: millis(invocation.duration),
        output,
        error,
        stdout: invocation.stdout,
        stderr: invocation.stderr,
        writes: invocation.writes,
    }
}

fn cancelled(cluster: &str, duration: Duration) -> ClusterResult {
    ClusterResult {
        cluster: cluster.to_string(),
        status: Status::Cancelled,
        duration_ms: millis(duration),
        output: None,
        error: Some("cancelled: the run was interrupted".to_string()),
        stdout: String::new(),
        stderr: String::new(),
        writes: Vec::new(),
    }
}

fn summarize(results: &[ClusterResult], elapsed: Duration) -> Summary {
    let count = |status| results.iter().filter(|r| r.status == status).count();
    Summary {
        total: results.len(),
        ok: count(Status::Ok),
        error: count(Status::Error),
        cancelled: count(Status::Cancelled),
        duration_ms: millis(elapsed),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
