//! Strategic merge patch (`application/strategic-merge-patch+json`) of built-in kinds.
//!
//! Objects merge key by key and `null` removes a key, as in a JSON merge patch,
//! but lists merge as the `merge_keys` table defines. The directives that kubectl
//! sends are interpreted here and never stored:
//!
//! - `$patch: replace` in an object replaces it, and as a list element replaces the list;
//! - `$patch: delete` in an object deletes it, and in a keyed list element deletes
//!   the element with that key;
//! - `$setElementOrder/<list>` orders a merged list by the given keys or values;
//! - `$deleteFromPrimitiveList/<list>` removes the given values from a scalar list;
//! - `$retainKeys` in an object keeps only the listed keys after merging.

use serde_json::{Map, Value};

use super::merge_keys::{ListStrategy, list_strategy};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Strategic merge patch application error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StrategicError {
    /// The patch is not a JSON object.
    #[error("the strategic merge patch must be a JSON object")]
    NotAnObject,
    /// A `$patch` directive has a value other than merge, replace or delete.
    #[error("unknown patch type: {0} in map: must be one of merge, replace or delete")]
    UnknownDirective(String),
}

/// Instruction from a merged object to its parent.
enum Outcome {
    Keep,
    Delete,
}

/// Applies a strategic merge patch to `target`, an object of a built-in kind.
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), StrategicError> {
    let patch = patch.as_object().ok_or(StrategicError::NotAnObject)?;
    let root = ensure_object(target);
    if let Outcome::Delete = merge_object(root, patch, &[])? {
        root.clear();
    }
    Ok(())
}

fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    value
        .as_object_mut()
        .expect("value was just made an object")
}

fn merge_object(
    target: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    path: &[&str],
) -> Result<Outcome, StrategicError> {
    match patch.get(PATCH).and_then(Value::as_str) {
        None | Some("merge") => {}
        Some("delete") => return Ok(Outcome::Delete),
        Some("replace") => {
            target.clear();
            return merge_object(target, &without_directive(patch), path);
        }
        Some(other) => return Err(StrategicError::UnknownDirective(other.to_string())),
    }
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_list(target, list, value);
        } else if !key.starts_with('$') {
            merge_field(target, key, value, path)?;
        }
    }
    for (key, order) in patch {
        if let Some(list) = key.strip_prefix(SET_ELEMENT_ORDER) {
            order_list(target, list, order, &child_path(path, list));
        }
    }
    if let Some(Value::Array(retained)) = patch.get(RETAIN_KEYS) {
        target.retain(|key, _| retained.iter().any(|kept| kept.as_str() == Some(key)));
    }
    Ok(Outcome::Keep)
}

fn merge_field(
    target: &mut Map<String, Value>,
    key: &str,
    value: &Value,
    path: &[&str],
) -> Result<(), StrategicError> {
    let path = child_path(path, key);
    match value {
        Value::Null => {
            target.remove(key);
        }
        Value::Object(patch) => {
            let child = ensure_object(target.entry(key).or_insert(Value::Null));
            if let Outcome::Delete = merge_object(child, patch, &path)? {
                target.remove(key);
            }
        }
        Value::Array(patch) => {
            let current = target.remove(key);
            let merged = merge_list(current, patch, &path)?;
            target.insert(key.to_string(), Value::Array(merged));
        }
        scalar => {
            target.insert(key.to_string(), scalar.clone());
        }
    }
    Ok(())
}

