//! Typed calls of the `kube-client` interface.
//!
//! The functions without a suffix take a [`k8s_openapi`] object type and
//! name its resource from the type (`pods`, `deployments.apps`). The `_as`
//! functions take the resource name the way kubectl takes it (`po`, `cm`,
//! `widgets.example.com`) and decode into any `serde` type, such as
//! [`serde_json::Value`]. Every call returns the host's failures as
//! [`Error`]s with the call as their context.

use k8s_openapi::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, ResultExt, kube_client};

/// Options of a list call: namespace, selectors and page size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Namespace to list in; `None` lists every namespace (or the cluster
    /// scope, for cluster-scoped resources).
    pub namespace: Option<String>,
    /// Label selector, such as `app=web,tier!=cache`.
    pub label_selector: Option<String>,
    /// Field selector, such as `status.phase=Succeeded`.
    pub field_selector: Option<String>,
    /// Largest number of items per page; `None` lets the server decide.
    pub limit: Option<u32>,
}

impl ListParams {
    /// Lists in `namespace` only.
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        self.namespace_opt(Some(namespace.into()))
    }

    /// Lists in `namespace` when given, else in every namespace.
    pub fn namespace_opt(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
    }

    /// Lists objects that match the label selector.
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Lists objects that match the field selector.
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    /// Fetches at most `limit` objects per page.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    fn options(&self, continue_token: Option<String>) -> kube_client::ListOptions {
        kube_client::ListOptions {
            namespace: self.namespace.clone(),
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            limit: self.limit,
            continue_token,
        }
    }
}

/// One page of a list: its items and the token of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The page's objects.
    pub items: Vec<T>,
    /// `metadata.continue`, to pass to [`list_page_as`] for the next page,
    /// or `None` on the last page.
    pub continue_token: Option<String>,
}

/// The parts of a list object that the helpers decode.
#[derive(serde::Deserialize)]
struct ListObject<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMetadata,
}

