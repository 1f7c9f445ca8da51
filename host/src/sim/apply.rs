//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): the request
//! body is the manager's whole configuration, merged into the stored object with
//! ownership tracked in `metadata.managedFields`.
//!
//! A field the configuration sets with a value other than the stored one, while
//! another manager owns it, is a conflict: 409 Conflict naming each manager and
//! field, unless `force=true` moves the field to the applying manager. Fields the
//! manager applied before and no longer applies are removed unless another manager
//! owns them. Applying to a missing object creates it (201).

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::api::{ApiRequest, Reply, Target};
use super::cluster::Cluster;
use super::fieldset::{FieldSet, Path, Style, format_path, remove_at, value_at};
use super::managed::{self, Entry, Operation};
use super::merge_keys::{ListStrategy, list_strategy};
use super::object;
use super::read::with_type;
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult, Cause};
use super::write;

/// One field that another manager owns with a different value.
struct Conflict {
    manager: String,
    path: Path,
}

/// Handles a server-side apply request.
pub(crate) fn handle(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let resource = target.resource;
    let manager = request.query.text("fieldManager");
    if manager.is_empty() {
        return Err(ApiError::invalid_options(
            "PatchOptions",
            Cause {
                reason: "FieldValueRequired",
                field: "fieldManager".into(),
                message: "Required value: is required for apply patch".into(),
            },
        ));
    }
    let mut config = write::decode_typed(request, resource, &request.body)?;
    write::place_in_namespace(&mut config, target);
    let key = write::target_key(target);
    if object::name(&config) != key.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            object::name(&config),
            key.name
        )));
    }
    let force = request.query.flag("force");
    if cluster.store.get(resource, &key).is_none() {
        let mut created = config.clone();
        let entry = Entry::new(
            manager,
            Operation::Apply,
            &resource.api_version(),
            FieldSet::of(&config, Style::Apply),
        );
        managed::write(&mut created, vec![entry]);
        let created = write::create_object(cluster, request, resource, created)?;
        return Ok(Reply::Json(StatusCode::CREATED, created));
    }
    let updated = cluster
        .store
        .update(resource, &key, write::commit(request), |current| {
            apply(resource, current, &config, manager, force)
        })?;
    Ok(Reply::ok(with_type(resource, updated)))
}

/// Applies `config` by `manager` to `current` and returns the new object.
fn apply(
    resource: &ResourceType,
    current: &Value,
    config: &Value,
    manager: &str,
    force: bool,
) -> ApiResult<Value> {
    let applied = FieldSet::of(config, Style::Apply);
    let mut entries = managed::read(current);
    let conflicts = find_conflicts(&entries, &applied, config, current, manager);
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(resource, object::name(current), &conflicts));
    }

    let mut merged = current.clone();
    remove_dropped_fields(&mut merged, &entries, &applied, manager);
    merge_value(&mut merged, config, &mut Vec::new());

    // A forced apply takes the conflicting fields from their other managers.
    for entry in entries
        .iter_mut()
        .filter(|entry| !entry.is(manager, Operation::Apply))
    {
        entry
            .fields
            .remove_where(|path| conflicts.iter().any(|conflict| conflict.path == *path));
    }
    let api_version = resource.api_version();
    match entries
        .iter_mut()
        .find(|entry| entry.is(manager, Operation::Apply))
    {
        Some(entry) if entry.fields == applied => {}
        Some(entry) => *entry = Entry::new(manager, Operation::Apply, &api_version, applied),
        None => entries.push(Entry::new(manager, Operation::Apply, &api_version, applied)),
    }
    managed::write(&mut merged, entries);
    Ok(merged)
}

/// Removes the fields `manager` applied before but no longer applies, unless
/// another manager owns them too.
fn remove_dropped_fields(object: &mut Value, entries: &[Entry], applied: &FieldSet, manager: &str) {
    let Some(previous) = entries
        .iter()
        .find(|entry| entry.is(manager, Operation::Apply))
    else {
        return;
    };
    // Deeper paths sort after their parents, so reverse order removes children first.
    for path in previous.fields.iter().rev() {
        let shared = entries
            .iter()
            .any(|entry| !entry.is(manager, Operation::Apply) && entry.fields.contains(path));
        if !applied.contains(path) && !shared {
            remove_at(object, path);
        }
    }
}

