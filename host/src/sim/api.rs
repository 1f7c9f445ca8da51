//! Routing of authenticated API requests to discovery, OpenAPI and resource handlers.
//!
//! Resource paths follow kube-apiserver: `/api/v1/<plural>[/<name>]`,
//! `/api/v1/namespaces/<namespace>/<plural>[/<name>]` and the same under
//! `/apis/<group>/<version>`. Subresources such as `pods/log` are not served.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::mpsc;

use super::aggregated::Format;
use super::catalog::Catalog;
use super::cluster::Cluster;
use super::query::Query;
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};
use super::{discovery, openapi, profile, read, request_info, watch, write};

/// An API request after transport concerns (TLS, authentication, body size) are handled.
pub(crate) struct ApiRequest {
    /// HTTP method.
    pub(crate) method: Method,
    /// Request path without the query string.
    pub(crate) path: String,
    /// Decoded query parameters.
    pub(crate) query: Query,
    /// `Accept` header, or `""`.
    pub(crate) accept: String,
    /// `Content-Type` header, or `""`.
    pub(crate) content_type: String,
    /// Request body.
    pub(crate) body: Bytes,
    /// The identity the request impersonates, from its `Impersonate-User`
    /// and `Impersonate-Group` headers.
    pub(crate) impersonating: Option<Impersonation>,
}

/// A user and groups a request impersonates. The simulated RBAC gives such
/// an identity the `view` role everywhere and, when it is in the
/// `system:masters` group, every write as well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Impersonation {
    /// The impersonated user.
    pub(crate) user: String,
    /// The impersonated groups.
    pub(crate) groups: Vec<String>,
}

impl Impersonation {
    /// The group whose members may write anything, as in kube-apiserver.
    const ADMIN_GROUP: &'static str = "system:masters";

    fn may_write(&self) -> bool {
        self.groups.iter().any(|group| group == Self::ADMIN_GROUP)
    }
}

/// A successful API response.
#[derive(Debug)]
pub(crate) enum Reply {
    /// A JSON document with its HTTP status.
    Json(StatusCode, Value),
    /// A `200 OK` JSON document with a `Content-Type` that carries parameters, as
    /// aggregated discovery needs.
    Typed(Value, &'static str),
    /// A plain-text body, as health endpoints return.
    Text(&'static str),
    /// A `200 OK` stream of newline-delimited JSON chunks, as watches return.
    Stream(mpsc::Receiver<Bytes>),
}

impl Reply {
    /// Builds a `200 OK` JSON reply.
    pub(crate) fn ok(body: Value) -> Self {
        Self::Json(StatusCode::OK, body)
    }
}

/// The resource, namespace and name a resource path addresses.
pub(crate) struct Target {
    /// Resource type.
    pub(crate) resource: &'static ResourceType,
    /// Namespace from the path; `None` for cluster-scoped resources and all-namespace lists.
    pub(crate) namespace: Option<String>,
    /// Object name from the path; `None` for collections.
    pub(crate) name: Option<String>,
}

/// Handles one request against `cluster`.
pub(crate) fn handle(cluster: &Cluster, request: &ApiRequest) -> ApiResult<Reply> {
    let segments: Vec<&str> = request
        .path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    match segments.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            resource_request(cluster, request, "", version, rest)
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            resource_request(cluster, request, group, version, rest)
        }
        _ => {
            if request.method != Method::GET {
                return Err(ApiError::method_not_allowed());
            }
            fixed_document(cluster, request, &segments)
        }
    }
}