#[derive(Default, serde::Deserialize)]
struct ListMetadata {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// Returns the resource name of `K` as the host resolves it: the plural for
/// the core group (`pods`), else `plural.group` (`deployments.apps`).
pub fn resource_name<K: Resource>() -> String {
    if K::GROUP.is_empty() {
        K::URL_PATH_SEGMENT.to_string()
    } else {
        format!("{}.{}", K::URL_PATH_SEGMENT, K::GROUP)
    }
}

/// Returns one page of `resource`, starting at `continue_token` (`None` for
/// the first page).
pub fn list_page_as<T: DeserializeOwned>(
    cluster: &str,
    resource: &str,
    params: &ListParams,
    continue_token: Option<String>,
) -> Result<Page<T>, Error> {
    let text = kube_client::list(cluster, resource, &params.options(continue_token))
        .context(format_args!("listing {resource} on {cluster}"))?;
    let list: ListObject<T> = serde_json::from_str(&text)
        .context(format_args!("decoding the list of {resource} on {cluster}"))?;
    Ok(Page {
        items: list.items,
        continue_token: list
            .metadata
            .continue_token
            .filter(|token| !token.is_empty()),
    })
}

/// Returns every object of `resource` that matches `params`, following
/// `metadata.continue` across pages.
pub fn list_as<T: DeserializeOwned>(
    cluster: &str,
    resource: &str,
    params: &ListParams,
) -> Result<Vec<T>, Error> {
    let mut items = Vec::new();
    let mut continue_token = None;
    loop {
        let page = list_page_as(cluster, resource, params, continue_token)?;
        items.extend(page.items);
        match page.continue_token {
            Some(token) => continue_token = Some(token),
            None => return Ok(items),
        }
    }
}

/// Returns every object of type `K` that matches `params`, following
/// `metadata.continue` across pages: `list::<Pod>(cluster, &params)`.
pub fn list<K: Resource + DeserializeOwned>(
    cluster: &str,
    params: &ListParams,
) -> Result<Vec<K>, Error> {
    list_as(cluster, &resource_name::<K>(), params)
}

/// Returns the object `name` of `resource`. `namespace` is required for
/// namespaced resources and ignored for cluster-scoped ones.
pub fn get_as<T: DeserializeOwned>(
    cluster: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<T, Error> {
    let text = kube_client::get(cluster, resource, namespace, name).context(format_args!(
        "getting {resource} {} on {cluster}",
        object_path(namespace, name)
    ))?;
    serde_json::from_str(&text).context(format_args!("decoding {resource} {name}"))
}

/// Returns the object `name` of type `K`: `get::<Pod>(cluster, Some("shop"), "web-0")`.
pub fn get<K: Resource + DeserializeOwned>(
    cluster: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<K, Error> {
    get_as(cluster, &resource_name::<K>(), namespace, name)
}

/// Creates `object` as a `resource` and returns the stored object. The
/// namespace comes from `namespace`, else from the object's metadata.
pub fn create_as<T: Serialize, R: DeserializeOwned>(
    cluster: &str,
    resource: &str,
    namespace: Option<&str>,
    object: &T,
) -> Result<R, Error> {
    let body = serde_json::to_string(object).context(format_args!("encoding a new {resource}"))?;
    let text = kube_client::create(cluster, resource, namespace, &body)
        .context(format_args!("creating {resource} on {cluster}"))?;
    serde_json::from_str(&text).context(format_args!("decoding the new {resource}"))
}

/// Creates `object` of type `K` and returns the stored object.
pub fn create<K: Resource + Serialize + DeserializeOwned>(
    cluster: &str,
    namespace: Option<&str>,
    object: &K,
) -> Result<K, Error> {
    create_as(cluster, &resource_name::<K>(), namespace, object)
}

/// Applies `patch` as a JSON merge patch (RFC 7386) to `name` and returns
/// the patched object.
pub fn patch_as<R: DeserializeOwned>(
    cluster: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<R, Error> {
    let text = kube_client::patch(cluster, resource, namespace, name, &patch.to_string()).context(
        format_args!(
            "patching {resource} {} on {cluster}",
            object_path(namespace, name)
        ),
    )?;
    serde_json::from_str(&text).context(format_args!("decoding the patched {resource} {name}"))
}

/// Applies a JSON merge patch to the object `name` of type `K`.
pub fn patch<K: Resource + DeserializeOwned>(
    cluster: &str,
    namespace: Option<&str>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<K, Error> {
    patch_as(cluster, &resource_name::<K>(), namespace, name, patch)
}

/// Deletes the object `name` of `resource`.
pub fn delete_as(
    cluster: &str,
    resource: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), Error> {
    kube_client::delete(cluster, resource, namespace, name).context(format_args!(
        "deleting {resource} {} on {cluster}",
        object_path(namespace, name)
    ))
}

/// Deletes the object `name` of type `K`.
pub fn delete<K: Resource>(
    cluster: &str,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), Error> {
    delete_as(cluster, &resource_name::<K>(), namespace, name)
}

fn object_path(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    #[test]
    fn resource_names_carry_group() {
        assert_eq!(resource_name::<Pod>(), "pods");
        assert_eq!(resource_name::<Deployment>(), "deployments.apps");
    }

    #[test]
    fn list_object_decodes_continue() {
        let text = r#"{"items":[{"metadata":{"name":"a"}}],"metadata":{"continue":"t1"}}"#;
        let list: ListObject<Pod> = serde_json::from_str(text).unwrap();
        assert_eq!(list.items[0].metadata.name.as_deref(), Some("a"));
        assert_eq!(list.metadata.continue_token.as_deref(), Some("t1"));
        let list: ListObject<Pod> = serde_json::from_str(r#"{"metadata":{}}"#).unwrap();
        assert!(list.items.is_empty());
    }
}
