//! api-tour: calls every host function of the plugin world once and
//! returns what came back, as a reference for plugin authors and a check of
//! the host.
//!
//! It writes: it creates, patches and deletes the config map
//! `default/api-tour` on its cluster.

use serde_json::{Value, json};

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

use lazyhost::plugin::{client, kube_client, stats, types};

const CONFIG_MAP: &str = "api-tour";

struct ApiTour;

impl Guest for ApiTour {
    fn run(cluster: String, _args: Vec<(String, String)>) -> Result<String, String> {
        let mut report = serde_json::Map::new();
        report.insert("cluster_calls".into(), cluster_calls(&cluster)?);
        report.insert("lists".into(), lists(&cluster)?);
        report.insert("writes".into(), writes(&cluster)?);
        report.insert("errors".into(), errors(&cluster));
        report.insert("raw".into(), raw(&cluster)?);
        report.insert("stats".into(), statistics(&cluster));
        println!("{cluster}: toured every host call");
        Ok(Value::Object(report).to_string())
    }
}

/// `client.clusters`, `client.server-version` and `client.api-resources`.
fn cluster_calls(cluster: &str) -> Result<Value, String> {
    let clusters: Vec<String> = client::clusters().into_iter().map(|c| c.name).collect();
    let version = client::server_version(cluster).map_err(|e| kind(&e))?;
    let resources = client::api_resources(cluster).map_err(|e| kind(&e))?;
    let deployments = resources.iter().find(|r| r.name == "deployments");
    Ok(json!({
        "clusters": clusters,
        "git_version": version.git_version,
        "minor": version.minor,
        "deployments_group": deployments.map(|r| r.group.clone()),
        "deployments_short_names": deployments.map(|r| r.short_names.clone()),
    }))
}

fn list(cluster: &str, resource: &str, options: kube_client::ListOptions) -> Result<Value, String> {
    let text = kube_client::list(cluster, resource, &options).map_err(|e| kind(&e))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["metadata"]["name"].as_str().map(String::from))
        .collect()
}

fn options(namespace: Option<&str>) -> kube_client::ListOptions {
    kube_client::ListOptions {
        namespace: namespace.map(String::from),
        label_selector: None,
        field_selector: None,
        limit: None,
        continue_token: None,
    }
}

/// Lists with every kind of option and resource name.
fn lists(cluster: &str) -> Result<Value, String> {
    let web_pods = list(
        cluster,
        "po",
        kube_client::ListOptions {
            label_selector: Some("app=web".into()),
            ..options(None)
        },
    )?;
    let failed_pods = list(
        cluster,
        "pods",
        kube_client::ListOptions {
            field_selector: Some("status.phase=Failed".into()),
            ..options(None)
        },
    )?;
    let shop_deployments = list(cluster, "deployments.apps", options(Some("shop")))?;
    let first_page = list(
        cluster,
        "deploy",
        kube_client::ListOptions {
            limit: Some(1),
            ..options(None)
        },
    )?;
    let token = first_page["metadata"]["continue"]
        .as_str()
        .map(String::from);
    let second_page = list(
        cluster,
        "deployments",
        kube_client::ListOptions {
            limit: Some(1),
            continue_token: token.clone(),
            ..options(None)
        },
    )?;
    Ok(json!({
        "web_pods": names(&web_pods).len(),
        "failed_pods": names(&failed_pods),
        "shop_deployments": names(&shop_deployments),
        "first_page": names(&first_page),
        "has_continue": token.is_some(),
        "second_page": names(&second_page),
    }))
}

/// Creates, patches, reads and deletes a config map.
fn writes(cluster: &str) -> Result<Value, String> {
    let object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "labels": {"owner": "api-tour"}},
        "data": {"first": "1"},
    });
    let created = kube_client::create(cluster, "cm", Some("default"), &object.to_string())
        .map_err(|e| kind(&e))?;
    let created: Value = serde_json::from_str(&created).map_err(|e| e.to_string())?;
    let duplicate =
        kube_client::create(cluster, "configmaps", Some("default"), &object.to_string());

    let patch = json!({"data": {"second": "2"}}).to_string();
    kube_client::patch(cluster, "configmap", Some("default"), CONFIG_MAP, &patch)
        .map_err(|e| kind(&e))?;
    let fetched =
        kube_client::get(cluster, "cm", Some("default"), CONFIG_MAP).map_err(|e| kind(&e))?;
    let fetched: Value = serde_json::from_str(&fetched).map_err(|e| e.to_string())?;

    kube_client::delete(cluster, "cm", Some("default"), CONFIG_MAP).map_err(|e| kind(&e))?;
    let after_delete = kube_client::get(cluster, "cm", Some("default"), CONFIG_MAP);
    Ok(json!({
        "created_uid_set": created["metadata"]["uid"].as_str().is_some_and(|uid| !uid.is_empty()),
        "duplicate": duplicate.err().map(|e| kind(&e)),
        "data_after_patch": fetched["data"],
        "after_delete": after_delete.err().map(|e| kind(&e)),
    }))
}

