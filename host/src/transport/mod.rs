//! The HTTP stack under each cluster client.
//!
//! lazyhost assembles this stack from kube's parts rather than taking
//! kube's default client, because a fleet needs four things the default
//! does not do:
//!
//! - clients with equal TLS settings (the same certificate authority and
//!   client certificate) share one rustls configuration, see [`TlsCache`];
//! - a connection idle for longer than `pool.keep_alive` is closed, and a
//!   client keeps at most `pool.idle_connections` idle ones, so a live
//!   client keeps no socket it does not need;
//! - requests to one cluster pass a token bucket (`pool.requests_per_second`
//!   and `pool.burst`), and a 429 reply's `Retry-After` pauses every request
//!   to that cluster until the time has passed;
//! - a read that got 429, 502, 503 or 504 is sent again, at most three
//!   times, after `Retry-After` or a wait of 250 ms that doubles, but never
//!   after a wait longer than `pool.max_retry_wait`; writes are not sent
//!   again, as the server may have acted on them;
//! - a 401 reply refreshes a credential that can be refreshed (a token
//!   file is read again, an exec plugin runs again) once, and a read is
//!   sent once more with it. A second 401 is returned, never looped on.
//!
//! kube's own retry of these replies is left out: it tries up to 15 times
//! over minutes, with no bound a caller can set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

mod credential;
mod throttle;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_rustls::{DefaultServerNameResolver, FixedServerNameResolver, ResolveServerName};
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ConfigExt};
use parking_lot::{Mutex, RwLock};
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceExt};

use crate::pool::ConnectError;
use credential::{Auth, Credential, Refreshed};
use throttle::Throttle;

/// The settings of every cluster's HTTP stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// A connection idle for longer than this is closed.
    pub keep_alive: Duration,
    /// Idle connections a client keeps open; more are closed as soon as
    /// their request is done.
    pub idle_connections: usize,
    /// Requests per second to one cluster, on average; 0 sets no limit.
    pub requests_per_second: u32,
    /// Requests to one cluster that may go at once before the average applies.
    pub burst: u32,
    /// Longest wait before a read is sent again after a 429, 502, 503 or
    /// 504 reply. When the server requests a longer wait, its reply is returned.
    pub max_retry_wait: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(60),
            idle_connections: 1,
            requests_per_second: 50,
            burst: 100,
            max_retry_wait: Duration::from_secs(10),
        }
    }
}

/// Times a read is sent again after a 429, 502, 503 or 504 reply.
const MAX_RETRIES: u32 = 3;

/// Wait before the first retry of a read after a 502, 503 or 504 reply
/// without `Retry-After`; it doubles for each further retry.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(250);

/// Wait assumed when a 429 reply has no readable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Counts of what the stacks of every cluster did.
#[derive(Debug, Default)]
pub struct TransportCounters {
    /// rustls configurations built.
    pub tls_configs_built: AtomicU64,
    /// Client starts that reused a rustls configuration already built.
    pub tls_configs_shared: AtomicU64,
    /// Requests that waited for the rate limit or a `Retry-After`.
    pub throttled_requests: AtomicU64,
    /// Reads sent again after a 429, 502, 503 or 504 reply.
    pub retried_reads: AtomicU64,
    /// Credentials refreshed after a 401 reply.
    pub credential_refreshes: AtomicU64,
    /// Reads sent again after a 401 reply.
    pub unauthorized_retries: AtomicU64,
}

/// The rustls configurations in use, keyed by what makes them differ, so
/// that clients with equal TLS settings share one.
///
/// An entry lives as long as some client keeps its configuration.
#[derive(Debug, Default)]
pub struct TlsCache {
    configs: Mutex<HashMap<[u8; 16], Weak<rustls::ClientConfig>>>,
}

