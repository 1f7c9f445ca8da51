//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902).
//!
//! NOTE: strategic merge patch and server-side apply are not implemented yet, so
//! their content types get 415 from the API handlers.

use serde_json::{Map, Value};

/// JSON patch application error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PatchError {
    /// The patch document is not an array of operation objects.
    #[error("invalid JSON patch: {0}")]
    Malformed(String),
    /// An operation refers to a path that does not exist or cannot hold a value.
    #[error("JSON patch {op} failed: path \"{path}\" {problem}")]
    Path {
        /// Operation name.
        op: String,
        /// JSON pointer of the operation.
        path: String,
        /// Problem with the path, such as `does not exist`.
        problem: &'static str,
    },
    /// A `test` operation found a different value.
    #[error("JSON patch test failed: value at \"{0}\" does not match")]
    TestFailed(String),
}

/// Applies a JSON merge patch: objects merge key by key, `null` removes a key, and
/// any other value (arrays included) replaces the target.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target
        .as_object_mut()
        .expect("target was just made an object");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Applies a JSON patch; the target is unchanged when any operation fails.
pub(crate) fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let operations = patch
        .as_array()
        .ok_or_else(|| PatchError::Malformed("the document must be an array".into()))?;
    let mut working = target.clone();
    for operation in operations {
        apply_operation(&mut working, operation)?;
    }
    *target = working;
    Ok(())
}

fn apply_operation(target: &mut Value, operation: &Value) -> Result<(), PatchError> {
    let field = |name: &str| operation.get(name).and_then(Value::as_str);
    let op = field("op").ok_or_else(|| PatchError::Malformed("operation has no \"op\"".into()))?;
    let path =
        field("path").ok_or_else(|| PatchError::Malformed(format!("{op} has no \"path\"")))?;
    let value = || {
        operation
            .get("value")
            .cloned()
            .ok_or_else(|| PatchError::Malformed(format!("{op} at \"{path}\" has no \"value\"")))
    };
    let from = || {
        field("from")
            .ok_or_else(|| PatchError::Malformed(format!("{op} at \"{path}\" has no \"from\"")))
    };
    match op {
        "add" => add(target, op, path, value()?),
        "remove" => remove(target, op, path).map(drop),
        "replace" => {
            remove(target, op, path)?;
            add(target, op, path, value()?)
        }
        "move" => {
            let moved = remove(target, op, from()?)?;
            add(target, op, path, moved)
        }
        "copy" => {
            let copied = lookup(target, op, from()?)?.clone();
            add(target, op, path, copied)
        }
        "test" => match lookup(target, op, path)? == &value()? {
            true => Ok(()),
            false => Err(PatchError::TestFailed(path.into())),
        },
        other => Err(PatchError::Malformed(format!(
            "unknown operation \"{other}\""
        ))),
    }
}

/// Splits a JSON pointer into its parent pointer and unescaped last token.
fn split_pointer<'a>(op: &str, path: &'a str) -> Result<(&'a str, String), PatchError> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| path_error(op, path, "is not a JSON pointer"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn lookup<'a>(target: &'a Value, op: &str, path: &str) -> Result<&'a Value, PatchError> {
    target
        .pointer(path)
        .ok_or_else(|| path_error(op, path, "does not exist"))
}

fn add(target: &mut Value, op: &str, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, token) = split_pointer(op, path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index = match token.as_str() {
                "-" => items.len(),
                digits => parse_index(op, path, digits)?,
            };
            if index > items.len() {
                return Err(path_error(op, path, "has an index out of range"));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(path_error(op, path, "has no parent object or array")),
    }
}

fn remove(target: &mut Value, op: &str, path: &str) -> Result<Value, PatchError> {
    let (parent, token) = split_pointer(op, path)?;
    let removed = match target.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token),
        Some(Value::Array(items)) => {
            let index = parse_index(op, path, &token)?;
            (index < items.len()).then(|| items.remove(index))
        }
        _ => None,
    };
    removed.ok_or_else(|| path_error(op, path, "does not exist"))
}

fn parse_index(op: &str, path: &str, token: &str) -> Result<usize, PatchError> {
    let leading_zero = token.len() > 1 && token.starts_with('0');
    match token.parse::<usize>() {
        Ok(index) if !leading_zero => Ok(index),
        _ => Err(path_error(op, path, "has an invalid array index")),
    }
}

fn path_error(op: &str, path: &str, problem: &'static str) -> PatchError {
    PatchError::Path {
        op: op.to_string(),
        path: path.to_string(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_rfc7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
        merge_patch(
            &mut target,
            &json!({"a": "z", "c": {"f": null}, "list": [3]}),
        );
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}, "list": [3]}));
    }

    #[test]
    fn json_patch_operations() {
        let mut target = json!({"metadata": {"labels": {"a": "1"}}, "items": [1, 2]});
        let patch = json!([
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "3"},
            {"op": "add", "path": "/items/-", "value": 4},
            {"op": "remove", "path": "/items/0"},
            {"op": "copy", "from": "/items/0", "path": "/first"},
            {"op": "move", "from": "/first", "path": "/moved"},
            {"op": "test", "path": "/moved", "value": 2}
        ]);
        json_patch(&mut target, &patch).unwrap();
        assert_eq!(
            target,
            json!({"metadata": {"labels": {"a": "3", "b/c": "2"}}, "items": [2, 4], "moved": 2})
        );
    }

    #[test]
    fn json_patch_failure_leaves_target() {
        let mut target = json!({"a": 1});
        let patch = json!([
            {"op": "add", "path": "/b", "value": 2},
            {"op": "remove", "path": "/missing"}
        ]);
        assert!(json_patch(&mut target, &patch).is_err());
        assert_eq!(target, json!({"a": 1}));
    }

    #[test]
    fn json_patch_test_mismatch() {
        let mut target = json!({"a": 1});
        let patch = json!([{"op": "test", "path": "/a", "value": 2}]);
        assert_eq!(
            json_patch(&mut target, &patch),
            Err(PatchError::TestFailed("/a".into()))
        );
    }
}
