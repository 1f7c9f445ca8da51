//! Field selectors (`fieldSelector`): `field=value`, `field==value` and
//! `field!=value` joined by commas meaning AND, over the fields each kind
//! supports in kube-apiserver.

use serde_json::Value;

use super::resources::ResourceType;

/// A parsed field selector: every term must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSelector {
    terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    pointer: &'static str,
    value: String,
    negated: bool,
}

/// Field selector parse error, with kube-apiserver's messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FieldSelectorError {
    /// A term has no `=`, `==` or `!=`.
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    Syntax(String, String),
    /// The field is not one the resource supports.
    #[error("field label not supported: {0}")]
    Unsupported(String),
}

/// Fields every kind supports, with the JSON pointer they read.
const COMMON_FIELDS: &[(&str, &str)] = &[
    ("metadata.name", "/metadata/name"),
    ("metadata.namespace", "/metadata/namespace"),
];

/// Extra fields per resource, as kube-apiserver 1.32 registers them.
const RESOURCE_FIELDS: &[(&str, &[(&str, &str)])] = &[
    (
        "pods",
        &[
            ("spec.nodeName", "/spec/nodeName"),
            ("spec.restartPolicy", "/spec/restartPolicy"),
            ("spec.schedulerName", "/spec/schedulerName"),
            ("spec.serviceAccountName", "/spec/serviceAccountName"),
            ("spec.hostNetwork", "/spec/hostNetwork"),
            ("status.phase", "/status/phase"),
            ("status.podIP", "/status/podIP"),
            ("status.nominatedNodeName", "/status/nominatedNodeName"),
        ],
    ),
    ("namespaces", &[("status.phase", "/status/phase")]),
    ("nodes", &[("spec.unschedulable", "/spec/unschedulable")]),
    ("secrets", &[("type", "/type")]),
    ("replicasets", &[("status.replicas", "/status/replicas")]),
];

impl FieldSelector {
    /// Parses a selector for `resource`; an empty string selects everything.
    pub(crate) fn parse(text: &str, resource: &ResourceType) -> Result<Self, FieldSelectorError> {
        let terms = text
            .split(',')
            .filter(|term| !term.trim().is_empty())
            .map(|term| parse_term(text, term.trim(), resource))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { terms })
    }

    /// Returns whether `object` satisfies every term.
    pub(crate) fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|term| {
            let actual = field_text(object.pointer(term.pointer));
            (actual == term.value) != term.negated
        })
    }
}

fn parse_term(
    selector: &str,
    term: &str,
    resource: &ResourceType,
) -> Result<Term, FieldSelectorError> {
    let (field, value, negated) = if let Some((field, value)) = term.split_once("!=") {
        (field, value, true)
    } else if let Some((field, value)) = term.split_once("==") {
        (field, value, false)
    } else if let Some((field, value)) = term.split_once('=') {
        (field, value, false)
    } else {
        return Err(FieldSelectorError::Syntax(selector.into(), term.into()));
    };
    let field = field.trim();
    let pointer = pointer_for(field, resource)
        .ok_or_else(|| FieldSelectorError::Unsupported(field.to_string()))?;
    Ok(Term {
        pointer,
        value: value.trim().to_string(),
        negated,
    })
}

fn pointer_for(field: &str, resource: &ResourceType) -> Option<&'static str> {
    let extra = RESOURCE_FIELDS
        .iter()
        .find(|(plural, _)| *plural == resource.plural)
        .map_or(&[][..], |(_, fields)| fields);
    COMMON_FIELDS
        .iter()
        .chain(extra)
        .find(|(name, _)| *name == field)
        .map(|(_, pointer)| *pointer)
}

/// Renders a field as the string a selector compares against; absent fields are `""`.
fn field_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sim::resources::find;

    fn pods() -> &'static ResourceType {
        find("", "v1", "pods").unwrap()
    }

    #[test]
    fn pod_phase_and_node() {
        let pod = json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let selector =
            FieldSelector::parse("status.phase=Running,spec.nodeName==n1", pods()).unwrap();
        assert!(selector.matches(&pod));
        let selector = FieldSelector::parse("status.phase!=Running", pods()).unwrap();
        assert!(!selector.matches(&pod));
    }

    #[test]
    fn absent_field_is_empty() {
        let pod = json!({"metadata": {"name": "a"}});
        let selector = FieldSelector::parse("spec.nodeName=", pods()).unwrap();
        assert!(selector.matches(&pod));
    }

    #[test]
    fn unsupported_field() {
        let configmaps = find("", "v1", "configmaps").unwrap();
        let error = FieldSelector::parse("status.phase=Running", configmaps).unwrap_err();
        assert_eq!(error.to_string(), "field label not supported: status.phase");
    }
}
