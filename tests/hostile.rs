//! A hostile plugin run through the real binary against simulated
//! clusters. Each case asserts the exact error that names the limit or the
//! rule it ran into, and a denied call is checked to cost the cluster no
//! request. The last test runs two plugins at once in this process under
//! different policies.

mod common;

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{arg, json, lazyhost, plugin, stderr};
use lazyhost::plugin::{HostContext, Limits, PluginRuntime};
use lazyhost::policy::{Namespaces, Policy};
use lazyhost::sim::{Faults, Fleet};
use serde_json::{Value, json};

/// A fleet served by this test process, with its kubeconfig on disk.
struct TestFleet {
    fleet: Fleet,
    kubeconfig: PathBuf,
    _folder: tempfile::TempDir,
}

impl TestFleet {
    async fn start(clusters: usize) -> Self {
        let fleet = common::start_fleet(clusters).await;
        let folder = tempfile::tempdir().unwrap();
        let kubeconfig = folder.path().join("kubeconfig");
        fleet.write_kubeconfig(&kubeconfig).unwrap();
        Self {
            fleet,
            kubeconfig,
            _folder: folder,
        }
    }

    /// Runs misbehave in `mode` on every cluster of the fleet, unless
    /// `extra` names contexts, off the async runtime so the fleet keeps
    /// serving.
    async fn run(&self, mode: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "run".to_string(),
            arg(&plugin("misbehave")).to_string(),
            "--kubeconfig".to_string(),
            arg(&self.kubeconfig).to_string(),
            "-o".to_string(),
            "json".to_string(),
            "--arg".to_string(),
            format!("mode={mode}"),
        ];
        if !extra.contains(&"--context") {
            args.push("--all".to_string());
        }
        args.extend(extra.iter().map(|extra| extra.to_string()));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lazyhost(&args)
        })
        .await
        .unwrap()
    }

    /// Returns the request keys (`verb path`) that `cluster` has served.
    fn requests(&self, cluster: &str) -> Vec<String> {
        let counts = self.fleet.counts(cluster).expect("the cluster exists");
        counts.requests_by_verb_path.into_keys().collect()
    }
}

/// Runs misbehave in `mode` against one embedded simulated cluster.
fn run_on_sim(mode: &str, extra: &[&str]) -> Output {
    let component = plugin("misbehave");
    let mode = format!("mode={mode}");
    let mut args = vec![
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
        "--arg",
        &mode,
    ];
    args.extend_from_slice(extra);
    lazyhost(&args)
}

/// Returns the only result of a run, after checking the exit code: 0 when
/// `ok` is true, else 1.
fn only_result(output: &Output, ok: bool) -> Value {
    let expected_code = if ok { 0 } else { 1 };
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "stderr: {}",
        stderr(output)
    );
    let document = json(output);
    let results = document["results"].as_array().expect("results is a list");
    assert_eq!(results.len(), 1, "{document}");
    results[0].clone()
}

/// Writes a `lazyhost.toml` with one plugin section into `folder`.
fn config_file(folder: &Path, section: &str) -> PathBuf {
    let path = folder.join("lazyhost.toml");
    std::fs::write(&path, format!("[plugins.misbehave]\n{section}\n")).unwrap();
    path
}

