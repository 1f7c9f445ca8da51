//! {{name}}: a lazyhost plugin.
//!
//! `run` is called once per target cluster. It counts the cluster's pods in
//! every namespace and returns `{"cluster": ..., "pods": N}`.

// The bindings come from the WIT contract in `wit/`, next to Cargo.toml.
wit_bindgen::generate!({ world: "plugin", path: "wit" });

use lazyhost::plugin::{client, kube_client, stats, types};
use serde_json::{Value, json};

struct Plugin;

impl Guest for Plugin {
    fn run(cluster: String, _args: Vec<(String, String)>) -> Result<String, String> {
        let version = client::server_version(&cluster).map_err(describe)?;

        let started = std::time::Instant::now();
        let options = kube_client::ListOptions {
            namespace: None,
            label_selector: None,
            field_selector: None,
            limit: None,
            continue_token: None,
        };
        let listed = kube_client::list(&cluster, "pods", &options);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        stats::record_request(&cluster, "list-pods", elapsed_ms, listed.is_ok());
        let pods: Value = serde_json::from_str(&listed.map_err(describe)?)
            .map_err(|error| format!("the pod list is not JSON: {error}"))?;

        let count = pods["items"].as_array().map_or(0, Vec::len);
        println!("{cluster} ({}): {count} pods", version.git_version);
        Ok(json!({ "cluster": cluster, "pods": count }).to_string())
    }
}

/// Formats a host error as `case: message`, such as `denied: ...`.
fn describe(error: types::Error) -> String {
    let (case, message) = match error {
        types::Error::NotFound(message) => ("not-found", message),
        types::Error::AlreadyExists(message) => ("already-exists", message),
        types::Error::Conflict(message) => ("conflict", message),
        types::Error::Invalid(message) => ("invalid", message),
        types::Error::Forbidden(message) => ("forbidden", message),
        types::Error::Unauthorized(message) => ("unauthorized", message),
        types::Error::Unavailable(message) => ("unavailable", message),
        types::Error::Timeout(message) => ("timeout", message),
        types::Error::Denied(message) => ("denied", message),
    };
    format!("{case}: {message}")
}

export!(Plugin);
