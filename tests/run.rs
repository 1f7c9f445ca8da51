//! End-to-end tests of `lazyhost run`: the real binary, real plugin
//! components and a simulated fleet over TLS.

mod common;

use std::path::Path;

use common::{arg, json, lazyhost, plugin, stderr, stdout};
use kube::config::{Context, Kubeconfig, NamedCluster};
use lazyhost::sim::{Fleet, FleetOptions};
use serde_json::Value;

/// Starts an in-process fleet and writes its kubeconfig into `dir`.
async fn fleet_with_kubeconfig(clusters: usize, dir: &Path) -> (Fleet, std::path::PathBuf) {
    let fleet = Fleet::start(FleetOptions {
        clusters,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts");
    let path = dir.join("kubeconfig");
    fleet
        .write_kubeconfig(&path)
        .expect("kubeconfig is written");
    (fleet, path)
}

/// Runs the binary off the async runtime, so the in-process fleet keeps serving.
async fn lazyhost_async(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lazyhost(&args)
    })
    .await
    .expect("the command task completes")
}

fn result_of<'a>(document: &'a Value, cluster: &str) -> &'a Value {
    document["results"]
        .as_array()
        .expect("results is a list")
        .iter()
        .find(|result| result["cluster"] == cluster)
        .unwrap_or_else(|| panic!("no result for {cluster} in {document}"))
}

#[test]
fn pod_audit_over_simulated_fleet() {
    let component = plugin("pod_audit");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "10",
        "-o",
        "json",
        "--arg",
        "restarts=3",
    ]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));

    let document = json(&output);
    assert_eq!(document["summary"]["total"], 10);
    assert_eq!(document["summary"]["ok"], 10);
    assert_eq!(document["summary"]["error"], 0);
    let results = document["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["cluster"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=10).map(|i| format!("sim-{i}")).collect();
    assert_eq!(names, expected);
    for result in results {
        assert_eq!(result["status"], "ok", "{result}");
        let cluster = result["cluster"].as_str().unwrap();
        let expected_version = match cluster {
            "sim-4" | "sim-7" | "sim-10" => "v1.31.6",
            "sim-5" | "sim-8" => "v1.30.10",
            "sim-6" => "v1.33.1",
            _ => "v1.32.4",
        };
        assert_eq!(
            result["output"]["server_version"], expected_version,
            "{cluster}"
        );
        assert_eq!(result["error"], Value::Null);
        assert!(result["duration_ms"].is_u64());
        assert!(
            result["stdout"]
                .as_str()
                .unwrap()
                .starts_with(result["cluster"].as_str().unwrap())
        );
        assert_eq!(result["output"]["restart_threshold"], 3);
    }
}

#[test]
fn table_output_has_rows_and_summary() {
    let component = plugin("pod_audit");
    let output = lazyhost(&["run", arg(&component), "--sim", "3"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));

    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("CLUSTER"), "{text}");
    assert!(lines[0].contains("STATUS"), "{text}");
    assert!(lines[1].starts_with("sim-1 "), "{text}");
    assert!(lines[1].contains(" ok "), "{text}");
    assert!(lines[2].starts_with("  | sim-1 (v1.32.4): "), "{text}");
    assert!(text.ends_with("\n"), "{text}");
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with("3 clusters: 3 ok, 0 failed, 0 cancelled in "),
        "{summary}"
    );
}

#[test]
fn missing_plugin_file() {
    let output = lazyhost(&["run", "/nonexistent/audit.wasm", "--sim", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: failed to read plugin `/nonexistent/audit.wasm`: No such file or directory (os error 2); \
         pass the path of a .wasm component\n"
    );
}

#[test]
fn file_that_is_not_webassembly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, "just some text\n").unwrap();
    let output = lazyhost(&["run", arg(&path), "--sim", "1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: `{}` is not a WebAssembly file: pass a component built for the wasm32-wasip2 target\n",
            path.display()
        )
    );
}