fn merge_list(
    current: Option<Value>,
    patch: &[Value],
    path: &[&str],
) -> Result<Vec<Value>, StrategicError> {
    let replace = patch
        .iter()
        .any(|item| item.get(PATCH).and_then(Value::as_str) == Some("replace"));
    let mut items = match current {
        Some(Value::Array(items)) if !replace => items,
        _ => Vec::new(),
    };
    match list_strategy(path) {
        ListStrategy::Replace => return fresh_items(patch, path),
        ListStrategy::MergeSet => {
            for item in patch {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
        }
        ListStrategy::MergeByKey(key) => {
            for item in patch.iter().filter_map(Value::as_object) {
                merge_keyed_item(&mut items, item, key, path)?;
            }
        }
    }
    Ok(items)
}

/// Merges one patch element into the element with the same merge key, appends it
/// when there is none, or removes the match for `$patch: delete`.
fn merge_keyed_item(
    items: &mut Vec<Value>,
    patch: &Map<String, Value>,
    key: &str,
    path: &[&str],
) -> Result<(), StrategicError> {
    if patch.len() == 1 && patch.contains_key(PATCH) {
        return Ok(());
    }
    let expected = patch.get(key);
    let position = items
        .iter()
        .position(|item| expected.is_some() && item.get(key) == expected);
    let mut merged = match position {
        Some(index) => items.remove(index),
        None => Value::Object(Map::new()),
    };
    let outcome = merge_object(ensure_object(&mut merged), patch, path)?;
    if let Outcome::Keep = outcome {
        items.insert(position.unwrap_or(items.len()), merged);
    }
    Ok(())
}

/// Builds a list from patch elements alone, interpreting directives inside them.
fn fresh_items(patch: &[Value], path: &[&str]) -> Result<Vec<Value>, StrategicError> {
    let mut items = Vec::new();
    for item in patch {
        match item {
            Value::Object(fields) if fields.len() == 1 && fields.contains_key(PATCH) => {}
            Value::Object(fields) => {
                let mut fresh = Map::new();
                if let Outcome::Keep = merge_object(&mut fresh, fields, path)? {
                    items.push(Value::Object(fresh));
                }
            }
            other => items.push(other.clone()),
        }
    }
    Ok(items)
}

fn delete_from_list(target: &mut Map<String, Value>, list: &str, values: &Value) {
    let (Some(Value::Array(items)), Value::Array(removed)) = (target.get_mut(list), values) else {
        return;
    };
    items.retain(|item| !removed.contains(item));
}

/// Orders the list `list` of `target` by `order`: elements named in `order` come in
/// that order, and the others keep their place after them.
fn order_list(target: &mut Map<String, Value>, list: &str, order: &Value, path: &[&str]) {
    let (Some(Value::Array(items)), Value::Array(order)) = (target.get_mut(list), order) else {
        return;
    };
    let identity = |item: &Value| -> Value {
        match list_strategy(path) {
            ListStrategy::MergeByKey(key) => item.get(key).cloned().unwrap_or(Value::Null),
            _ => item.clone(),
        }
    };
    let rank = |item: &Value| {
        let id = identity(item);
        order
            .iter()
            .position(|entry| identity(entry) == id)
            .unwrap_or(order.len())
    };
    items.sort_by_key(|item| rank(item));
}

fn without_directive(patch: &Map<String, Value>) -> Map<String, Value> {
    let mut copy = patch.clone();
    copy.remove(PATCH);
    copy
}

fn child_path<'a>(path: &[&'a str], key: &'a str) -> Vec<&'a str> {
    let mut child = path.to_vec();
    child.push(key);
    child
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.27.3", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "ports": [{"containerPort": 80}], "args": ["a", "b"]},
            {"name": "sidecar", "image": "busybox"}
        ]}}}})
    }

    fn patched(patch: Value) -> Value {
        let mut target = deployment();
        strategic_merge(&mut target, &patch).unwrap();
        target
    }

    #[test]
    fn containers_merge_by_name() {
        let result = patched(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28.0"}]}}}}),
        );
        let containers = &result["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "nginx:1.28.0");
        assert_eq!(containers[0]["env"][1]["value"], "2");
        assert_eq!(containers[1]["name"], "sidecar");
    }

    #[test]
    fn delete_directive_removes_element() {
        let result = patched(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
        );
        let containers = result["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0]["name"], "web");
    }

    #[test]
    fn replace_directive_replaces_list_and_map() {
        let result = patched(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "x"}, {"$patch": "replace"}
        ]}}}}));
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
        let result = patched(
            json!({"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"a": "b"}}}}}),
        );
        assert_eq!(
            result["spec"]["template"],
            json!({"metadata": {"labels": {"a": "b"}}})
        );
    }

    #[test]
    fn set_element_order_and_primitive_delete() {
        let result = patched(json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
            "containers": [{"name": "web", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                            "$deleteFromPrimitiveList/args": ["a"]}]
        }}}}));
        let containers = &result["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["name"], "sidecar");
        assert_eq!(containers[1]["env"][0]["name"], "B");
        assert_eq!(containers[1]["args"], json!(["b"]));
        assert!(containers[1].get("$setElementOrder/env").is_none());
    }

    #[test]
    fn retain_keys_and_null() {
        let mut target = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "paused": true}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}, "paused": null}});
        strategic_merge(&mut target, &patch).unwrap();
        assert_eq!(target, json!({"spec": {"strategy": {"type": "Recreate"}}}));
    }

    #[test]
    fn finalizers_union() {
        let mut target = json!({"metadata": {"finalizers": ["a"]}});
        strategic_merge(
            &mut target,
            &json!({"metadata": {"finalizers": ["b", "a"]}}),
        )
        .unwrap();
        assert_eq!(target["metadata"]["finalizers"], json!(["a", "b"]));
    }
}
