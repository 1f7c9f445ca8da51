//! CustomResourceDefinitions: turning a stored definition into the resource type
//! it serves, and the status kube-apiserver sets when it accepts one.
//!
//! A definition serves its storage version (or its first served one) under
//! `/apis/<group>/<version>`. Resource types live for the rest of the process,
//! interned by their content so that re-reading a definition allocates nothing.
//! NOTE: a definition with several served versions serves only that one version,
//! and schemas are not used to validate or prune objects.

use std::collections::HashMap;
use std::sync::LazyLock;

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::object::{self, array_at, str_at};
use super::resources::{NameRule, PrinterColumn, ResourceType};
use super::status::{ApiError, ApiResult, Cause};

/// Resource types built from definitions, by the JSON text of the fields they use.
static INTERNED: LazyLock<Mutex<HashMap<String, &'static ResourceType>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Returns the resource type a stored definition serves, or `None` when the
/// definition lacks names, group or a served version.
pub(crate) fn resource_type(definition: &Value) -> Option<&'static ResourceType> {
    let spec = definition.get("spec")?;
    let version = served_version(spec)?;
    let identity = json!({"group": spec.get("group"), "names": spec.get("names"), "scope": spec.get("scope"), "version": version});
    let mut interned = INTERNED.lock();
    if let Some(resource) = interned.get(&identity.to_string()) {
        return Some(resource);
    }
    let resource: &'static ResourceType = Box::leak(Box::new(build(spec, version)?));
    interned.insert(identity.to_string(), resource);
    Some(resource)
}

/// Returns the served version entry a definition's objects use.
fn served_version(spec: &Value) -> Option<&Value> {
    let versions = spec.get("versions")?.as_array()?;
    let served = |version: &&Value| version.get("served").and_then(Value::as_bool) == Some(true);
    versions
        .iter()
        .filter(served)
        .find(|version| version.get("storage").and_then(Value::as_bool) == Some(true))
        .or_else(|| versions.iter().find(served))
}

fn build(spec: &Value, version: &Value) -> Option<ResourceType> {
    let text = |pointer: &str| Some(leak(str_at(spec, pointer))).filter(|text| !text.is_empty());
    let list = |pointer: &str| -> &'static [&'static str] {
        let names: Vec<&'static str> = array_at(spec, pointer)
            .iter()
            .filter_map(Value::as_str)
            .map(leak)
            .collect();
        Box::leak(names.into_boxed_slice())
    };
    let kind = text("/names/kind")?;
    Some(ResourceType {
        group: text("/group")?,
        version: Some(leak(str_at(version, "/name"))).filter(|name| !name.is_empty())?,
        plural: text("/names/plural")?,
        singular: text("/names/singular").unwrap_or_else(|| leak(&kind.to_lowercase())),
        kind,
        namespaced: str_at(spec, "/scope") != "Cluster",
        short_names: list("/names/shortNames"),
        categories: list("/names/categories"),
        has_status: version.pointer("/subresources/status").is_some(),
        name_rule: NameRule::Subdomain,
        printer_columns: printer_columns(version),
    })
}

fn printer_columns(version: &Value) -> &'static [PrinterColumn] {
    let columns: Vec<PrinterColumn> = array_at(version, "/additionalPrinterColumns")
        .iter()
        .map(|column| PrinterColumn {
            name: leak(str_at(column, "/name")),
            kind: leak(str_at(column, "/type")),
            json_path: leak(str_at(column, "/jsonPath")),
            description: leak(str_at(column, "/description")),
            priority: u8::try_from(object::int_at(column, "/priority")).unwrap_or(0),
        })
        .collect();
    Box::leak(columns.into_boxed_slice())
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

/// Checks what kube-apiserver checks before accepting a definition: the name is
/// `<plural>.<group>`, and names, group and a served version are set.
pub(crate) fn validate(resource: &ResourceType, definition: &Value) -> ApiResult<()> {
    let name = object::name(definition);
    let plural = str_at(definition, "/spec/names/plural");
    let group = str_at(definition, "/spec/group");
    let mut causes = Vec::new();
    if name != format!("{plural}.{group}") {
        causes.push(Cause {
            reason: "FieldValueInvalid",
            field: "metadata.name".into(),
            message: format!(
                "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
            ),
        });
    }
    if str_at(definition, "/spec/names/kind").is_empty() {
        causes.push(required("spec.names.kind"));
    }
    if definition.get("spec").and_then(served_version).is_none() {
        causes.push(Cause {
            reason: "FieldValueInvalid",
            field: "spec.versions".into(),
            message:
                "Invalid value: \"null\": must have exactly one version marked as storage version"
                    .into(),
        });
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource, name, causes))
    }
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        field: field.into(),
        message: "Required value".into(),
    }
}

/// Returns the status of an accepted definition: its names accepted and established.
pub(crate) fn accepted_status(definition: &Value) -> Value {
    let names = definition
        .pointer("/spec/names")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let stored: Vec<Value> = array_at(definition, "/spec/versions")
        .iter()
        .filter(|version| version.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|version| version.get("name").cloned())
        .collect();
    let now = super::time::format(super::time::now());
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    json!({
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition() -> Value {
        json!({
            "metadata": {"name": "gadgets.test.example"},
            "spec": {
                "group": "test.example",
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                    "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]}],
            },
        })
    }

    #[test]
    fn definition_to_resource_type() {
        let resource = resource_type(&definition()).unwrap();
        assert_eq!(resource.api_version(), "test.example/v1");
        assert_eq!(resource.kind, "Gadget");
        assert_eq!(resource.short_names, ["gd"]);
        assert!(resource.namespaced);
        assert!(resource.has_status);
        assert_eq!(resource.printer_columns[0].json_path, ".spec.size");
        assert!(std::ptr::eq(
            resource,
            resource_type(&definition()).unwrap()
        ));
    }

    #[test]
    fn name_must_match_plural_and_group() {
        let crds = super::super::resources::custom_resource_definitions();
        let mut wrong = definition();
        wrong["metadata"]["name"] = json!("gadgets");
        let error = validate(crds, &wrong).unwrap_err();
        assert_eq!(
            error.message,
            "CustomResourceDefinition.apiextensions.k8s.io \"gadgets\" is invalid: metadata.name: Invalid value: \"gadgets\": must be spec.names.plural+\".\"+spec.group"
        );
        assert!(validate(crds, &definition()).is_ok());
    }
}