#[test]
fn core_module_instead_of_component() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let output = lazyhost(&["run", arg(&path), "--sim", "1"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "error: `{}` is a core WebAssembly module, not a component",
            path.display()
        )),
        "{message}"
    );
    assert!(message.contains("wasm-tools component new"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[test]
fn component_of_another_world() {
    let component = plugin("other_world");
    let output = lazyhost(&["run", arg(&component), "--sim", "1"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "error: `{}` does not fit the lazyhost plugin world: ",
            component.display()
        )),
        "{message}"
    );
    assert!(message.contains("run"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_context() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_with_kubeconfig(2, dir.path()).await;
    let component = plugin("pod_audit");
    let args = [
        "run",
        arg(&component),
        "--kubeconfig",
        arg(&kubeconfig),
        "--context",
        "prod-9",
    ];
    let output = lazyhost_async(args.map(String::from).to_vec()).await;
    fleet.shutdown().await;

    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: unknown context `prod-9`: known contexts are `sim-1`, `sim-2`\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, _) = fleet_with_kubeconfig(2, dir.path()).await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let kubeconfig = with_unreachable_cluster(fleet.kubeconfig(), closed_port);
    let path = dir.path().join("with-unreachable");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).unwrap()).unwrap();

    let component = plugin("pod_audit");
    let args = [
        "run",
        arg(&component),
        "--kubeconfig",
        arg(&path),
        "--all",
        "-o",
        "json",
    ];
    let output = lazyhost_async(args.map(String::from).to_vec()).await;
    fleet.shutdown().await;

    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));
    let document = json(&output);
    assert_eq!(document["summary"]["ok"], 2);
    assert_eq!(document["summary"]["error"], 1);
    assert_eq!(result_of(&document, "sim-1")["status"], "ok");
    assert_eq!(result_of(&document, "sim-2")["status"], "ok");
    let failed = result_of(&document, "unreachable");
    assert_eq!(failed["status"], "error");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with("unavailable: failed to start the client of cluster `unreachable`: "),
        "{error}"
    );
    assert!(
        error.to_lowercase().contains("connection refused"),
        "{error}"
    );
    let server = format!("(server https://127.0.0.1:{closed_port})");
    assert!(error.contains(&server), "{error}");
}

/// Adds a context `unreachable` whose server is a closed port on loopback.
fn with_unreachable_cluster(mut kubeconfig: Kubeconfig, port: u16) -> Kubeconfig {
    let mut cluster = kubeconfig.clusters[0].clone();
    let user = kubeconfig.contexts[0]
        .context
        .as_ref()
        .unwrap()
        .user
        .clone();
    cluster.name = "unreachable".to_string();
    if let Some(inner) = cluster.cluster.as_mut() {
        inner.server = Some(format!("https://127.0.0.1:{port}"));
    }
    kubeconfig.clusters.push(NamedCluster { ..cluster });
    let mut context = kubeconfig.contexts[0].clone();
    context.name = "unreachable".to_string();
    context.context = Some(Context {
        cluster: "unreachable".to_string(),
        user,
        ..Context::default()
    });
    kubeconfig.contexts.push(context);
    kubeconfig
}

#[test]
fn trapping_plugin_fails_its_rows() {
    let component = plugin("misbehave");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "2",
        "-o",
        "json",
        "--arg",
        "mode=panic",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let document = json(&output);
    assert_eq!(document["summary"]["error"], 2);
    for result in document["results"].as_array().unwrap() {
        assert_eq!(result["status"], "error");
        assert_eq!(
            result["error"],
            "plugin trapped: wasm trap: wasm `unreachable` instruction executed"
        );
        assert!(
            result["stderr"]
                .as_str()
                .unwrap()
                .contains("misbehave was asked to panic"),
            "{result}"
        );
    }
}

#[test]
fn endless_loop_times_out() {
    let component = plugin("misbehave");
    let args = [
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
        "--arg",
        "mode=loop",
        "--timeout",
        "500ms",
    ];
    let output = lazyhost(&args);
    assert_eq!(output.status.code(), Some(1));
    let document = json(&output);
    assert_eq!(
        result_of(&document, "sim-1")["error"],
        "timed out after 500ms, host calls included: raise --timeout, or `timeout` in the \
         plugin's section of lazyhost.toml, if the plugin or its cluster needs longer"
    );
}

