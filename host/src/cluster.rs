//! A started client of one cluster, and the requests lazyhost sends
//! through it.
//!
//! [`KubeFactory`] builds the cluster's HTTP stack from its kubeconfig
//! context (see [`crate::transport`]) and completes its first requests:
//! the server version and the discovery documents, which become the
//! cluster's [`ResourceTable`]. Every request is timed and counted in the
//! [`Monitor`].

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderName, HeaderValue};
use http_body_util::BodyExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, APIResourceList};
use k8s_openapi::apimachinery::pkg::version::Info;
use kube::api::{DeleteParams, GetParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Request;
use tower::ServiceExt as _;
use tracing::Instrument;

use crate::discovery::{ResourceTable, ResourceType, TableCache};
use crate::inventory::ClusterConfig;
use crate::monitor::Monitor;
use crate::pool::{ClientFactory, ConnectError, Pool, PoolError};
use crate::transport::{self, TlsCache, Transport, TransportConfig};

/// Header that names the pool client a request comes from, as
/// `<cluster>/<process id>-<serial>`, so a server can tell clients apart,
/// also across lazyhost processes.
pub const CLIENT_HEADER: &str = "x-lazyhost-client";

/// Header naming the user a request impersonates.
const IMPERSONATE_USER: HeaderName = HeaderName::from_static("impersonate-user");
/// Header naming a group a request impersonates; repeated for each group.
const IMPERSONATE_GROUP: HeaderName = HeaderName::from_static("impersonate-group");

/// The pool of real cluster clients.
pub type KubePool = Pool<KubeFactory>;

/// The class of a failed request, matching the plugin interface's error cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// HTTP 404, or an unknown resource type.
    NotFound,
    /// HTTP 409 AlreadyExists.
    AlreadyExists,
    /// HTTP 409 Conflict.
    Conflict,
    /// HTTP 400, 405, 415 or 422, or invalid input to the host call.
    Invalid,
    /// HTTP 403.
    Forbidden,
    /// HTTP 401.
    Unauthorized,
    /// Connection or TLS failure, HTTP 429 or 5xx.
    Unavailable,
    /// HTTP 504 or a client timeout.
    Timeout,
    /// Rejected by lazyhost's own policy.
    Denied,
}

/// A failed request: its class and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// The message of the server or of lazyhost.
    pub message: String,
}

impl RequestError {
    /// Creates an error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn from_kube(error: &kube::Error) -> Self {
        let kind = match error {
            kube::Error::Api(status) => kind_of_status(status.code, &status.reason),
            other if error_chain(other).contains("timed out") => ErrorKind::Timeout,
            _ => ErrorKind::Unavailable,
        };
        Self {
            kind,
            message: kube_message(error),
        }
    }
}

impl From<PoolError> for RequestError {
    fn from(error: PoolError) -> Self {
        let kind = match &error {
            PoolError::UnknownCluster(_) => ErrorKind::NotFound,
            PoolError::Connect { source, .. } => match source.as_ref() {
                ConnectError::Discovery(inner) | ConnectError::Build(inner) => {
                    RequestError::from_kube(inner).kind
                }
                ConnectError::Timeout(_) => ErrorKind::Timeout,
                ConnectError::Credential(_) => ErrorKind::Unauthorized,
                ConnectError::Config(_) => ErrorKind::Invalid,
                _ => ErrorKind::Unavailable,
            },
        };
        Self::new(kind, error_chain(&error))
    }
}

fn kind_of_status(code: u16, reason: &str) -> ErrorKind {
    match code {
        404 => ErrorKind::NotFound,
        409 if reason == "AlreadyExists" => ErrorKind::AlreadyExists,
        409 => ErrorKind::Conflict,
        400 | 405 | 415 | 422 => ErrorKind::Invalid,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        504 => ErrorKind::Timeout,
        _ => ErrorKind::Unavailable,
    }
}

