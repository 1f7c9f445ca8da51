//! Legacy API discovery (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`)
//! and `/version`, built from the cluster's [`Catalog`].
//!
//! kubectl and kube's `Discovery::run` ask for aggregated discovery first (see the
//! `aggregated` module) and read these documents when the response `Content-Type`
//! is plain JSON.

use serde_json::{Value, json};

use super::catalog::Catalog;
use super::profile::KubeVersion;
use super::resources::{ResourceType, VERBS};

/// Kubernetes version that `sim-1` to `sim-3` report. kubectl's dispatcher on these
/// machines picks the bundled kubectl (1.27 to 1.33) by the minor version. Later
/// clusters report other versions, as the `profile` module lists.
pub const KUBERNETES_VERSION: &str = "v1.32.4";

/// Returns the `/version` document of a cluster that runs `version`.
pub(crate) fn version(version: KubeVersion) -> Value {
    json!({
        "major": "1",
        "minor": version.minor.to_string(),
        "gitVersion": version.git_version(),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Returns the `/api` document (APIVersions) for a server listening at `address`.
pub(crate) fn core_versions(address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    })
}

/// Returns the `/apis` document (APIGroupList) listing every named group.
pub(crate) fn group_list(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog
        .group_names()
        .into_iter()
        .filter_map(|group| api_group(catalog, group))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Returns the `/apis/<group>` document (APIGroup), or `None` for an unknown group.
pub(crate) fn api_group(catalog: &Catalog, group: &str) -> Option<Value> {
    let versions: Vec<Value> = catalog
        .group_versions()
        .into_iter()
        .filter(|(name, _)| *name == group && !group.is_empty())
        .map(|(name, version)| json!({"groupVersion": format!("{name}/{version}"), "version": version}))
        .collect();
    let preferred = versions.first()?.clone();
    Some(json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": preferred,
    }))
}

/// Returns the APIResourceList of a group version, or `None` when nothing is served there.
pub(crate) fn resource_list(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let entries: Vec<Value> = catalog
        .resources()
        .iter()
        .filter(|resource| resource.group == group && resource.version == version)
        .map(|resource| resource_entry(resource))
        .collect();
    if entries.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }))
}

fn resource_entry(resource: &ResourceType) -> Value {
    let mut entry = json!({
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": VERBS,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::store::Store;

    #[test]
    fn core_resource_list() {
        let catalog = Catalog::of(&Store::new(1));
        let list = resource_list(&catalog, "", "v1").unwrap();
        assert_eq!(list["groupVersion"], "v1");
        let pods = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["name"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["namespaced"], true);
    }

    #[test]
    fn apps_group() {
        let catalog = Catalog::of(&Store::new(1));
        let groups = group_list(&catalog);
        assert_eq!(groups["groups"][0]["name"], "apps");
        assert_eq!(
            groups["groups"][0]["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
        assert!(resource_list(&catalog, "apps", "v2").is_none());
    }

    #[test]
    fn version_document() {
        let document = version(KubeVersion {
            minor: 31,
            patch: 6,
        });
        assert_eq!(document["minor"], "31");
        assert_eq!(document["gitVersion"], "v1.31.6");
    }
}
