//! The daemon's HTTP endpoints, served in-process on 127.0.0.1 over a real
//! pool of a simulated fleet after the api-tour plugin ran on it.
//!
//! The tests cover every route, the bearer token rules, and `/metrics` as
//! a Prometheus text parser reads it. They also run `lazyhost stats
//! --server` and `lazyhost clusters --server` as processes against the
//! server.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use prometheus_parse::{Scrape, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

use lazyhost::cluster::KubePool;
use lazyhost::monitor::{ConfigStats, Monitor, Snapshot};
use lazyhost::output::ClusterRow;
use lazyhost::plugin::{HostContext, PluginRuntime};
use lazyhost::policy::Policy;
use lazyhost::run::{RunOptions, run_plugin};
use lazyhost::serve::http::{self as server, HEADER_READ_TIMEOUT, HttpError, Status};
use lazyhost::serve::metrics::{ClusterSeries, MetricsInput, PluginMetrics};
use lazyhost::sim::Fleet;

use common::{stderr, stdout};

/// Clusters of the simulated fleet, all of which serve requests.
const CLUSTERS: usize = 4;
/// Clusters with series of their own in `/metrics`: sim-1 and sim-2.
const SERIES_CAP: usize = 2;
/// Token of the servers that require one.
const TOKEN: &str = "test-token-7f3a";

/// A daemon's state built from real parts: the pool, monitor and plugin
/// runtime of a run of the api-tour plugin over the simulated fleet.
struct FleetStatus {
    monitor: Arc<Monitor>,
    pool: Arc<KubePool>,
    runtime: PluginRuntime,
    series: ClusterSeries,
    not_ready: Mutex<Option<String>>,
}

impl Status for FleetStatus {
    fn ready(&self) -> Result<(), String> {
        match &*self.not_ready.lock() {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    fn stats(&self) -> Snapshot {
        let config = ConfigStats::from_inventory(&self.pool.inventory());
        self.monitor
            .snapshot(self.pool.stats(), config)
            .with_runtime(
                self.runtime.compilations(),
                self.runtime.cache_hits(),
                "on-demand",
            )
    }

    fn clusters(&self) -> Vec<ClusterRow> {
        self.pool
            .states()
            .into_iter()
            .map(|(cluster, state)| {
                let version = self
                    .pool
                    .peek(&cluster.name)
                    .map(|client| client.version().git_version.clone());
                ClusterRow::new(&cluster, state, version)
            })
            .collect()
    }

    fn plugins(&self) -> serde_json::Value {
        serde_json::json!({ "plugins": [{ "name": "api_tour", "loaded": true }] })
    }

    fn metrics(&self) -> MetricsInput {
        MetricsInput {
            snapshot: self.stats(),
            pool: self.pool.stats(),
            plugins: vec![PluginMetrics {
                name: "api_tour".to_string(),
                loaded: true,
                runs_ok: 1,
                invocations_ok: CLUSTERS as u64,
                invocation_seconds_sum: 0.25,
                ..PluginMetrics::default()
            }],
            cluster_series: self.series.clone(),
        }
    }
}

/// An in-process server over the fleet, stopped on drop.
struct Server {
    addr: SocketAddr,
    status: Arc<FleetStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _fleet: Fleet,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for `serve` to return.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve does not panic");
    }
}

/// Starts the fleet, checks out every cluster, runs the api-tour plugin
/// on all of them, and serves the result on 127.0.0.1 with `token`.
async fn start_server(token: Option<&str>) -> Server {
    let fleet = common::start_fleet(CLUSTERS).await;
    let (inventory, monitor, pool) = common::pool_over(fleet.kubeconfig());
    let runtime = PluginRuntime::new().expect("the plugin runtime starts");
    let plugin = Arc::new(
        runtime
            .load(&common::plugin("api_tour"))
            .expect("api_tour loads"),
    );
    let mut policy = Policy::default();
    policy.grant("write").expect("write is a grant");
    let targets = inventory.clusters().to_vec();
    let context = Arc::new(
        HostContext::new(Arc::clone(&pool), Arc::clone(&monitor), targets.clone())
            .with_policy(policy),
    );
    let options = RunOptions {
        concurrency: CLUSTERS,
        limits: Default::default(),
        args: Vec::new(),
    };
    let report = run_plugin(plugin, context, &targets, &options, std::future::pending()).await;
    assert_eq!(report.summary.ok, CLUSTERS, "{:?}", report.results);

    let names = inventory
        .clusters()
        .iter()
        .map(|cluster| cluster.name.clone());
    let status = Arc::new(FleetStatus {
        monitor,
        pool,
        runtime,
        series: ClusterSeries::from_names(names, SERIES_CAP),
        not_ready: Mutex::new(None),
    });
    let listener = server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("binds a loopback port");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let shared: Arc<dyn Status> = Arc::clone(&status) as Arc<dyn Status>;
    let token = token.map(str::to_string);
    let task = tokio::spawn(server::serve(listener, shared, token, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        status,
        stop: Some(stop),
        task,
        _fleet: fleet,
    }
}

/// A reply: status, headers and body.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_default()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// Sends `method path` to `server` with an optional bearer token.
async fn request(server: &Server, method: Method, path: &str, token: Option<&str>) -> Reply {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.url()));
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(builder.body(Empty::new()).unwrap())
        .await
        .expect("the server replies");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("the body is UTF-8"),
    }
}