impl TlsCache {
    /// Returns the configuration for `config`, building it when no live
    /// client has an equal one.
    fn get(
        &self,
        config: &kube::Config,
        counters: &TransportCounters,
    ) -> Result<Arc<rustls::ClientConfig>, kube::Error> {
        let Some(key) = tls_key(config) else {
            counters.tls_configs_built.fetch_add(1, Ordering::Relaxed);
            return build_rustls(config);
        };
        // Built under the lock, so clients starting at once with equal
        // settings build one configuration between them.
        let mut configs = self.configs.lock();
        if let Some(shared) = configs.get(&key).and_then(Weak::upgrade) {
            counters.tls_configs_shared.fetch_add(1, Ordering::Relaxed);
            return Ok(shared);
        }
        let built = build_rustls(config)?;
        counters.tls_configs_built.fetch_add(1, Ordering::Relaxed);
        configs.retain(|_, config| config.strong_count() > 0);
        configs.insert(key, Arc::downgrade(&built));
        Ok(built)
    }
}

/// Builds the rustls configuration of `config`, speaking HTTP/1.1.
fn build_rustls(config: &kube::Config) -> Result<Arc<rustls::ClientConfig>, kube::Error> {
    let mut built = config.rustls_client_config()?;
    built.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(built))
}

/// Returns the key of the TLS settings of `config`, or `None` when they
/// come from an exec plugin and cannot be compared before it runs.
///
/// The client certificate stands for its key pair: a certificate names one
/// public key, so equal certificates mean equal identities.
fn tls_key(config: &kube::Config) -> Option<[u8; 16]> {
    use md5::{Digest, Md5};

    let auth = &config.auth_info;
    if auth.exec.is_some() {
        return None;
    }
    let mut hasher = Md5::new();
    for der in config.root_cert.iter().flatten() {
        hasher.update(b"ca");
        hasher.update(der);
    }
    if let Some(path) = &config.root_cert_file {
        hasher.update(b"ca-file");
        hasher.update(path.as_os_str().as_encoded_bytes());
    }
    hasher.update([u8::from(config.accept_invalid_certs)]);
    if let Some(data) = &auth.client_certificate_data {
        hasher.update(b"cert");
        hasher.update(data.as_bytes());
    }
    if let Some(path) = &auth.client_certificate {
        hasher.update(b"cert-file");
        hasher.update(path.as_bytes());
        hasher.update(std::fs::read(path).unwrap_or_default());
    }
    Some(hasher.finalize().into())
}

type HttpService = BoxCloneSyncService<Request<Body>, Response<Incoming>, BoxError>;

/// Builds the HTTP stack of one cluster and returns the service its
/// requests go through.
///
/// The credential is set up on a blocking thread, because kube runs an
/// exec plugin synchronously. A plugin that hangs ties up that thread, not
/// the runtime, and the pool's start timeout ends the wait.
pub(crate) async fn build(
    config: kube::Config,
    settings: &TransportConfig,
    tls: &TlsCache,
    counters: Arc<TransportCounters>,
) -> Result<Transport, ConnectError> {
    let credential = Credential::of(&config);
    let auth = credential.setup().await?;

    // An exec plugin that returns a client certificate yields no header,
    // so it runs again while kube builds the TLS configuration, the only
    // way kube hands out that certificate. Any other exec plugin is done.
    let mut tls_settings = config.clone();
    if !matches!(auth, Auth::Nothing) {
        tls_settings.auth_info.exec = None;
    }
    let rustls = tls
        .get_or_build(tls_settings, &counters)
        .await
        .map_err(ConnectError::Build)?;
    let http = http_service(&config, rustls, settings).map_err(ConnectError::Build)?;
    let service = credential::wrap(&auth, &http);

    Ok(Transport {
        shared: Arc::new(Shared {
            http,
            credential,
            auth,
            current: RwLock::new(Current {
                generation: 0,
                service,
            }),
            refreshing: tokio::sync::Mutex::new(()),
            throttle: Throttle::new(settings),
            max_retry_wait: settings.max_retry_wait,
            counters,
        }),
    })
}

impl TlsCache {
    /// Builds or shares the configuration on a blocking thread, as an exec
    /// plugin that returns a client certificate runs while it is built.
    async fn get_or_build(
        &self,
        config: kube::Config,
        counters: &TransportCounters,
    ) -> Result<Arc<rustls::ClientConfig>, kube::Error> {
        if config.auth_info.exec.is_none() {
            return self.get(&config, counters);
        }
        let built = tokio::task::spawn_blocking(move || build_rustls(&config))
            .await
            .map_err(|error| kube::Error::Service(error.into()))??;
        counters.tls_configs_built.fetch_add(1, Ordering::Relaxed);
        Ok(built)
    }
}

