//! Server-side printing: `meta.k8s.io/v1` Table responses with the columns
//! kube-apiserver 1.32 prints per kind, and `PartialObjectMetadata` projections.
//!
//! kubectl requests a Table in its `Accept` header and prints the cells as they
//! come, so the cell formats here (READY as `1/2`, AGE as `3d4h`) are what users see.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::object::{count_entries, meta_str, str_at};
use super::printers;
use super::resources::ResourceType;
use super::time;

/// How much of each object a Table row embeds (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    /// No object.
    None,
    /// A `PartialObjectMetadata` (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; unknown values mean the default.
    pub(crate) fn parse(text: &str) -> Self {
        match text {
            "None" => Self::None,
            "Object" => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// One column definition of a Table.
pub(crate) struct Column {
    name: &'static str,
    kind: &'static str,
    format: &'static str,
    priority: u8,
    description: &'static str,
}

/// Builds a column definition without a format.
pub(crate) const fn column(
    name: &'static str,
    kind: &'static str,
    priority: u8,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        format: "",
        priority,
        description,
    }
}

/// The NAME column every Table starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    kind: "string",
    format: "name",
    priority: 0,
    description: "Name must be unique within a namespace.",
};
/// The AGE column.
pub(crate) const AGE: Column = column(
    "Age",
    "string",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
);

/// Builds the cells of one row at time `now`.
pub(crate) type Printer = fn(&Value, Timestamp) -> Vec<Value>;

/// Builds a Table of `objects`, with `list_metadata` as its metadata.
pub(crate) fn table(
    resource: &ResourceType,
    objects: &[Value],
    list_metadata: Value,
    include: IncludeObject,
) -> Value {
    let now = time::now();
    let (definitions, rows) = if resource.printer_columns.is_empty() {
        let (columns, printer) = layout(resource.plural);
        let definitions = columns.iter().map(Column::definition).collect();
        let rows: Vec<Value> = objects
            .iter()
            .map(|object| row(resource, object, printer(object, now), include))
            .collect();
        (definitions, rows)
    } else {
        let rows: Vec<Value> = objects
            .iter()
            .map(|object| {
                row(
                    resource,
                    object,
                    custom_cells(resource, object, now),
                    include,
                )
            })
            .collect();
        (custom_definitions(resource), rows)
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

impl Column {
    fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// Returns the NAME column followed by a custom resource's printer columns.
fn custom_definitions(resource: &ResourceType) -> Vec<Value> {
    let custom = resource.printer_columns.iter().map(|column| {
        json!({
            "name": column.name,
            "type": column.kind,
            "format": "",
            "description": column.description,
            "priority": column.priority,
        })
    });
    std::iter::once(NAME.definition()).chain(custom).collect()
}

/// Returns a custom resource's cells: its name, then each printer column's value
/// at the column's JSON path. `date` columns show the age, as kube-apiserver prints them.
fn custom_cells(resource: &ResourceType, object: &Value, now: Timestamp) -> Vec<Value> {
    let custom = resource.printer_columns.iter().map(|column| {
        let pointer = column.json_path.replace('.', "/");
        match object.pointer(&pointer) {
            Some(Value::String(text)) if column.kind == "date" => json!(time::age(text, now)),
            Some(value) => value.clone(),
            None => Value::Null,
        }
    });
    std::iter::once(json!(meta_str(object, "name")))
        .chain(custom)
        .collect()
}

/// Returns the `PartialObjectMetadata` form of an object.
pub(crate) fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn row(
    resource: &ResourceType,
    object: &Value,
    cells: Vec<Value>,
    include: IncludeObject,
) -> Value {
    let embedded = match include {
        IncludeObject::None => return json!({"cells": cells}),
        IncludeObject::Metadata => partial_metadata(object),
        IncludeObject::Object => {
            let mut full = object.clone();
            full["kind"] = json!(resource.kind);
            full["apiVersion"] = json!(resource.api_version());
            full
        }
    };
    json!({"cells": cells, "object": embedded})
}

fn layout(plural: &str) -> (Vec<Column>, Printer) {
    match plural {
        "pods" => (printers::pod_columns(), printers::print_pod),
        "deployments" => (printers::deployment_columns(), printers::print_deployment),
        "replicasets" => (printers::replicaset_columns(), printers::print_replicaset),
        "namespaces" => (
            vec![
                NAME,
                column("Status", "string", 0, "The status of the namespace"),
                AGE,
            ],
            print_namespace,
        ),
        "nodes" => (printers::node_columns(), printers::print_node),
        "configmaps" => (
            vec![
                NAME,
                column("Data", "string", 0, "Data contains the configuration data."),
                AGE,
            ],
            print_configmap,
        ),
        "secrets" => (
            vec![
                NAME,
                column(
                    "Type",
                    "string",
                    0,
                    "Used to facilitate programmatic handling of secret data.",
                ),
                column("Data", "string", 0, "Data contains the secret data."),
                AGE,
            ],
            print_secret,
        ),
        "services" => (printers::service_columns(), printers::print_service),
        _ => (vec![NAME, AGE], print_name_age),
    }
}

/// Formats the age of an object from its creationTimestamp.
pub(crate) fn age(object: &Value, now: Timestamp) -> Value {
    json!(time::age(meta_str(object, "creationTimestamp"), now))
}

/// Returns `text`, or `<none>` when it is empty, as kubectl columns show missing values.
pub(crate) fn or_none(text: &str) -> Value {
    json!(if text.is_empty() { "<none>" } else { text })
}

fn print_name_age(object: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(meta_str(object, "name")), age(object, now)]
}

fn print_namespace(object: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        json!(meta_str(object, "name")),
        json!(str_at(object, "/status/phase")),
        age(object, now),
    ]
}

fn print_configmap(object: &Value, now: Timestamp) -> Vec<Value> {
    let entries = count_entries(object, "/data") + count_entries(object, "/binaryData");
    vec![
        json!(meta_str(object, "name")),
        json!(entries),
        age(object, now),
    ]
}

fn print_secret(object: &Value, now: Timestamp) -> Vec<Value> {
    let entries = count_entries(object, "/data");
    vec![
        json!(meta_str(object, "name")),
        json!(str_at(object, "/type")),
        json!(entries),
        age(object, now),
    ]
}
