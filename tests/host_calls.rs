//! Every host call of the plugin world, made by the api-tour plugin
//! against the simulated fleet, with the literal results expected.

mod common;

use common::{arg, json, lazyhost, plugin, stderr};
use serde_json::json;

#[test]
fn api_tour_on_simulated_cluster() {
    let component = plugin("api_tour");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "2",
        "--allow",
        "write",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    let tour = &document["results"][0]["output"];

    assert_eq!(
        tour["cluster_calls"],
        json!({
            "clusters": ["sim-1", "sim-2"],
            "git_version": "v1.32.4",
            "minor": "32",
            "deployments_group": "apps",
            "deployments_short_names": ["deploy"],
        })
    );
    assert_eq!(
        tour["lists"],
        json!({
            "web_pods": 3,
            "failed_pods": ["db-migrate"],
            "shop_deployments": ["cart", "web"],
            "first_page": ["coredns"],
            "has_continue": true,
            "second_page": ["api"],
        })
    );
    assert_eq!(
        tour["writes"],
        json!({
            "created_uid_set": true,
            "duplicate": "already-exists: configmaps \"api-tour\" already exists",
            "data_after_patch": {"first": "1", "second": "2"},
            "after_delete": "not-found: configmaps \"api-tour\" not found",
        })
    );
    assert_eq!(
        tour["errors"],
        json!({
            "no_namespace": "invalid: pods is namespaced: pass the namespace of the object",
            "unknown_type": "not-found: the server doesn't have a resource type \"foos\": \
                             list the cluster's types with client.api-resources",
            "missing": "not-found: deployments.apps \"no-such-deployment\" not found",
            "missing_namespace": "not-found: namespaces \"no-such-namespace\" not found",
            "bad_selector": "invalid: field label not supported: spec.dnsPolicy",
        })
    );
    assert_eq!(
        tour["raw"],
        json!({
            "namespaces_status": 200,
            "namespaces": ["default", "kube-system", "payments", "shop"],
            "missing_status": 404,
            "outside_api": "denied: get `/metrics`: not an API path: use /version, /api/... or /apis/...",
        })
    );
    // The snapshot covers the run's clusters and nothing else; sim-2 is
    // in it only when its invocation sent requests first.
    let clusters = tour["stats"]["latency_clusters"].as_array().unwrap();
    assert!(clusters.contains(&json!("sim-1")), "{clusters:?}");
    assert!(
        clusters.iter().all(|c| c == "sim-1" || c == "sim-2"),
        "{clusters:?}"
    );
    let mut figures = tour["stats"].clone();
    figures.as_object_mut().unwrap().remove("latency_clusters");
    assert_eq!(
        figures,
        json!({
            "recorded_in_host_figures": false,
            "total_clusters": 2,
            "initialized_at_least_one": true,
            "requests_counted": true,
            "errors_counted": true,
            "memory_reported": true,
            "recorded": {
                "count": 1,
                "errors": 0,
                "avg_ms": 12.5,
                "recent_count": 1,
                "p50_ms": 13.312,
                "all_time_p99_ms": 13.312,
            },
        })
    );
}
