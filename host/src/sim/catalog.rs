//! The resources one cluster serves: the built-in catalog followed by the kinds
//! that the cluster's CustomResourceDefinitions define.
//!
//! The catalog is read from the store on each request, so a definition serves its
//! kind from the moment it is created until it is deleted.

use super::resources::{self, RESOURCES, ResourceType};
use super::store::Store;
use super::{crd, object};

/// The resources served by one cluster at one moment.
pub(crate) struct Catalog {
    resources: Vec<&'static ResourceType>,
}

impl Catalog {
    /// Reads the catalog of the cluster that owns `store`.
    pub(crate) fn of(store: &Store) -> Self {
        let mut resources: Vec<&'static ResourceType> = RESOURCES.iter().collect();
        let definitions = store.list(resources::custom_resource_definitions(), None);
        for (_, definition) in &definitions.items {
            if let Some(resource) = crd::resource_type(definition)
                && !resources.iter().any(|known| known.id() == resource.id())
            {
                resources.push(resource);
            }
        }
        Self { resources }
    }

    /// Returns every served resource, built-in ones first.
    pub(crate) fn resources(&self) -> &[&'static ResourceType] {
        &self.resources
    }

    /// Finds the resource served at `group`/`version` under the plural name `plural`.
    pub(crate) fn find(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<&'static ResourceType> {
        self.resources.iter().copied().find(|resource| {
            resource.group == group && resource.version == version && resource.plural == plural
        })
    }

    /// Finds the resource whose objects have `api_version` and `kind`.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<&'static ResourceType> {
        self.resources
            .iter()
            .copied()
            .find(|resource| resource.kind == kind && resource.api_version() == api_version)
    }

    /// Finds the resource of a typed object, from its `apiVersion` and `kind`.
    pub(crate) fn of_object(&self, typed: &serde_json::Value) -> Option<&'static ResourceType> {
        let api_version = object::str_at(typed, "/apiVersion");
        let kind = object::str_at(typed, "/kind");
        self.by_kind(api_version, kind)
    }

    /// Lists the served group versions as `(group, version)`, core first, without repeats.
    pub(crate) fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        resources::group_versions(&self.resources)
    }

    /// Lists the named groups in discovery order.
    pub(crate) fn group_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for (group, _) in self.group_versions() {
            if !group.is_empty() && !names.contains(&group) {
                names.push(group);
            }
        }
        names
    }
}