/// Lists the applied fields that other managers own with a different stored value.
fn find_conflicts(
    entries: &[Entry],
    applied: &FieldSet,
    config: &Value,
    current: &Value,
    manager: &str,
) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    for entry in entries
        .iter()
        .filter(|entry| !entry.is(manager, Operation::Apply))
    {
        for path in applied.iter().filter(|path| entry.fields.contains(path)) {
            let expected = value_at(config, path);
            let is_leaf = expected.is_some_and(|value| !value.is_object() && !value.is_array());
            if is_leaf && expected != value_at(current, path) {
                conflicts.push(Conflict {
                    manager: entry.display(),
                    path: path.clone(),
                });
            }
        }
    }
    conflicts
}

/// Builds the 409 that kube-apiserver returns for apply conflicts.
fn conflict_error(resource: &ResourceType, name: &str, conflicts: &[Conflict]) -> ApiError {
    let summary = if let [single] = conflicts {
        format!(
            "conflict with {}: {}",
            single.manager,
            format_path(&single.path)
        )
    } else {
        let mut managers: Vec<&str> = conflicts
            .iter()
            .map(|conflict| conflict.manager.as_str())
            .collect();
        managers.sort_unstable();
        managers.dedup();
        let mut lines = Vec::new();
        for manager in managers {
            lines.push(format!("conflicts with {manager}:"));
            for conflict in conflicts
                .iter()
                .filter(|conflict| conflict.manager == manager)
            {
                lines.push(format!("- {}", format_path(&conflict.path)));
            }
        }
        lines.join("\n")
    };
    let count = conflicts.len();
    let plural = if count == 1 { "" } else { "s" };
    let message = format!("Apply failed with {count} conflict{plural}: {summary}");
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|conflict| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", conflict.manager), "field": format_path(&conflict.path)}))
        .collect();
    ApiError::apply_conflict(resource, name, message, causes)
}

/// Merges an apply configuration into `target`: objects key by key, keyed lists
/// element by element, and anything else replaced.
fn merge_value(target: &mut Value, config: &Value, names: &mut Vec<String>) {
    match config {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target
                .as_object_mut()
                .expect("target was just made an object");
            for (key, value) in fields {
                names.push(key.clone());
                merge_value(map.entry(key.clone()).or_insert(Value::Null), value, names);
                names.pop();
            }
        }
        Value::Array(items) => merge_list(target, items, names),
        scalar => *target = scalar.clone(),
    }
}

fn merge_list(target: &mut Value, items: &[Value], names: &mut Vec<String>) {
    let path: Vec<&str> = names.iter().map(String::as_str).collect();
    let strategy = list_strategy(&path);
    let current = match target {
        Value::Array(current) if strategy != ListStrategy::Replace => current,
        _ => {
            *target = Value::Array(items.to_vec());
            return;
        }
    };
    for item in items {
        let position = match strategy {
            ListStrategy::MergeByKey(key) => current
                .iter()
                .position(|existing| item.get(key).is_some() && existing.get(key) == item.get(key)),
            _ => current.iter().position(|existing| existing == item),
        };
        match position {
            Some(index) => merge_value(&mut current[index], item, names),
            None => current.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::find;

    fn config_map(color: &str) -> Value {
        json!({"metadata": {"name": "cm", "namespace": "shop"}, "data": {"color": color}})
    }

    #[test]
    fn second_manager_conflicts_until_forced() {
        let configmaps = find("", "v1", "configmaps").unwrap();
        let mut stored = config_map("blue");
        let entry = Entry::new(
            "first",
            Operation::Apply,
            "v1",
            FieldSet::of(&stored, Style::Apply),
        );
        managed::write(&mut stored, vec![entry]);

        let error = apply(configmaps, &stored, &config_map("red"), "second", false).unwrap_err();
        assert_eq!(error.code, StatusCode::CONFLICT);
        assert_eq!(
            error.message,
            "Apply failed with 1 conflict: conflict with \"first\": .data.color"
        );

        let same = apply(configmaps, &stored, &config_map("blue"), "second", false).unwrap();
        assert_eq!(managed::read(&same).len(), 2);

        let forced = apply(configmaps, &stored, &config_map("red"), "second", true).unwrap();
        assert_eq!(forced["data"]["color"], "red");
        let entries = managed::read(&forced);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "second");
    }

    #[test]
    fn dropped_field_is_removed() {
        let configmaps = find("", "v1", "configmaps").unwrap();
        let mut first = config_map("blue");
        first["data"]["size"] = json!("large");
        let stored = apply(
            configmaps,
            &json!({"metadata": {"name": "cm"}}),
            &first,
            "me",
            false,
        )
        .unwrap();
        let reapplied = apply(configmaps, &stored, &config_map("blue"), "me", false).unwrap();
        assert_eq!(reapplied["data"], json!({"color": "blue"}));
    }
}