#[test]
fn endless_loop_stops_at_the_timeout() {
    let output = run_on_sim("loop", &["--timeout", "1s"]);
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "timed out after 1s, host calls included: raise --timeout, or `timeout` in the \
         plugin's section of lazyhost.toml, if the plugin or its cluster needs longer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_host_calls_stop_at_the_timeout() {
    let fleet = TestFleet::start(2).await;
    let started = Instant::now();
    let output = fleet.run("call-loop", &["--timeout", "1s"]).await;
    let elapsed = started.elapsed();
    eprintln!("a run of two endless host-call loops with --timeout 1s took {elapsed:?}");

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document = json(&output);
    for result in document["results"].as_array().unwrap() {
        assert_eq!(result["status"], "error", "{result}");
        assert_eq!(
            result["error"],
            "timed out after 1s, host calls included: raise --timeout, or `timeout` in the \
             plugin's section of lazyhost.toml, if the plugin or its cluster needs longer"
        );
    }
    // The calls were real requests, not denied ones.
    for cluster in ["sim-1", "sim-2"] {
        let counts = fleet.fleet.counts(cluster).unwrap();
        let lists = counts.requests_by_verb_path["list /api/v1/namespaces"];
        assert!(lists > 1, "{cluster} served {lists} lists");
    }
    fleet.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_call_in_progress_is_cancelled() {
    let fleet = TestFleet::start(1).await;
    // Every response comes 10 minutes late, so the plugin's first host
    // call, which starts the cluster's client, waits past the timeout.
    let slow = Faults {
        latency: Duration::from_secs(600),
        ..Faults::default()
    };
    fleet.fleet.set_faults("sim-1", slow).unwrap();

    let started = Instant::now();
    let output = fleet.run("list-pods", &["--timeout", "1s"]).await;
    eprintln!(
        "a run whose host call waits on a 10-minute reply, with --timeout 1s, took {:?}",
        started.elapsed()
    );

    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "timed out after 1s, host calls included: raise --timeout, or `timeout` in the \
         plugin's section of lazyhost.toml, if the plugin or its cluster needs longer"
    );
    // The request reached the cluster, so the call was in progress.
    assert_eq!(fleet.requests("sim-1"), ["get /version"]);
    fleet.fleet.shutdown().await;
}

#[test]
fn memory_growth_hits_the_memory_limit() {
    let folder = tempfile::tempdir().unwrap();
    let config = config_file(folder.path(), "memory = \"64MiB\"");
    let output = run_on_sim("allocate", &["--config", arg(&config)]);
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "the plugin exceeded its memory limit of 64 MiB (memory): it requested 68222976 bytes \
         of linear memory; raise `memory` under [plugins.misbehave] in lazyhost.toml if the \
         plugin needs more"
    );
}

#[test]
fn deep_recursion_exhausts_the_call_stack() {
    let output = run_on_sim("recurse", &[]);
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "plugin trapped: wasm trap: call stack exhausted"
    );
}

#[test]
fn oversized_result_hits_the_result_limit() {
    let output = run_on_sim("big-result", &[]);
    let result = only_result(&output, false);
    // {"filler":"..."} around 2 MiB of filler.
    let size = (2 << 20) + r#"{"filler":""}"#.len();
    assert_eq!(
        result["error"],
        format!(
            "the plugin exceeded its result size limit of 1 MiB (result_bytes): its result has \
             {size} bytes; raise `result_bytes` under [plugins.misbehave] in lazyhost.toml if \
             the plugin needs more"
        )
    );

    let folder = tempfile::tempdir().unwrap();
    let config = config_file(folder.path(), "result_bytes = \"3MiB\"");
    let output = run_on_sim("big-result", &["--config", arg(&config)]);
    let result = only_result(&output, true);
    assert_eq!(result["output"]["filler"].as_str().unwrap().len(), 2 << 20);
}

#[test]
fn endless_printing_is_truncated_then_timed_out() {
    let folder = tempfile::tempdir().unwrap();
    let config = config_file(folder.path(), "output_bytes = \"64KiB\"");
    let output = run_on_sim(
        "print-forever",
        &["--config", arg(&config), "--timeout", "1s"],
    );
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "timed out after 1s, host calls included: raise --timeout, or `timeout` in the \
         plugin's section of lazyhost.toml, if the plugin or its cluster needs longer"
    );

    let captured = result["stdout"].as_str().unwrap();
    let (kept, note) = captured.split_at(64 << 10);
    let line = format!("{}\n", "y".repeat(1023));
    assert_eq!(kept, line.repeat(64));
    let dropped = note
        .strip_prefix(
            "[lazyhost: output truncated at the plugin's output limit of 64 KiB \
             (output_bytes); ",
        )
        .and_then(|rest| rest.strip_suffix(" more bytes dropped]\n"))
        .unwrap_or_else(|| panic!("unexpected note: {note:?}"));
    let dropped: u64 = dropped.parse().unwrap();
    eprintln!("endless printing for 1s: {dropped} bytes dropped past the 64 KiB kept");
    assert!(dropped > 0);
}

