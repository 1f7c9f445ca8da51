//! The completed-cleanup example plugin, written with lazyhost-sdk, against
//! an in-process simulated fleet. The expected pods are computed from the
//! fleet's pods through the kube crate, not from the seed code.
//!
//! The seeded fleet contains no `Succeeded` pod, and the simulator resets
//! the status of a created pod, so only the seeded `Failed` pods exercise
//! the selection end to end. The plugin's unit tests cover `Succeeded` pods.

mod common;

use std::path::{Path, PathBuf};

use common::{arg, json, stderr};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use lazyhost::sim::Fleet;
use serde_json::Value;

/// Copies the component and its PLUGIN.toml into `folder`.
fn install(folder: &Path) -> PathBuf {
    std::fs::copy(
        common::root().join("plugins/completed-cleanup/PLUGIN.toml"),
        folder.join("PLUGIN.toml"),
    )
    .unwrap();
    common::plugin_in("completed_cleanup", folder)
}

/// Runs the plugin with the real binary over every cluster of `fleet` and
/// returns the exit code and the JSON document.
async fn run(fleet: &Fleet, extra: &[&str]) -> (Option<i32>, Value) {
    let folder = tempfile::tempdir().unwrap();
    let component = install(folder.path());
    let kubeconfig = folder.path().join("kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).unwrap();
    let mut args: Vec<String> = ["run", arg(&component), "--kubeconfig", arg(&kubeconfig)]
        .into_iter()
        .chain(["--all", "-o", "json"])
        .map(String::from)
        .collect();
    args.extend(extra.iter().map(|text| text.to_string()));
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::lazyhost(&args)
    })
    .await
    .unwrap();
    let code = output.status.code();
    if code != Some(0) {
        eprintln!("lazyhost stderr:\n{}", stderr(&output));
    }
    (code, json(&output))
}

