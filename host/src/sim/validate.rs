//! Validation of object names on create, with kube-apiserver's messages, so that
//! kubectl prints the same `is invalid` errors as against a real cluster.

use serde_json::Value;

use super::object;
use super::resources::{NameRule, ResourceType};
use super::status::{ApiError, ApiResult, Cause};

const SUBDOMAIN_HELP: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_HELP: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const RFC1035_HELP: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// Checks the name of an object about to be created; returns 422 Invalid listing the
/// failing fields.
pub(crate) fn validate_create(resource: &ResourceType, object: &Value) -> ApiResult<()> {
    let name = object::name(object);
    let causes = name_causes(resource.name_rule, name);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(resource, name, causes))
    }
}

fn name_causes(rule: NameRule, name: &str) -> Vec<Cause> {
    if name.is_empty() {
        return vec![Cause {
            reason: "FieldValueRequired",
            field: "metadata.name".into(),
            message: "Required value: name or generateName is required".into(),
        }];
    }
    let mut causes = Vec::new();
    let (max_length, help) = match rule {
        NameRule::Subdomain => (253, SUBDOMAIN_HELP),
        NameRule::Label => (63, LABEL_HELP),
        NameRule::Rfc1035Label => (63, RFC1035_HELP),
    };
    if name.len() > max_length {
        causes.push(invalid_name(
            name,
            &format!("must be no more than {max_length} characters"),
        ));
    }
    if !matches_rule(rule, name) {
        causes.push(invalid_name(name, help));
    }
    causes
}

fn invalid_name(name: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid",
        field: "metadata.name".into(),
        message: format!("Invalid value: \"{name}\": {detail}"),
    }
}

fn matches_rule(rule: NameRule, name: &str) -> bool {
    match rule {
        NameRule::Subdomain => name.split('.').all(is_label),
        NameRule::Label => is_label(name),
        NameRule::Rfc1035Label => {
            is_label(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        }
    }
}

/// Returns whether `text` is an RFC 1123 label (ignoring length).
fn is_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|byte| edge(byte) || *byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_names() {
        assert!(name_causes(NameRule::Subdomain, "web-1.example").is_empty());
        assert_eq!(name_causes(NameRule::Subdomain, "Bad_Name").len(), 1);
        assert_eq!(name_causes(NameRule::Subdomain, "a..b").len(), 1);
        assert_eq!(name_causes(NameRule::Subdomain, "-a").len(), 1);
        assert_eq!(name_causes(NameRule::Subdomain, &"a".repeat(254)).len(), 1);
    }

    #[test]
    fn label_names() {
        assert!(name_causes(NameRule::Label, "shop").is_empty());
        assert_eq!(name_causes(NameRule::Label, "a.b").len(), 1);
        assert!(name_causes(NameRule::Rfc1035Label, "web").is_empty());
        assert_eq!(name_causes(NameRule::Rfc1035Label, "1web").len(), 1);
    }

    #[test]
    fn missing_name_required() {
        let causes = name_causes(NameRule::Subdomain, "");
        assert_eq!(causes[0].reason, "FieldValueRequired");
    }
}
