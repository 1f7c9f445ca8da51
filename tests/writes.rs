//! Writes made by plugins: listed in each result, logged as audit lines,
//! sent as server-side dry runs with `--dry-run`, and sent as an
//! impersonated identity that the cluster's own RBAC checks.

mod common;

use std::sync::Arc;

use common::{arg, json, lazyhost, plugin, stderr, stdout};
use kube::config::Kubeconfig;
use lazyhost::cluster::{Identity, RequestMode};
use lazyhost::plugin::{HostContext, Limits, PluginRuntime, Write};
use lazyhost::run::{Report, RunOptions, run_plugin};
use serde_json::json;

/// Runs pod-cleanup over every cluster of `kubeconfig` in `mode`, deleting
/// when `delete` is set, with the write grant.
async fn cleanup(kubeconfig: Kubeconfig, mode: RequestMode, delete: bool) -> Report {
    let (inventory, monitor, pool) = common::pool_over(kubeconfig);
    let targets = inventory.clusters().to_vec();
    let mut policy = lazyhost::policy::Policy::default();
    policy.grant("write").unwrap();
    let context = Arc::new(
        HostContext::new(pool, monitor, targets.clone())
            .with_policy(policy)
            .with_mode(mode),
    );
    let runtime = PluginRuntime::new().unwrap();
    let cleanup = Arc::new(runtime.load(&plugin("pod_cleanup")).unwrap());
    let mut args = vec![("older-than".to_string(), "1m".to_string())];
    if delete {
        args.push(("delete".to_string(), "true".to_string()));
    }
    let options = RunOptions {
        concurrency: 3,
        limits: Limits::default(),
        args,
    };
    run_plugin(cleanup, context, &targets, &options, std::future::pending()).await
}

/// Returns the pods each cluster's invocation found, as `namespace/name`.
fn found(report: &Report) -> Vec<Vec<String>> {
    report
        .results
        .iter()
        .map(|result| {
            let output = result.output.as_ref().expect("the invocation succeeded");
            output["pods"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pod| format!("{}/{}", pod["namespace"], pod["name"]).replace('"', ""))
                .collect()
        })
        .collect()
}

