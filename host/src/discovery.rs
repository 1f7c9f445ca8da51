//! The resource types a cluster serves, and resolution of the names people
//! type for them (`pods`, `po`, `deploy`, `deployments.apps`).
//!
//! A cluster's table is read once, when its client starts, from legacy
//! discovery (`/api/v1`, `/apis`, and each group's preferred version), and
//! cached with the client. Clusters that serve the same types, as most of
//! a fleet on one Kubernetes version do, share one table through
//! [`TableCache`].

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIResource, APIResourceList};
use parking_lot::Mutex;

/// One resource type a cluster serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// Plural name used in URLs, such as `deployments`.
    pub plural: String,
    /// Singular name, such as `deployment`.
    pub singular: String,
    /// Kind, such as `Deployment`.
    pub kind: String,
    /// API group, empty for the core group.
    pub group: String,
    /// Version within the group.
    pub version: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names, such as `deploy`.
    pub short_names: Vec<String>,
    /// Verbs the server supports.
    pub verbs: Vec<String>,
}

impl ResourceType {
    /// Returns the API version string, such as `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Returns the URL path of the collection, in `namespace` when given.
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(namespace) if self.namespaced => {
                format!("{prefix}/namespaces/{namespace}/{}", self.plural)
            }
            _ => format!("{prefix}/{}", self.plural),
        }
    }

    /// Returns the names other than the plural that a user may give the
    /// type: its singular, its short names and `plural.group`.
    pub fn aliases(&self) -> Vec<String> {
        let mut aliases = vec![self.singular.clone(), self.qualified_name()];
        aliases.extend(self.short_names.iter().cloned());
        aliases.retain(|alias| !alias.is_empty() && *alias != self.plural);
        aliases
    }

    /// Returns the name the user types for this type with its group, such
    /// as `deployments.apps`, or the plural alone for the core group.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn answers_to(&self, name: &str) -> bool {
        self.plural == name
            || self.singular == name
            || self.kind.eq_ignore_ascii_case(name)
            || self.short_names.iter().any(|short| short == name)
    }
}

/// The resource types of one cluster, in discovery order: the core group
/// first, then the groups in the order the server lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceTable {
    types: Vec<ResourceType>,
}

impl ResourceTable {
    /// Adds the resources of one discovery document. Subresources such as
    /// `pods/log` are skipped.
    pub fn add_list(&mut self, list: &APIResourceList) {
        let (group, version) = match list.group_version.split_once('/') {
            Some((group, version)) => (group.to_string(), version.to_string()),
            None => (String::new(), list.group_version.clone()),
        };
        for resource in &list.resources {
            if resource.name.contains('/') {
                continue;
            }
            self.types.push(resource_type(resource, &group, &version));
        }
    }

    /// Returns every resource type.
    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// Returns an MD5 digest of every field of every type, in order, so
    /// equal tables have equal digests.
    fn digest(&self) -> [u8; 16] {
        use md5::{Digest, Md5};

        let mut hasher = Md5::new();
        let mut field = |text: &str| {
            hasher.update(text.len().to_le_bytes());
            hasher.update(text.as_bytes());
        };
        for resource_type in &self.types {
            for text in [
                &resource_type.plural,
                &resource_type.singular,
                &resource_type.kind,
                &resource_type.group,
                &resource_type.version,
            ] {
                field(text);
            }
            field(if resource_type.namespaced { "1" } else { "0" });
            for list in [&resource_type.short_names, &resource_type.verbs] {
                field(&list.len().to_string());
                list.iter().for_each(|text| field(text));
            }
        }
        hasher.finalize().into()
    }

    /// Resolves a name as a user types it: a plural, singular, kind or short
    /// name, optionally followed by `.group` (or `.version.group`).
    pub fn resolve(&self, name: &str) -> Option<&ResourceType> {
        let name = name.trim().to_ascii_lowercase();
        if let Some(found) = self.types.iter().find(|t| t.answers_to(&name)) {
            return Some(found);
        }

        let (base, qualifier) = name.split_once('.')?;
        self.types.iter().find(|t| {
            let version_and_group = format!("{}.{}", t.version, t.group);
            t.answers_to(base) && (t.group == qualifier || version_and_group == qualifier)
        })
    }
}

