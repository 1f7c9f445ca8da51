//! The policy a plugin runs under, set on the command line and checked on
//! every host call before it reaches a cluster.

mod common;

use std::sync::Arc;

use common::{arg, json, lazyhost, plugin, plugin_in, stderr, stdout};
use lazyhost::plugin::{HostContext, Limits, PluginRuntime};
use lazyhost::run::{RunOptions, run_plugin};

#[test]
fn writes_are_denied_without_the_grant() {
    let component = plugin("api_tour");
    let output = lazyhost(&["run", arg(&component), "--sim", "1", "-o", "json"]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    let document = json(&output);
    assert_eq!(document["policy"], "read-only; every namespace; no Secrets");
    let result = &document["results"][0];
    assert_eq!(result["status"], "error", "{document}");
    assert_eq!(
        result["error"],
        "denied: create configmaps in namespace default: the plugin is read-only: \
         run with --allow write",
        "{document}"
    );
}

#[test]
fn namespace_grant_limits_lists() {
    let component = plugin("pod_audit");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "--allow-namespace",
        "shop",
    ]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    let text = stdout(&output);
    assert!(
        text.contains(
            "denied: list pods: the plugin may use only the namespaces shop: pass one of them"
        ),
        "{text}"
    );
    assert!(
        text.contains("\ngranted: read-only; namespaces shop; no Secrets\n"),
        "{text}"
    );
}

#[test]
fn unknown_grant_is_rejected() {
    let component = plugin("pod_audit");
    let output = lazyhost(&["run", arg(&component), "--sim", "1", "--allow", "root"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "unknown grant `root`: use write, secrets, or one of pods/exec, pods/attach, \
             pods/portforward, pods/proxy, services/proxy, nodes/proxy, serviceaccounts/token, pods/ephemeralcontainers"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn plugin_section_of_the_configuration_grants() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(
        &config,
        "[plugins.api_tour]\nallow = [\"write\"]\nnamespaces = [\"default\"]\n",
    )
    .unwrap();
    let component = plugin("api_tour");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--config",
        arg(&config),
        "--sim",
        "1",
        "--allow-namespace",
        "shop",
        "-o",
        "json",
    ]);

    let document = json(&output);
    assert_eq!(
        document["policy"],
        "read-write; namespaces default, shop; no Secrets"
    );
    // The tour writes in `default`, then lists pods across namespaces,
    // which a namespace limit denies.
    let result = &document["results"][0];
    assert_eq!(
        result["error"],
        "denied: list pods: the plugin may use only the namespaces default, shop: \
         pass one of them",
        "{document}"
    );
}

#[test]
fn manifest_narrows_write_away() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("api_tour", dir.path());
    let manifest = dir.path().join("PLUGIN.toml");
    std::fs::write(&manifest, "name = \"api-tour\"\n[requests]\nallow = []\n").unwrap();
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "--allow",
        "write",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    let document = json(&output);
    assert_eq!(document["policy"], "read-only; every namespace; no Secrets");
    assert_eq!(document["manifest"], arg(&manifest));
    assert_eq!(
        document["requested_not_granted"],
        serde_json::json!({"allow": [], "namespaces": []})
    );
    let result = &document["results"][0];
    assert_eq!(result["status"], "error", "{document}");
    assert_eq!(
        result["error"],
        "denied: create configmaps in namespace default: the plugin is read-only, because \
         its manifest does not request write",
        "{document}"
    );
}

#[test]
fn manifest_requesting_write_keeps_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("api_tour", dir.path());
    // The plugin's own manifest comes before the folder's shared one.
    std::fs::write(dir.path().join("PLUGIN.toml"), "[requests]\n").unwrap();
    let own = dir.path().join("api_tour.plugin.toml");
    std::fs::write(&own, "[requests]\nallow = [\"write\"]\n").unwrap();
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "--allow",
        "write",
        "--allow",
        "secrets",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));

    let document = json(&output);
    assert_eq!(document["manifest"], arg(&own));
    assert_eq!(
        document["policy"],
        "read-write; every namespace; no Secrets"
    );
    assert_eq!(document["results"][0]["status"], "ok", "{document}");
}

#[test]
fn requested_secrets_without_grant_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("pod_audit", dir.path());
    std::fs::write(
        dir.path().join("PLUGIN.toml"),
        "[requests]\nallow = [\"secrets\"]\n",
    )
    .unwrap();

    let table = lazyhost(&["run", arg(&component), "--sim", "1"]);
    assert_eq!(table.status.code(), Some(0), "stderr: {}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.contains(
            "\ngranted: read-only; every namespace; no Secrets\n\
             requested but not granted: secrets\n"
        ),
        "{text}"
    );
    let log = stderr(&table);
    assert!(
        log.contains(
            "the plugin's manifest requests grants that the operator did not give, \
             so the plugin runs without them"
        ),
        "{log}"
    );
    assert!(log.contains("grants=secrets"), "{log}");

    let document = json(&lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
    ]));
    assert_eq!(
        document["requested_not_granted"],
        serde_json::json!({"allow": ["secrets"], "namespaces": []})
    );
    assert_eq!(document["policy"], "read-only; every namespace; no Secrets");
}

