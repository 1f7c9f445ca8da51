//! `limit` and `continue` paging of lists.
//!
//! A continue token is base64 of a small JSON document holding the key of the last
//! object returned and the resourceVersion of the first page. Later pages read the
//! store as it is then, and report the first page's resourceVersion.
//! A token whose first page predates the cluster's last compaction gets 410 Expired.
//! NOTE: kube-apiserver serves every page from one snapshot; the simulator reads
//! later pages from the store as it is then.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::base64;
use super::status::{ApiError, ApiResult};
use super::store::ObjectKey;

/// One page of a list.
#[derive(Debug, PartialEq)]
pub(crate) struct Page {
    /// Objects on this page, in key order.
    pub(crate) items: Vec<Value>,
    /// resourceVersion to report for the list.
    pub(crate) revision: u64,
    /// Token for the next page, when more objects follow.
    pub(crate) continue_token: Option<String>,
    /// Number of objects after this page, when more objects follow.
    pub(crate) remaining: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct Token {
    rv: u64,
    namespace: String,
    name: String,
}

/// Cuts one page out of `items` (in key order): the objects after the token's key,
/// at most `limit` of them when `limit` is set and non-zero.
pub(crate) fn paginate(
    items: Vec<(ObjectKey, Value)>,
    revision: u64,
    limit: Option<usize>,
    continue_token: Option<&str>,
) -> ApiResult<Page> {
    let (revision, after) = match continue_token.filter(|token| !token.is_empty()) {
        Some(token) => {
            let token = decode_token(token)?;
            (
                token.rv,
                Some(ObjectKey::new(&token.namespace, &token.name)),
            )
        }
        None => (revision, None),
    };
    let mut rest: Vec<(ObjectKey, Value)> = items
        .into_iter()
        .filter(|(key, _)| after.as_ref().is_none_or(|after| key > after))
        .collect();
    let limit = limit.filter(|limit| *limit > 0).unwrap_or(usize::MAX);
    if rest.len() <= limit {
        let items = rest.into_iter().map(|(_, object)| object).collect();
        return Ok(Page {
            items,
            revision,
            continue_token: None,
            remaining: None,
        });
    }
    let remaining = rest.split_off(limit).len();
    let last = rest
        .last()
        .map(|(key, _)| key.clone())
        .expect("limit is at least 1");
    Ok(Page {
        items: rest.into_iter().map(|(_, object)| object).collect(),
        revision,
        continue_token: Some(encode_token(revision, &last)),
        remaining: Some(remaining),
    })
}

/// Rejects a continue token issued before `oldest`, the oldest resourceVersion the
/// cluster still keeps, with 410 Expired.
pub(crate) fn check_not_expired(continue_token: Option<&str>, oldest: u64) -> ApiResult<()> {
    let Some(token) = continue_token.filter(|token| !token.is_empty()) else {
        return Ok(());
    };
    if decode_token(token)?.rv >= oldest {
        return Ok(());
    }
    Err(ApiError::expired(
        "The provided continue parameter is too old to display a consistent list result. \
         You can start a new list without the continue parameter.",
    ))
}

/// Parses the `limit` query parameter; an empty value means no limit.
pub(crate) fn parse_limit(text: &str) -> ApiResult<Option<usize>> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>()
        .ok()
        .filter(|limit| *limit >= 0)
        .map(|limit| Some(limit as usize))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "invalid limit \"{text}\": must be a non-negative integer"
            ))
        })
}

fn encode_token(revision: u64, last: &ObjectKey) -> String {
    let token = Token {
        rv: revision,
        namespace: last.namespace.clone(),
        name: last.name.clone(),
    };
    let json = serde_json::to_vec(&token).expect("a token always serializes");
    base64::encode(&json)
}

fn decode_token(text: &str) -> ApiResult<Token> {
    base64::decode(text)
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "continue key is not valid: \"{text}\"; list again without a continue token"
            ))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn items(count: usize) -> Vec<(ObjectKey, Value)> {
        (0..count)
            .map(|index| {
                let name = format!("cm-{index:02}");
                (
                    ObjectKey::new("default", &name),
                    json!({"metadata": {"name": name}}),
                )
            })
            .collect()
    }

    fn names(page: &Page) -> Vec<&str> {
        page.items
            .iter()
            .map(|item| item["metadata"]["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn pages_cover_all_items() {
        let first = paginate(items(5), 7, Some(2), None).unwrap();
        assert_eq!(names(&first), ["cm-00", "cm-01"]);
        assert_eq!(first.remaining, Some(3));
        let token = first.continue_token.clone().unwrap();

        let second = paginate(items(5), 9, Some(2), Some(&token)).unwrap();
        assert_eq!(names(&second), ["cm-02", "cm-03"]);
        assert_eq!(second.revision, 7);
        assert_eq!(second.remaining, Some(1));

        let token = second.continue_token.clone().unwrap();
        let last = paginate(items(5), 9, Some(2), Some(&token)).unwrap();
        assert_eq!(names(&last), ["cm-04"]);
        assert_eq!(last.continue_token, None);
        assert_eq!(last.remaining, None);
    }

    #[test]
    fn zero_limit_returns_all() {
        let page = paginate(items(3), 1, Some(0), None).unwrap();
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.continue_token, None);
    }

    #[test]
    fn exact_limit_has_no_token() {
        let page = paginate(items(2), 1, Some(2), None).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.continue_token, None);
    }

    #[test]
    fn invalid_token_is_bad_request() {
        let error = paginate(items(2), 1, Some(1), Some("%%%")).unwrap_err();
        assert_eq!(error.reason, "BadRequest");
    }

    #[test]
    fn old_token_expires() {
        let page = paginate(items(3), 7, Some(1), None).unwrap();
        let token = page.continue_token.as_deref();
        assert!(check_not_expired(token, 7).is_ok());
        let error = check_not_expired(token, 8).unwrap_err();
        assert_eq!(error.code, http::StatusCode::GONE);
        assert_eq!(error.reason, "Expired");
    }

    #[test]
    fn limit_parsing() {
        assert_eq!(parse_limit("").unwrap(), None);
        assert_eq!(parse_limit("500").unwrap(), Some(500));
        assert!(parse_limit("-1").is_err());
        assert!(parse_limit("ten").is_err());
    }
}