#[test]
fn opening_a_file_reads_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let secret = folder.path().join("secret.txt");
    std::fs::write(&secret, "hostile-test-secret-content").unwrap();
    let path_arg = format!("path={}", secret.display());
    let output = run_on_sim("read-file", &["--arg", &path_arg]);

    let result = only_result(&output, true);
    assert_eq!(
        result["output"]["read"],
        "Err(Os { code: 44, kind: NotFound, message: \"No such file or directory\" })"
    );
    let everything = format!("{}{}", common::stdout(&output), stderr(&output));
    assert!(!everything.contains("hostile-test-secret-content"));
}

#[test]
fn loopback_socket_is_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port_arg = format!("port={}", listener.local_addr().unwrap().port());
    let output = run_on_sim("connect", &["--arg", &port_arg]);

    let result = only_result(&output, true);
    assert_eq!(
        result["output"]["connect"],
        "Err(Os { code: 2, kind: PermissionDenied, message: \"Permission denied\" })"
    );
    let accepted = listener.accept().map(|(_, peer)| peer);
    assert_eq!(
        accepted.map_err(|error| error.kind()),
        Err(ErrorKind::WouldBlock),
        "the plugin reached the listener"
    );
}

#[test]
fn environment_is_not_visible() {
    let component = plugin("misbehave");
    let output = Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args(["run", arg(&component), "--sim", "1", "-o", "json"])
        .args(["--arg", "mode=env", "--arg", "var=LAZYHOST_HOSTILE_TOKEN"])
        .env("LAZYHOST_HOSTILE_TOKEN", "hostile-test-token")
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let result = only_result(&output, true);
    assert_eq!(
        result["output"],
        json!({ "vars": 0, "args": 0, "var": "Err(NotPresent)" })
    );
}