#[test]
fn plugin_error_and_invalid_json() {
    let component = plugin("misbehave");
    for (mode, expected) in [
        ("error", "misbehave failed on sim-1 as asked"),
        (
            "invalid-json",
            "plugin returned invalid JSON: expected ident at line 1 column 2",
        ),
    ] {
        let mode_arg = format!("mode={mode}");
        let output = lazyhost(&[
            "run",
            arg(&component),
            "--sim",
            "1",
            "-o",
            "json",
            "--arg",
            &mode_arg,
        ]);
        assert_eq!(output.status.code(), Some(1), "{mode}");
        assert_eq!(
            result_of(&json(&output), "sim-1")["error"],
            expected,
            "{mode}"
        );
    }
}

#[test]
fn sandbox_grants_no_files_or_environment() {
    let component = plugin("misbehave");
    for (mode, key, expected_start) in [
        ("read-file", "read", "Err("),
        (
            "other-cluster",
            "error",
            "Err(Error::Denied(\"cluster `prod-1` is not one this plugin may use",
        ),
        (
            "missing-object",
            "error",
            "Err(Error::NotFound(\"configmaps \\\"no-such-config-map\\\" not found\"))",
        ),
    ] {
        let mode_arg = format!("mode={mode}");
        let output = lazyhost(&[
            "run",
            arg(&component),
            "--sim",
            "1",
            "-o",
            "json",
            "--arg",
            &mode_arg,
            "--arg",
            "target=prod-1",
        ]);
        assert_eq!(output.status.code(), Some(0), "{mode}: {}", stderr(&output));
        let document = json(&output);
        let value = result_of(&document, "sim-1")["output"][key]
            .as_str()
            .unwrap()
            .to_string();
        assert!(value.starts_with(expected_start), "{mode}: {value}");
    }

    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
        "--arg",
        "mode=env",
    ]);
    let document = json(&output);
    assert_eq!(
        result_of(&document, "sim-1")["output"],
        serde_json::json!({"vars": 0, "args": 0})
    );
}

#[test]
fn invalid_arguments_are_rejected() {
    let component = plugin("pod_audit");
    let output = lazyhost(&["run", arg(&component), "--sim", "1", "--arg", "restarts"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("invalid argument `restarts`: expected KEY=VALUE, such as restarts=5"),
        "{}",
        stderr(&output)
    );

    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "--arg",
        "restarts=many",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        result_of(&json(&output), "sim-1")["error"],
        "invalid argument restarts=\"many\": expected a whole number such as 3"
    );
}