/// The resource tables in use, so that clusters serving the same types
/// share one. A table lives as long as some client keeps it.
#[derive(Debug, Default)]
pub struct TableCache {
    tables: Mutex<HashMap<[u8; 16], Weak<ResourceTable>>>,
}

impl TableCache {
    /// Returns a table equal to `table`, the one already in use if any.
    pub fn share(&self, table: ResourceTable) -> Arc<ResourceTable> {
        let digest = table.digest();
        let mut tables = self.tables.lock();
        if let Some(shared) = tables.get(&digest).and_then(Weak::upgrade) {
            return shared;
        }
        tables.retain(|_, table| table.strong_count() > 0);
        let table = Arc::new(table);
        tables.insert(digest, Arc::downgrade(&table));
        table
    }
}

fn resource_type(resource: &APIResource, group: &str, version: &str) -> ResourceType {
    ResourceType {
        plural: resource.name.clone(),
        singular: resource.singular_name.clone(),
        kind: resource.kind.clone(),
        group: resource.group.clone().unwrap_or_else(|| group.to_string()),
        version: resource
            .version
            .clone()
            .unwrap_or_else(|| version.to_string()),
        namespaced: resource.namespaced,
        short_names: resource.short_names.clone().unwrap_or_default(),
        verbs: resource.verbs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_resource(name: &str, singular: &str, kind: &str, short: &[&str]) -> APIResource {
        APIResource {
            name: name.to_string(),
            singular_name: singular.to_string(),
            kind: kind.to_string(),
            namespaced: true,
            short_names: Some(short.iter().map(|s| s.to_string()).collect()),
            verbs: vec!["get".to_string(), "list".to_string()],
            ..APIResource::default()
        }
    }

    fn table() -> ResourceTable {
        let mut table = ResourceTable::default();
        table.add_list(&APIResourceList {
            group_version: "v1".to_string(),
            resources: vec![
                api_resource("pods", "pod", "Pod", &["po"]),
                api_resource("pods/log", "", "Pod", &[]),
                api_resource("configmaps", "configmap", "ConfigMap", &["cm"]),
            ],
        });
        table.add_list(&APIResourceList {
            group_version: "apps/v1".to_string(),
            resources: vec![api_resource(
                "deployments",
                "deployment",
                "Deployment",
                &["deploy"],
            )],
        });
        table
    }

    #[test]
    fn resolves_every_typed_form() {
        let table = table();
        let cases = [
            ("pods", "pods"),
            ("po", "pods"),
            ("Pod", "pods"),
            ("cm", "configmaps"),
            ("configmaps", "configmaps"),
            ("deploy", "deployments"),
            ("deployments", "deployments"),
            ("deployments.apps", "deployments"),
            ("deployment.v1.apps", "deployments"),
        ];
        for (typed, plural) in cases {
            let found = table.resolve(typed).map(|t| t.plural.as_str());
            assert_eq!(found, Some(plural), "resolving {typed}");
        }
    }

    #[test]
    fn unknown_and_wrong_group_are_not_found() {
        let table = table();
        assert_eq!(table.resolve("foos"), None);
        assert_eq!(table.resolve("deployments.batch"), None);
        assert_eq!(table.resolve("pods/log"), None);
    }

    #[test]
    fn equal_tables_are_shared() {
        let cache = TableCache::default();
        let first = cache.share(table());
        let second = cache.share(table());
        assert!(Arc::ptr_eq(&first, &second));

        let mut other = table();
        other.types[0].verbs.push("watch".to_string());
        let third = cache.share(other);
        assert!(!Arc::ptr_eq(&first, &third), "a different table is its own");

        drop((first, second));
        let again = cache.share(table());
        assert_eq!(
            Arc::strong_count(&again),
            1,
            "a table no client holds is dropped"
        );
    }

    #[test]
    fn paths_follow_group_and_scope() {
        let table = table();
        let deployments = table.resolve("deploy").unwrap();
        assert_eq!(
            deployments.collection_path(Some("web")),
            "/apis/apps/v1/namespaces/web/deployments"
        );
        assert_eq!(
            deployments.collection_path(None),
            "/apis/apps/v1/deployments"
        );
        assert_eq!(
            table.resolve("po").unwrap().collection_path(None),
            "/api/v1/pods"
        );
        assert_eq!(deployments.api_version(), "apps/v1");
    }
}
