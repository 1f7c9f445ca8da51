//! The object store of one simulated cluster: objects by resource, namespace and
//! name, and one resourceVersion counter that rises on every write.
//!
//! Objects are kept in key order (namespace, then name), which is the order
//! kube-apiserver lists them in because etcd keys sort that way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::events::{EventLog, EventType, Expired, StoredEvent};
use super::object;
use super::resources::{self, ResourceId, ResourceType};
use super::status::{ApiError, ApiResult};
use super::{crd, time};

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

    /// Returns the key of a stored object, read from its metadata.
    pub(crate) fn of(object: &Value) -> Self {
        Self::new(object::namespace(object), object::name(object))
    }
}

/// Objects of one resource listed at one resourceVersion.
pub(crate) struct Snapshot {
    /// Store revision when the list was taken.
    pub(crate) revision: u64,
    /// Objects in key order.
    pub(crate) items: Vec<(ObjectKey, Value)>,
}

/// The start of a watch: the events to send first and the channel of later ones.
pub(crate) struct WatchStart {
    /// Events to send before any live one, in resourceVersion order.
    pub(crate) initial: Vec<Arc<StoredEvent>>,
    /// Events recorded after `initial`.
    pub(crate) receiver: broadcast::Receiver<Arc<StoredEvent>>,
    /// Store revision when the watch started.
    pub(crate) revision: u64,
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
    stop: watch::Sender<bool>,
}

#[derive(Default)]
struct State {
    revision: u64,
    uid_counter: u64,
    objects: HashMap<ResourceId, BTreeMap<ObjectKey, Value>>,
    events: EventLog,
}

impl State {
    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    fn bucket(&mut self, resource: &ResourceType) -> &mut BTreeMap<ObjectKey, Value> {
        self.objects.entry(resource.id()).or_default()
    }

    /// Stores `object` under a new revision and records the event.
    fn put(
        &mut self,
        resource: &ResourceType,
        mut object: Value,
        previous: Option<Value>,
    ) -> Value {
        let revision = self.next_revision();
        object::set_meta(&mut object, "resourceVersion", revision.to_string());
        let key = ObjectKey::of(&object);
        self.bucket(resource).insert(key.clone(), object.clone());
        let event_type = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.events.record(StoredEvent {
            revision,
            event_type,
            resource: resource.id(),
            namespace: key.namespace,
            object: object.clone(),
            previous,
        });
        object
    }

    /// Removes one object under a new revision and records the DELETED event.
    fn remove(&mut self, resource: ResourceId, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.get_mut(&resource)?.remove(key)?;
        let revision = self.next_revision();
        object::set_meta(&mut object, "resourceVersion", revision.to_string());
        self.events.record(StoredEvent {
            revision,
            event_type: EventType::Deleted,
            resource,
            namespace: key.namespace.clone(),
            object: object.clone(),
            previous: None,
        });
        Some(object)
    }

    /// Removes every object that lives in `namespace`, one DELETED event each.
    fn remove_namespace_contents(&mut self, namespace: &str) {
        let contained: Vec<(ResourceId, ObjectKey)> = self
            .objects
            .iter()
            .flat_map(|(resource, bucket)| bucket.keys().map(move |key| (*resource, key)))
            .filter(|(_, key)| key.namespace == namespace)
            .map(|(resource, key)| (resource, key.clone()))
            .collect();
        for (resource, key) in contained {
            self.remove(resource, &key);
        }
    }

    /// Removes every object of the resource a deleted CustomResourceDefinition defined.
    fn remove_custom_objects(&mut self, definition: &Value) {
        let Some(resource) = crd::resource_type(definition) else {
            return;
        };
        let keys: Vec<ObjectKey> = self
            .objects
            .get(&resource.id())
            .map(|bucket| bucket.keys().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            self.remove(resource.id(), &key);
        }
    }
}

impl Store {
    /// Creates an empty store for the cluster with 1-based `cluster_index`.
    pub(crate) fn new(cluster_index: usize) -> Self {
        Self {
            cluster_index,
            state: RwLock::new(State::default()),
            stop: watch::channel(false).0,
        }
    }

    /// Returns the 1-based index of the cluster this store belongs to.
    pub(crate) fn cluster_index(&self) -> usize {
        self.cluster_index
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
        state.objects.get(&resource.id())?.get(key).cloned()
    }

