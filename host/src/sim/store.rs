//! The object store of one simulated cluster: objects by resource, namespace and
//! name, and one resourceVersion counter that rises on every write.
//!
//! Objects are kept in key order (namespace, then name), which is the order
//! kube-apiserver lists them in because etcd keys sort that way.

use std::collections::{BTreeMap, HashMap};

use parking_lot::RwLock;
use serde_json::{Value, json};

use super::object;
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};
use super::time;

/// Position of an object within one resource: namespace (empty when cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjectKey {
    /// Namespace, or `""` for cluster-scoped objects.
    pub(crate) namespace: String,
    /// Object name.
    pub(crate) name: String,
}

impl ObjectKey {
    /// Builds a key from a namespace and a name.
    pub(crate) fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// Objects of one resource listed at one resourceVersion.
pub(crate) struct Snapshot {
    /// Store revision when the list was taken.
    pub(crate) revision: u64,
    /// Objects in key order.
    pub(crate) items: Vec<(ObjectKey, Value)>,
}

/// Whether a write is stored or only checked (`dryRun=All`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Store the result.
    Store,
    /// Compute and return the result without storing it.
    DryRun,
}

/// The objects of one cluster behind a read-write lock.
pub(crate) struct Store {
    cluster_index: usize,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    revision: u64,
    uid_counter: u64,
    objects: HashMap<&'static str, BTreeMap<ObjectKey, Value>>,
}

impl State {
    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    fn bucket(&mut self, resource: &ResourceType) -> &mut BTreeMap<ObjectKey, Value> {
        self.objects.entry(resource.plural).or_default()
    }
}

impl Store {
    /// Creates an empty store for the cluster with 1-based `cluster_index`.
    pub(crate) fn new(cluster_index: usize) -> Self {
        Self {
            cluster_index,
            state: RwLock::new(State::default()),
        }
    }

    /// Returns a new unique uid in the UUID text form.
    pub(crate) fn next_uid(&self) -> String {
        let mut state = self.state.write();
        state.uid_counter += 1;
        format_uid(self.cluster_index, state.uid_counter)
    }

    /// Returns a copy of one object.
    pub(crate) fn get(&self, resource: &ResourceType, key: &ObjectKey) -> Option<Value> {
        let state = self.state.read();
        state.objects.get(resource.plural)?.get(key).cloned()
    }

    /// Lists the objects of a resource, in one namespace or in all of them.
    pub(crate) fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> Snapshot {
        let state = self.state.read();
        let items = state
            .objects
            .get(resource.plural)
            .into_iter()
            .flat_map(|bucket| bucket.iter())
            .filter(|(key, _)| namespace.is_none_or(|wanted| key.namespace == wanted))
            .map(|(key, object)| (key.clone(), object.clone()))
            .collect();
        Snapshot {
            revision: state.revision,
            items,
        }
    }

    /// Stores a new object after checking that its namespace exists and its name is free.
    ///
    /// Sets uid, creationTimestamp, generation and resourceVersion. The object's
    /// `metadata.name` and, for namespaced resources, `metadata.namespace` must be set.
    pub(crate) fn create(
        &self,
        resource: &ResourceType,
        mut object: Value,
        commit: Commit,
    ) -> ApiResult<Value> {
        let key = ObjectKey::new(object::namespace(&object), object::name(&object));
        let mut state = self.state.write();
        if resource.namespaced && !namespace_exists(&state, &key.namespace) {
            return Err(ApiError::not_found(namespaces(), &key.namespace));
        }
        if state.bucket(resource).contains_key(&key) {
            return Err(ApiError::already_exists(resource, &key.name));
        }
        state.uid_counter += 1;
        let uid = format_uid(self.cluster_index, state.uid_counter);
        let metadata = object::metadata_mut(&mut object);
        metadata.insert("uid".into(), json!(uid));
        metadata.insert("creationTimestamp".into(), json!(time::format(time::now())));
        metadata.insert("generation".into(), json!(1));
        metadata.remove("deletionTimestamp");
        if commit == Commit::DryRun {
            return Ok(object);
        }
        let revision = state.next_revision();
        object::set_meta(&mut object, "resourceVersion", revision.to_string());
        state.bucket(resource).insert(key, object.clone());
        Ok(object)
    }

    /// Stores a seeded object as it is, apart from a new resourceVersion.
    pub(crate) fn insert_seed(&self, resource: &ResourceType, mut object: Value) {
        let key = ObjectKey::new(object::namespace(&object), object::name(&object));
        let mut state = self.state.write();
        let revision = state.next_revision();
        object::set_meta(&mut object, "resourceVersion", revision.to_string());
        state.bucket(resource).insert(key, object);
    }

