//! OpenAPI v3 documents: the `/openapi/v3` index and one document per group version.
//!
//! The documents describe paths and operations, not full schemas. That is what
//! kubectl needs: before `create -f` it looks for the `fieldValidation` parameter on
//! the PATCH operation of the object's kind, and when it is there kubectl leaves
//! validation to the server instead of validating against schemas itself.
//! NOTE: `kubectl explain` and client-side strategic merge need real schemas,
//! which these documents do not carry. `/openapi/v2` returns 404, because
//! kubectl reads v2 only as protobuf and uses v3 first.

use serde_json::{Map, Value, json};

use super::catalog::Catalog;
use super::digest::fnv1a;
use super::profile::KubeVersion;
use super::resources::ResourceType;

/// Returns the `/openapi/v3` index of a cluster at `server`, linking each group
/// version's document.
pub(crate) fn index(catalog: &Catalog, server: KubeVersion) -> Value {
    let mut paths = Map::new();
    for (group, version) in catalog.group_versions() {
        let key = group_version_key(group, version);
        let hash = fnv1a(&document(catalog, server, group, version).to_string());
        let url = format!("/openapi/v3/{key}?hash={hash:016X}");
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// Returns the document at `/openapi/v3/<key>` (for example `api/v1`), if served.
pub(crate) fn document_for_key(catalog: &Catalog, server: KubeVersion, key: &str) -> Option<Value> {
    catalog
        .group_versions()
        .into_iter()
        .find(|(group, version)| group_version_key(group, version) == key)
        .map(|(group, version)| document(catalog, server, group, version))
}

fn group_version_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn document(catalog: &Catalog, server: KubeVersion, group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for resource in catalog
        .resources()
        .iter()
        .filter(|resource| resource.group == group && resource.version == version)
    {
        add_resource_paths(resource, &mut paths);
        schemas.insert(schema_name(resource), object_schema(resource));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": server.git_version()},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

fn add_resource_paths(resource: &ResourceType, paths: &mut Map<String, Value>) {
    let base = resource.group_version_path();
    let collection = if resource.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}", resource.plural)
    } else {
        format!("{base}/{}", resource.plural)
    };
    let item = format!("{collection}/{{name}}");
    paths.insert(
        collection.clone(),
        json!({"get": operation(resource, "list"), "post": operation(resource, "post")}),
    );
    paths.insert(
        item,
        json!({
            "get": operation(resource, "get"),
            "put": operation(resource, "put"),
            "patch": operation(resource, "patch"),
            "delete": operation(resource, "delete"),
        }),
    );
    if resource.namespaced {
        paths.insert(
            format!("{base}/{}", resource.plural),
            json!({"get": operation(resource, "list")}),
        );
    }
}

fn operation(resource: &ResourceType, action: &str) -> Value {
    let mut parameters = vec![query_parameter("pretty")];
    if matches!(action, "post" | "put" | "patch") {
        for name in ["dryRun", "fieldManager", "fieldValidation"] {
            parameters.push(query_parameter(name));
        }
    }
    if action == "patch" {
        parameters.push(query_parameter("force"));
    }
    let reference = format!("#/components/schemas/{}", schema_name(resource));
    json!({
        "operationId": format!("{action}{}", resource.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": reference}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(resource),
    })
}

fn query_parameter(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn gvk(resource: &ResourceType) -> Value {
    json!({"group": resource.group, "version": resource.version, "kind": resource.kind})
}

/// Returns the schema name kube-apiserver uses: `io.k8s.api.<group>.<version>.<Kind>`
/// for built-in kinds and the reversed group for custom resources
/// (`com.example.v1.Widget`).
fn schema_name(resource: &ResourceType) -> String {
    if resource.is_builtin() {
        let group = resource
            .group
            .split('.')
            .next()
            .filter(|group| !group.is_empty());
        let group = group.unwrap_or("core");
        return format!("io.k8s.api.{group}.{}.{}", resource.version, resource.kind);
    }
    let reversed: Vec<&str> = resource.group.split('.').rev().collect();
    format!(
        "{}.{}.{}",
        reversed.join("."),
        resource.version,
        resource.kind
    )
}

/// Describes the common fields of an object and lets every other field through.
fn object_schema(resource: &ResourceType) -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-group-version-kind": [gvk(resource)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: KubeVersion = KubeVersion {
        minor: 32,
        patch: 4,
    };

    fn catalog() -> Catalog {
        Catalog::of(&crate::sim::store::Store::new(1))
    }

    #[test]
    fn patch_declares_field_validation() {
        let document = document_for_key(&catalog(), SERVER, "apis/apps/v1").unwrap();
        let patch =
            &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|parameter| parameter["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"fieldValidation"));
    }

    #[test]
    fn index_links_documents() {
        let index = index(&catalog(), SERVER);
        let url = index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/api/v1?hash="));
        assert!(document_for_key(&catalog(), SERVER, "apis/batch/v1").is_none());
    }
}