#[test]
fn interrupt_keeps_finished_results() {
    let component = plugin("misbehave");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args([
            "run",
            arg(&component),
            "--sim",
            "3",
            "-o",
            "json",
            "--timeout",
            "60s",
        ])
        .args(["--arg", "mode=loop", "--arg", "only=sim-2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lazyhost starts");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("lazyhost exits");

    assert_eq!(
        output.status.code(),
        Some(130),
        "stderr: {}",
        stderr(&output)
    );
    let document = json(&output);
    assert_eq!(result_of(&document, "sim-1")["status"], "ok");
    assert_eq!(result_of(&document, "sim-3")["status"], "ok");
    let interrupted = result_of(&document, "sim-2");
    assert_eq!(interrupted["status"], "cancelled");
    assert_eq!(interrupted["error"], "cancelled: the run was interrupted");
    assert_eq!(document["summary"]["cancelled"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_lists_pool_state() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_with_kubeconfig(2, dir.path()).await;
    let listed = lazyhost_async(
        ["clusters", "--kubeconfig", arg(&kubeconfig)]
            .map(String::from)
            .to_vec(),
    )
    .await;
    let checked = lazyhost_async(
        [
            "clusters",
            "--kubeconfig",
            arg(&kubeconfig),
            "--check",
            "-o",
            "json",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await;
    let server = |name: &str| {
        let cluster = fleet
            .kubeconfig()
            .clusters
            .into_iter()
            .find(|c| c.name == name)
            .unwrap();
        cluster.cluster.unwrap().server.unwrap()
    };
    let (server_1, server_2) = (server("sim-1"), server("sim-2"));
    fleet.shutdown().await;

    assert_eq!(listed.status.code(), Some(0), "stderr: {}", stderr(&listed));
    let text = stdout(&listed);
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0]
        .split("  ")
        .filter(|cell| !cell.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "LABELS",
            "SERVER",
            "VERSION",
            "AGE",
            "LAST USED",
            "ACCESSES",
            "HASH",
            "STATE"
        ]
    );
    for (line, (name, server)) in lines[1..]
        .iter()
        .zip([("sim-1", &server_1), ("sim-2", &server_2)])
    {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], name, "{text}");
        assert_eq!(cells[1], "-", "{text}");
        assert_eq!(cells[2], server.as_str(), "{text}");
        assert_eq!(&cells[3..7], ["-", "-", "-", "-"], "{text}");
        assert_eq!(cells[7].len(), 8, "{text}");
        assert!(line.ends_with("not started"), "{text}");
    }

    assert_eq!(
        checked.status.code(),
        Some(0),
        "stderr: {}",
        stderr(&checked)
    );
    let document = json(&checked);
    let clusters = document["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2);
    for (cluster, name) in clusters.iter().zip(["sim-1", "sim-2"]) {
        assert_eq!(cluster["name"], name);
        assert_eq!(cluster["context"], name);
        assert_eq!(cluster["state"], "ready");
        assert_eq!(cluster["version"], "v1.32.4");
        assert_eq!(cluster["accesses"], 1);
        assert_eq!(cluster["labels"], serde_json::json!({}));
        assert_eq!(cluster["hash"].as_str().unwrap().len(), 32);
        assert!(
            cluster["detail"]
                .as_str()
                .unwrap()
                .starts_with("ready (client "),
            "{cluster}"
        );
    }
}

#[test]
fn output_past_the_limit_is_cut() {
    let component = plugin("misbehave");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
        "--arg",
        "mode=print-a-lot",
    ]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    let result = result_of(&document, "sim-1");
    assert_eq!(result["output"], serde_json::json!({"printed": 2097152}));
    let captured = result["stdout"].as_str().unwrap();
    assert!(
        captured.ends_with(
            "[lazyhost: output truncated at the plugin's output limit of 1 MiB (output_bytes); \
             1048576 more bytes dropped]\n"
        ),
        "{}",
        &captured[captured.len() - 200..]
    );
}

#[test]
fn memory_limit_names_itself() {
    let component = plugin("misbehave");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
        "--arg",
        "mode=allocate",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        result_of(&json(&output), "sim-1")["error"],
        "the plugin exceeded its memory limit of 512 MiB (memory): it requested 537985024 bytes \
         of linear memory; raise `memory` under [plugins.misbehave] in lazyhost.toml if the \
         plugin needs more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_context_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_with_kubeconfig(2, dir.path()).await;
    let component = plugin("pod_audit");
    let args = [
        "run",
        arg(&component),
        "--kubeconfig",
        arg(&kubeconfig),
        "-o",
        "json",
        "--context",
        "sim-2",
        "--context",
        "sim-1",
        "--context",
        "sim-2",
    ];
    let output = lazyhost_async(args.map(String::from).to_vec()).await;
    fleet.shutdown().await;

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    let clusters: Vec<&str> = document["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["sim-2", "sim-1"]);
}

#[test]
fn second_run_uses_compiled_cache() {
    let cache = tempfile::tempdir().unwrap();
    let component = plugin("pod_audit");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_lazyhost"))
            .args(["run", arg(&component), "--sim", "1", "-v"])
            .env(lazyhost::plugin::CACHE_DIR_ENV, cache.path())
            .env_remove("RUST_LOG")
            .output()
            .expect("lazyhost runs")
    };
    let loaded = |output: &std::process::Output| {
        let log = stderr(output);
        log.lines()
            .find(|line| line.contains("loaded plugin"))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no load line in: {log}"))
    };

    let first = run();
    assert_eq!(first.status.code(), Some(0), "stderr: {}", stderr(&first));
    assert!(
        loaded(&first).contains("from_cache=false"),
        "{}",
        loaded(&first)
    );
    let second = run();
    assert_eq!(second.status.code(), Some(0), "stderr: {}", stderr(&second));
    assert!(
        loaded(&second).contains("from_cache=true"),
        "{}",
        loaded(&second)
    );
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "one compiled component: {files:?}");
}