/// Calls that must fail, and how.
fn errors(cluster: &str) -> Value {
    let no_namespace = kube_client::get(cluster, "pods", None, "web");
    let unknown_type = kube_client::get(cluster, "foos", Some("default"), "x");
    let missing = kube_client::get(cluster, "deploy", Some("shop"), "no-such-deployment");
    let missing_namespace = kube_client::create(
        cluster,
        "cm",
        Some("no-such-namespace"),
        r#"{"metadata":{"name":"x"}}"#,
    );
    let bad_selector = list(
        cluster,
        "pods",
        kube_client::ListOptions {
            field_selector: Some("spec.dnsPolicy=ClusterFirst".into()),
            ..options(None)
        },
    );
    json!({
        "no_namespace": no_namespace.err().map(|e| kind(&e)),
        "unknown_type": unknown_type.err().map(|e| kind(&e)),
        "missing": missing.err().map(|e| kind(&e)),
        "missing_namespace": missing_namespace.err().map(|e| kind(&e)),
        "bad_selector": bad_selector.err(),
    })
}

/// Calls the raw REST function on an allowed path, a missing object and a
/// path outside the API.
fn raw(cluster: &str) -> Result<Value, String> {
    let namespaces =
        client::request(cluster, "GET", "/api/v1/namespaces", None).map_err(|e| kind(&e))?;
    let body: Value = serde_json::from_str(&namespaces.body).map_err(|e| e.to_string())?;
    let missing = client::request(cluster, "GET", "/api/v1/namespaces/no-such-namespace", None)
        .map_err(|e| kind(&e))?;
    let outside = client::request(cluster, "GET", "/metrics", None);
    Ok(json!({
        "namespaces_status": namespaces.status,
        "namespaces": names(&body),
        "missing_status": missing.status,
        "outside_api": outside.err().map(|e| kind(&e)),
    }))
}

/// Records a timing, reads it back, and reads the snapshot, which covers
/// only this plugin's clusters and never the recorded timing.
fn statistics(cluster: &str) -> Value {
    stats::record_request(cluster, "api-tour", 12.5, true);
    let snapshot = stats::snapshot();
    let recorded = stats::recorded();
    let recorded = recorded
        .iter()
        .find(|latency| latency.cluster == cluster && latency.verb == "api-tour");
    let mut latency_clusters: Vec<&str> = snapshot
        .latencies
        .iter()
        .map(|latency| latency.cluster.as_str())
        .collect();
    latency_clusters.dedup();
    json!({
        "latency_clusters": latency_clusters,
        "recorded_in_host_figures": snapshot.latencies.iter().any(|latency| latency.verb == "api-tour"),
        "total_clusters": snapshot.lazy_total_clusters,
        "initialized_at_least_one": snapshot.lazy_initialized_clusters >= 1,
        "requests_counted": snapshot.perf_total_requests > 10,
        "errors_counted": snapshot.perf_error_count >= 4,
        "memory_reported": snapshot.memory_usage_mb > 0.0,
        "recorded": recorded.map(|latency| json!({
            "count": latency.count,
            "errors": latency.errors,
            "avg_ms": latency.avg_ms,
            "recent_count": latency.recent_count,
            "p50_ms": latency.p50_ms,
            "all_time_p99_ms": latency.all_time.p99_ms,
        })),
    })
}

/// Names the error case and keeps its message.
fn kind(error: &types::Error) -> String {
    let (case, message) = match error {
        types::Error::NotFound(m) => ("not-found", m),
        types::Error::AlreadyExists(m) => ("already-exists", m),
        types::Error::Conflict(m) => ("conflict", m),
        types::Error::Invalid(m) => ("invalid", m),
        types::Error::Forbidden(m) => ("forbidden", m),
        types::Error::Unauthorized(m) => ("unauthorized", m),
        types::Error::Unavailable(m) => ("unavailable", m),
        types::Error::Timeout(m) => ("timeout", m),
        types::Error::Denied(m) => ("denied", m),
    };
    format!("{case}: {message}")
}

export!(ApiTour);