async fn pods(fleet: &Fleet, cluster: &str) -> Vec<Pod> {
    let options = kube::config::KubeConfigOptions {
        context: Some(cluster.to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .unwrap();
    let api: Api<Pod> = Api::all(kube::Client::try_from(config).unwrap());
    api.list(&Default::default()).await.unwrap().items
}

/// Returns `namespace/name` of the pods of `cluster` that the plugin should
/// select, sorted.
async fn expected(
    fleet: &Fleet,
    cluster: &str,
    include_failed: bool,
    min_age_seconds: i64,
) -> Vec<String> {
    let now = Timestamp::now();
    let mut names: Vec<String> = pods(fleet, cluster)
        .await
        .into_iter()
        .filter(|pod| {
            let phase = pod
                .status
                .as_ref()
                .and_then(|status| status.phase.as_deref());
            let completed =
                phase == Some("Succeeded") || (include_failed && phase == Some("Failed"));
            let created = pod.metadata.creation_timestamp.as_ref().unwrap().0;
            completed && now.duration_since(created).as_secs() >= min_age_seconds
        })
        .map(|pod| {
            format!(
                "{}/{}",
                pod.metadata.namespace.unwrap(),
                pod.metadata.name.unwrap()
            )
        })
        .collect();
    names.sort();
    names
}

/// Returns `namespace/name` of the pods in one cluster's result.
fn reported(result: &Value) -> Vec<String> {
    result["output"]["pods"]
        .as_array()
        .unwrap_or_else(|| panic!("no pods in {result}"))
        .iter()
        .map(|pod| {
            format!(
                "{}/{}",
                pod["namespace"].as_str().unwrap(),
                pod["name"].as_str().unwrap()
            )
        })
        .collect()
}

const CLUSTERS: [&str; 3] = ["sim-1", "sim-2", "sim-3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_run_reports_succeeded_only() {
    let fleet = common::start_fleet(3).await;
    let (code, document) = run(&fleet, &[]).await;
    assert_eq!(code, Some(0), "{document}");
    for (index, cluster) in CLUSTERS.into_iter().enumerate() {
        let result = &document["results"][index];
        assert_eq!(result["cluster"], cluster);
        assert_eq!(
            reported(result),
            expected(&fleet, cluster, false, 3600).await
        );
        assert_eq!(result["output"]["older_than"], "1h");
        assert_eq!(result["output"]["delete"], false);
        assert_eq!(result["output"]["include_failed"], false);
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_failed_reports_without_deleting() {
    let fleet = common::start_fleet(3).await;
    let (code, document) = run(&fleet, &["--arg", "include-failed=true"]).await;
    assert_eq!(code, Some(0), "{document}");
    let mut total = 0;
    for (index, cluster) in CLUSTERS.into_iter().enumerate() {
        let result = &document["results"][index];
        let expected = expected(&fleet, cluster, true, 3600).await;
        total += expected.len();
        assert_eq!(reported(result), expected, "{cluster}");
        let pods = result["output"]["pods"].as_array().unwrap();
        assert!(
            pods.iter().all(|pod| pod.get("result").is_none()),
            "{result}"
        );
        assert!(pods.iter().all(|pod| pod["phase"] == "Failed"), "{result}");
        assert!(
            pods.iter()
                .all(|pod| pod["age_seconds"].as_i64().unwrap() >= 48 * 3600)
        );
    }
    assert!(total > 0, "the seed has old Failed pods to report");
    assert_eq!(
        document["results"][0]["stdout"]
            .as_str()
            .unwrap()
            .trim_end(),
        "sim-1 (v1.32.4): would delete 1 completed pod older than 1h: shop/db-migrate"
    );
    // Without delete=true the pods stay.
    assert_eq!(
        expected(&fleet, "sim-1", true, 3600).await,
        ["shop/db-migrate"]
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_above_pod_age_reports_nothing() {
    let fleet = common::start_fleet(3).await;
    let (code, document) = run(
        &fleet,
        &["--arg", "include-failed=true", "--arg", "older-than=3d"],
    )
    .await;
    assert_eq!(code, Some(0), "{document}");
    for (index, cluster) in CLUSTERS.into_iter().enumerate() {
        let result = &document["results"][index];
        assert_eq!(
            reported(result),
            expected(&fleet, cluster, true, 3 * 86_400).await
        );
        assert_eq!(result["output"]["older_than_seconds"], 3 * 86_400);
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_write_grant() {
    let fleet = common::start_fleet(3).await;
    let before = expected(&fleet, "sim-1", true, 3600).await;
    let (_, document) = run(
        &fleet,
        &["--arg", "include-failed=true", "--arg", "delete=true"],
    )
    .await;
    let result = &document["results"][0];
    assert_eq!(result["output"]["failed"], 1, "{result}");
    let message = result["output"]["pods"][0]["result"].as_str().unwrap();
    assert!(
        message.starts_with("deleting pods shop/db-migrate on sim-1: denied: "),
        "{message}"
    );
    assert_eq!(expected(&fleet, "sim-1", true, 3600).await, before);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_pods() {
    let fleet = common::start_fleet(3).await;
    let delete = [
        "--allow",
        "write",
        "--arg",
        "include-failed=true",
        "--arg",
        "delete=true",
    ];

    // A server-side dry run stores nothing.
    let dry_run: Vec<&str> = delete.iter().copied().chain(["--dry-run"]).collect();
    let (code, document) = run(&fleet, &dry_run).await;
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["results"][0]["output"]["deleted"], 1);
    assert_eq!(
        expected(&fleet, "sim-1", true, 3600).await,
        ["shop/db-migrate"]
    );

    let (code, document) = run(&fleet, &delete).await;
    assert_eq!(code, Some(0), "{document}");
    for (index, cluster) in CLUSTERS.into_iter().enumerate() {
        let result = &document["results"][index];
        let pods = result["output"]["pods"].as_array().unwrap();
        assert_eq!(result["output"]["deleted"], pods.len(), "{result}");
        assert!(
            pods.iter().all(|pod| pod["result"] == "deleted"),
            "{result}"
        );
        assert_eq!(
            expected(&fleet, cluster, true, 3600).await,
            Vec::<String>::new(),
            "{cluster}"
        );
    }
    assert_eq!(
        document["results"][2]["stdout"]
            .as_str()
            .unwrap()
            .trim_end(),
        "sim-3 (v1.32.4): deleted 1 of 1 completed pod older than 1h: shop/db-migrate"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_argument_fails_each_cluster() {
    let fleet = common::start_fleet(1).await;
    let (code, document) = run(&fleet, &["--arg", "older_than=2h"]).await;
    assert_ne!(code, Some(0));
    assert_eq!(document["results"][0]["status"], "error");
    let error = document["results"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("unknown argument `older_than`: expected one of: older-than, include-failed, namespace, delete"),
        "{error}"
    );
    fleet.shutdown().await;
}