    /// Replaces an object with the result of `change`, applied to the stored object
    /// under the write lock so that concurrent updates cannot interleave.
    ///
    /// Rejects a new object whose resourceVersion is set and differs from the stored
    /// one with 409 Conflict. Keeps uid and creationTimestamp, keeps the stored status
    /// of resources with a status subresource, and raises generation when spec changes.
    pub(crate) fn update(
        &self,
        resource: &ResourceType,
        key: &ObjectKey,
        commit: Commit,
        change: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Value> {
        let mut state = self.state.write();
        let Some(current) = state.bucket(resource).get(key) else {
            return Err(ApiError::not_found(resource, &key.name));
        };
        let mut updated = change(current)?;
        let sent_version = object::meta_str(&updated, "resourceVersion");
        if !sent_version.is_empty() && sent_version != object::meta_str(current, "resourceVersion")
        {
            return Err(ApiError::conflict(resource, &key.name));
        }
        carry_over_server_fields(resource, current, &mut updated);
        if updated == *current || commit == Commit::DryRun {
            return Ok(updated);
        }
        let revision = state.next_revision();
        object::set_meta(&mut updated, "resourceVersion", revision.to_string());
        state.bucket(resource).insert(key.clone(), updated.clone());
        Ok(updated)
    }

    /// Removes an object and returns it. Removing a namespace also removes every
    /// object inside it.
    pub(crate) fn delete(
        &self,
        resource: &ResourceType,
        key: &ObjectKey,
        commit: Commit,
    ) -> ApiResult<Value> {
        let mut state = self.state.write();
        let Some(object) = state.bucket(resource).get(key).cloned() else {
            return Err(ApiError::not_found(resource, &key.name));
        };
        if commit == Commit::DryRun {
            return Ok(object);
        }
        state.bucket(resource).remove(key);
        state.next_revision();
        if resource.plural == "namespaces" {
            for bucket in state.objects.values_mut() {
                bucket.retain(|contained, _| contained.namespace != key.name);
            }
        }
        Ok(object)
    }
}

fn namespaces() -> &'static ResourceType {
    super::resources::find("", "v1", "namespaces").expect("namespaces are in the catalog")
}

fn namespace_exists(state: &State, namespace: &str) -> bool {
    state
        .objects
        .get("namespaces")
        .is_some_and(|bucket| bucket.contains_key(&ObjectKey::new("", namespace)))
}

/// Copies fields that clients cannot change from the stored object into an update.
fn carry_over_server_fields(resource: &ResourceType, current: &Value, updated: &mut Value) {
    for field in ["uid", "creationTimestamp", "resourceVersion"] {
        let value = object::meta_str(current, field).to_string();
        object::set_meta(updated, field, value);
    }
    let generation = object::int_at(current, "/metadata/generation");
    let generation = if current.get("spec") != updated.get("spec") {
        generation + 1
    } else {
        generation
    };
    object::metadata_mut(updated).insert("generation".into(), json!(generation));
    if resource.has_status {
        match current.get("status") {
            Some(status) => updated["status"] = status.clone(),
            None => {
                updated.as_object_mut().map(|root| root.remove("status"));
            }
        }
    }
}

/// Formats a uid that is unique per cluster and counter, in the UUID version 4 layout.
fn format_uid(cluster_index: usize, counter: u64) -> String {
    let cluster = cluster_index as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        cluster.wrapping_mul(0x9e37_79b9) & 0xffff_ffff,
        (counter >> 48) & 0xffff,
        (counter >> 36) & 0xfff,
        (counter >> 24) & 0xfff,
        counter & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::find;

    fn store_with_namespace() -> Store {
        let store = Store::new(1);
        let namespaces = find("", "v1", "namespaces").unwrap();
        store.insert_seed(namespaces, json!({"metadata": {"name": "default"}}));
        store
    }

    #[test]
    fn create_sets_server_fields() {
        let store = store_with_namespace();
        let configmaps = find("", "v1", "configmaps").unwrap();
        let object = json!({"metadata": {"name": "a", "namespace": "default"}});
        let created = store.create(configmaps, object, Commit::Store).unwrap();
        assert_eq!(object::meta_str(&created, "resourceVersion"), "2");
        assert_eq!(created["metadata"]["generation"], 1);
        assert!(
            created["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }

    #[test]
    fn create_missing_namespace() {
        let store = store_with_namespace();
        let configmaps = find("", "v1", "configmaps").unwrap();
        let object = json!({"metadata": {"name": "a", "namespace": "nope"}});
        let error = store.create(configmaps, object, Commit::Store).unwrap_err();
        assert_eq!(error.message, "namespaces \"nope\" not found");
    }

    #[test]
    fn update_stale_version_conflicts() {
        let store = store_with_namespace();
        let configmaps = find("", "v1", "configmaps").unwrap();
        let object = json!({"metadata": {"name": "a", "namespace": "default"}});
        store.create(configmaps, object, Commit::Store).unwrap();
        let key = ObjectKey::new("default", "a");
        let stale =
            json!({"metadata": {"name": "a", "namespace": "default", "resourceVersion": "1"}});
        let error = store
            .update(configmaps, &key, Commit::Store, |_| Ok(stale))
            .unwrap_err();
        assert_eq!(error.reason, "Conflict");
    }

    #[test]
    fn delete_namespace_removes_contents() {
        let store = store_with_namespace();
        let configmaps = find("", "v1", "configmaps").unwrap();
        let object = json!({"metadata": {"name": "a", "namespace": "default"}});
        store.create(configmaps, object, Commit::Store).unwrap();
        store
            .delete(namespaces(), &ObjectKey::new("", "default"), Commit::Store)
            .unwrap();
        assert!(store.list(configmaps, None).items.is_empty());
    }
}
