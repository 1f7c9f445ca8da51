//! Writes: create (POST), replace (PUT), patch (PATCH) and delete (DELETE),
//! with `dryRun=All`, server-set metadata, managedFields and kube-apiserver's
//! error statuses. Server-side apply lives in the `apply` module.
//!
//! A dry run (`dryRun=All`) validates and returns what would be stored, but stores
//! nothing and sends no watch event.

use http::StatusCode;
use serde_json::{Value, json};

use super::api::{ApiRequest, Reply, Target};
use super::cluster::Cluster;
use super::digest::name_suffix;
use super::object;
use super::patch::{json_patch, merge_patch};
use super::read::with_type;
use super::resources::{self, ResourceType};
use super::status::{ApiError, ApiResult, deleted_status};
use super::store::{Commit, ObjectKey};
use super::strategic::strategic_merge;
use super::validate::validate_create;
use super::{apply, managed};
use super::{crd, time};

/// Namespaces kube-apiserver never lets clients delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Number of random characters appended to `generateName`, as kube-apiserver does.
const GENERATED_SUFFIX_LENGTH: usize = 5;

/// POST of a new object.
pub(crate) fn create(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let resource = target.resource;
    if resource.namespaced && target.namespace.is_none() {
        return Err(ApiError::method_not_allowed());
    }
    let mut object = decode_typed(request, resource, &request.body)?;
    place_in_namespace(&mut object, target);
    managed::record_update(
        None,
        &mut object,
        field_manager(request),
        &resource.api_version(),
    );
    let created = create_object(cluster, request, resource, object)?;
    Ok(Reply::Json(StatusCode::CREATED, created))
}

/// Names, validates, defaults and stores a new object; returns it typed.
pub(crate) fn create_object(
    cluster: &Cluster,
    request: &ApiRequest,
    resource: &ResourceType,
    mut object: Value,
) -> ApiResult<Value> {
    if object::name(&object).is_empty() {
        let prefix = object::meta_str(&object, "generateName").to_string();
        if !prefix.is_empty() {
            let suffix = name_suffix(&cluster.store.next_uid(), GENERATED_SUFFIX_LENGTH);
            object::set_meta(&mut object, "name", format!("{prefix}{suffix}"));
        }
    }
    validate_create(resource, &object)?;
    if resource.id() == resources::custom_resource_definitions().id() {
        crd::validate(resource, &object)?;
    }
    apply_create_defaults(resource, &mut object);
    let created = cluster.store.create(resource, object, commit(request))?;
    tracing::debug!(
        resource = resource.plural,
        name = object::name(&created),
        dry_run = commit(request) == Commit::DryRun,
        "created object"
    );
    Ok(with_type(resource, created))
}

/// PUT replacing an existing object.
pub(crate) fn replace(
    cluster: &Cluster,
    request: &ApiRequest,
    target: &Target,
) -> ApiResult<Reply> {
    let resource = target.resource;
    let key = target_key(target);
    let mut object = decode_typed(request, resource, &request.body)?;
    let sent_name = object::name(&object).to_string();
    if sent_name.is_empty() {
        object::set_meta(&mut object, "name", key.name.clone());
    } else if sent_name != key.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({sent_name}) does not match the name on the URL ({})",
            key.name
        )));
    }
    place_in_namespace(&mut object, target);
    let manager = field_manager(request);
    let updated = cluster
        .store
        .update(resource, &key, commit(request), |current| {
            managed::record_update(Some(current), &mut object, manager, &resource.api_version());
            Ok(object)
        })?;
    Ok(Reply::ok(with_type(resource, updated)))
}

/// The patch formats of `PATCH` requests other than server-side apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatchType {
    Merge,
    Json,
    Strategic,
}

/// PATCH with a JSON merge patch, a JSON patch, a strategic merge patch (built-in
/// kinds only, as in kube-apiserver) or a server-side apply configuration.
pub(crate) fn patch(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let resource = target.resource;
    let patch_type = match media_type(request) {
        "application/merge-patch+json" => PatchType::Merge,
        "application/json-patch+json" => PatchType::Json,
        "application/strategic-merge-patch+json" if resource.is_builtin() => PatchType::Strategic,
        "application/apply-patch+yaml" => return apply::handle(cluster, request, target),
        other => {
            let mut accepted = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".to_string();
            if resource.is_builtin() {
                accepted.push_str(", application/strategic-merge-patch+json");
            }
            return Err(ApiError::unsupported_media_type(other, &accepted));
        }
    };
    let document: Value = serde_json::from_slice(&request.body).map_err(|error| {
        ApiError::bad_request(format!("failed to decode the patch as JSON: {error}"))
    })?;
    let key = target_key(target);
    let manager = field_manager(request);
    let updated = cluster
        .store
        .update(resource, &key, commit(request), |current| {
            let mut patched = patched(current, &document, patch_type)?;
            if object::name(&patched) != key.name || object::namespace(&patched) != key.namespace {
                return Err(ApiError::bad_request(
                    "metadata.name and metadata.namespace cannot be changed by a patch",
                ));
            }
            managed::record_update(
                Some(current),
                &mut patched,
                manager,
                &resource.api_version(),
            );
            Ok(patched)
        })?;
    Ok(Reply::ok(with_type(resource, updated)))
}

