//! Field sets in the FieldsV1 format of `metadata.managedFields`: a trie whose keys
//! are `f:<field>`, `k:<merge key as JSON>` and `v:<value as JSON>`, where `{}`
//! marks a member and `".": {}` marks an inner node that is itself a member.
//!
//! Paths print as kube-apiserver prints them in apply conflicts:
//! `.spec.template.spec.containers[name="web"].image`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::merge_keys::{ListStrategy, list_strategy};

/// Top-level and metadata fields that are never owned, as kube-apiserver strips them.
const IGNORED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "managedFields",
    "selfLink",
];

/// Fields whose type is a map of user-chosen keys rather than a struct. Updates
/// own such a map itself as well as its keys, which FieldsV1 shows as `".": {}`.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "matchLabels",
    "nodeSelector",
    "limits",
    "requests",
];

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// A field of an object.
    Field(String),
    /// The element of a keyed list whose merge key has this value (JSON text).
    Key(String, String),
    /// The element of a scalar set with this value (JSON text).
    Value(String),
}

impl Step {
    /// Returns the FieldsV1 key of the step.
    fn fields_key(&self) -> String {
        match self {
            Step::Field(name) => format!("f:{name}"),
            Step::Key(key, value) => format!("k:{{\"{key}\":{value}}}"),
            Step::Value(value) => format!("v:{value}"),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        if let Some(name) = text.strip_prefix("f:") {
            return Some(Step::Field(name.to_string()));
        }
        if let Some(value) = text.strip_prefix("v:") {
            return Some(Step::Value(value.to_string()));
        }
        let keys: Map<String, Value> = serde_json::from_str(text.strip_prefix("k:")?).ok()?;
        let (key, value) = keys.into_iter().next()?;
        Some(Step::Key(key, value.to_string()))
    }
}

/// A field path from the object root.
pub(crate) type Path = Vec<Step>;

/// Formats a path as apply conflicts print it.
pub(crate) fn format_path(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Field(name) => format!(".{name}"),
            Step::Key(key, value) => format!("[{key}={value}]"),
            Step::Value(value) => format!("[={value}]"),
        })
        .collect()
}

/// A set of field paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    paths: std::collections::BTreeSet<Path>,
}

/// Whether a set records only what an apply configuration sets, or also the maps
/// that an update writes, which FieldsV1 marks with `"."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// Server-side apply: scalars, atomic values and list elements.
    Apply,
    /// Updates (create, replace, patch): maps of user-chosen keys too.
    Update,
}

impl FieldSet {
    /// Builds the set of fields that `object` sets.
    pub(crate) fn of(object: &Value, style: Style) -> Self {
        let mut set = FieldSet::default();
        if let Some(root) = object.as_object() {
            collect_object(root, &mut Vec::new(), &mut Vec::new(), style, &mut set);
        }
        set
    }

    /// Builds the set of fields that `new` sets with a value other than in `old`.
    /// Maps and list elements count as changed only when they are new.
    pub(crate) fn changed(old: &Value, new: &Value, style: Style) -> Self {
        let old_set = Self::of(old, style);
        let mut changed = Self::default();
        for path in Self::of(new, style).paths {
            let value = value_at(new, &path);
            let compared = value.is_some_and(Value::is_object) || value == value_at(old, &path);
            let unchanged = old_set.contains(&path) && compared;
            if !unchanged {
                changed.paths.insert(path);
            }
        }
        changed
    }

    /// Returns whether the set contains `path`.
    pub(crate) fn contains(&self, path: &Path) -> bool {
        self.paths.contains(path)
    }

    /// Returns whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Iterates over the paths in order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Path> {
        self.paths.iter()
    }

    /// Adds every path of `other`.
    pub(crate) fn extend(&mut self, other: &FieldSet) {
        self.paths.extend(other.paths.iter().cloned());
    }

    /// Removes every path for which `remove` returns true.
    pub(crate) fn remove_where(&mut self, mut remove: impl FnMut(&Path) -> bool) {
        self.paths.retain(|path| !remove(path));
    }

    /// Renders the set as a FieldsV1 object.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut root = Node::default();
        for path in &self.paths {
            let node = path.iter().fold(&mut root, |node, step| {
                node.children.entry(step.fields_key()).or_default()
            });
            node.member = true;
        }
        root.to_json()
    }

    /// Parses a FieldsV1 object; keys it cannot read are skipped.
    pub(crate) fn from_fields_v1(fields: &Value) -> Self {
        let mut set = FieldSet::default();
        parse_node(fields, &mut Vec::new(), &mut set);
        set
    }
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn to_json(&self) -> Value {
        let mut object = Map::new();
        if self.member && !self.children.is_empty() {
            object.insert(".".into(), json!({}));
        }
        for (key, child) in &self.children {
            object.insert(key.clone(), child.to_json());
        }
        Value::Object(object)
    }
}

fn parse_node(node: &Value, path: &mut Path, set: &mut FieldSet) {
    let Some(children) = node.as_object() else {
        return;
    };
    if (children.is_empty() || children.contains_key(".")) && !path.is_empty() {
        set.paths.insert(path.clone());
    }
    for (key, child) in children {
        if let Some(step) = Step::parse(key) {
            path.push(step);
            parse_node(child, path, set);
            path.pop();
        }
    }
}

