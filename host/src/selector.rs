//! Label selectors as the `labelSelector` query parameter spells them:
//! `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
//! `key` (exists), `!key` (does not exist), `key>N`, `key<N`, joined by commas
//! meaning AND. The simulator filters list requests with them, and
//! `--selector` picks clusters by their labels.

use std::collections::BTreeMap;

/// A parsed label selector: every requirement must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    key: String,
    operator: Operator,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Operator {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    GreaterThan(i64),
    LessThan(i64),
}

/// Label selector parse error, with kube-apiserver's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub(crate) struct SelectorError(String);

impl LabelSelector {
    /// Parses a selector; an empty or blank string selects everything.
    pub(crate) fn parse(text: &str) -> Result<Self, SelectorError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let requirements = split_requirements(text)
            .into_iter()
            .map(|part| match part.trim() {
                "" => Err(SelectorError(format!(
                    "found '', expected: identifier in \"{text}\""
                ))),
                part => parse_requirement(part),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { requirements })
    }

    /// Returns whether `labels` satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| requirement.matches(labels.get(&requirement.key)))
    }
}

impl Requirement {
    fn matches(&self, value: Option<&String>) -> bool {
        match (&self.operator, value) {
            (Operator::Equals(expected), Some(value)) => value == expected,
            (Operator::NotEquals(expected), value) => value != Some(expected),
            (Operator::In(allowed), Some(value)) => allowed.contains(value),
            (Operator::NotIn(denied), value) => value.is_none_or(|value| !denied.contains(value)),
            (Operator::Exists, value) => value.is_some(),
            (Operator::DoesNotExist, value) => value.is_none(),
            (Operator::GreaterThan(bound), Some(value)) => {
                value.parse::<i64>().is_ok_and(|number| number > *bound)
            }
            (Operator::LessThan(bound), Some(value)) => {
                value.parse::<i64>().is_ok_and(|number| number < *bound)
            }
            (_, None) => false,
        }
    }
}

