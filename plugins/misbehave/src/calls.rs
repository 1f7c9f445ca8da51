//! Modes that make host calls, allowed or not. A call that fails makes the
//! invocation fail with the error as `case: message`, such as `denied: ...`.

use serde_json::{Value, json};

use crate::Args;
use crate::lazyhost::plugin::{client, kube_client, types};

pub(crate) fn run(mode: &str, cluster: &str, args: &Args) -> Result<String, String> {
    match mode {
        "clusters" => {
            let names: Vec<String> = client::clusters().into_iter().map(|c| c.name).collect();
            Ok(json!({ "clusters": names }).to_string())
        }
        "other-cluster" => {
            let target = args.get("target").unwrap_or_default();
            let result = client::server_version(target);
            Ok(json!({ "error": format!("{result:?}") }).to_string())
        }
        "missing-object" => {
            let result = kube_client::get(cluster, "cm", Some("default"), "no-such-config-map");
            Ok(json!({ "error": format!("{result:?}") }).to_string())
        }
        "list-pods" => {
            let pods = kube_client::list(cluster, "pods", &all_namespaces()).map_err(describe)?;
            let pods: Value = serde_json::from_str(&pods).map_err(|e| e.to_string())?;
            let count = pods["items"].as_array().map_or(0, Vec::len);
            Ok(json!({ "pods": count }).to_string())
        }
        "list-secrets" => {
            let secrets =
                kube_client::list(cluster, "secrets", &all_namespaces()).map_err(describe)?;
            Ok(json!({ "secrets_bytes": secrets.len() }).to_string())
        }
        "write" => {
            let object = config_map("misbehave", "");
            kube_client::create(cluster, "configmaps", Some("default"), &object)
                .map_err(describe)?;
            Ok(json!({ "created": "misbehave" }).to_string())
        }
        "big-body" => big_body(cluster, args),
        "raw" => {
            let method = args.get("method").unwrap_or("GET");
            let results: Vec<Value> = args
                .all("path")
                .into_iter()
                .map(|path| {
                    let result = match client::request(cluster, method, path, None) {
                        Ok(response) => format!("status {}", response.status),
                        Err(error) => describe(error),
                    };
                    json!({ "path": path, "result": result })
                })
                .collect();
            Ok(Value::Array(results).to_string())
        }
        other => Err(format!("unknown mode {other:?}")),
    }
}

/// Sends a config map whose data has `--arg bytes=N` bytes through the
/// call named by `--arg call=create|patch|request`.
fn big_body(cluster: &str, args: &Args) -> Result<String, String> {
    let bytes = args.number("bytes", 4 << 20)?;
    let filler = "z".repeat(usize::try_from(bytes).map_err(|e| e.to_string())?);
    let object = config_map("misbehave-big", &filler);
    let call = args.get("call").unwrap_or("create");
    let sent = match call {
        "create" => kube_client::create(cluster, "configmaps", Some("default"), &object),
        "patch" => kube_client::patch(
            cluster,
            "configmaps",
            Some("default"),
            "misbehave-big",
            &object,
        ),
        "request" => client::request(
            cluster,
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(&object),
        )
        .map(|response| response.body),
        other => {
            return Err(format!(
                "unknown call {other:?}: use create, patch or request"
            ));
        }
    };
    sent.map_err(describe)?;
    Ok(json!({ "sent": bytes }).to_string())
}

fn all_namespaces() -> kube_client::ListOptions {
    kube_client::ListOptions {
        namespace: None,
        label_selector: None,
        field_selector: None,
        limit: None,
        continue_token: None,
    }
}

fn config_map(name: &str, filler: &str) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": name, "namespace": "default" },
        "data": { "filler": filler },
    })
    .to_string()
}

/// Writes an error as `case: message`, the way lazyhost prints it.
fn describe(error: types::Error) -> String {
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