fn collect_object(
    object: &Map<String, Value>,
    path: &mut Path,
    names: &mut Vec<String>,
    style: Style,
    set: &mut FieldSet,
) {
    for (key, value) in object {
        if is_ignored(names, key) {
            continue;
        }
        path.push(Step::Field(key.clone()));
        names.push(key.clone());
        collect_value(value, path, names, style, set);
        names.pop();
        path.pop();
    }
}

fn collect_value(
    value: &Value,
    path: &mut Path,
    names: &mut Vec<String>,
    style: Style,
    set: &mut FieldSet,
) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            let is_map = names
                .last()
                .is_some_and(|name| MAP_FIELDS.contains(&name.as_str()));
            if style == Style::Update && is_map {
                set.paths.insert(path.clone());
            }
            collect_object(object, path, names, style, set);
        }
        Value::Array(items) => collect_list(items, path, names, style, set),
        _ => {
            set.paths.insert(path.clone());
        }
    }
}

fn collect_list(
    items: &[Value],
    path: &mut Path,
    names: &mut Vec<String>,
    style: Style,
    set: &mut FieldSet,
) {
    let strategy = list_strategy(&names.iter().map(String::as_str).collect::<Vec<_>>());
    match strategy {
        ListStrategy::Replace => {
            set.paths.insert(path.clone());
        }
        ListStrategy::MergeSet => {
            for item in items {
                path.push(Step::Value(item.to_string()));
                set.paths.insert(path.clone());
                path.pop();
            }
        }
        ListStrategy::MergeByKey(key) => {
            for item in items {
                let Some(object) = item.as_object() else {
                    continue;
                };
                let Some(value) = object.get(key) else {
                    continue;
                };
                path.push(Step::Key(key.to_string(), value.to_string()));
                set.paths.insert(path.clone());
                collect_object(object, path, names, style, set);
                path.pop();
            }
        }
    }
}

fn is_ignored(names: &[String], key: &str) -> bool {
    match names {
        [] => matches!(key, "apiVersion" | "kind" | "status"),
        [metadata] if metadata == "metadata" => IGNORED_METADATA.contains(&key),
        _ => false,
    }
}

/// Returns the value at `path` in `object`, if present.
pub(crate) fn value_at<'a>(object: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(object, |value, step| match step {
        Step::Field(name) => value.get(name),
        Step::Key(key, expected) => value
            .as_array()?
            .iter()
            .find(|item| item.get(key).is_some_and(|value| is_json(value, expected))),
        Step::Value(expected) => value
            .as_array()?
            .iter()
            .find(|item| is_json(item, expected)),
    })
}

/// Removes the value at `path` from `object`; returns whether something was removed.
pub(crate) fn remove_at(object: &mut Value, path: &[Step]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut parent = object;
    for step in parents {
        let next = match step {
            Step::Field(name) => parent.get_mut(name),
            Step::Key(key, expected) => parent.as_array_mut().and_then(|items| {
                items
                    .iter_mut()
                    .find(|item| item.get(key).is_some_and(|value| is_json(value, expected)))
            }),
            Step::Value(_) => None,
        };
        let Some(next) = next else { return false };
        parent = next;
    }
    match last {
        Step::Field(name) => parent
            .as_object_mut()
            .and_then(|map| map.remove(name))
            .is_some(),
        Step::Key(key, expected) => remove_from_array(parent, |item| {
            item.get(key).is_some_and(|value| is_json(value, expected))
        }),
        Step::Value(expected) => remove_from_array(parent, |item| is_json(item, expected)),
    }
}

/// Returns whether `value` serializes to the JSON text `text`, as path steps store values.
fn is_json(value: &Value, text: &str) -> bool {
    let rendered = value.to_string();
    rendered == text
}

fn remove_from_array(parent: &mut Value, matches: impl Fn(&Value) -> bool) -> bool {
    let Some(items) = parent.as_array_mut() else {
        return false;
    };
    let before = items.len();
    items.retain(|item| !matches(item));
    items.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_set_of_deployment() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        });
        let fields = FieldSet::of(&object, Style::Apply).to_fields_v1();
        assert_eq!(
            fields,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}},
            })
        );
        assert_eq!(
            FieldSet::from_fields_v1(&fields),
            FieldSet::of(&object, Style::Apply)
        );
    }

    #[test]
    fn update_set_marks_objects() {
        let fields =
            FieldSet::of(&json!({"data": {"color": "blue"}}), Style::Update).to_fields_v1();
        assert_eq!(fields, json!({"f:data": {".": {}, "f:color": {}}}));
    }

    #[test]
    fn paths_print_like_conflicts() {
        let path = vec![
            Step::Field("spec".into()),
            Step::Field("containers".into()),
            Step::Key("name".into(), "\"web\"".into()),
            Step::Field("image".into()),
        ];
        assert_eq!(format_path(&path), ".spec.containers[name=\"web\"].image");
        let mut object = json!({"spec": {"containers": [{"name": "web", "image": "a"}]}});
        assert_eq!(value_at(&object, &path), Some(&json!("a")));
        assert!(remove_at(&mut object, &path));
        assert_eq!(object, json!({"spec": {"containers": [{"name": "web"}]}}));
    }
}