/// Returns the message of a kube error: the server's own message for an
/// API error, else the error and its sources on one line.
pub fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => error_chain(other),
    }
}

/// Joins an error and its sources into one line, skipping a source whose
/// text its parent already contains.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Builds [`ClusterClient`]s from each cluster's kubeconfig context.
pub struct KubeFactory {
    monitor: Arc<Monitor>,
    transport: TransportConfig,
    tls: TlsCache,
    tables: TableCache,
}

impl KubeFactory {
    /// Creates a factory that records requests in `monitor`, with the
    /// default HTTP settings.
    pub fn new(monitor: Arc<Monitor>) -> Self {
        Self::with_transport(monitor, TransportConfig::default())
    }

    /// Creates a factory whose clients use the HTTP settings `transport`.
    pub fn with_transport(monitor: Arc<Monitor>, transport: TransportConfig) -> Self {
        Self {
            monitor,
            transport,
            tls: TlsCache::default(),
            tables: TableCache::default(),
        }
    }

    async fn start(
        &self,
        cluster: &ClusterConfig,
        serial: u64,
    ) -> Result<ClusterClient, ConnectError> {
        let mut config = cluster.client_config().await?;
        let impersonates = config.auth_info.impersonate.clone();
        let identity = format!("{}/{}-{serial}", cluster.name, std::process::id());
        if let Ok(value) = HeaderValue::from_str(&identity) {
            config
                .headers
                .push((HeaderName::from_static(CLIENT_HEADER), value));
        }
        let transport = transport::build(
            config,
            &self.transport,
            &self.tls,
            Arc::clone(self.monitor.transport()),
        )
        .await?;

        let timed = Timed {
            monitor: &self.monitor,
            cluster: &cluster.name,
        };
        let version: Info = timed
            .run("discovery", get_json(&transport, "/version"))
            .await
            .map_err(ConnectError::Discovery)?;
        let resources = discover(&transport, &timed)
            .await
            .map_err(ConnectError::Discovery)?;

        Ok(ClusterClient {
            inner: Arc::new(Inner {
                name: cluster.name.clone(),
                transport,
                version,
                resources: self.tables.share(resources),
                monitor: Arc::clone(&self.monitor),
                impersonates,
            }),
            mode: Arc::default(),
        })
    }
}

impl ClientFactory for KubeFactory {
    type Client = ClusterClient;

    async fn connect(
        &self,
        cluster: Arc<ClusterConfig>,
        serial: u64,
    ) -> Result<ClusterClient, ConnectError> {
        let span = tracing::debug_span!("client_start", cluster = %cluster.name, serial);
        self.start(&cluster, serial).instrument(span).await
    }
}

/// Sends `request` and returns the reply's body as text; an error status
/// becomes `kube::Error::Api` with the server's `Status`, as in kube.
async fn send_text(
    transport: &Transport,
    request: http::Request<Vec<u8>>,
) -> Result<String, kube::Error> {
    let response = transport
        .clone()
        .oneshot(request.map(kube::client::Body::from))
        .await
        .map_err(kube::Error::Service)?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|error| kube::Error::Service(error.into()))?
        .to_bytes();
    let text = String::from_utf8(bytes.to_vec()).map_err(kube::Error::FromUtf8)?;
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(text);
    }
    let reply = serde_json::from_str::<kube::core::Status>(&text).unwrap_or_else(|_| {
        kube::core::Status::failure(text.trim(), "Failed to parse error data")
            .with_code(status.as_u16())
    });
    Err(kube::Error::Api(reply.boxed()))
}

/// Reads the JSON document at `path`.
async fn get_json<T: serde::de::DeserializeOwned>(
    transport: &Transport,
    path: &str,
) -> Result<T, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    let text = send_text(transport, request).await?;
    serde_json::from_str(&text).map_err(kube::Error::SerdeError)
}

