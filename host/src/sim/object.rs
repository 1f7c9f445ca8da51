//! Helpers that read and write the metadata of objects stored as JSON.
//!
//! The store keeps every object as a `serde_json::Value` so that one code path
//! serves all kinds, and so that fields the simulator does not model survive a
//! round trip unchanged.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Returns `metadata.<field>` as a string, or `""` when absent.
pub(crate) fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object
        .get("metadata")
        .and_then(|metadata| metadata.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Returns `metadata.name`, or `""` when absent.
pub(crate) fn name(object: &Value) -> &str {
    meta_str(object, "name")
}

/// Returns `metadata.namespace`, or `""` when absent.
pub(crate) fn namespace(object: &Value) -> &str {
    meta_str(object, "namespace")
}

/// Returns `metadata.labels` as a map; values that are not strings are skipped.
pub(crate) fn labels(object: &Value) -> BTreeMap<String, String> {
    string_map(object.pointer("/metadata/labels"))
}

/// Converts a JSON object of strings into a map; anything else gives an empty map.
pub(crate) fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(map)) = value else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_string())))
        .collect()
}

/// Returns the `metadata` object, creating it (and replacing a non-object) when needed.
pub(crate) fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object.is_object() {
        *object = Value::Object(Map::new());
    }
    let root = object
        .as_object_mut()
        .expect("object was just made an object");
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !metadata.is_object() {
        *metadata = Value::Object(Map::new());
    }
    metadata
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// Sets `metadata.<field>` to a string.
pub(crate) fn set_meta(object: &mut Value, field: &str, value: impl Into<String>) {
    metadata_mut(object).insert(field.to_string(), Value::String(value.into()));
}

/// Counts the entries of the JSON object at `pointer`, or 0 when absent.
pub(crate) fn count_entries(object: &Value, pointer: &str) -> usize {
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

/// Returns the string at `pointer`, or `""` when absent or not a string.
pub(crate) fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Returns the integer at `pointer`, or 0 when absent.
pub(crate) fn int_at(object: &Value, pointer: &str) -> i64 {
    object.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Returns the array at `pointer`, or an empty slice when absent.
pub(crate) fn array_at<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