#[test]
fn no_common_namespace_denies_namespaced_calls() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("pod_audit", dir.path());
    std::fs::write(
        dir.path().join("PLUGIN.toml"),
        "[requests]\nnamespaces = [\"shop\"]\n",
    )
    .unwrap();
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "--allow-namespace",
        "default",
    ]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    let text = stdout(&output);
    assert!(
        text.contains(
            "denied: list pods: the plugin may use no namespace, because none of the \
             namespaces its manifest requests is granted: grant one with --allow-namespace"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\ngranted: read-only; no namespace; no Secrets\n\
             requested but not granted: namespaces shop\n"
        ),
        "{text}"
    );
    assert!(
        stderr(&output).contains("no namespace is both requested and granted"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_manifest_names_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("pod_audit", dir.path());
    let manifest = dir.path().join("PLUGIN.toml");
    let cases = [
        (
            "[requests]\nallow = [\"write\"]\nwrite = true\n",
            "unknown field `write`, expected `allow` or `namespaces`",
        ),
        (
            "[requests]\nallow = [\"root\"]\n",
            "key `requests.allow`: unknown grant `root`: use write, secrets, or one of \
             pods/exec, pods/attach, pods/portforward, pods/proxy, services/proxy, \
             nodes/proxy, serviceaccounts/token, pods/ephemeralcontainers",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&manifest, text).unwrap();
        // A kubeconfig that does not exist: the manifest fails first, so no
        // cluster source is read.
        let output = lazyhost(&[
            "run",
            arg(&component),
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--all",
        ]);
        assert_eq!(output.status.code(), Some(2), "{text:?}");
        let message = stderr(&output);
        assert!(
            message.starts_with(&format!(
                "error: invalid plugin manifest `{}`: ",
                manifest.display()
            )),
            "{message}"
        );
        assert!(message.contains(expected), "{text:?} gave {message}");
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_are_counted_in_the_statistics() {
    let fleet = common::start_fleet(2).await;
    let (inventory, monitor, pool) = common::pool_over(fleet.kubeconfig());
    let targets = inventory.clusters().to_vec();
    let context = Arc::new(HostContext::new(pool, monitor, targets.clone()));
    let runtime = PluginRuntime::new().unwrap();
    let tour = Arc::new(runtime.load(&plugin("api_tour")).unwrap());
    let options = RunOptions {
        concurrency: 2,
        limits: Limits::default(),
        args: Vec::new(),
    };

    let report = run_plugin(
        tour,
        Arc::clone(&context),
        &targets,
        &options,
        std::future::pending(),
    )
    .await;

    // Each invocation stops at its first write, which the default denies.
    assert_eq!(report.summary.error, 2);
    assert_eq!(context.snapshot().policy_denials, 2);
    for cluster in ["sim-1", "sim-2"] {
        let counts = fleet.counts(cluster).unwrap();
        assert!(
            !counts
                .requests_by_verb_path
                .keys()
                .any(|key| key.starts_with("create ")),
            "a denied write reached {cluster}: {counts:?}"
        );
    }
    fleet.shutdown().await;
}

#[test]
fn plugin_section_limits_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(
        &config,
        "[plugins.pod_audit]\nclusters = [\"sim-3\"]\nselector = \"variant=b\"\n",
    )
    .unwrap();
    let component = plugin("pod_audit");

    // --sim labels no cluster, so only the named one is left.
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--config",
        arg(&config),
        "--sim",
        "3",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    let clusters: Vec<&str> = document["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["sim-3"]);
    assert!(
        stderr(&output).contains("left out clusters the plugin may not use"),
        "{}",
        stderr(&output)
    );

    let sim = common::SimChild::start(2);
    let kubeconfig = sim.kubeconfig();
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--config",
        arg(&config),
        "--kubeconfig",
        arg(&kubeconfig),
        "--context",
        "sim-1",
    ]);
    assert_eq!(output.status.code(), Some(2), "stdout: {}", stdout(&output));
    assert!(
        stderr(&output).contains(
            "plugin `pod_audit` may not use cluster `sim-1`: its section of lazyhost.toml \
             allows clusters sim-3 and clusters labelled variant=b; choose one of those, or add \
             the cluster to `plugins.pod_audit.clusters`"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn section_named_like_the_crate_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(&config, "[plugins.pod-audit]\nnamespaces = [\"shop\"]\n").unwrap();
    let component = plugin("pod_audit");
    for command in ["run", "inspect"] {
        let mut args = vec![command, arg(&component), "--config", arg(&config)];
        if command == "run" {
            args.extend(["--sim", "1"]);
        }
        let output = lazyhost(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{command}: {}",
            stdout(&output)
        );
        assert_eq!(
            stderr(&output),
            "error: lazyhost.toml has a section [plugins.pod-audit], but this plugin is named \
             `pod_audit` (its file name without .wasm), so the section does not apply: rename \
             it to [plugins.pod_audit]\n",
            "{command}"
        );
    }
}

#[test]
fn resource_list_takes_any_name_of_a_type() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazyhost.toml");
    let component = plugin("pod_audit");
    let run = |resources: &str| {
        std::fs::write(
            &config,
            format!("[plugins.pod_audit]\nresources = {resources}\n"),
        )
        .unwrap();
        lazyhost(&[
            "run",
            arg(&component),
            "--config",
            arg(&config),
            "--sim",
            "1",
        ])
    };

    let output = run("[\"po\"]");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("; resources po\n"),
        "{}",
        stdout(&output)
    );

    let output = run("[\"deploy\", \"deployments.apps\"]");
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains(
            "denied: list pods: the plugin may use only the resources deploy, \
             deployments.apps: add `pods` to `resources` in its section of lazyhost.toml"
        ),
        "{}",
        stdout(&output)
    );
}