/// Applies one patch document to a copy of the stored object.
fn patched(current: &Value, document: &Value, patch_type: PatchType) -> ApiResult<Value> {
    let mut patched = current.clone();
    match patch_type {
        PatchType::Merge => merge_patch(&mut patched, document),
        PatchType::Json => json_patch(&mut patched, document)
            .map_err(|error| ApiError::unprocessable(error.to_string()))?,
        PatchType::Strategic => strategic_merge(&mut patched, document)
            .map_err(|error| ApiError::unprocessable(error.to_string()))?,
    }
    Ok(patched)
}

/// DELETE of one object. Pods and namespaces return the deleted object; other kinds
/// return a success Status.
pub(crate) fn delete(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let resource = target.resource;
    let key = target_key(target);
    if resource.plural == "namespaces" && PROTECTED_NAMESPACES.contains(&key.name.as_str()) {
        return Err(ApiError::forbidden(
            resource,
            &key.name,
            "this namespace may not be deleted",
        ));
    }
    let mut deleted = cluster
        .store
        .delete(resource, &key, delete_commit(request))?;
    let body = match resource.plural {
        "pods" => with_type(resource, deleted),
        "namespaces" => {
            object::set_meta(&mut deleted, "deletionTimestamp", time::format(time::now()));
            deleted["status"] = json!({"phase": "Terminating"});
            with_type(resource, deleted)
        }
        _ => deleted_status(resource, &key.name, Some(object::meta_str(&deleted, "uid"))),
    };
    Ok(Reply::ok(body))
}

/// Returns the `Content-Type` without parameters such as `charset`.
fn media_type(request: &ApiRequest) -> &str {
    let content_type = request.content_type.split(';').next().unwrap_or_default();
    content_type.trim()
}

/// Returns whether the request writes or only checks (`dryRun=All`).
pub(crate) fn commit(request: &ApiRequest) -> Commit {
    if request.query.get("dryRun") == Some("All") {
        Commit::DryRun
    } else {
        Commit::Store
    }
}

/// Returns the `fieldManager` query parameter, or the default manager name.
fn field_manager(request: &ApiRequest) -> &str {
    match request.query.text("fieldManager") {
        "" => managed::DEFAULT_MANAGER,
        manager => manager,
    }
}

/// Returns whether a DELETE writes or only checks: kubectl and kube send `dryRun`
/// in the DeleteOptions body, other clients in the query.
fn delete_commit(request: &ApiRequest) -> Commit {
    let options: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let in_body = object::array_at(&options, "/dryRun")
        .iter()
        .any(|mode| mode.as_str() == Some("All"));
    if in_body {
        Commit::DryRun
    } else {
        commit(request)
    }
}

/// Returns the key of the object a path names.
pub(crate) fn target_key(target: &Target) -> ObjectKey {
    ObjectKey::new(
        target.namespace.as_deref().unwrap_or_default(),
        target.name.as_deref().unwrap_or_default(),
    )
}

/// Decodes a JSON or YAML body into an object and checks its kind and apiVersion
/// when the body sets them.
pub(crate) fn decode_typed(
    request: &ApiRequest,
    resource: &ResourceType,
    body: &[u8],
) -> ApiResult<Value> {
    let object = parse_body(request, body)?;
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let expected_version = resource.api_version();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(resource.kind);
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    let api_version = api_version.unwrap_or(&expected_version);
    if kind != resource.kind || api_version != expected_version {
        return Err(ApiError::bad_request(format!(
            "the object in the request body is {api_version} {kind}, but this path serves {expected_version} {}",
            resource.kind
        )));
    }
    Ok(object)
}

fn parse_body(request: &ApiRequest, body: &[u8]) -> ApiResult<Value> {
    let decode_error = |format: &str, error: &dyn std::fmt::Display| {
        ApiError::bad_request(format!(
            "failed to decode the request body as {format}: {error}"
        ))
    };
    match media_type(request) {
        "application/yaml" | "application/apply-patch+yaml" => {
            serde_yaml::from_slice(body).map_err(|error| decode_error("YAML", &error))
        }
        "" | "application/json" | "*/*" => {
            serde_json::from_slice(body).map_err(|error| decode_error("JSON", &error))
        }
        // NOTE: kubectl's generator commands (`create configmap`, `run`) send protobuf,
        // which the simulator does not decode.
        other => {
            let accepted = "application/json, application/yaml";
            Err(ApiError::unsupported_media_type(other, accepted))
        }
    }
}

/// Sets `metadata.namespace` from the path, which wins over the body, and clears it
/// for cluster-scoped resources.
pub(crate) fn place_in_namespace(object: &mut Value, target: &Target) {
    match (&target.namespace, target.resource.namespaced) {
        (Some(namespace), true) => object::set_meta(object, "namespace", namespace.clone()),
        _ => {
            object::metadata_mut(object).remove("namespace");
        }
    }
}

/// Resets status and fills the defaults kube-apiserver sets on create for the
/// kinds whose clients rely on them.
fn apply_create_defaults(resource: &ResourceType, object: &mut Value) {
    let name = object::name(object).to_string();
    let crd_status = crd::accepted_status(object);
    let Some(root) = object.as_object_mut() else {
        return;
    };
    if resource.has_status {
        root.remove("status");
    }
    match resource.plural {
        "namespaces" => {
            root.insert("status".into(), json!({"phase": "Active"}));
            root.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
            let labels = object::metadata_mut(object)
                .entry("labels")
                .or_insert_with(|| json!({}));
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        "pods" => {
            root.insert("status".into(), json!({"phase": "Pending"}));
        }
        "secrets" if !root.contains_key("type") => {
            root.insert("type".into(), json!("Opaque"));
        }
        "customresourcedefinitions" if resource.is_builtin() => {
            root.insert("status".into(), crd_status);
        }
        _ => {}
    }
}
