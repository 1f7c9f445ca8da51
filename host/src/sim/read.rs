//! Reads: get and list, with label and field selectors, paging, and the
//! representation the `Accept` header requests (full objects, Table or
//! PartialObjectMetadata).

use serde_json::{Value, json};

use super::api::{ApiRequest, Reply, Target};
use super::cluster::Cluster;
use super::fields::FieldSelector;
use super::object;
use super::paging;
use super::resources::ResourceType;
use super::selector::LabelSelector;
use super::status::{ApiError, ApiResult};
use super::store::ObjectKey;
use super::table::{self, IncludeObject};

/// Representation of objects in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Representation {
    /// Whole objects (the default).
    Full,
    /// A `meta.k8s.io/v1` Table.
    Table,
    /// `PartialObjectMetadata` or its list.
    Metadata,
}

/// Picks the first media type in `accept` that the server can produce. Types it
/// cannot produce, such as protobuf, are skipped; when none is left, it returns full JSON.
pub(crate) fn negotiate(accept: &str) -> Representation {
    for media_type in accept.split(',') {
        let mut parts = media_type.split(';').map(str::trim);
        let essence = parts.next().unwrap_or_default();
        if !matches!(essence, "application/json" | "*/*" | "application/*") {
            continue;
        }
        let parameters: Vec<(&str, &str)> = parts.filter_map(|part| part.split_once('=')).collect();
        let parameter = |name: &str| {
            parameters
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        };
        match (parameter("as"), parameter("g")) {
            (None, _) => return Representation::Full,
            (Some("Table"), Some("meta.k8s.io")) => return Representation::Table,
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io")) => {
                return Representation::Metadata;
            }
            _ => continue,
        }
    }
    Representation::Full
}

/// Returns an object with `kind` and `apiVersion` set, as single-object responses carry them.
pub(crate) fn with_type(resource: &ResourceType, mut object: Value) -> Value {
    if let Some(root) = object.as_object_mut() {
        let mut typed = serde_json::Map::new();
        typed.insert("kind".into(), json!(resource.kind));
        typed.insert("apiVersion".into(), json!(resource.api_version()));
        typed.extend(std::mem::take(root));
        *root = typed;
    }
    object
}

/// GET of one object.
pub(crate) fn get(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let name = target.name.as_deref().unwrap_or_default();
    let key = ObjectKey::new(target.namespace.as_deref().unwrap_or_default(), name);
    let object = cluster
        .store
        .get(target.resource, &key)
        .ok_or_else(|| ApiError::not_found(target.resource, name))?;
    let body = match negotiate(&request.accept) {
        Representation::Full => with_type(target.resource, object),
        Representation::Metadata => table::partial_metadata(&object),
        Representation::Table => {
            let include = IncludeObject::parse(request.query.text("includeObject"));
            let metadata = json!({"resourceVersion": object::meta_str(&object, "resourceVersion")});
            table::table(target.resource, &[object], metadata, include)
        }
    };
    Ok(Reply::ok(body))
}

/// GET of a collection: list with selectors and paging.
pub(crate) fn list(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let labels = LabelSelector::parse(request.query.text("labelSelector"))
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let fields = FieldSelector::parse(request.query.text("fieldSelector"), target.resource)
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let limit = paging::parse_limit(request.query.text("limit"))?;
    paging::check_not_expired(
        request.query.get("continue"),
        cluster.store.oldest_revision(),
    )?;

    let snapshot = cluster
        .store
        .list(target.resource, target.namespace.as_deref());
    let matching: Vec<(ObjectKey, Value)> = snapshot
        .items
        .into_iter()
        .filter(|(_, object)| labels.matches(&object::labels(object)) && fields.matches(object))
        .collect();
    let page = paging::paginate(
        matching,
        snapshot.revision,
        limit,
        request.query.get("continue"),
    )?;

    let mut metadata = json!({"resourceVersion": page.revision.to_string()});
    if let Some(token) = &page.continue_token {
        metadata["continue"] = json!(token);
    }
    if let Some(remaining) = page.remaining {
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(Reply::ok(list_body(
        target.resource,
        request,
        page.items,
        metadata,
    )))
}

fn list_body(
    resource: &ResourceType,
    request: &ApiRequest,
    items: Vec<Value>,
    metadata: Value,
) -> Value {
    match negotiate(&request.accept) {
        Representation::Table => {
            let include = IncludeObject::parse(request.query.text("includeObject"));
            table::table(resource, &items, metadata, include)
        }
        Representation::Metadata => {
            let items: Vec<Value> = items.iter().map(table::partial_metadata).collect();
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": items})
        }
        Representation::Full => json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiate_kubectl_table() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(accept), Representation::Table);
    }

    #[test]
    fn negotiate_defaults() {
        assert_eq!(negotiate(""), Representation::Full);
        assert_eq!(negotiate("application/json"), Representation::Full);
        assert_eq!(
            negotiate("application/vnd.kubernetes.protobuf, */*"),
            Representation::Full
        );
        assert_eq!(
            negotiate("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            Representation::Metadata
        );
        assert_eq!(
            negotiate(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Representation::Full
        );
    }
}
