//! End-to-end tests of fault injection: per fault, what `lazyhost run` with the
//! pod-audit plugin reports for the faulty cluster while the healthy clusters
//! succeed, and the control endpoint and fleet file that set the faults.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{arg, json, lazyhost, plugin, stderr};
use lazyhost::sim::{Faults, Fleet, FleetOptions, Listen};
use serde_json::{Value, json};

/// The faulty cluster of every test; sim-1 and sim-2 stay healthy.
const FAULTY: &str = "sim-3";

/// Starts three clusters, gives sim-3 `faults` and writes the kubeconfig into `dir`.
async fn fleet_with_faults(faults: Faults, dir: &Path) -> (Fleet, PathBuf) {
    let fleet = Fleet::start(FleetOptions::default())
        .await
        .expect("fleet starts");
    fleet.set_faults(FAULTY, faults).expect("faults are valid");
    let path = dir.join("kubeconfig");
    fleet
        .write_kubeconfig(&path)
        .expect("kubeconfig is written");
    (fleet, path)
}

/// Runs pod-audit on every cluster of `kubeconfig`, off the async runtime so
/// that the in-process fleet keeps serving, and returns the JSON report.
async fn run_audit(kubeconfig: &Path, extra: &[&str]) -> Value {
    let component = plugin("pod_audit");
    let mut args: Vec<String> = ["run", arg(&component), "--kubeconfig", arg(kubeconfig)]
        .map(String::from)
        .to_vec();
    args.extend(["--all", "-o", "json"].map(String::from));
    args.extend(extra.iter().map(|text| text.to_string()));
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lazyhost(&args)
    })
    .await
    .expect("the command task completes");
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}, stderr: {}",
        stderr(&output)
    );
    json(&output)
}

fn result_of<'a>(document: &'a Value, cluster: &str) -> &'a Value {
    document["results"]
        .as_array()
        .expect("results is a list")
        .iter()
        .find(|result| result["cluster"] == cluster)
        .unwrap_or_else(|| panic!("no result for {cluster} in {document}"))
}

fn assert_healthy_ok(document: &Value) {
    for cluster in ["sim-1", "sim-2"] {
        assert_eq!(result_of(document, cluster)["status"], "ok", "{document}");
    }
}

