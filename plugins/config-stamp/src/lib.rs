//! config-stamp: a controller that annotates labelled config maps.
//!
//! It watches config maps in every namespace. For each applied config map
//! labelled `lazyhost.dev/stamp=true` that lacks the annotation
//! `lazyhost.dev/stamped-by`, it sets that annotation to `config-stamp`
//! with a JSON merge patch, which needs the `write` grant. It prints one
//! line per change it receives.

#![allow(
    clippy::too_many_arguments,
    reason = "the generated export of `handle` takes the flattened watch-event record"
)]

use serde_json::{Value, json};

wit_bindgen::generate!({
    world: "controller",
    path: "../../wit",
});

use lazyhost::plugin::kube_client;
use lazyhost::plugin::types;
use lazyhost::plugin::watch_types::Change;

/// The label that requests a stamp.
const STAMP_LABEL: &str = "lazyhost.dev/stamp";
/// The annotation the stamp sets.
const STAMPED_BY: &str = "lazyhost.dev/stamped-by";
/// The annotation's value.
const STAMPER: &str = "config-stamp";

struct ConfigStamp;

impl Guest for ConfigStamp {
    fn watches() -> Vec<WatchSpec> {
        vec![WatchSpec {
            resource: "configmaps".to_string(),
            namespace: None,
            label_selector: None,
        }]
    }

    fn handle(event: WatchEvent) -> Result<(), String> {
        let object: Value = serde_json::from_str(&event.object)
            .map_err(|error| format!("the event's object is not JSON: {error}"))?;
        let metadata = &object["metadata"];
        let namespace = metadata["namespace"].as_str().unwrap_or_default();
        let name = metadata["name"].as_str().unwrap_or_default();
        let change = match event.change {
            Change::Applied => "applied",
            Change::Deleted => "deleted",
        };
        let listed = if event.initial { " (listed)" } else { "" };
        println!(
            "{}: {change} configmap {namespace}/{name}{listed}",
            event.cluster
        );

        if event.change != Change::Applied || !needs_stamp(metadata) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {STAMPED_BY: STAMPER}}});
        kube_client::patch(
            &event.cluster,
            "configmaps",
            Some(namespace),
            name,
            &patch.to_string(),
        )
        .map_err(|error| {
            format!(
                "stamping configmap {namespace}/{name} failed: {}",
                describe(&error)
            )
        })?;
        println!("{}: stamped configmap {namespace}/{name}", event.cluster);
        Ok(())
    }
}

/// Returns whether a config map's metadata requests a stamp it lacks.
fn needs_stamp(metadata: &Value) -> bool {
    metadata["labels"][STAMP_LABEL].as_str() == Some("true")
        && metadata["annotations"][STAMPED_BY].is_null()
}

/// Describes a host error in one line.
fn describe(error: &types::Error) -> String {
    match error {
        types::Error::NotFound(message) => format!("not found: {message}"),
        types::Error::AlreadyExists(message) => format!("already exists: {message}"),
        types::Error::Conflict(message) => format!("conflict: {message}"),
        types::Error::Invalid(message) => format!("invalid: {message}"),
        types::Error::Forbidden(message) => format!("forbidden: {message}"),
        types::Error::Unauthorized(message) => format!("unauthorized: {message}"),
        types::Error::Unavailable(message) => format!("unavailable: {message}"),
        types::Error::Timeout(message) => format!("timed out: {message}"),
        types::Error::Denied(message) => format!("denied: {message}"),
    }
}

export!(ConfigStamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_needs_label_and_no_annotation() {
        let labelled = json!({"labels": {STAMP_LABEL: "true"}});
        assert!(needs_stamp(&labelled));
        let stamped = json!({
            "labels": {STAMP_LABEL: "true"},
            "annotations": {STAMPED_BY: "someone"},
        });
        assert!(!needs_stamp(&stamped));
        let other = json!({"labels": {STAMP_LABEL: "false"}});
        assert!(!needs_stamp(&other));
        assert!(!needs_stamp(&json!({})));
    }
}