/// Reads the core group and every group's preferred version.
async fn discover(transport: &Transport, timed: &Timed<'_>) -> Result<ResourceTable, kube::Error> {
    let mut table = ResourceTable::default();
    let core: APIResourceList = timed
        .run("discovery", get_json(transport, "/api/v1"))
        .await?;
    table.add_list(&core);

    let groups: APIGroupList = timed.run("discovery", get_json(transport, "/apis")).await?;
    let versions: Vec<String> = groups
        .groups
        .iter()
        .filter_map(|group| {
            let preferred = group
                .preferred_version
                .as_ref()
                .or(group.versions.first())?;
            Some(preferred.group_version.clone())
        })
        .collect();
    let lists: Vec<APIResourceList> =
        futures::future::try_join_all(versions.iter().map(|version| {
            let path = format!("/apis/{version}");
            timed.run("discovery", async move { get_json(transport, &path).await })
        }))
        .await?;
    for list in &lists {
        table.add_list(list);
    }
    Ok(table)
}

/// Times requests to one cluster into the monitor.
struct Timed<'a> {
    monitor: &'a Monitor,
    cluster: &'a str,
}

impl Timed<'_> {
    async fn run<T, E>(
        &self,
        verb: &str,
        request: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = request.await;
        self.monitor
            .record(self.cluster, verb, started.elapsed(), result.is_ok());
        result
    }
}

struct Inner {
    name: String,
    transport: Transport,
    version: Info,
    resources: Arc<ResourceTable>,
    monitor: Arc<Monitor>,
    /// The user the kubeconfig context itself impersonates (`as`).
    impersonates: Option<String>,
}

/// An object's address: resource type, namespace and name.
pub struct ObjectRef<'a> {
    /// Resource as the user typed it, such as `deploy`.
    pub resource: &'a str,
    /// Namespace, required for namespaced resources.
    pub namespace: Option<&'a str>,
    /// Object name.
    pub name: &'a str,
}

/// Options of a list request.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// Namespace, or all namespaces when none.
    pub namespace: Option<String>,
    /// Label selector.
    pub label_selector: Option<String>,
    /// Field selector.
    pub field_selector: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Continue token from the previous page.
    pub continue_token: Option<String>,
}

/// A Kubernetes identity that requests impersonate, through the
/// `Impersonate-User` and `Impersonate-Group` headers, so that the cluster's
/// own RBAC applies to them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// User name, such as `system:serviceaccount:ops:audit`.
    pub user: String,
    /// Groups, in addition to those the cluster gives the user.
    pub groups: Vec<String>,
}

/// The request options of a client acting for a plugin: the identity it
/// impersonates, and whether writes are only checked.
#[derive(Clone, Debug, Default)]
pub struct RequestMode {
    /// Sends every write as a server-side dry run (`dryRun=All`): the
    /// server validates it and replies with what it would store, but stores
    /// nothing.
    pub dry_run: bool,
    /// The identity every request impersonates.
    pub identity: Option<Identity>,
}

/// A started client of one cluster: cheap to clone.
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
    mode: Arc<RequestMode>,
}

