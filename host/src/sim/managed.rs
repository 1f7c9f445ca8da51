//! `metadata.managedFields`: which field manager owns which fields, updated on
//! every write as kube-apiserver does.
//!
//! Entries are keyed by manager name and operation. An update (create, replace or
//! a non-apply patch) gives its manager the fields it changed and takes them from
//! every other manager. Server-side apply (the `apply` module) owns exactly the
//! fields of its configuration. Entries left without fields are dropped.
//! NOTE: requests without a `fieldManager` are recorded under `unknown`, where
//! kube-apiserver derives the name from the User-Agent header.

use serde_json::{Value, json};

use super::fieldset::{FieldSet, Style, value_at};
use super::object;
use super::time;

/// Manager name used when a write request names none.
pub(crate) const DEFAULT_MANAGER: &str = "unknown";

/// The operation a managedFields entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, replace or a non-apply patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// One managedFields entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    /// Field manager name, such as `kubectl-client-side-apply`.
    pub(crate) manager: String,
    /// Operation that set the fields.
    pub(crate) operation: Operation,
    /// apiVersion the fields were written in.
    pub(crate) api_version: String,
    /// RFC 3339 time of the last change to the entry.
    pub(crate) time: String,
    /// Owned fields.
    pub(crate) fields: FieldSet,
}

impl Entry {
    /// Builds an entry stamped with the current time.
    pub(crate) fn new(
        manager: &str,
        operation: Operation,
        api_version: &str,
        fields: FieldSet,
    ) -> Self {
        Self {
            manager: manager.to_string(),
            operation,
            api_version: api_version.to_string(),
            time: time::format(time::now()),
            fields,
        }
    }

    /// Returns whether this entry belongs to `manager` with `operation`.
    pub(crate) fn is(&self, manager: &str, operation: Operation) -> bool {
        self.manager == manager && self.operation == operation
    }

    /// Returns the manager as apply conflicts name it: update managers with their apiVersion.
    pub(crate) fn display(&self) -> String {
        match self.operation {
            Operation::Apply => format!("\"{}\"", self.manager),
            Operation::Update => format!("\"{}\" using {}", self.manager, self.api_version),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "manager": self.manager,
            "operation": self.operation.as_str(),
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        })
    }

    fn from_json(entry: &Value) -> Option<Self> {
        let operation = match entry.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            _ => Operation::Update,
        };
        Some(Self {
            manager: entry.get("manager")?.as_str()?.to_string(),
            operation,
            api_version: object::str_at(entry, "/apiVersion").to_string(),
            time: object::str_at(entry, "/time").to_string(),
            fields: FieldSet::from_fields_v1(entry.get("fieldsV1")?),
        })
    }
}

/// Reads the managedFields entries of an object.
pub(crate) fn read(object: &Value) -> Vec<Entry> {
    object::array_at(object, "/metadata/managedFields")
        .iter()
        .filter_map(Entry::from_json)
        .collect()
}

/// Writes `entries` as the object's managedFields, dropping those without fields.
pub(crate) fn write(object: &mut Value, entries: Vec<Entry>) {
    let entries: Vec<Value> = entries
        .iter()
        .filter(|entry| !entry.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    let metadata = object::metadata_mut(object);
    if entries.is_empty() {
        metadata.remove("managedFields");
    } else {
        metadata.insert("managedFields".into(), Value::Array(entries));
    }
}

/// Records an update by `manager` that turned `old` (`None` on create) into `new`.
pub(crate) fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
) {
    let mut entries = old.map(read).unwrap_or_default();
    let empty = json!({});
    let changed = FieldSet::changed(old.unwrap_or(&empty), new, Style::Update);
    let before = entries.clone();
    for entry in &mut entries {
        entry
            .fields
            .remove_where(|path| changed.contains(path) || value_at(new, path).is_none());
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|entry| entry.is(manager, Operation::Update))
        {
            Some(entry) => {
                entry.fields.extend(&changed);
                entry.time = time::format(time::now());
                entry.api_version = api_version.to_string();
            }
            None => entries.push(Entry::new(manager, Operation::Update, api_version, changed)),
        }
    }
    if entries == before && old.is_some() {
        let stored = old
            .and_then(|old| old.pointer("/metadata/managedFields"))
            .cloned();
        restore(new, stored);
        return;
    }
    write(new, entries);
}

/// Puts back the stored managedFields unchanged, so that a no-op write stays a no-op.
fn restore(object: &mut Value, managed_fields: Option<Value>) {
    let metadata = object::metadata_mut(object);
    match managed_fields {
        Some(entries) => metadata.insert("managedFields".into(), entries),
        None => metadata.remove("managedFields"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_moves_ownership() {
        let mut created = json!({"metadata": {"name": "cm"}, "data": {"a": "1", "b": "2"}});
        record_update(None, &mut created, "first", "v1");
        let mut changed = created.clone();
        changed["data"]["b"] = json!("3");
        record_update(Some(&created), &mut changed, "second", "v1");
        let entries = read(&changed);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].fields.to_fields_v1(),
            json!({"f:data": {".": {}, "f:a": {}}})
        );
        assert_eq!(
            entries[1].fields.to_fields_v1(),
            json!({"f:data": {"f:b": {}}})
        );
    }

    #[test]
    fn unchanged_update_keeps_entries() {
        let mut created = json!({"metadata": {"name": "cm"}, "data": {"a": "1"}});
        record_update(None, &mut created, "first", "v1");
        let mut same = created.clone();
        same["metadata"]["managedFields"] = Value::Null;
        record_update(Some(&created), &mut same, "second", "v1");
        assert_eq!(same, created);
    }
}