fn delete_of_db_migrate(cluster: &str, dry_run: bool, error: Option<String>) -> Write {
    Write {
        cluster: cluster.to_string(),
        verb: "delete".to_string(),
        resource: "pods".to_string(),
        namespace: Some("shop".to_string()),
        name: Some("db-migrate".to_string()),
        dry_run,
        result: if error.is_some() { "error" } else { "ok" },
        error,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_deletes_store_nothing() {
    let fleet = common::start_fleet(3).await;
    let dry_run = RequestMode {
        dry_run: true,
        identity: None,
    };

    let report = cleanup(fleet.kubeconfig(), dry_run, true).await;
    assert!(report.all_ok(), "{report:?}");
    assert!(report.dry_run);
    let writes: Vec<&[Write]> = report.results.iter().map(|r| &r.writes[..]).collect();
    assert_eq!(
        writes,
        [
            &[delete_of_db_migrate("sim-1", true, None)][..],
            &[],
            &[delete_of_db_migrate("sim-3", true, None)],
        ]
    );
    for cluster in ["sim-1", "sim-3"] {
        let counts = fleet.counts(cluster).unwrap();
        assert_eq!(counts.requests_by_verb.get("delete"), Some(&1), "{cluster}");
    }

    // The pods are still there, and a real run deletes them.
    let report = cleanup(fleet.kubeconfig(), RequestMode::default(), true).await;
    let expected = vec![
        vec!["shop/db-migrate".to_string()],
        vec![],
        vec!["shop/db-migrate".to_string()],
    ];
    assert_eq!(found(&report), expected);
    assert_eq!(
        report.results[0].writes,
        [delete_of_db_migrate("sim-1", false, None)]
    );
    let report = cleanup(fleet.kubeconfig(), RequestMode::default(), false).await;
    assert_eq!(found(&report), vec![Vec::<String>::new(); 3]);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonated_identity_is_checked_by_the_cluster() {
    let fleet = common::start_fleet(3).await;
    let bot = |groups: &[&str]| RequestMode {
        dry_run: false,
        identity: Some(Identity {
            user: "system:serviceaccount:ops:cleanup".to_string(),
            groups: groups.iter().map(ToString::to_string).collect(),
        }),
    };

    // The host grants writes, but the cluster gives this user only reads.
    let report = cleanup(fleet.kubeconfig(), bot(&["ops"]), true).await;
    assert!(report.all_ok(), "{report:?}");
    let forbidden = "pods \"db-migrate\" is forbidden: User \
                     \"system:serviceaccount:ops:cleanup\" cannot delete resource \"pods\" \
                     in API group \"\" in the namespace \"shop\"";
    assert_eq!(
        report.results[0].writes,
        [delete_of_db_migrate(
            "sim-1",
            false,
            Some(forbidden.to_string())
        )]
    );
    let counts = fleet.counts("sim-1").unwrap();
    let impersonated = counts.requests_by_impersonated_user["system:serviceaccount:ops:cleanup"];
    // The list and the delete; discovery is the host's own and impersonates no one.
    assert_eq!(impersonated, 2, "{counts:?}");

    // In a group the cluster lets write, the same deletes go through.
    let report = cleanup(fleet.kubeconfig(), bot(&["ops", "system:masters"]), true).await;
    assert_eq!(
        report.results[2].writes,
        [delete_of_db_migrate("sim-3", false, None)]
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonating_context_refuses_second_identity() {
    let fleet = common::start_fleet(3).await;
    let mut kubeconfig = fleet.kubeconfig();
    for user in &mut kubeconfig.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            auth.impersonate = Some("admin".to_string());
        }
    }
    let mode = RequestMode {
        dry_run: false,
        identity: Some(Identity {
            user: "bot".to_string(),
            groups: Vec::new(),
        }),
    };

    let report = cleanup(kubeconfig, mode, false).await;
    assert_eq!(
        report.results[0].error.as_deref(),
        Some(
            "listing pods failed: denied: cluster `sim-1` already impersonates `admin` through \
             its kubeconfig (`as`), so requests cannot also impersonate `bot`: remove one of the two"
        )
    );
    let counts = fleet.counts("sim-1").unwrap();
    assert!(!counts.requests_by_verb.contains_key("list"), "{counts:?}");
    fleet.shutdown().await;
}

#[test]
fn run_lists_writes_and_logs_audit_lines() {
    let component = plugin("pod_cleanup");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            arg(&component),
            "--sim",
            "2",
            "--allow",
            "write",
            "--arg",
            "delete=true",
            "--arg",
            "older-than=1m",
        ];
        args.extend_from_slice(extra);
        lazyhost(&args)
    };

    let output = run(&["--dry-run"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("\n  write: (dry run) delete pods shop/db-migrate: ok\nsim-2 "),
        "{text}"
    );
    assert!(
        text.contains("\ndry run: writes are sent as server-side dry runs, so nothing is stored\n"),
        "{text}"
    );
    let log = stderr(&output);
    let audit = log
        .lines()
        .find(|line| line.contains("lazyhost::audit"))
        .unwrap_or_else(|| panic!("no audit line in: {log}"));
    for field in [
        "plugin=\"pod_cleanup\"",
        "cluster=sim-1",
        "verb=delete",
        "resource=pods",
        "namespace=\"shop\"",
        "name=\"db-migrate\"",
        "dry_run=true",
        "result=\"ok\"",
    ] {
        assert!(audit.contains(field), "{field} missing from {audit}");
    }

    let output = run(&["--as", "bot", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    assert_eq!(document["dry_run"], false);
    assert_eq!(
        document["results"][0]["writes"],
        json!([{
            "cluster": "sim-1",
            "verb": "delete",
            "resource": "pods",
            "namespace": "shop",
            "name": "db-migrate",
            "dry_run": false,
            "result": "error",
            "error": "pods \"db-migrate\" is forbidden: User \"bot\" cannot delete resource \
                      \"pods\" in API group \"\" in the namespace \"shop\"",
        }])
    );
    assert_eq!(document["results"][1]["writes"], json!([]));
}

#[test]
fn impersonated_groups_need_a_user() {
    let component = plugin("pod_cleanup");
    let output = lazyhost(&["run", arg(&component), "--sim", "1", "--as-group", "ops"]);
    assert_eq!(output.status.code(), Some(2), "stdout: {}", stdout(&output));
    assert!(
        stderr(&output).contains(
            "--as-group: group `ops` is impersonated without a user: set the user as well"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn command_line_user_replaces_configured_identity() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(
        &config,
        "[plugins.pod_cleanup]\nallow = [\"write\"]\nas = \"carol\"\n\
         as_groups = [\"system:masters\"]\n",
    )
    .unwrap();
    let component = plugin("pod_cleanup");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            arg(&component),
            "--config",
            arg(&config),
            "--sim",
            "1",
            "--arg",
            "delete=true",
            "--arg",
            "older-than=1m",
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        lazyhost(&args)
    };

    // The configured identity may write.
    let output = run(&[]);
    let text = stdout(&output);
    assert!(
        text.contains("\n  write: (dry run) delete pods shop/db-migrate: ok\n"),
        "{text}"
    );
    assert!(
        text.contains("\nimpersonates: user carol, groups system:masters\n"),
        "{text}"
    );
    assert!(
        stderr(&output).contains("impersonating=\"carol\""),
        "{}",
        stderr(&output)
    );

    // --as picks another user without the configured groups.
    let output = run(&["--as", "dave"]);
    let text = stdout(&output);
    assert!(text.contains("\nimpersonates: user dave\n"), "{text}");
    assert!(
        text.contains(
            "delete pods shop/db-migrate: failed: pods \"db-migrate\" is forbidden: User \"dave\""
        ),
        "{text}"
    );
}