/// Builds the connector, the connection pool and kube's base URI and
/// header layers; no credential yet.
fn http_service(
    config: &kube::Config,
    rustls: Arc<rustls::ClientConfig>,
    settings: &TransportConfig,
) -> Result<HttpService, kube::Error> {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);

    let resolver: Arc<dyn ResolveServerName + Send + Sync> = match &config.tls_server_name {
        Some(name) => {
            let name = name.clone().try_into().map_err(|error| {
                kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(error))
            })?;
            Arc::new(FixedServerNameResolver::new(name))
        }
        None => Arc::new(DefaultServerNameResolver::default()),
    };

    match &config.proxy_url {
        None => {
            let https = hyper_rustls::HttpsConnector::new(connector, rustls, false, resolver);
            pooled(config, https, settings)
        }
        Some(proxy) if proxy.scheme_str() == Some("http") => {
            let mut tunnel =
                hyper_util::client::legacy::connect::proxy::Tunnel::new(proxy.clone(), connector);
            if let Some(header) = proxy_authorization(proxy) {
                tunnel = tunnel.with_auth(header);
            }
            let https = hyper_rustls::HttpsConnector::new(tunnel, rustls, false, resolver);
            pooled(config, https, settings)
        }
        Some(proxy) => Err(kube::Error::ProxyProtocolUnsupported {
            proxy_url: Box::new(without_userinfo(proxy)),
        }),
    }
}

/// Wraps `connector` in kube's timeouts, a connection pool that closes
/// idle connections after `settings.keep_alive`, and kube's base URI and
/// header layers.
fn pooled<C>(
    config: &kube::Config,
    connector: C,
    settings: &TransportConfig,
) -> Result<HttpService, kube::Error>
where
    C: Service<http::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read
        + hyper::rt::Write
        + hyper_util::client::legacy::connect::Connection
        + Send
        + Unpin
        + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<BoxError>,
{
    let mut connector = TimeoutConnector::new(connector);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(settings.keep_alive)
        .pool_max_idle_per_host(settings.idle_connections)
        .pool_timer(TokioTimer::new())
        .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .layer(config.extra_headers_layer()?)
        .service(client);
    Ok(HttpService::new(service.map_err(BoxError::from)))
}

/// Returns `uri` without its user information, so a password in a proxy
/// URL never reaches a message or a log.
fn without_userinfo(uri: &http::Uri) -> http::Uri {
    let Some(authority) = uri.authority() else {
        return uri.clone();
    };
    let host = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, host)| host);
    let mut parts = uri.clone().into_parts();
    parts.authority = host.parse().ok();
    http::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// Returns the `Proxy-Authorization` header for a proxy URL with user
/// information, such as `http://user:secret@proxy:3128`.
fn proxy_authorization(proxy: &http::Uri) -> Option<http::HeaderValue> {
    use base64::Engine as _;

    let authority = proxy.authority()?.as_str();
    let (userinfo, _) = authority.rsplit_once('@')?;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(userinfo).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(decoded);
    let mut value = http::HeaderValue::from_str(&format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

struct Current {
    generation: u64,
    service: HttpService,
}

struct Shared {
    http: HttpService,
    credential: Credential,
    auth: Auth,
    current: RwLock<Current>,
    refreshing: tokio::sync::Mutex<()>,
    throttle: Throttle,
    max_retry_wait: Duration,
    counters: Arc<TransportCounters>,
}

/// The service under a cluster's `kube::Client`: rate limit, `Retry-After`,
/// credential refresh, then the HTTP stack. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    shared: Arc<Shared>,
}

impl Service<Request<Body>> for Transport {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = futures::future::BoxFuture<'static, Result<Response<Incoming>, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { shared.send(request).await })
    }
}