    /// Lists the objects of a resource, in one namespace or in all of them.
    pub(crate) fn list(&self, resource: &ResourceType, namespace: Option<&str>) -> Snapshot {
        let state = self.state.read();
        let items = state
            .objects
            .get(&resource.id())
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

    /// Returns the oldest resourceVersion that watches and continue tokens may use.
    pub(crate) fn oldest_revision(&self) -> u64 {
        self.state.read().events.oldest()
    }

    /// Returns the current store revision.
    #[cfg(test)]
    pub(crate) fn revision(&self) -> u64 {
        self.state.read().revision
    }

    /// Starts a watch of a resource. Without `from`, the initial events are ADDED
    /// events for the objects stored now. With it, they are the recorded events after
    /// that resourceVersion, or [`Expired`] when the history no longer has them.
    pub(crate) fn watch(
        &self,
        resource: &ResourceType,
        namespace: Option<&str>,
        from: Option<u64>,
    ) -> Result<WatchStart, Expired> {
        let state = self.state.read();
        let initial = match from {
            Some(revision) => state.events.since(revision)?,
            None => current_objects(&state, resource, namespace),
        };
        Ok(WatchStart {
            initial,
            receiver: state.events.subscribe(),
            revision: state.revision,
        })
    }

    /// Drops the event history, as etcd compaction does: watches from older
    /// resourceVersions and continue tokens of older lists get 410 Expired.
    /// Returns the revision compacted to.
    pub(crate) fn compact(&self) -> u64 {
        let mut state = self.state.write();
        let revision = state.revision;
        state.events.compact(revision);
        revision
    }

    /// Returns a receiver that turns true when open watches must end.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Ends every open watch, so that connections can close at shutdown.
    pub(crate) fn stop_watches(&self) {
        self.stop.send_replace(true);
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
        let key = ObjectKey::of(&object);
        let mut state = self.state.write();
        if resource.namespaced && !namespace_exists(&state, &key.namespace) {
            return Err(ApiError::not_found(resources::namespaces(), &key.namespace));
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
        metadata.remove("resourceVersion");
        if commit == Commit::DryRun {
            return Ok(object);
        }
        Ok(state.put(resource, object, None))
    }

    /// Stores a seeded object as it is, apart from a new resourceVersion.
    pub(crate) fn insert_seed(&self, resource: &ResourceType, object: Value) {
        self.state.write().put(resource, object, None);
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
        let Some(current) = state.bucket(resource).get(key).cloned() else {
            return Err(ApiError::not_found(resource, &key.name));
        };
        let mut updated = change(&current)?;
        let sent_version = object::meta_str(&updated, "resourceVersion");
        if !sent_version.is_empty() && sent_version != object::meta_str(&current, "resourceVersion")
        {
            return Err(ApiError::conflict(resource, &key.name));
        }
        carry_over_server_fields(resource, &current, &mut updated);
        if updated == current || commit == Commit::DryRun {
            return Ok(updated);
        }
        Ok(state.put(resource, updated, Some(current)))
    }

    /// Removes an object and returns it. Removing a namespace also removes every
    /// object inside it, and removing a CustomResourceDefinition every object of
    /// the resource it defined.
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
        let removed = state.remove(resource.id(), key).unwrap_or(object);
        if resource.id() == resources::namespaces().id() {
            state.remove_namespace_contents(&key.name);
        }
        if resource.id() == resources::custom_resource_definitions().id() {
            state.remove_custom_objects(&removed);
        }
        Ok(removed)
    }
}

/// Builds ADDED events for the objects of a resource as they are stored now.
fn current_objects(
    state: &State,
    resource: &ResourceType,
    namespace: Option<&str>,
) -> Vec<Arc<StoredEvent>> {
    let Some(bucket) = state.objects.get(&resource.id()) else {
        return Vec::new();
    };
    bucket
        .iter()
        .filter(|(key, _)| namespace.is_none_or(|wanted| key.namespace == wanted))
        .map(|(key, object)| {
            Arc::new(StoredEvent {
                revision: object::meta_str(object, "resourceVersion")
                    .parse()
                    .unwrap_or_default(),
                event_type: EventType::Added,
                resource: resource.id(),
                namespace: key.namespace.clone(),
                object: object.clone(),
                previous: None,
            })
        })
        .collect()
}

fn namespace_exists(state: &State, namespace: &str) -> bool {
    state
        .objects
        .get(&resources::namespaces().id())
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
            .delete(
                resources::namespaces(),
                &ObjectKey::new("", "default"),
                Commit::Store,
            )
            .unwrap();
        assert!(store.list(configmaps, None).items.is_empty());
    }

    #[test]
    fn watch_resumes_and_expires() {
        let store = store_with_namespace();
        let configmaps = find("", "v1", "configmaps").unwrap();
        let object = json!({"metadata": {"name": "a", "namespace": "default"}});
        store.create(configmaps, object, Commit::Store).unwrap();
        let start = store.watch(configmaps, None, Some(1)).unwrap();
        assert_eq!(start.initial.len(), 1);
        assert_eq!(start.initial[0].event_type, EventType::Added);
        assert_eq!(store.compact(), 2);
        assert!(store.watch(configmaps, None, Some(1)).is_err());
        assert!(
            store
                .watch(configmaps, None, Some(2))
                .unwrap()
                .initial
                .is_empty()
        );
    }

    #[test]
    fn dry_run_records_no_event() {
        let store = store_with_namespace();
        let configmaps = find("", "v1", "configmaps").unwrap();
        let object = json!({"metadata": {"name": "a", "namespace": "default"}});
        store.create(configmaps, object, Commit::DryRun).unwrap();
        assert_eq!(store.revision(), 1);
        assert!(
            store
                .watch(configmaps, None, Some(1))
                .unwrap()
                .initial
                .is_empty()
        );
    }
}
