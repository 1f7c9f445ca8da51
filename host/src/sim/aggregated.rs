//! Aggregated discovery (`apidiscovery.k8s.io`): `/api` and `/apis` as one
//! `APIGroupDiscoveryList` each, served when the `Accept` header requests it.
//!
//! kube-apiserver serves `v2beta1` from 1.26 to 1.32 and `v2` from 1.30, and the
//! response `Content-Type` names the version it chose, because clients decide from
//! it whether they got the aggregated or the legacy format.

use serde_json::{Value, json};

use super::catalog::Catalog;
use super::profile::KubeVersion;
use super::resources::{ResourceType, VERBS};

/// Versions of the aggregated format, preferred first.
const FORMATS: [(&str, u32, u32); 2] = [("v2", 30, u32::MAX), ("v2beta1", 26, 32)];

/// An aggregated discovery format the client accepts and the server version serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Format {
    version: &'static str,
}

impl Format {
    /// Picks the first aggregated format in `accept` that a server at `server`
    /// serves, or `None` when the client did not ask for one it can get.
    pub(crate) fn negotiate(accept: &str, server: KubeVersion) -> Option<Self> {
        accept.split(',').find_map(|media_type| {
            let mut parts = media_type.split(';').map(str::trim);
            if parts.next() != Some("application/json") {
                return None;
            }
            let parameters: Vec<(&str, &str)> =
                parts.filter_map(|part| part.split_once('=')).collect();
            let has = |name: &str, value: &str| parameters.contains(&(name, value));
            if !has("g", "apidiscovery.k8s.io") || !has("as", "APIGroupDiscoveryList") {
                return None;
            }
            FORMATS
                .iter()
                .find(|(version, first, last)| {
                    has("v", version) && (*first..=*last).contains(&server.minor)
                })
                .map(|(version, _, _)| Self { version })
        })
    }

    /// Returns the response `Content-Type` that names this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self.version {
            "v2" => "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            _ => "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
        }
    }

    /// Returns the `/api` document: the core group alone.
    pub(crate) fn core(self, catalog: &Catalog) -> Value {
        self.list(vec![group(catalog, "")])
    }

    /// Returns the `/apis` document: every named group.
    pub(crate) fn groups(self, catalog: &Catalog) -> Value {
        let items = catalog
            .group_names()
            .into_iter()
            .map(|name| group(catalog, name))
            .collect();
        self.list(items)
    }

    fn list(self, items: Vec<Value>) -> Value {
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{}", self.version),
            "metadata": {},
            "items": items,
        })
    }
}

fn group(catalog: &Catalog, name: &str) -> Value {
    let versions: Vec<Value> = catalog
        .group_versions()
        .into_iter()
        .filter(|(group, _)| *group == name)
        .map(|(group, version)| {
            let resources: Vec<Value> = catalog
                .resources()
                .iter()
                .filter(|resource| resource.group == group && resource.version == version)
                .map(|resource| resource_entry(resource))
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({"creationTimestamp": null});
    if !name.is_empty() {
        metadata["name"] = json!(name);
    }
    json!({"metadata": metadata, "versions": versions})
}

fn resource_entry(resource: &ResourceType) -> Value {
    let kind = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let mut entry = json!({
        "resource": resource.plural,
        "responseKind": kind,
        "scope": if resource.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": resource.singular,
        "verbs": VERBS,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    if resource.has_status {
        entry["subresources"] = json!([{"subresource": "status", "responseKind": kind, "verbs": ["get", "patch", "update"]}]);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::store::Store;

    const KUBE_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn negotiation_by_server_version() {
        let v132 = KubeVersion {
            minor: 32,
            patch: 4,
        };
        let v133 = KubeVersion {
            minor: 33,
            patch: 1,
        };
        let v129 = KubeVersion {
            minor: 29,
            patch: 0,
        };
        assert_eq!(Format::negotiate(KUBE_ACCEPT, v132).unwrap().version, "v2");
        assert_eq!(
            Format::negotiate(KUBE_ACCEPT, v129).unwrap().version,
            "v2beta1"
        );
        let beta_only = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(Format::negotiate(beta_only, v133), None);
        assert_eq!(Format::negotiate("application/json", v132), None);
    }

    #[test]
    fn core_group_has_pods() {
        let catalog = Catalog::of(&Store::new(1));
        let format = Format { version: "v2" };
        let document = format.core(&catalog);
        let resources = &document["items"][0]["versions"][0]["resources"];
        let pods = resources
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["responseKind"]["kind"], "Pod");
    }
}