fn fixed_document(cluster: &Cluster, request: &ApiRequest, segments: &[&str]) -> ApiResult<Reply> {
    let catalog = Catalog::of(&cluster.store);
    let version = profile::of(cluster.store.cluster_index()).version;
    if let (["api"] | ["apis"], Some(format)) =
        (segments, Format::negotiate(&request.accept, version))
    {
        let document = match segments {
            ["api"] => format.core(&catalog),
            _ => format.groups(&catalog),
        };
        return Ok(Reply::Typed(document, format.content_type()));
    }
    let document = match segments {
        ["version"] => Some(discovery::version(version)),
        ["api"] => Some(discovery::core_versions(&cluster.address.to_string())),
        ["apis"] => Some(discovery::group_list(&catalog)),
        ["apis", group] => discovery::api_group(&catalog, group),
        ["api", version] => discovery::resource_list(&catalog, "", version),
        ["apis", group, version] => discovery::resource_list(&catalog, group, version),
        ["openapi", "v3"] => Some(openapi::index(&catalog, version)),
        ["openapi", "v3", key @ ..] => openapi::document_for_key(&catalog, version, &key.join("/")),
        ["healthz" | "livez" | "readyz"] => return Ok(Reply::Text("ok")),
        _ => None,
    };
    document.map(Reply::ok).ok_or_else(ApiError::unknown_path)
}

fn resource_request(
    cluster: &Cluster,
    request: &ApiRequest,
    group: &str,
    version: &str,
    rest: &[&str],
) -> ApiResult<Reply> {
    let catalog = Catalog::of(&cluster.store);
    let target = parse_target(&catalog, group, version, rest).ok_or_else(ApiError::unknown_path)?;
    if let Some(identity) = &request.impersonating
        && request.method != Method::GET
        && !identity.may_write()
    {
        return Err(ApiError::rbac_forbidden(
            &identity.user,
            &request_info::verb(&request.method, &request.path, None),
            &target,
        ));
    }
    match (&request.method, target.name.is_some()) {
        (&Method::GET, true) => read::get(cluster, request, &target),
        (&Method::GET, false) if request.query.flag("watch") => {
            watch::start(cluster, request, &target)
        }
        (&Method::GET, false) => read::list(cluster, request, &target),
        (&Method::POST, false) => write::create(cluster, request, &target),
        (&Method::PUT, true) => write::replace(cluster, request, &target),
        (&Method::PATCH, true) => write::patch(cluster, request, &target),
        (&Method::DELETE, true) => write::delete(cluster, request, &target),
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Parses the part of a resource path after the group version.
fn parse_target(catalog: &Catalog, group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let (namespace, tail) = match rest {
        ["namespaces", namespace, tail @ ..] if !tail.is_empty() => {
            (Some(namespace.to_string()), tail)
        }
        _ => (None, rest),
    };
    let (plural, name) = match tail {
        [plural] => (*plural, None),
        [plural, name] => (*plural, Some(name.to_string())),
        _ => return None,
    };
    let resource = catalog.find(group, version, plural)?;
    if namespace.is_some() && !resource.namespaced {
        return None;
    }
    Some(Target {
        resource,
        namespace,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_paths() {
        let catalog = Catalog::of(&crate::sim::store::Store::new(1));
        let parse_target =
            |group, version, rest: &[&str]| super::parse_target(&catalog, group, version, rest);
        let target = parse_target("", "v1", &["namespaces", "shop", "pods", "web-1"]).unwrap();
        assert_eq!(target.resource.plural, "pods");
        assert_eq!(target.namespace.as_deref(), Some("shop"));
        assert_eq!(target.name.as_deref(), Some("web-1"));

        let target = parse_target("", "v1", &["namespaces", "shop"]).unwrap();
        assert_eq!(target.resource.plural, "namespaces");
        assert_eq!(target.name.as_deref(), Some("shop"));

        let target = parse_target("apps", "v1", &["deployments"]).unwrap();
        assert_eq!(target.namespace, None);
        assert_eq!(target.name, None);

        assert!(parse_target("", "v1", &["namespaces", "shop", "nodes"]).is_none());
        assert!(parse_target("", "v1", &["namespaces", "shop", "pods", "a", "log"]).is_none());
        assert!(parse_target("", "v1", &["widgets"]).is_none());
    }
}