impl Shared {
    async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, BoxError> {
        let read = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
        let again = read.then(|| Resend::of(&request));
        let (mut response, generation) = self.send_once(request).await?;

        if response.status() == StatusCode::UNAUTHORIZED
            && self.refresh(generation).await
            && let Some(again) = &again
        {
            self.counters
                .unauthorized_retries
                .fetch_add(1, Ordering::Relaxed);
            response = self.send_once(again.request()).await?.0;
        }

        let mut retries = 0;
        loop {
            let status = response.status();
            let wait = match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = retry_after(&response).unwrap_or(DEFAULT_RETRY_AFTER);
                    self.throttle.hold(wait);
                    wait
                }
                StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT => {
                    retry_after(&response).unwrap_or(FIRST_RETRY_WAIT * (1 << retries))
                }
                _ => break,
            };
            let Some(again) = &again else { break };
            if retries == MAX_RETRIES || wait > self.max_retry_wait {
                break;
            }
            retries += 1;
            if status != StatusCode::TOO_MANY_REQUESTS {
                // A 429 pauses every request through the throttle instead.
                tokio::time::sleep(wait).await;
            }
            self.counters.retried_reads.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(status = status.as_u16(), retry = retries, wait = ?wait, uri = %again.uri, "sending a read again");
            response = self.send_once(again.request()).await?.0;
        }
        Ok(response)
    }

    /// Waits for the rate limit, then sends `request` with the current
    /// credential; returns the reply and the credential's generation.
    async fn send_once(
        &self,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, u64), BoxError> {
        if self.throttle.acquire().await {
            self.counters
                .throttled_requests
                .fetch_add(1, Ordering::Relaxed);
        }
        let (service, generation) = {
            let current = self.current.read();
            (current.service.clone(), current.generation)
        };
        Ok((service.oneshot(request).await?, generation))
    }

    /// Refreshes the credential after a 401 on generation `seen`. Returns
    /// whether a credential newer than `seen` is now in use; concurrent
    /// 401s share one refresh.
    async fn refresh(&self, seen: u64) -> bool {
        let _one_at_a_time = self.refreshing.lock().await;
        if self.current.read().generation != seen {
            return true;
        }
        let replacement = match self.credential.refresh(&self.auth, &self.http).await {
            Refreshed::No => return false,
            Refreshed::InPlace => None,
            Refreshed::Replace(service) => Some(service),
        };
        let mut current = self.current.write();
        current.generation += 1;
        if let Some(service) = replacement {
            current.service = service;
        }
        self.counters
            .credential_refreshes
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            generation = current.generation,
            "refreshed the credential after a 401 reply"
        );
        true
    }
}

/// The parts of a read needed to send it again: method, URI and headers.
struct Resend {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
}

impl Resend {
    fn of(request: &Request<Body>) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        }
    }

    fn request(&self) -> Request<Body> {
        let mut request = Request::new(Body::empty());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Returns the wait a 429 reply requests, in whole seconds as the API
/// server sends it.
fn retry_after(response: &Response<Incoming>) -> Option<Duration> {
    let value = response.headers().get(http::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_decoded_then_encoded() {
        let proxy: http::Uri = "http://ops:p%40ss@127.0.0.1:3128".parse().unwrap();
        let header = proxy_authorization(&proxy).unwrap();
        // base64 of "ops:p@ss"
        assert_eq!(header.to_str().unwrap(), "Basic b3BzOnBAc3M=");
        assert!(header.is_sensitive());
        let plain: http::Uri = "http://127.0.0.1:3128".parse().unwrap();
        assert!(proxy_authorization(&plain).is_none());
        let socks: http::Uri = "socks5://alice:s3cret@127.0.0.1:1080".parse().unwrap();
        assert_eq!(
            without_userinfo(&socks).to_string(),
            "socks5://127.0.0.1:1080/"
        );
    }

    #[test]
    fn equal_tls_settings_share_a_key() {
        let mut first = kube::Config::new("https://127.0.0.1:1".parse().unwrap());
        first.root_cert = Some(vec![b"authority".to_vec()]);
        let mut second = kube::Config::new("https://127.0.0.1:2".parse().unwrap());
        second.root_cert = Some(vec![b"authority".to_vec()]);
        assert_eq!(tls_key(&first), tls_key(&second));

        second.auth_info.client_certificate_data = Some("certificate".to_string());
        assert_ne!(tls_key(&first), tls_key(&second));
        second.auth_info.exec = serde_json::from_value(serde_json::json!({
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "get-credential",
        }))
        .unwrap();
        assert_eq!(tls_key(&second), None, "exec identities are never shared");
    }
}