#[test]
fn panic_traps_with_its_message() {
    let output = run_on_sim("panic", &[]);
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "plugin trapped: wasm trap: wasm `unreachable` instruction executed"
    );
    let captured = result["stderr"].as_str().unwrap();
    assert!(captured.contains("panicked at"), "{captured}");
    assert!(
        captured.contains("misbehave was asked to panic on sim-1"),
        "{captured}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_need_the_grant() {
    let fleet = TestFleet::start(1).await;
    let output = fleet.run("list-secrets", &[]).await;
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "denied: list secrets: Secrets need an explicit grant: run with --allow secrets"
    );
    // Resolving `secrets` starts the client, whose discovery requests are
    // all that reach the cluster.
    let requests = fleet.requests("sim-1");
    assert!(
        requests.contains(&"get /version".to_string()),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|request| request.contains("secrets")),
        "{requests:?}"
    );
    fleet.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_grant() {
    let fleet = TestFleet::start(1).await;
    let output = fleet.run("write", &[]).await;
    let result = only_result(&output, false);
    assert_eq!(
        result["error"],
        "denied: create configmaps in namespace default: the plugin is read-only: \
         run with --allow write"
    );
    let requests = fleet.requests("sim-1");
    assert!(
        !requests
            .iter()
            .any(|request| request.starts_with("create ")),
        "{requests:?}"
    );
    fleet.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_outside_the_run_is_denied() {
    let fleet = TestFleet::start(2).await;
    let output = fleet
        .run(
            "other-cluster",
            &["--context", "sim-1", "--arg", "target=sim-2"],
        )
        .await;
    let result = only_result(&output, true);
    assert_eq!(
        result["output"]["error"],
        "Err(Error::Denied(\"cluster `sim-2` is not one this plugin may use: \
         call client.clusters for the allowed ones\"))"
    );
    assert_eq!(fleet.fleet.counts("sim-2").unwrap().requests, 0);
    fleet.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_paths_and_tricks_are_denied() {
    let percent_rule = "percent-encoding and `\\` are not allowed in a path, because the \
                        server decodes the path before reading it; write the path plainly";
    let segment_rule =
        "empty, `.` and `..` segments are not allowed; write the path in normal form";
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "GET",
            "/api/v1/secrets",
            "denied: list secrets: Secrets need an explicit grant: run with --allow secrets"
                .to_string(),
        ),
        // kube-apiserver still serves the older watch paths.
        (
            "GET",
            "/api/v1/watch/secrets",
            "denied: watch secrets: Secrets need an explicit grant: run with --allow secrets"
                .to_string(),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/web/exec",
            "denied: get pods/exec in namespace default: pods/exec is denied unless granted \
             by name: run with --allow pods/exec"
                .to_string(),
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods/web/exec?command=sh",
            "denied: post pods/exec in namespace default: pods/exec is denied unless granted \
             by name: run with --allow pods/exec"
                .to_string(),
        ),
        (
            "GET",
            "/api/v1/namespaces/default/pods/../secrets",
            format!("denied: get `/api/v1/namespaces/default/pods/../secrets`: {segment_rule}"),
        ),
        (
            "GET",
            "/api/v1/namespaces/default%2Fsecrets",
            format!("denied: get `/api/v1/namespaces/default%2Fsecrets`: {percent_rule}"),
        ),
        (
            "GET",
            "/api/v1/namespaces/%2e%2e/secrets",
            format!("denied: get `/api/v1/namespaces/%2e%2e/secrets`: {percent_rule}"),
        ),
        // kube-apiserver decodes `%73` to `s`, so this would list Secrets.
        (
            "GET",
            "/api/v1/namespaces/default/%73ecrets",
            format!("denied: get `/api/v1/namespaces/default/%73ecrets`: {percent_rule}"),
        ),
        // A subresource reached through an encoded or a `.` segment.
        (
            "POST",
            "/api/v1/namespaces/default/pods/web%2Fexec",
            format!("denied: post `/api/v1/namespaces/default/pods/web%2Fexec`: {percent_rule}"),
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods/web/./exec",
            format!("denied: post `/api/v1/namespaces/default/pods/web/./exec`: {segment_rule}"),
        ),
        // The HTTP client drops a fragment, so the server would see
        // `.../secrets` where the policy read `secrets#`.
        (
            "GET",
            "/api/v1/namespaces/default/secrets#",
            "denied: get `/api/v1/namespaces/default/secrets#`: `#` is not allowed: a \
             fragment is never sent to the server, so leave it out"
                .to_string(),
        ),
        (
            "GET",
            "/api/v1/namespaces\r\nImpersonate-User: system:admin",
            "denied: get `/api/v1/namespaces\\r\\nImpersonate-User: system:admin`: the \
             character '\\r' is not allowed in a path or query: only visible ASCII is, so \
             percent-encode whitespace, control and non-ASCII characters in the query"
                .to_string(),
        ),
        (
            "GET",
            "/api/v1/pods?limit=1\nImpersonate-User:system:admin",
            "denied: get `/api/v1/pods?limit=1\\nImpersonate-User:system:admin`: the \
             character '\\n' is not allowed in a path or query: only visible ASCII is, so \
             percent-encode whitespace, control and non-ASCII characters in the query"
                .to_string(),
        ),
    ];

    let fleet = TestFleet::start(1).await;
    for (method, path, expected) in &cases {
        let method_arg = format!("method={method}");
        let path_arg = format!("path={path}");
        let output = fleet
            .run(
                "raw",
                &["--arg", &method_arg, "--arg", &path_arg, "--allow", "write"],
            )
            .await;
        let result = only_result(&output, true);
        assert_eq!(
            result["output"],
            json!([{ "path": path, "result": expected }]),
            "{method} {path:?}"
        );
    }
    // Raw requests are checked before the client starts, so the cluster
    // saw nothing at all.
    assert_eq!(fleet.fleet.counts("sim-1").unwrap().requests, 0);
    fleet.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_list_respects_namespace_limit() {
    let only_shop = "the plugin may use only the namespaces shop: pass one of them";
    let fleet = TestFleet::start(1).await;

    let paths = [
        "/api/v1/pods",
        "/apis/apps/v1/deployments",
        "/api/v1/watch/configmaps",
        "/api/v1/nodes",
        "/api/v1/namespaces/shop/pods",
    ];
    let mut args = vec!["--allow-namespace".to_string(), "shop".to_string()];
    for path in paths {
        args.extend(["--arg".to_string(), format!("path={path}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = fleet.run("raw", &args).await;

    let result = only_result(&output, true);
    assert_eq!(
        result["output"],
        json!([
            { "path": paths[0], "result": format!("denied: list pods: {only_shop}") },
            { "path": paths[1], "result": format!("denied: list deployments: {only_shop}") },
            { "path": paths[2], "result": format!("denied: watch configmaps: {only_shop}") },
            { "path": paths[3], "result": "status 200" },
            { "path": paths[4], "result": "status 200" },
        ])
    );
    let counts = fleet.fleet.counts("sim-1").unwrap();
    for denied in ["list /api/v1/pods", "list /apis/apps/v1/deployments"] {
        assert!(
            !counts.requests_by_verb_path.contains_key(denied),
            "{denied} reached the cluster: {counts:?}"
        );
    }
    fleet.fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_body_is_not_sent() {
    let fleet = TestFleet::start(1).await;
    let bytes = 4 << 20;
    // The body misbehave sends: a config map around the filler.
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "misbehave-big", "namespace": "default" },
        "data": { "filler": "z".repeat(bytes) },
    })
    .to_string();
    let size = body.len();
    let bytes_arg = format!("bytes={bytes}");

    for (call, request) in [
        ("create", "create configmaps".to_string()),
        ("patch", "patch configmaps misbehave-big".to_string()),
        (
            "request",
            "post `/api/v1/namespaces/default/configmaps`".to_string(),
        ),
    ] {
        let call_arg = format!("call={call}");
        let output = fleet
            .run(
                "big-body",
                &["--allow", "write", "--arg", &bytes_arg, "--arg", &call_arg],
            )
            .await;
        let result = only_result(&output, false);
        assert_eq!(
            result["error"],
            format!(
                "invalid: the plugin exceeded its request body limit of 3 MiB \
                 (request_body_bytes): {request} has a body of {size} bytes; no request was \
                 sent: send less per request, or raise `request_body_bytes` in the plugin's \
                 section of lazyhost.toml"
            ),
            "{call}"
        );
    }
    assert_eq!(fleet.fleet.counts("sim-1").unwrap().requests, 0);
    fleet.fleet.shutdown().await;
}

#[test]
fn instance_and_table_limits_come_from_the_configuration() {
    let folder = tempfile::tempdir().unwrap();
    let cases = [
        (
            "instances = 2",
            "the plugin exceeded its instance limit of 2 (instances): wasmtime reports \
             instance count too high at 3; raise `instances` under [plugins.misbehave] in \
             lazyhost.toml if the plugin needs more",
        ),
        (
            "table_elements = 10",
            "the plugin exceeded its table element limit of 10 (table_elements): it \
             requested 69 table elements; raise `table_elements` under [plugins.misbehave] in \
             lazyhost.toml if the plugin needs more",
        ),
    ];
    for (section, expected) in cases {
        let config = config_file(folder.path(), section);
        let output = run_on_sim("ok", &["--config", arg(&config)]);
        let result = only_result(&output, false);
        assert_eq!(result["error"], expected, "{section}");
    }
}

#[test]
fn timeout_option_overrides_the_configuration() {
    let folder = tempfile::tempdir().unwrap();
    let config = config_file(folder.path(), "timeout = \"700ms\"");

    let from_file = run_on_sim("loop", &["--config", arg(&config)]);
    let error = only_result(&from_file, false)["error"].clone();
    assert!(
        error
            .as_str()
            .unwrap()
            .starts_with("timed out after 700ms, host calls included"),
        "{error}"
    );

    let overridden = run_on_sim("loop", &["--config", arg(&config), "--timeout", "300ms"]);
    let error = only_result(&overridden, false)["error"].clone();
    assert!(
        error
            .as_str()
            .unwrap()
            .starts_with("timed out after 300ms, host calls included"),
        "{error}"
    );
}

#[test]
fn unknown_import_fails_to_load() {
    let component = plugin("unknown_import");
    let output = lazyhost(&["run", arg(&component), "--sim", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: `{}` does not fit the lazyhost plugin world: component imports instance \
             `example:vault/keys`, but a matching implementation was not found in the linker: \
             instance export `fetch` has the wrong type: function implementation is missing; \
             build it against world `plugin` of the WIT package lazyhost:plugin\n",
            component.display()
        )
    );
}

/// Runs misbehave once in `mode` through the library.
async fn invoke(
    plugin: &lazyhost::plugin::Plugin,
    context: &Arc<HostContext>,
    cluster: &str,
    args: &[(&str, &str)],
) -> Result<String, String> {
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let invocation = plugin
        .invoke(Arc::clone(context), cluster, &args, &Limits::default())
        .await;
    invocation.result.map_err(|error| error.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_under_different_policies_stay_apart() {
    let fleet = common::start_fleet(4).await;
    // One pool serves both plugins, as in one host process.
    let (inventory, monitor, pool) = common::pool_over(fleet.kubeconfig());
    let clusters = inventory.clusters();
    let auditor_policy = Policy {
        secrets: true,
        ..Policy::default()
    };
    let fixer_policy = Policy {
        write: true,
        namespaces: Namespaces::Only(BTreeSet::from(["default".to_string()])),
        ..Policy::default()
    };
    let auditor_context = Arc::new(
        HostContext::new(
            Arc::clone(&pool),
            Arc::clone(&monitor),
            clusters[..2].to_vec(),
        )
        .with_policy(auditor_policy),
    );
    let fixer_context =
        Arc::new(HostContext::new(pool, monitor, clusters[2..].to_vec()).with_policy(fixer_policy));
    let runtime = PluginRuntime::new().unwrap();
    let auditor = runtime.load(&plugin("misbehave")).unwrap();
    let fixer = runtime.load(&plugin("misbehave")).unwrap();

    let (auditor_results, fixer_results) = tokio::join!(
        async {
            let a = &auditor_context;
            [
                invoke(&auditor, a, "sim-1", &[("mode", "clusters")]).await,
                invoke(&auditor, a, "sim-1", &[("mode", "list-secrets")]).await,
                invoke(&auditor, a, "sim-2", &[("mode", "write")]).await,
                invoke(
                    &auditor,
                    a,
                    "sim-1",
                    &[("mode", "other-cluster"), ("target", "sim-3")],
                )
                .await,
            ]
        },
        async {
            let f = &fixer_context;
            [
                invoke(&fixer, f, "sim-3", &[("mode", "clusters")]).await,
                invoke(&fixer, f, "sim-3", &[("mode", "list-secrets")]).await,
                invoke(&fixer, f, "sim-4", &[("mode", "write")]).await,
                invoke(
                    &fixer,
                    f,
                    "sim-3",
                    &[("mode", "other-cluster"), ("target", "sim-1")],
                )
                .await,
            ]
        },
    );

    let [clusters, secrets, write, other] = auditor_results;
    assert_eq!(clusters.unwrap(), r#"{"clusters":["sim-1","sim-2"]}"#);
    assert!(secrets.unwrap().starts_with(r#"{"secrets_bytes":"#));
    assert_eq!(
        write.unwrap_err(),
        "denied: create configmaps in namespace default: the plugin is read-only: \
         run with --allow write"
    );
    assert_eq!(
        other.unwrap(),
        json!({
            "error": "Err(Error::Denied(\"cluster `sim-3` is not one this plugin may use: \
                      call client.clusters for the allowed ones\"))"
        })
        .to_string()
    );

    let [clusters, secrets, write, other] = fixer_results;
    assert_eq!(clusters.unwrap(), r#"{"clusters":["sim-3","sim-4"]}"#);
    assert_eq!(
        secrets.unwrap_err(),
        "denied: list secrets: Secrets need an explicit grant: run with --allow secrets"
    );
    assert_eq!(write.unwrap(), r#"{"created":"misbehave"}"#);
    assert_eq!(
        other.unwrap(),
        json!({
            "error": "Err(Error::Denied(\"cluster `sim-1` is not one this plugin may use: \
                      call client.clusters for the allowed ones\"))"
        })
        .to_string()
    );

    // Each plugin's clusters saw only that plugin's requests.
    let created = "create /api/v1/namespaces/default/configmaps";
    for cluster in ["sim-1", "sim-2", "sim-3"] {
        let counts = fleet.counts(cluster).unwrap();
        assert!(
            !counts.requests_by_verb_path.contains_key(created),
            "{cluster}: {counts:?}"
        );
    }
    assert_eq!(
        fleet.counts("sim-4").unwrap().requests_by_verb_path[created],
        1
    );
    let secrets_listed = "list /api/v1/secrets";
    assert_eq!(
        fleet.counts("sim-1").unwrap().requests_by_verb_path[secrets_listed],
        1
    );
    assert!(
        !fleet
            .counts("sim-3")
            .unwrap()
            .requests_by_verb_path
            .contains_key(secrets_listed)
    );
    fleet.shutdown().await;
}
