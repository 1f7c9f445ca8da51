//! The verb of a request as kube-apiserver names it in audit logs and metrics
//! (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
//! `deletecollection`), derived from the method, path and query the way its
//! `RequestInfoFactory` does.

use http::Method;

/// Returns the kube-apiserver verb of a request.
///
/// Resource paths (`/api/v1/...`, `/apis/<group>/<version>/...`) map by method
/// and by whether they name one object; `watch=true` or `watch=1` turns a `get`
/// or `list` into `watch`. Other paths, such as `/version`, get the lowercase
/// method, as kube-apiserver reports non-resource requests.
pub(crate) fn verb(method: &Method, path: &str, query: Option<&str>) -> String {
    let Some(names_object) = names_object(path) else {
        return method.as_str().to_ascii_lowercase();
    };
    let verb = match *method {
        Method::GET if is_watch(query) => "watch",
        Method::GET if names_object => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if names_object => "delete",
        Method::DELETE => "deletecollection",
        _ => return method.as_str().to_ascii_lowercase(),
    };
    verb.to_string()
}

/// Returns whether a resource path names one object (or its subresource), or
/// `None` when the path is not a resource path.
fn names_object(path: &str) -> Option<bool> {
    let segments: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return None,
    };
    let tail = match rest {
        [] => return None,
        ["namespaces", _namespace, tail @ ..] if !tail.is_empty() => tail,
        tail => tail,
    };
    Some(tail.len() >= 2)
}

fn is_watch(query: Option<&str>) -> bool {
    query
        .unwrap_or_default()
        .split('&')
        .any(|pair| matches!(pair, "watch=true" | "watch=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_of_requests() {
        let cases = [
            (Method::GET, "/api/v1/pods", None, "list"),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods",
                Some("limit=500"),
                "list",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/shop/pods/web-1",
                None,
                "get",
            ),
            (Method::GET, "/api/v1/namespaces/shop", None, "get"),
            (Method::GET, "/api/v1/namespaces", None, "list"),
            (
                Method::GET,
                "/apis/apps/v1/deployments",
                Some("&watch=1"),
                "watch",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/shop/configmaps",
                None,
                "create",
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/shop/configmaps/a",
                None,
                "update",
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/shop/deployments/web",
                None,
                "patch",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/shop/configmaps/a",
                None,
                "delete",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/shop/configmaps",
                None,
                "deletecollection",
            ),
            (Method::GET, "/version", None, "get"),
            (Method::GET, "/api/v1", None, "get"),
            (Method::GET, "/apis/apps/v1", None, "get"),
        ];
        for (method, path, query, expected) in cases {
            assert_eq!(verb(&method, path, query), expected, "{method} {path}");
        }
    }
}
