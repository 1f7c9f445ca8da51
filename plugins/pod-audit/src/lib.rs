//! pod-audit: reports what needs attention among a cluster's pods.
//!
//! For the target cluster it lists pods in all namespaces and reports pods
//! that are not healthy, containers without resource limits, images that are
//! untagged or `:latest`, and containers restarted more than a threshold
//! (`--arg restarts=N`, default 3).

use serde_json::{Value, json};

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

use lazyhost::plugin::{client, kube_client, stats, types};

/// Restart count above which a container is reported, unless `restarts` is given.
const DEFAULT_RESTART_THRESHOLD: u64 = 3;

struct PodAudit;

impl Guest for PodAudit {
    fn run(cluster: String, args: Vec<(String, String)>) -> Result<String, String> {
        let threshold = restart_threshold(&args)?;
        let version = client::server_version(&cluster).map_err(|e| describe(&e))?;
        let pods = list_pods(&cluster)?;

        let mut report = Report::default();
        for pod in &pods {
            report.add_pod(pod, threshold);
        }

        println!(
            "{cluster} ({}): {} pods, {} unhealthy, {} containers without limits, \
             {} untagged images, {} containers over {threshold} restarts",
            version.git_version,
            pods.len(),
            report.unhealthy.len(),
            report.missing_limits.len(),
            report.untagged_images.len(),
            report.restarts.len(),
        );

        let output = json!({
            "cluster": cluster,
            "server_version": version.git_version,
            "pods": pods.len(),
            "restart_threshold": threshold,
            "unhealthy": report.unhealthy,
            "missing_limits": report.missing_limits,
            "untagged_images": report.untagged_images,
            "restarts": report.restarts,
        });
        Ok(output.to_string())
    }
}

/// Reads `restarts=N` from the arguments.
fn restart_threshold(args: &[(String, String)]) -> Result<u64, String> {
    let Some((_, value)) = args.iter().find(|(key, _)| key == "restarts") else {
        return Ok(DEFAULT_RESTART_THRESHOLD);
    };
    value.parse().map_err(|_| {
        format!("invalid argument restarts={value:?}: expected a whole number such as 3")
    })
}

/// Lists pods in all namespaces, following `continue` tokens, and records
/// the time the listing took in the host's statistics.
fn list_pods(cluster: &str) -> Result<Vec<Value>, String> {
    let started = std::time::Instant::now();
    let mut pods = Vec::new();
    let mut continue_token = None;

    loop {
        let options = kube_client::ListOptions {
            namespace: None,
            label_selector: None,
            field_selector: None,
            limit: Some(500),
            continue_token: continue_token.take(),
        };
        let page = kube_client::list(cluster, "pods", &options).map_err(|e| describe(&e))?;
        let mut page: Value =
            serde_json::from_str(&page).map_err(|e| format!("pod list is not JSON: {e}"))?;

        if let Some(Value::Array(items)) = page.get_mut("items").map(Value::take) {
            pods.extend(items);
        }
        match page["metadata"]["continue"].as_str() {
            Some(token) if !token.is_empty() => continue_token = Some(token.to_string()),
            _ => break,
        }
    }

    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    stats::record_request(cluster, "pod-audit-list", elapsed_ms, true);
    Ok(pods)
}

/// Findings over all pods of one cluster.
#[derive(Default)]
struct Report {
    unhealthy: Vec<Value>,
    missing_limits: Vec<Value>,
    untagged_images: Vec<Value>,
    restarts: Vec<Value>,
}

impl Report {
    fn add_pod(&mut self, pod: &Value, threshold: u64) {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();

        if let Some(reason) = unhealthy_reason(pod) {
            self.unhealthy
                .push(json!({"namespace": namespace, "pod": name, "reason": reason}));
        }

        for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
            let container_name = container["name"].as_str().unwrap_or_default();
            let has_limits = container["resources"]["limits"]
                .as_object()
                .is_some_and(|limits| !limits.is_empty());
            if !has_limits {
                self.missing_limits.push(
                    json!({"namespace": namespace, "pod": name, "container": container_name}),
                );
            }

            let image = container["image"].as_str().unwrap_or_default();
            if is_untagged_or_latest(image) {
                self.untagged_images.push(json!({
                    "namespace": namespace, "pod": name,
                    "container": container_name, "image": image,
                }));
            }
        }

        for status in pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let count = status["restartCount"].as_u64().unwrap_or(0);
            if count > threshold {
                self.restarts.push(json!({
                    "namespace": namespace, "pod": name,
                    "container": status["name"], "restarts": count,
                }));
            }
        }
    }
}

/// Returns why a pod is unhealthy: the reason a container is waiting or
/// terminated with (such as `CrashLoopBackOff`), else a phase other than
/// `Running` or `Succeeded`. A healthy pod returns `None`.
fn unhealthy_reason(pod: &Value) -> Option<String> {
    let statuses = pod["status"]["containerStatuses"].as_array();
    for status in statuses.into_iter().flatten() {
        let state = &status["state"];
        for key in ["waiting", "terminated"] {
            if let Some(reason) = state[key]["reason"].as_str() {
                if key == "terminated" && reason == "Completed" {
                    continue;
                }
                return Some(reason.to_string());
            }
        }
    }

    match pod["status"]["phase"].as_str() {
        Some("Running") | Some("Succeeded") => None,
        Some(phase) => Some(phase.to_string()),
        None => Some("Unknown".to_string()),
    }
}

/// Returns whether an image reference has no tag or the tag `latest`. An
/// image pinned by digest counts as tagged.
fn is_untagged_or_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

/// Formats a host error for the run's error message, led by its case name.
fn describe(error: &types::Error) -> String {
    match error {
        types::Error::NotFound(m) => format!("not-found: {m}"),
        types::Error::AlreadyExists(m) => format!("already-exists: {m}"),
        types::Error::Conflict(m) => format!("conflict: {m}"),
        types::Error::Invalid(m) => format!("invalid: {m}"),
        types::Error::Forbidden(m) => format!("forbidden: {m}"),
        types::Error::Unauthorized(m) => format!("unauthorized: {m}"),
        types::Error::Unavailable(m) => format!("unavailable: {m}"),
        types::Error::Timeout(m) => format!("timeout: {m}"),
        types::Error::Denied(m) => format!("denied: {m}"),
    }
}

export!(PodAudit);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags() {
        assert!(is_untagged_or_latest("nginx"));
        assert!(is_untagged_or_latest("nginx:latest"));
        assert!(is_untagged_or_latest("registry.local:5000/team/api"));
        assert!(!is_untagged_or_latest("registry.local:5000/team/api:1.2"));
        assert!(!is_untagged_or_latest("nginx:1.27"));
        assert!(!is_untagged_or_latest("nginx@sha256:abcd"));
    }
}