/// Returns the error of the faulty cluster, after checking that it failed.
fn faulty_error(document: &Value) -> String {
    let result = result_of(document, FAULTY);
    assert_eq!(result["status"], "error", "{result}");
    result["error"].as_str().expect("error is text").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_cluster_refuses_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let down = Faults {
        down: true,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(down, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    assert_healthy_ok(&document);
    let error = faulty_error(&document);
    assert!(
        error.starts_with("unavailable: failed to start the client of cluster `sim-3`: "),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
    assert_eq!(fleet.counts(FAULTY).unwrap().connections, 0);

    fleet.clear_faults(FAULTY).unwrap();
    let document = run_audit(&kubeconfig, &[]).await;
    assert_eq!(result_of(&document, FAULTY)["status"], "ok", "{document}");
    assert!(fleet.counts(FAULTY).unwrap().connections >= 1);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_reported_as_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let errors = Faults {
        error_every: 1,
        error_status: 500,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(errors, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    fleet.shutdown().await;
    assert_healthy_ok(&document);
    let error = faulty_error(&document);
    assert!(
        error.starts_with("unavailable: failed to start the client of cluster `sim-3`: "),
        "{error}"
    );
    assert!(
        error.contains("Internal error occurred: injected fault: every request fails"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_503_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let errors = Faults {
        error_every: 2,
        error_status: 503,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(errors, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    let healthy = fleet.counts("sim-1").unwrap();
    let faulty = fleet.counts(FAULTY).unwrap();
    fleet.shutdown().await;

    // A read that gets 503 is sent again, so every logical request succeeds
    // on its second try: each one that got an even number was sent again.
    assert_eq!(result_of(&document, FAULTY)["status"], "ok", "{document}");
    assert_healthy_ok(&document);
    assert_eq!(faulty.requests, 2 * healthy.requests - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_503_fails_after_three_retries() {
    let dir = tempfile::tempdir().unwrap();
    let errors = Faults {
        error_every: 1,
        error_status: 503,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(errors, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    let faulty = fleet.counts(FAULTY).unwrap();
    fleet.shutdown().await;

    // The client's first read, /version, is tried once and retried three
    // times. Then the start fails with the server's message, and the
    // pool's backoff keeps later calls from dialling again.
    assert_healthy_ok(&document);
    let error = faulty_error(&document);
    assert!(
        error.starts_with("unavailable: failed to start the client of cluster `sim-3`: "),
        "{error}"
    );
    assert!(
        error.contains("injected fault: every request fails"),
        "{error}"
    );
    assert_eq!(faulty.requests, 4, "{faulty:?}");
    assert_eq!(faulty.requests_by_verb_path["get /version"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_wait_for_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let throttle = Faults {
        throttle_every: 2,
        retry_after_seconds: 1,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(throttle, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    let healthy = fleet.counts("sim-1").unwrap();
    let faulty = fleet.counts(FAULTY).unwrap();
    fleet.shutdown().await;

    let result = result_of(&document, FAULTY);
    assert_eq!(result["status"], "ok", "{document}");
    assert_healthy_ok(&document);
    assert_eq!(faulty.requests, 2 * healthy.requests - 1);
    // The first throttled request is the second, /api/v1, before any parallel
    // request, so at least one full Retry-After passes.
    assert!(result["duration_ms"].as_u64().unwrap() >= 1000, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_status_and_header() {
    let fleet = Fleet::start(FleetOptions::default()).await.unwrap();
    let throttle = Faults {
        throttle_every: 1,
        retry_after_seconds: 7,
        ..Faults::default()
    };
    fleet.set_faults(FAULTY, throttle).unwrap();
    let response = raw_get(&fleet, FAULTY, "/api/v1/namespaces").await;
    fleet.shutdown().await;

    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Too many requests, please try again later.",
            "reason": "TooManyRequests",
            "details": {"retryAfterSeconds": 7},
            "code": 429,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_error_statuses() {
    let fleet = Fleet::start(FleetOptions::default()).await.unwrap();
    let cases = [
        (
            500,
            "InternalError",
            "Internal error occurred: injected fault: every request fails",
        ),
        (
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request (injected fault: every request fails)",
        ),
        (
            504,
            "Timeout",
            "Timeout: request did not complete within the allowed duration (injected fault: every request fails)",
        ),
    ];
    for (code, reason, message) in cases {
        let errors = Faults {
            error_every: 1,
            error_status: code,
            ..Faults::default()
        };
        fleet.set_faults(FAULTY, errors).unwrap();
        let response = raw_get(&fleet, FAULTY, "/version").await;
        assert_eq!(response.status().as_u16(), code);
        let body: Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["reason"], reason);
        assert_eq!(body["message"], message);
        assert_eq!(body["code"], code);
        assert_eq!(
            body["details"]["causes"][0]["message"],
            "injected fault: every request fails"
        );
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_reported_as_unauthorized() {
    let dir = tempfile::tempdir().unwrap();
    let lifetime = Duration::from_secs(5);
    let expiring = Faults {
        token_expires_after: Some(lifetime),
        ..Faults::default()
    };
    let applied = std::time::Instant::now();
    let (fleet, kubeconfig) = fleet_with_faults(expiring, dir.path()).await;

    let before = run_audit(&kubeconfig, &[]).await;
    let elapsed = applied.elapsed();
    assert!(
        elapsed < lifetime,
        "the first run took {elapsed:?}, longer than the token lifetime"
    );
    tokio::time::sleep(lifetime - elapsed).await;
    let after = run_audit(&kubeconfig, &[]).await;
    fleet.shutdown().await;

    assert_eq!(result_of(&before, FAULTY)["status"], "ok", "{before}");
    assert_healthy_ok(&after);
    let error = faulty_error(&after);
    assert!(
        error.starts_with("unauthorized: failed to start the client of cluster `sim-3`: "),
        "{error}"
    );
    assert!(error.contains("Unauthorized"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_fails_tls_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let wrong_ca = Faults {
        wrong_ca: true,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(wrong_ca, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    let counts = fleet.counts(FAULTY).unwrap();
    fleet.shutdown().await;

    assert_healthy_ok(&document);
    let error = faulty_error(&document);
    assert!(
        error.starts_with("unavailable: failed to start the client of cluster `sim-3`: "),
        "{error}"
    );
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert!(counts.connections >= 1, "{counts:?}");
    assert_eq!(counts.tls_handshakes, 0);
    assert_eq!(counts.requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_with_jitter_slows_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Faults {
        latency: Duration::from_millis(200),
        jitter: Duration::from_millis(100),
        seed: 42,
        ..Faults::default()
    };
    let (fleet, kubeconfig) = fleet_with_faults(slow, dir.path()).await;

    let document = run_audit(&kubeconfig, &[]).await;
    fleet.shutdown().await;

    assert_healthy_ok(&document);
    let result = result_of(&document, FAULTY);
    assert_eq!(result["status"], "ok", "{result}");
    // Four rounds at least: /version, /api/v1, /apis with the group lists, pods.
    assert!(result["duration_ms"].as_u64().unwrap() >= 800, "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_delayed() {
    let fleet = Fleet::start(FleetOptions::default()).await.unwrap();
    let slow_watch = Faults {
        watch_delay: Duration::from_millis(1500),
        ..Faults::default()
    };
    fleet.set_faults(FAULTY, slow_watch).unwrap();
    let (status, body) = control(&fleet, "GET", "/clusters/sim-3/faults", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["watch_delay"], "1s 500ms");

    let healthy = time_to_watch_event(&fleet, "sim-1").await;
    let delayed = time_to_watch_event(&fleet, FAULTY).await;
    let counts = fleet.counts(FAULTY).unwrap();
    fleet.clear_faults(FAULTY).unwrap();
    assert_eq!(fleet.faults(FAULTY).unwrap(), Faults::default());
    fleet.shutdown().await;

    assert!(healthy < Duration::from_millis(1000), "{healthy:?}");
    assert!(delayed >= Duration::from_millis(1500), "{delayed:?}");
    assert_eq!(counts.requests_by_verb["watch"], 1);
    assert_eq!(counts.requests_by_verb["create"], 1);
    assert_eq!(counts.watches_started, 1);
}

/// Starts a watch of config maps in `shop` from the current resourceVersion,
/// creates one, and returns the time until its ADDED event arrives.
async fn time_to_watch_event(fleet: &Fleet, cluster: &str) -> Duration {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};

    let client = kube_client(fleet, cluster, true).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client, "shop");
    let list = config_maps.list(&ListParams::default()).await.unwrap();
    let version = list.metadata.resource_version.unwrap();
    let stream = config_maps
        .watch(&WatchParams::default().timeout(10), &version)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let created: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "watched", "namespace": "shop"},
        "data": {"key": "value"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &created)
        .await
        .unwrap();
    let mut stream = stream.boxed();
    while let Some(event) = stream.try_next().await.unwrap() {
        if let WatchEvent::Added(config_map) = event
            && config_map.metadata.name.as_deref() == Some("watched")
        {
            return started.elapsed();
        }
    }
    panic!("the watch of {cluster} ended without the ADDED event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_sets_faults() {
    let fleet = Fleet::start(FleetOptions::default()).await.unwrap();

    let body = r#"{"error_every": 4, "error_status": 503, "latency": "20ms"}"#;
    let (status, applied) = control(&fleet, "PUT", "/clusters/sim-2/faults", body).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["error_every"], 4);
    assert_eq!(applied["latency"], "20ms");
    assert_eq!(fleet.faults("sim-2").unwrap().error_status, 503);

    let (status, read) = control(&fleet, "GET", "/clusters/sim-2/faults", "").await;
    assert_eq!(status, 200);
    assert_eq!(read, applied);

    let (status, cleared) = control(&fleet, "DELETE", "/clusters/sim-2/faults", "").await;
    assert_eq!(status, 200);
    assert_eq!(cleared["error_every"], 0);
    assert_eq!(fleet.faults("sim-2").unwrap(), Faults::default());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_endpoint_rejects_bad_input() {
    let options = FleetOptions {
        listen: Listen::SharedPort,
        ..FleetOptions::default()
    };
    let fleet = Fleet::start(options).await.unwrap();
    let cases = [
        (
            "PUT",
            "/clusters/sim-9/faults",
            "{}",
            404,
            "unknown cluster `sim-9`: the fleet has clusters sim-1 to sim-3",
        ),
        (
            "PUT",
            "/clusters/sim-1/faults",
            "{\"latncy\": \"1s\"}",
            400,
            "invalid faults: unknown field `latncy`",
        ),
        (
            "PUT",
            "/clusters/sim-1/faults",
            "{\"latency\": \"soon\"}",
            400,
            "invalid faults: invalid duration `soon`",
        ),
        (
            "PUT",
            "/clusters/sim-1/faults",
            "{\"error_status\": 418}",
            422,
            "invalid faults for cluster `sim-1`: invalid error_status 418: use 500, 503 or 504",
        ),
        (
            "PUT",
            "/clusters/sim-1/faults",
            "{\"down\": true}",
            409,
            "cannot set down or wrong_ca on cluster `sim-1` at run time: it shares the fleet's port",
        ),
        (
            "POST",
            "/clusters/sim-1/faults",
            "{}",
            405,
            "method not allowed: POST /clusters/sim-1/faults; use GET, PUT or DELETE",
        ),
        (
            "GET",
            "/nothing",
            "",
            404,
            "not found: /nothing; the control endpoint serves GET /fleet",
        ),
    ];
    for (method, path, body, expected_status, expected_start) in cases {
        let (status, reply) = control(&fleet, method, path, body).await;
        assert_eq!(status, expected_status, "{method} {path}: {reply}");
        let message = reply["error"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(expected_start),
            "{method} {path}: {message}"
        );
    }
    assert_eq!(fleet.faults("sim-1").unwrap(), Faults::default());
    fleet.shutdown().await;
}

#[test]
fn faulty_option_gives_default_mix() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut sim = SimProcess::start(&["--clusters", "8", "--faulty", "6"], &kubeconfig);
    let component = plugin("pod_audit");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--kubeconfig",
        arg(&kubeconfig),
        "--all",
        "-o",
        "json",
        "--timeout",
        "20s",
    ]);
    sim.stop();

    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let document = json(&output);
    let expected = [
        ("sim-1", "ok", ""),
        ("sim-2", "ok", ""),
        (
            "sim-3",
            "error",
            "unavailable: failed to start the client of cluster `sim-3`: ",
        ),
        (
            "sim-4",
            "error",
            "unavailable: failed to start the client of cluster `sim-4`: ",
        ),
        (
            "sim-5",
            "error",
            "unauthorized: failed to start the client of cluster `sim-5`: ",
        ),
        (
            "sim-6",
            "error",
            "unavailable: failed to start the client of cluster `sim-6`: ",
        ),
        ("sim-7", "ok", ""),
        ("sim-8", "ok", ""),
    ];
    for (cluster, status, error_start) in expected {
        let result = result_of(&document, cluster);
        assert_eq!(result["status"], status, "{result}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(error_start), "{cluster}: {error}");
    }
    assert!(sim.log.contains("cluster=sim-3"), "{}", sim.log);
    assert!(
        sim.log.contains("faults=down (connections refused)"),
        "{}",
        sim.log
    );
}

#[test]
fn broken_fleet_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let cases = [
        (
            "clusters = 2\n[faults.sim-1]\nlatncy = \"1s\"\n",
            "unknown field `latncy`",
        ),
        (
            "clusters = 2\n[faults.sim-7]\ndown = true\n",
            "unknown cluster `sim-7`: the fleet has clusters sim-1 to sim-2",
        ),
        (
            "[faults.sim-1]\nerror_status = 404\n",
            "invalid faults for cluster `sim-1`: invalid error_status 404: use 500, 503 or 504",
        ),
        (
            "clusters = 2\nfaulty = 3\n",
            "invalid faulty count 3: the fleet has only 2 clusters",
        ),
    ];
    for (text, expected) in cases {
        let fleet_file = dir.path().join("fleet.toml");
        std::fs::write(&fleet_file, text).unwrap();
        let output = lazyhost(&[
            "sim",
            "--fleet",
            arg(&fleet_file),
            "--kubeconfig-out",
            arg(&kubeconfig),
        ]);
        assert_eq!(output.status.code(), Some(2), "{text}");
        let message = stderr(&output);
        assert!(message.contains(expected), "{text}: {message}");
    }
    let missing = dir.path().join("missing.toml");
    let output = lazyhost(&[
        "sim",
        "--fleet",
        arg(&missing),
        "--kubeconfig-out",
        arg(&kubeconfig),
    ]);
    assert_eq!(
        stderr(&output),
        format!(
            "error: failed to read fleet file {}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
}

/// Builds a kube client of one cluster, with or without kube's default retries.
async fn kube_client(fleet: &Fleet, cluster: &str, retry: bool) -> kube::Client {
    let options = kube::config::KubeConfigOptions {
        context: Some(cluster.to_string()),
        ..Default::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .unwrap();
    config.default_retry = retry;
    kube::Client::try_from(config).unwrap()
}

/// Sends a GET over TLS to one cluster with kube's retries off and returns the
/// raw response.
async fn raw_get(fleet: &Fleet, cluster: &str, path: &str) -> http::Response<bytes::Bytes> {
    let client = kube_client(fleet, cluster, false).await;
    let request = http::Request::get(path).body(Vec::new()).unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    http::Response::from_parts(parts, bytes)
}

/// Sends one request to the control endpoint and returns the status and JSON body.
async fn control(fleet: &Fleet, method: &str, path: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = fleet.control_addr();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    (status, serde_json::from_str(body).unwrap())
}

/// A `lazyhost sim` child process, stopped by its pid.
struct SimProcess {
    child: std::process::Child,
    log: String,
}

impl SimProcess {
    /// Starts `lazyhost sim` and waits for its ready line.
    fn start(args: &[&str], kubeconfig: &Path) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lazyhost"))
            .arg("sim")
            .args(args)
            .arg("--kubeconfig-out")
            .arg(kubeconfig)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("lazyhost sim starts");
        let mut log = String::new();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.push_str(&line);
            log.push('\n');
            if line.contains("simulated fleet ready") {
                break;
            }
        }
        assert!(log.contains("simulated fleet ready"), "{log}");
        // Keep reading so that the process never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, log }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
