//! compat-1-0: a plugin built against the frozen 1.0.0 copy of the WIT
//! package in `wit/`, never the current one. It calls one function of each
//! interface, so a host that still loads and runs it keeps the promise
//! that a plugin built against an older 1.x version keeps working.

use serde_json::json;

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use lazyhost::plugin::{client, kube_client, stats};

struct Compat;

impl Guest for Compat {
    fn run(cluster: String, _args: Vec<(String, String)>) -> Result<String, String> {
        let version = client::server_version(&cluster).map_err(|error| format!("{error:?}"))?;
        let options = kube_client::ListOptions {
            namespace: None,
            label_selector: None,
            field_selector: None,
            limit: None,
            continue_token: None,
        };
        let pods =
            kube_client::list(&cluster, "pods", &options).map_err(|error| format!("{error:?}"))?;
        let items = serde_json::from_str::<serde_json::Value>(&pods)
            .map_err(|error| error.to_string())?["items"]
            .as_array()
            .map_or(0, Vec::len);
        stats::record_request(&cluster, "list", 1.0, true);
        Ok(json!({
            "cluster": cluster,
            "version": version.git_version,
            "pods": items,
        })
        .to_string())
    }
}

export!(Compat);
