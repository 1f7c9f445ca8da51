//! Kubernetes `Status` objects: the failures the API server returns to clients
//! and the success body of most deletions.
//!
//! Reasons, codes and message shapes follow kube-apiserver 1.32, because kubectl
//! prints the message and clients branch on the reason.

use http::StatusCode;
use serde_json::{Value, json};

use super::api::Target;
use super::resources::ResourceType;

/// A failed API request, returned to the client as a `Status` with `status: Failure`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError {
    /// HTTP status code, also sent as the Status `code`.
    pub(crate) code: StatusCode,
    /// Machine-readable reason such as `NotFound`.
    pub(crate) reason: &'static str,
    /// Message that kubectl prints after `Error from server (<reason>):`.
    pub(crate) message: String,
    /// Optional `details` object naming the resource.
    pub(crate) details: Option<Value>,
}

/// Result of one API request handler.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// One entry of `details.causes` in an Invalid Status.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cause {
    /// Cause type, for example `FieldValueInvalid` or `FieldValueRequired`.
    pub(crate) reason: &'static str,
    /// Field path, for example `metadata.name`.
    pub(crate) field: String,
    /// Human-readable explanation, without the field path.
    pub(crate) message: String,
}

impl ApiError {
    fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 404 for a named object that does not exist.
    pub(crate) fn not_found(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", resource.qualified_plural());
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
            .with_details(resource_details(resource, name))
    }

    /// 404 for a path that names no API resource.
    pub(crate) fn unknown_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// 409 for a create whose name is taken.
    pub(crate) fn already_exists(resource: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", resource.qualified_plural());
        Self::new(StatusCode::CONFLICT, "AlreadyExists", message)
            .with_details(resource_details(resource, name))
    }

    /// 409 for an update whose resourceVersion is not the stored one.
    pub(crate) fn conflict(resource: &ResourceType, name: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.qualified_plural()
        );
        Self::new(StatusCode::CONFLICT, "Conflict", message)
            .with_details(resource_details(resource, name))
    }

    /// 422 for an object that fails validation, listing each failing field.
    pub(crate) fn invalid(resource: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        let summary: Vec<String> = causes
            .iter()
            .map(|cause| format!("{}: {}", cause.field, cause.message))
            .collect();
        let summary = match summary.as_slice() {
            [single] => single.clone(),
            _ => format!("[{}]", summary.join(", ")),
        };
        let kind = if resource.group.is_empty() {
            resource.kind.to_string()
        } else {
            format!("{}.{}", resource.kind, resource.group)
        };
        let message = format!("{kind} \"{name}\" is invalid: {summary}");
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|cause| {
                json!({"reason": cause.reason, "message": cause.message, "field": cause.field})
            })
            .collect();
        let mut details = json!({"name": name, "kind": resource.kind, "causes": causes});
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message).with_details(details)
    }

    /// 422 for invalid request options, such as apply without `fieldManager`;
    /// `kind` is the options kind, such as `PatchOptions`.
    pub(crate) fn invalid_options(kind: &str, cause: Cause) -> Self {
        let message = format!(
            "{kind}.meta.k8s.io \"\" is invalid: {}: {}",
            cause.field, cause.message
        );
        let details = json!({
            "group": "meta.k8s.io",
            "kind": kind,
            "causes": [{"reason": cause.reason, "message": cause.message, "field": cause.field}],
        });
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message).with_details(details)
    }

    /// 409 for a server-side apply whose fields other managers own; `causes` names
    /// each manager and field.
    pub(crate) fn apply_conflict(
        resource: &ResourceType,
        name: &str,
        message: String,
        causes: Vec<Value>,
    ) -> Self {
        let mut details = resource_details(resource, name);
        details["causes"] = json!(causes);
        Self::new(StatusCode::CONFLICT, "Conflict", message).with_details(details)
    }

    /// 422 for a patch that cannot be applied to the stored object.
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
    }

    /// 403 for an operation the API server never allows, such as deleting `default`.
    pub(crate) fn forbidden(resource: &ResourceType, name: &str, explanation: &str) -> Self {
        let message = format!(
            "{} \"{name}\" is forbidden: {explanation}",
            resource.qualified_plural()
        );
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
            .with_details(resource_details(resource, name))
    }

    /// 403 for a request the simulated RBAC refuses `user`, worded as
    /// kube-apiserver's authorizer words it.
    pub(crate) fn rbac_forbidden(user: &str, verb: &str, target: &Target) -> Self {
        let resource = target.resource;
        let subject = match &target.name {
            Some(name) => format!("{} \"{name}\"", resource.qualified_plural()),
            None => resource.qualified_plural(),
        };
        let scope = match &target.namespace {
            Some(namespace) => format!("in the namespace \"{namespace}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{}\" in API \
             group \"{}\" {scope}",
            resource.plural, resource.group
        );
        let name = target.name.as_deref().unwrap_or_default();
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
            .with_details(resource_details(resource, name))
    }

    /// 410 for a resourceVersion or continue token older than the event history.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message)
    }

    /// 401 for a request without this cluster's bearer token.
    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    /// 400 for a malformed request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 405 for a verb the resource path does not support.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 413 for a request body over the size limit.
    pub(crate) fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("request entity too large: limit is {limit} bytes"),
        )
    }

    /// 415 for a body whose content type the server does not decode; `accepted`
    /// lists the media types that the request could have used.
    pub(crate) fn unsupported_media_type(content_type: &str, accepted: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}; got \"{content_type}\""
            ),
        )
    }

    /// Renders the error as a `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// Builds the `Status` returned by a successful delete of an object without finalizers.
pub(crate) fn deleted_status(resource: &ResourceType, name: &str, uid: Option<&str>) -> Value {
    let mut details = resource_details(resource, name);
    if let Some(uid) = uid {
        details["uid"] = json!(uid);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

fn resource_details(resource: &ResourceType, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource.plural});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    details
}