/// Splits on commas that are outside parentheses, so `a in (x,y),b` gives two parts.
fn split_requirements(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_requirement(text: &str) -> Result<Requirement, SelectorError> {
    if let Some(key) = text.strip_prefix('!') {
        return requirement(key.trim(), Operator::DoesNotExist);
    }
    for (symbol, build) in BINARY_OPERATORS {
        if let Some((key, value)) = text.split_once(symbol) {
            let value = value.trim();
            return requirement(key.trim(), build(value)?);
        }
    }
    if let Some((key, rest)) = split_word_operator(text) {
        return parse_set(key, rest);
    }
    requirement(text, Operator::Exists)
}

type BuildOperator = fn(&str) -> Result<Operator, SelectorError>;

/// Symbolic operators, longest first so that `==` is not read as `=`.
const BINARY_OPERATORS: &[(&str, BuildOperator)] = &[
    ("!=", |value| Ok(Operator::NotEquals(label_value(value)?))),
    ("==", |value| Ok(Operator::Equals(label_value(value)?))),
    ("=", |value| Ok(Operator::Equals(label_value(value)?))),
    (">", |value| Ok(Operator::GreaterThan(integer(value)?))),
    ("<", |value| Ok(Operator::LessThan(integer(value)?))),
];

/// Splits `key in (...)` or `key notin (...)` into the key and the rest after the key.
fn split_word_operator(text: &str) -> Option<(&str, &str)> {
    let (key, rest) = text.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    (rest.starts_with("in") || rest.starts_with("notin")).then_some((key, rest))
}

fn parse_set(key: &str, rest: &str) -> Result<Requirement, SelectorError> {
    let (negated, list) = match rest.strip_prefix("notin") {
        Some(list) => (true, list),
        None => (false, rest.strip_prefix("in").unwrap_or(rest)),
    };
    let list = list.trim();
    let Some(opened) = list.strip_prefix('(') else {
        return Err(SelectorError(format!(
            "found '{list}', expected: '(' after '{key} in'"
        )));
    };
    let inner = opened.strip_suffix(')').ok_or_else(|| {
        SelectorError(format!(
            "found '{list}', expected: ')' closing the set of {key}"
        ))
    })?;
    if inner.trim().is_empty() {
        return Err(SelectorError(format!(
            "the set of {key} is empty: list at least one value, such as {key} in (a,b)"
        )));
    }
    let values = inner
        .split(',')
        .map(|value| label_value(value.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let operator = if negated {
        Operator::NotIn(values)
    } else {
        Operator::In(values)
    };
    requirement(key, operator)
}

fn requirement(key: &str, operator: Operator) -> Result<Requirement, SelectorError> {
    validate_key(key)?;
    Ok(Requirement {
        key: key.to_string(),
        operator,
    })
}

/// Checks a label key: an optional DNS subdomain prefix and `/`, then a name of at
/// most 63 characters made of alphanumerics, `-`, `_` and `.` that starts and ends
/// with an alphanumeric.
fn validate_key(key: &str) -> Result<(), SelectorError> {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) if !prefix.is_empty() && prefix.len() <= 253 => name,
        Some(_) => return Err(SelectorError(format!("invalid label key \"{key}\""))),
        None => key,
    };
    if name.is_empty() || name.len() > 63 || !is_label_token(name) {
        return Err(SelectorError(format!(
            "invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(())
}

fn label_value(value: &str) -> Result<String, SelectorError> {
    if value.len() > 63 || !(value.is_empty() || is_label_token(value)) {
        return Err(SelectorError(format!(
            "invalid label value: \"{value}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )));
    }
    Ok(value.to_string())
}

fn integer(value: &str) -> Result<i64, SelectorError> {
    value.parse().map_err(|_| {
        SelectorError(format!(
            "for 'gt', 'lt' operators, the value must be an integer: \"{value}\""
        ))
    })
}

fn is_label_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    let edge_ok = |byte: &u8| byte.is_ascii_alphanumeric();
    bytes.first().is_some_and(edge_ok)
        && bytes.last().is_some_and(edge_ok)
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        LabelSelector::parse(selector)
            .unwrap()
            .matches(&labels(pairs))
    }

    #[test]
    fn equality_operators() {
        assert!(selects("app=web", &[("app", "web")]));
        assert!(selects("app==web", &[("app", "web")]));
        assert!(!selects("app=web", &[("app", "cart")]));
        assert!(!selects("app=web", &[]));
        assert!(selects("app!=web", &[("app", "cart")]));
        assert!(selects("app!=web", &[]));
        assert!(!selects("app!=web", &[("app", "web")]));
    }

    #[test]
    fn set_operators() {
        assert!(selects("tier in (front, back)", &[("tier", "back")]));
        assert!(!selects("tier in (front,back)", &[("tier", "db")]));
        assert!(!selects("tier in (front)", &[]));
        assert!(selects("tier notin (front)", &[("tier", "db")]));
        assert!(selects("tier notin (front)", &[]));
        assert!(!selects("tier notin (front,db)", &[("tier", "db")]));
    }

    #[test]
    fn existence_operators() {
        assert!(selects("app", &[("app", "x")]));
        assert!(!selects("app", &[]));
        assert!(selects("!app", &[]));
        assert!(!selects("!app", &[("app", "x")]));
    }

    #[test]
    fn numeric_operators() {
        assert!(selects("replicas>2", &[("replicas", "3")]));
        assert!(!selects("replicas>2", &[("replicas", "two")]));
        assert!(selects("replicas<2", &[("replicas", "1")]));
    }

    #[test]
    fn comma_means_and() {
        let selector = "app=web,tier in (front,edge),!canary";
        assert!(selects(selector, &[("app", "web"), ("tier", "edge")]));
        assert!(!selects(
            selector,
            &[("app", "web"), ("tier", "edge"), ("canary", "1")]
        ));
        assert!(!selects(selector, &[("app", "cart"), ("tier", "edge")]));
    }

    #[test]
    fn empty_selects_all() {
        let selector = LabelSelector::parse("").unwrap();
        assert_eq!(selector, LabelSelector::default());
        assert!(selector.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn prefixed_key() {
        assert!(selects(
            "app.kubernetes.io/name=web",
            &[("app.kubernetes.io/name", "web")]
        ));
    }

    #[test]
    fn invalid_selectors() {
        for text in [
            "app=we b",
            "-app=web",
            "tier in front",
            "x>y",
            "a=b,,",
            "/x=1",
        ] {
            let result = LabelSelector::parse(text);
            assert!(result.is_err(), "{text:?} parsed as {result:?}");
        }
    }

    #[test]
    fn set_errors_say_what_is_missing() {
        let message = |text: &str| LabelSelector::parse(text).unwrap_err().to_string();
        assert!(message("env in (").contains("expected: ')' closing the set of env"));
        assert!(message("env in prod").contains("expected: '(' after 'env in'"));
        assert!(message("env in ()").contains("the set of env is empty"));
    }
}