async fn get(server: &Server, path: &str) -> Reply {
    request(server, Method::GET, path, None).await
}

/// Runs the `lazyhost` binary with `args`, and `LAZYHOST_TOKEN` set to
/// `env_token` or removed, off the async runtime.
async fn lazyhost(args: &[&str], env_token: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_string()).collect();
    let env_token = env_token.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lazyhost"));
        command
            .args(&args)
            .env_remove("KUBECONFIG")
            .env_remove("RUST_LOG");
        match env_token {
            Some(token) => command.env("LAZYHOST_TOKEN", token),
            None => command.env_remove("LAZYHOST_TOKEN"),
        };
        command.output().expect("lazyhost runs")
    })
    .await
    .unwrap()
}

fn parse_metrics(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).expect("the text parses")
}

/// Returns the label names of a sample, sorted.
fn label_names(sample: &prometheus_parse::Sample) -> Vec<&str> {
    let mut names: Vec<&str> = sample.labels.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_with_fleet_figures() {
    let server = start_server(None).await;

    let health = get(&server, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body, "ok\n");

    let ready = get(&server, "/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    *server.status.not_ready.lock() = Some("plugins folder not scanned yet".to_string());
    let not_ready = get(&server, "/readyz").await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        not_ready.body,
        "not ready: plugins folder not scanned yet\n"
    );
    *server.status.not_ready.lock() = None;

    let stats = get(&server, "/stats").await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.header("content-type"), "application/json");
    let snapshot: Snapshot = serde_json::from_str(&stats.body).expect("a snapshot");
    assert_eq!(snapshot.lazy_total_clusters, CLUSTERS as u32);
    assert_eq!(snapshot.lazy_initialized_clusters, CLUSTERS as u32);
    assert_eq!(snapshot.plugin_compilations, 1);
    assert_eq!(snapshot.instance_allocator, "on-demand");
    let verbs: BTreeMap<&str, (u64, u64)> = snapshot
        .plugin_calls
        .iter()
        .inspect(|calls| assert_eq!(calls.plugin, "api_tour"))
        .map(|calls| (calls.verb.as_str(), (calls.count, calls.errors)))
        .collect();
    for verb in ["get", "list", "create", "patch", "delete"] {
        assert!(verbs.contains_key(verb), "no {verb} calls: {verbs:?}");
    }
    assert!(
        verbs["create"].1 >= CLUSTERS as u64,
        "a duplicate create per cluster"
    );
    assert!(
        verbs["get"].1 >= CLUSTERS as u64,
        "missing objects and raw 404s"
    );
    // The same keys as `lazyhost stats -o json` prints for a local snapshot.
    let local = lazyhost::output::stats_json(&server.status.stats());
    let local: serde_json::Value = serde_json::from_str(&local).unwrap();
    let keys = |document: &serde_json::Value| -> Vec<String> {
        document.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(keys(&stats.json()), keys(&local));

    let clusters = get(&server, "/clusters").await;
    assert_eq!(clusters.status, StatusCode::OK);
    let document = clusters.json();
    let rows = document["clusters"].as_array().expect("a clusters list");
    assert_eq!(rows.len(), CLUSTERS);
    assert_eq!(rows[0]["name"], "sim-1");
    assert_eq!(rows[0]["state"], "ready");
    assert_eq!(rows[0]["version"], "v1.32.4");

    let plugins = get(&server, "/plugins").await;
    assert_eq!(plugins.status, StatusCode::OK);
    assert_eq!(plugins.json()["plugins"][0]["name"], "api_tour");

    let metrics = get(&server, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert_eq!(
        metrics.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_and_method_rejected() {
    let server = start_server(None).await;

    let missing = get(&server, "/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("content-type"), "application/json");
    let error = missing.json()["error"].as_str().unwrap().to_string();
    assert!(
        error.starts_with("no endpoint at /nope: the endpoints are /healthz"),
        "{error}"
    );

    for method in [Method::POST, Method::DELETE, Method::PUT] {
        let reply = request(&server, method.clone(), "/stats", None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.header("allow"), "GET", "{method}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_guards_all_but_the_probes() {
    let server = start_server(Some(TOKEN)).await;

    for probe in ["/healthz", "/readyz"] {
        let reply = get(&server, probe).await;
        assert_eq!(reply.status, StatusCode::OK, "{probe} needs no token");
    }
    for path in ["/stats", "/metrics", "/plugins", "/clusters"] {
        let missing = request(&server, Method::GET, path, None).await;
        assert_eq!(
            missing.status,
            StatusCode::UNAUTHORIZED,
            "{path} without a token"
        );
        assert_eq!(missing.header("www-authenticate"), "Bearer", "{path}");
        let wrong = request(&server, Method::GET, path, Some("test-token-7f3b")).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        let prefix = request(&server, Method::GET, path, Some("test-token")).await;
        assert_eq!(
            prefix.status,
            StatusCode::UNAUTHORIZED,
            "{path} with a prefix"
        );
        let right = request(&server, Method::GET, path, Some(TOKEN)).await;
        assert_eq!(right.status, StatusCode::OK, "{path} with the token");
    }

    let other_scheme = {
        let client: Client<HttpConnector, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let request = http::Request::get(format!("{}/stats", server.url()))
            .header("authorization", format!("Basic {TOKEN}"))
            .body(Empty::new())
            .unwrap();
        client.request(request).await.unwrap().status()
    };
    assert_eq!(
        other_scheme,
        StatusCode::UNAUTHORIZED,
        "only the Bearer scheme"
    );
    server.stop().await;
}

#[test]
fn non_loopback_address_needs_token() {
    let any: SocketAddr = "0.0.0.0:9464".parse().unwrap();
    let error = server::check_token_required(&any, None).unwrap_err();
    assert!(matches!(error, HttpError::TokenRequired { .. }));
    assert_eq!(
        error.to_string(),
        "listen address 0.0.0.0:9464 is not loopback, so the endpoints need a bearer token: \
         set token_file under [serve] or LAZYHOST_TOKEN"
    );
    let everywhere_v6: SocketAddr = "[::]:9464".parse().unwrap();
    assert!(server::check_token_required(&everywhere_v6, None).is_err());
    assert!(server::check_token_required(&any, Some(TOKEN)).is_ok());
    let loopback: SocketAddr = "127.0.0.1:9464".parse().unwrap();
    assert!(server::check_token_required(&loopback, None).is_ok());
    assert!(server::check_token_required(&loopback, Some("")).is_err());
}

#[tokio::test]
async fn bind_error_names_address() {
    let in_use = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = in_use.local_addr().unwrap();
    let error = server::bind(addr).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot listen on {addr}: ")),
        "{message}"
    );
    assert!(message.contains("--listen"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_with_types_and_labels() {
    let server = start_server(None).await;
    let text = get(&server, "/metrics").await.body;
    server.stop().await;

    let scrape = parse_metrics(&text);
    // The parser skips lines it cannot read, so count what it kept: each
    // summary sample stands for its quantile lines.
    let sample_lines = text
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .count();
    let parsed_lines: usize = scrape
        .samples
        .iter()
        .map(|sample| match &sample.value {
            Value::Summary(quantiles) => quantiles.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(
        parsed_lines, sample_lines,
        "every sample line parses:\n{text}"
    );

    let families: BTreeMap<&str, &str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split_once(' ').unwrap())
        .collect();
    let expected_types = [
        ("lazyhost_build_info", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("lazyhost_requests_total", "counter"),
        ("lazyhost_request_errors_total", "counter"),
        ("lazyhost_request_duration_seconds", "summary"),
        ("lazyhost_cluster_requests_total", "counter"),
        ("lazyhost_cluster_request_errors_total", "counter"),
        ("lazyhost_cluster_request_duration_seconds", "summary"),
        ("lazyhost_metrics_clusters_left_out", "gauge"),
        ("lazyhost_pool_clusters", "gauge"),
        ("lazyhost_pool_live_clusters", "gauge"),
        ("lazyhost_pool_idle_clusters", "gauge"),
        ("lazyhost_pool_clients_built_total", "counter"),
        ("lazyhost_pool_start_failures_total", "counter"),
        ("lazyhost_pool_evictions_total", "counter"),
        ("lazyhost_pool_recycled_total", "counter"),
        ("lazyhost_policy_denials_total", "counter"),
        ("lazyhost_plugin_host_calls_total", "counter"),
        ("lazyhost_plugin_loaded", "gauge"),
        ("lazyhost_plugin_load_failures_total", "counter"),
        ("lazyhost_plugin_runs_total", "counter"),
        ("lazyhost_plugin_invocations_total", "counter"),
        ("lazyhost_plugin_invocation_seconds_total", "counter"),
        ("lazyhost_plugin_watch_events_total", "counter"),
        ("lazyhost_plugin_compilations_total", "counter"),
        ("lazyhost_plugin_cache_hits_total", "counter"),
        ("lazyhost_instance_allocator_info", "gauge"),
    ];
    for (name, kind) in expected_types {
        assert_eq!(families.get(name), Some(&kind), "type of {name}");
        assert!(scrape.docs.contains_key(name), "help of {name}");
    }

    let samples = |name: &str| -> Vec<&prometheus_parse::Sample> {
        scrape
            .samples
            .iter()
            .filter(|sample| sample.metric == name)
            .collect()
    };
    let counter = |sample: &prometheus_parse::Sample| match sample.value {
        Value::Counter(value) => value,
        ref other => panic!("{} is not a counter: {other:?}", sample.metric),
    };
    let gauge = |sample: &prometheus_parse::Sample| match sample.value {
        Value::Gauge(value) => value,
        ref other => panic!("{} is not a gauge: {other:?}", sample.metric),
    };

    let memory = samples("process_resident_memory_bytes");
    assert!(
        gauge(memory[0]) > 1024.0 * 1024.0,
        "resident memory in bytes"
    );
    assert_eq!(label_names(samples("lazyhost_build_info")[0]), ["version"]);

    let requests = samples("lazyhost_requests_total");
    let request_verbs: BTreeSet<&str> = requests
        .iter()
        .map(|sample| sample.labels.get("verb").unwrap())
        .collect();
    assert!(request_verbs.contains("discovery"), "{request_verbs:?}");
    assert!(request_verbs.contains("list"), "{request_verbs:?}");
    for sample in &requests {
        assert_eq!(label_names(sample), ["verb"]);
        assert!(counter(sample) > 0.0);
    }

    let durations = samples("lazyhost_request_duration_seconds");
    assert_eq!(durations.len(), requests.len(), "one summary per verb");
    for sample in &durations {
        assert_eq!(label_names(sample), ["verb"]);
        let Value::Summary(quantiles) = &sample.value else {
            panic!("{} is not a summary", sample.metric);
        };
        let levels: Vec<f64> = quantiles.iter().map(|quantile| quantile.quantile).collect();
        assert_eq!(levels, [0.5, 0.95, 0.99]);
        assert!(quantiles.iter().all(|quantile| quantile.count > 0.0));
    }
    let counts = samples("lazyhost_request_duration_seconds_count");
    assert_eq!(counts.len(), requests.len(), "a _count per verb");
    assert_eq!(
        samples("lazyhost_request_duration_seconds_sum").len(),
        requests.len()
    );

    // Every cluster served requests, but only the first SERIES_CAP in name
    // order get series of their own.
    for name in [
        "lazyhost_cluster_requests_total",
        "lazyhost_cluster_request_errors_total",
        "lazyhost_cluster_request_duration_seconds",
        "lazyhost_cluster_request_duration_seconds_count",
    ] {
        let clusters: BTreeSet<&str> = samples(name)
            .iter()
            .map(|sample| sample.labels.get("cluster").unwrap())
            .collect();
        assert_eq!(clusters, BTreeSet::from(["sim-1", "sim-2"]), "{name}");
        for sample in samples(name) {
            assert_eq!(label_names(sample), ["cluster", "verb"], "{name}");
        }
    }
    let left_out = samples("lazyhost_metrics_clusters_left_out");
    assert_eq!(gauge(left_out[0]), (CLUSTERS - SERIES_CAP) as f64);
    // The per-verb totals still count every cluster.
    let per_cluster_list: f64 = samples("lazyhost_cluster_requests_total")
        .iter()
        .filter(|sample| sample.labels.get("verb") == Some("list"))
        .map(|sample| counter(sample))
        .sum();
    let all_list = requests
        .iter()
        .find(|sample| sample.labels.get("verb") == Some("list"))
        .map(|sample| counter(sample))
        .unwrap();
    assert!(
        all_list > per_cluster_list,
        "{all_list} > {per_cluster_list}"
    );

    let pool_live = samples("lazyhost_pool_live_clusters");
    assert_eq!(gauge(pool_live[0]), CLUSTERS as f64);
    let built = samples("lazyhost_pool_clients_built_total");
    assert_eq!(counter(built[0]), CLUSTERS as f64);
    let evictions: BTreeSet<&str> = samples("lazyhost_pool_evictions_total")
        .iter()
        .map(|sample| sample.labels.get("reason").unwrap())
        .collect();
    assert_eq!(evictions, BTreeSet::from(["idle", "over_cap"]));

    let calls = samples("lazyhost_plugin_host_calls_total");
    let call_keys: BTreeSet<(&str, &str)> = calls
        .iter()
        .map(|sample| {
            assert_eq!(label_names(sample), ["plugin", "result", "verb"]);
            assert_eq!(sample.labels.get("plugin"), Some("api_tour"));
            (
                sample.labels.get("verb").unwrap(),
                sample.labels.get("result").unwrap(),
            )
        })
        .collect();
    for verb in ["get", "list", "create", "patch", "delete"] {
        assert!(
            call_keys.contains(&(verb, "ok")),
            "{verb} ok: {call_keys:?}"
        );
        assert!(
            call_keys.contains(&(verb, "error")),
            "{verb} error: {call_keys:?}"
        );
    }

    for name in [
        "lazyhost_plugin_runs_total",
        "lazyhost_plugin_invocations_total",
    ] {
        let results: BTreeSet<&str> = samples(name)
            .iter()
            .map(|sample| {
                assert_eq!(label_names(sample), ["plugin", "result"], "{name}");
                sample.labels.get("result").unwrap()
            })
            .collect();
        assert_eq!(results, BTreeSet::from(["error", "ok"]), "{name}");
    }
    let loaded = samples("lazyhost_plugin_loaded");
    assert_eq!(gauge(loaded[0]), 1.0);
    let compilations = samples("lazyhost_plugin_compilations_total");
    assert_eq!(counter(compilations[0]), 1.0);
    let allocator = samples("lazyhost_instance_allocator_info");
    assert_eq!(allocator[0].labels.get("allocator"), Some("on-demand"));
    assert_eq!(gauge(allocator[0]), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_does_not_hold_server() {
    let server = start_server(None).await;
    let mut idle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let health = get(&server, "/healthz").await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "served beside an idle client"
    );

    // The idle client never ends its request head, so the server closes
    // the connection once the header read timeout has passed.
    let mut buffer = Vec::new();
    // A reset instead of a clean close is fine too, so the read's own
    // result is not checked.
    let _ = tokio::time::timeout(
        HEADER_READ_TIMEOUT + Duration::from_secs(5),
        idle.read_to_end(&mut buffer),
    )
    .await
    .expect("the server closes the idle connection");
    assert!(
        !String::from_utf8_lossy(&buffer).contains("200 OK"),
        "no reply to an unfinished request head"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_read_the_daemon() {
    let server = start_server(None).await;
    let url = server.url();

    let json = lazyhost(&["stats", "--server", &url, "-o", "json"], None).await;
    assert_eq!(json.status.code(), Some(0), "stderr: {}", stderr(&json));
    let document: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(document["lazy_total_clusters"], CLUSTERS);
    assert_eq!(document["plugin_calls"][0]["plugin"], "api_tour");

    let table = lazyhost(&["stats", "--server", &url], None).await;
    assert_eq!(table.status.code(), Some(0), "stderr: {}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("\nlazy_total_clusters        4\n"), "{text}");
    assert!(
        text.contains("\ninstance_allocator         on-demand\n"),
        "{text}"
    );
    assert!(text.contains("\nhost calls of plugins:\nPLUGIN"), "{text}");
    assert!(text.contains("\napi_tour  list"), "{text}");

    let clusters_json = lazyhost(&["clusters", "--server", &url, "-o", "json"], None).await;
    assert_eq!(
        clusters_json.status.code(),
        Some(0),
        "{}",
        stderr(&clusters_json)
    );
    let document: serde_json::Value = serde_json::from_slice(&clusters_json.stdout).unwrap();
    assert_eq!(document["clusters"].as_array().unwrap().len(), CLUSTERS);

    let clusters_table = lazyhost(&["clusters", "--server", &url], None).await;
    assert_eq!(
        clusters_table.status.code(),
        Some(0),
        "{}",
        stderr(&clusters_table)
    );
    let lines: Vec<String> = stdout(&clusters_table).lines().map(String::from).collect();
    assert!(lines[0].starts_with("NAME "), "{lines:?}");
    assert_eq!(lines.len(), CLUSTERS + 1, "{lines:?}");
    assert!(lines[1].starts_with("sim-1 "), "{lines:?}");
    assert!(lines[1].contains("v1.32.4"), "{lines:?}");
    assert!(lines[1].contains("ready (client "), "{lines:?}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_commands_send_the_token() {
    let server = start_server(Some(TOKEN)).await;
    let url = server.url();

    let missing = lazyhost(&["stats", "--server", &url], None).await;
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        stderr(&missing).trim(),
        format!(
            "error: lazyhost at {url} requires a bearer token: pass --token or set LAZYHOST_TOKEN"
        )
    );

    let wrong = lazyhost(&["clusters", "--server", &url, "--token", "wrong"], None).await;
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("rejected the bearer token"),
        "{}",
        stderr(&wrong)
    );

    let flag = lazyhost(
        &["stats", "--server", &url, "--token", TOKEN, "-o", "json"],
        None,
    )
    .await;
    assert_eq!(flag.status.code(), Some(0), "stderr: {}", stderr(&flag));
    let from_env = lazyhost(&["clusters", "--server", &url, "-o", "json"], Some(TOKEN)).await;
    assert_eq!(
        from_env.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&from_env)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_command_names_unreachable_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}");

    let output = lazyhost(&["stats", "--server", &url], None).await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output).trim(),
        format!(
            "error: cannot reach lazyhost at {url}: connection refused; is `lazyhost serve` \
             running with --listen {addr}?"
        )
    );

    let conflict = lazyhost(&["stats", "--server", &url, "--check"], None).await;
    assert_eq!(conflict.status.code(), Some(2));
    assert!(
        stderr(&conflict).contains("--check"),
        "{}",
        stderr(&conflict)
    );
}