impl ClusterClient {
    /// Returns a handle to the same client that sends requests in `mode`.
    #[must_use]
    pub fn with_mode(&self, mode: Arc<RequestMode>) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            mode,
        }
    }

    /// Returns the server version read when the client started.
    pub fn version(&self) -> &Info {
        &self.inner.version
    }

    /// Returns the resource types read when the client started.
    pub fn resources(&self) -> &ResourceTable {
        &self.inner.resources
    }

    /// Resolves a resource name as a user types it.
    ///
    /// # Errors
    ///
    /// Returns `NotFound` when the cluster serves no such resource type.
    pub fn resolve(&self, resource: &str) -> Result<&ResourceType, RequestError> {
        self.inner.resources.resolve(resource).ok_or_else(|| {
            RequestError::new(
                ErrorKind::NotFound,
                format!(
                    "the server doesn't have a resource type \"{resource}\": \
                     list the cluster's types with client.api-resources"
                ),
            )
        })
    }

    /// Lists objects and returns the list as JSON text.
    pub async fn list(
        &self,
        resource: &str,
        options: &ListOptions,
    ) -> Result<String, RequestError> {
        let resource_type = self.resolve(resource)?;
        let path = resource_type.collection_path(options.namespace.as_deref());
        let params = ListParams {
            label_selector: options.label_selector.clone(),
            field_selector: options.field_selector.clone(),
            limit: options.limit,
            continue_token: options.continue_token.clone(),
            ..ListParams::default()
        };
        let request = Request::new(path).list(&params);
        self.send("list", request).await
    }

    /// Returns one object as JSON text.
    pub async fn get(&self, object: &ObjectRef<'_>) -> Result<String, RequestError> {
        let path = self.object_collection(object.resource, object.namespace)?;
        let request = Request::new(path).get(object.name, &GetParams::default());
        self.send("get", request).await
    }

    /// Creates an object from JSON text and returns the stored object.
    pub async fn create(
        &self,
        resource: &str,
        namespace: Option<&str>,
        object: &str,
    ) -> Result<String, RequestError> {
        let value: serde_json::Value = parse_json("object", object)?;
        let from_object = value["metadata"]["namespace"].as_str();
        let path = self.object_collection(resource, namespace.or(from_object))?;
        let params = PostParams {
            dry_run: self.mode.dry_run,
            ..PostParams::default()
        };
        let request = Request::new(path).create(&params, object.as_bytes().to_vec());
        self.send("create", request).await
    }

    /// Applies a JSON merge patch and returns the patched object.
    pub async fn patch(&self, object: &ObjectRef<'_>, patch: &str) -> Result<String, RequestError> {
        let value: serde_json::Value = parse_json("patch", patch)?;
        let path = self.object_collection(object.resource, object.namespace)?;
        let params = PatchParams {
            dry_run: self.mode.dry_run,
            ..PatchParams::default()
        };
        let request = Request::new(path).patch(object.name, &params, &Patch::Merge(value));
        self.send("patch", request).await
    }

    /// Deletes an object.
    pub async fn delete(&self, object: &ObjectRef<'_>) -> Result<(), RequestError> {
        let path = self.object_collection(object.resource, object.namespace)?;
        let params = DeleteParams {
            dry_run: self.mode.dry_run,
            ..DeleteParams::default()
        };
        let request = Request::new(path).delete(object.name, &params);
        self.send("delete", request).await.map(drop)
    }

    /// Sends a raw request to an API path and returns its status and body,
    /// whatever the status.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), RequestError> {
        let mut request = raw_request(method, path, body, self.mode.dry_run)?;
        self.impersonate(&mut request)?;
        let started = Instant::now();
        let result = self.send_raw(request).await;
        let success = matches!(&result, Ok((status, _)) if *status < 400);
        let verb = method.to_ascii_lowercase();
        self.inner
            .monitor
            .record(&self.inner.name, &verb, started.elapsed(), success);
        result
    }

    async fn send_raw(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<(u16, String), RequestError> {
        let response = self
            .inner
            .transport
            .clone()
            .oneshot(request.map(kube::client::Body::from))
            .await
            .map_err(|error| RequestError::from_kube(&kube::Error::Service(error)))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| RequestError::new(ErrorKind::Unavailable, error_chain(&error)))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Adds the impersonation headers of the mode's identity.
    fn impersonate(&self, request: &mut http::Request<Vec<u8>>) -> Result<(), RequestError> {
        let headers = request.headers_mut();
        for (name, value) in self.impersonation_headers()? {
            headers.append(name, value);
        }
        Ok(())
    }

    /// Returns the impersonation headers of the mode's identity. A
    /// kubeconfig context that impersonates a user itself cannot take a
    /// second identity, since the server would see two.
    fn impersonation_headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, RequestError> {
        let Some(identity) = &self.mode.identity else {
            return Ok(Vec::new());
        };
        if let Some(user) = &self.inner.impersonates {
            let message = format!(
                "cluster `{}` already impersonates `{user}` through its kubeconfig (`as`), so \
                 requests cannot also impersonate `{}`: remove one of the two",
                self.inner.name, identity.user
            );
            return Err(RequestError::new(ErrorKind::Denied, message));
        }
        let value = |text: &str| {
            HeaderValue::from_str(text).map_err(|_| {
                let message = format!(
                    "cannot impersonate `{text}`: a user or group name must be visible ASCII text"
                );
                RequestError::new(ErrorKind::Invalid, message)
            })
        };
        let mut headers = vec![(IMPERSONATE_USER, value(&identity.user)?)];
        for group in &identity.groups {
            headers.push((IMPERSONATE_GROUP, value(group)?));
        }
        Ok(headers)
    }

    /// Returns a kube client over this cluster's HTTP stack, for kube's
    /// streaming helpers such as `kube::runtime::watcher`. Its requests
    /// impersonate the mode's identity. They are not recorded in the
    /// monitor, because a watch's duration is no latency.
    ///
    /// # Errors
    ///
    /// Fails when the mode's identity cannot be impersonated, as
    /// [`Self::request`] would.
    pub fn kube_client(&self) -> Result<kube::Client, RequestError> {
        let headers = self.impersonation_headers()?;
        let service = self.inner.transport.clone().map_request(
            move |mut request: http::Request<kube::client::Body>| {
                for (name, value) in &headers {
                    request.headers_mut().append(name.clone(), value.clone());
                }
                request
            },
        );
        Ok(kube::Client::new(service, "default"))
    }

    fn object_collection(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<String, RequestError> {
        let resource_type = self.resolve(resource)?;
        if resource_type.namespaced && namespace.is_none() {
            let message = format!(
                "{} is namespaced: pass the namespace of the object",
                resource_type.qualified_name()
            );
            return Err(RequestError::new(ErrorKind::Invalid, message));
        }
        Ok(resource_type.collection_path(namespace))
    }

    async fn send(
        &self,
        verb: &str,
        request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
    ) -> Result<String, RequestError> {
        let mut request =
            request.map_err(|error| RequestError::new(ErrorKind::Invalid, error_chain(&error)))?;
        self.impersonate(&mut request)?;
        let started = Instant::now();
        let result = send_text(&self.inner.transport, request).await;
        self.inner
            .monitor
            .record(&self.inner.name, verb, started.elapsed(), result.is_ok());
        result.map_err(|error| RequestError::from_kube(&error))
    }
}

fn parse_json(what: &str, text: &str) -> Result<serde_json::Value, RequestError> {
    serde_json::from_str(text).map_err(|error| {
        RequestError::new(
            ErrorKind::Invalid,
            format!("{what} is not valid JSON: {error}"),
        )
    })
}

/// Builds a raw request, accepting only API paths and the usual methods.
/// With `dry_run`, a write gets `dryRun=All` added to its query.
fn raw_request(
    method: &str,
    path: &str,
    body: Option<&str>,
    dry_run: bool,
) -> Result<http::Request<Vec<u8>>, RequestError> {
    let invalid = |message: String| RequestError::new(ErrorKind::Invalid, message);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => http::Method::GET,
        "HEAD" => http::Method::HEAD,
        "POST" => http::Method::POST,
        "PUT" => http::Method::PUT,
        "PATCH" => http::Method::PATCH,
        "DELETE" => http::Method::DELETE,
        other => {
            return Err(invalid(format!(
                "unsupported method `{other}`: use GET, HEAD, POST, PUT, PATCH or DELETE"
            )));
        }
    };
    let api_path = path.split('?').next().unwrap_or_default();
    let allowed = api_path == "/version"
        || ["/api", "/apis"]
            .iter()
            .any(|root| api_path == *root || api_path.starts_with(&format!("{root}/")));
    if !allowed || api_path.split('/').any(|segment| segment == "..") {
        return Err(invalid(format!(
            "invalid path `{path}`: use /version or an API path starting with /api/ or /apis/"
        )));
    }

    let content_type = if method == http::Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let uri = if dry_run && !matches!(method, http::Method::GET | http::Method::HEAD) {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{path}{separator}dryRun=All")
    } else {
        path.to_string()
    };
    let mut builder = http::Request::builder().method(method).uri(uri);
    if body.is_some() {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    builder
        .body(body.unwrap_or_default().as_bytes().to_vec())
        .map_err(|error| invalid(format!("invalid request `{path}`: {error}")))
}

/// Starts the memory watch that `section` configures, relieving pressure
/// by evicting clients idle past the pool's idle threshold.
pub fn watch_memory(
    monitor: &Arc<Monitor>,
    pool: &Arc<KubePool>,
    section: &crate::config::MonitorSection,
) {
    let watch = crate::monitor::MemoryWatch {
        interval: section.interval,
        warning_mb: section.memory_warning_mb,
        evict_idle_on_pressure: section.evict_idle_on_pressure,
    };
    let idle_threshold = pool.config().idle_threshold;
    let pool = Arc::downgrade(pool);
    Monitor::spawn_memory_watch(monitor, watch, move || {
        pool.upgrade()
            .map_or(0, |pool| pool.evict_unused_for(idle_threshold))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_kinds() {
        assert_eq!(kind_of_status(404, "NotFound"), ErrorKind::NotFound);
        assert_eq!(
            kind_of_status(409, "AlreadyExists"),
            ErrorKind::AlreadyExists
        );
        assert_eq!(kind_of_status(409, "Conflict"), ErrorKind::Conflict);
        assert_eq!(kind_of_status(422, "Invalid"), ErrorKind::Invalid);
        assert_eq!(kind_of_status(401, "Unauthorized"), ErrorKind::Unauthorized);
        assert_eq!(kind_of_status(403, "Forbidden"), ErrorKind::Forbidden);
        assert_eq!(
            kind_of_status(429, "TooManyRequests"),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind_of_status(503, "ServiceUnavailable"),
            ErrorKind::Unavailable
        );
        assert_eq!(kind_of_status(504, "Timeout"), ErrorKind::Timeout);
    }

    #[test]
    fn raw_request_accepts_api_paths_only() {
        assert!(raw_request("get", "/api/v1/pods?limit=1", None, false).is_ok());
        assert!(raw_request("GET", "/apis/apps/v1", None, false).is_ok());
        assert!(raw_request("GET", "/version", None, false).is_ok());
        for path in ["/metrics", "/apisx", "/api/../metrics", "http://other/api"] {
            let error = raw_request("GET", path, None, false).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Invalid, "{path}");
        }
        let error = raw_request("CONNECT", "/api", None, false).unwrap_err();
        assert_eq!(
            error.message,
            "unsupported method `CONNECT`: use GET, HEAD, POST, PUT, PATCH or DELETE"
        );
    }

    #[test]
    fn dry_run_marks_raw_writes_only() {
        let uri = |method, path| {
            raw_request(method, path, None, true)
                .unwrap()
                .uri()
                .to_string()
        };
        assert_eq!(uri("GET", "/api/v1/pods"), "/api/v1/pods");
        assert_eq!(
            uri("POST", "/api/v1/namespaces/a/configmaps"),
            "/api/v1/namespaces/a/configmaps?dryRun=All"
        );
        assert_eq!(
            uri("DELETE", "/api/v1/namespaces/a/pods/b?gracePeriodSeconds=0"),
            "/api/v1/namespaces/a/pods/b?gracePeriodSeconds=0&dryRun=All"
        );
    }

    #[test]
    fn patch_body_is_merge_patch() {
        let request = raw_request(
            "PATCH",
            "/api/v1/namespaces/a/configmaps/b",
            Some("{}"),
            false,
        )
        .unwrap();
        assert_eq!(
            request.headers()[http::header::CONTENT_TYPE],
            "application/merge-patch+json"
        );
    }
}
