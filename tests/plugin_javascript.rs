//! The JavaScript plugins: label-policy, built with componentize-js through
//! its build.sh, and the `templates/js` skeleton, run by the real binary
//! against simulated fleets whose objects the tests read through kube.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{arg, json, lazyhost, stderr, stdout};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ListParams;
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Resource};
use lazyhost::sim::Fleet;
use serde_json::Value;

/// Returns the folder the build scripts write the JavaScript components to.
fn out_dir() -> PathBuf {
    common::root().join("target/plugins-javascript")
}

/// Runs a plugin's build.sh into [`out_dir`], failing with its message,
/// such as the missing-toolchain line, when it does not succeed.
fn build(script: &Path, component: &str) -> PathBuf {
    let output = Command::new(script)
        .arg(out_dir())
        .output()
        .expect("build.sh runs");
    assert!(
        output.status.success(),
        "{} failed with {}:\n{}",
        script.display(),
        output.status,
        stderr(&output)
    );
    let path = out_dir().join(format!("{component}.wasm"));
    assert!(path.exists(), "no component at {}", path.display());
    path
}

/// Builds label-policy once per test binary and returns its component.
fn label_policy() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            build(
                &common::root().join("plugins/label-policy/build.sh"),
                "label_policy",
            )
        })
        .clone()
}

/// Copies label-policy and its PLUGIN.toml into `folder`, writes a
/// lazyhost.toml with `section` under `[plugins.label_policy]`, and returns
/// the component's path and the configuration's path.
fn with_manifest(folder: &Path, section: &str) -> (PathBuf, PathBuf) {
    let component = folder.join("label_policy.wasm");
    std::fs::copy(label_policy(), &component).expect("copying the component");
    std::fs::copy(
        common::root().join("plugins/label-policy/PLUGIN.toml"),
        folder.join("PLUGIN.toml"),
    )
    .expect("copying the manifest");
    let config = folder.join("lazyhost.toml");
    std::fs::write(&config, format!("[plugins.label_policy]\n{section}\n"))
        .expect("writing lazyhost.toml");
    (component, config)
}

/// Runs `lazyhost` on a blocking thread, so the in-process fleet keeps
/// serving on the runtime's workers.
async fn run_lazyhost(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lazyhost(&args)
    })
    .await
    .expect("the lazyhost thread finishes")
}

/// Runs the plugin at `component` over every cluster of `kubeconfig` with
/// JSON output, plus `extra` arguments, and returns the report after
/// checking that every cluster succeeded.
async fn run_plugin(component: &Path, kubeconfig: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<String> = ["run", arg(component), "--kubeconfig", arg(kubeconfig)]
        .into_iter()
        .chain(["--all", "-o", "json"])
        .map(String::from)
        .collect();
    args.extend(extra.iter().map(|extra| extra.to_string()));
    let output = run_lazyhost(args).await;
    assert!(
        output.status.success(),
        "lazyhost run failed with {}:\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    json(&output)
}

/// Starts a fleet and writes its kubeconfig into `folder`.
async fn fleet_in(folder: &Path, clusters: usize) -> (Fleet, PathBuf) {
    let fleet = common::start_fleet(clusters).await;
    let kubeconfig = folder.join("kubeconfig");
    fleet
        .write_kubeconfig(&kubeconfig)
        .expect("writing the kubeconfig");
    (fleet, kubeconfig)
}

async fn client(fleet: &Fleet, cluster: &str) -> Client {
    let options = KubeConfigOptions {
        context: Some(cluster.to_string()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .expect("the fleet's kubeconfig is valid");
    Client::try_from(config).expect("the client builds")
}

/// One object of the kinds label-policy checks, as the cluster stores it.
struct Object {
    resource: &'static str,
    namespace: Option<String>,
    name: String,
    labels: std::collections::BTreeMap<String, String>,
}

/// Lists the objects of `K` in every namespace; `None` when the cluster
/// does not serve the resource (404).
async fn list_kind<K>(client: &Client, resource: &'static str) -> Option<Vec<Object>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::all(client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => Some(
            list.items
                .iter()
                .map(|item| object(resource, item.meta()))
                .collect(),
        ),
        Err(kube::Error::Api(status)) if status.code == 404 => None,
        Err(error) => panic!("listing {resource} failed: {error}"),
    }
}

fn object(resource: &'static str, meta: &ObjectMeta) -> Object {
    Object {
        resource,
        namespace: meta.namespace.clone(),
        name: meta.name.clone().expect("objects have names"),
        labels: meta.labels.clone().unwrap_or_default(),
    }
}

/// Lists the objects label-policy checks on one cluster, and returns them
/// with the workload resources the cluster does not serve.
async fn cluster_objects(fleet: &Fleet, cluster: &str) -> (Vec<Object>, Vec<&'static str>) {
    let client = client(fleet, cluster).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut objects: Vec<Object> = namespaces
        .list(&ListParams::default())
        .await
        .expect("listing namespaces")
        .items
        .iter()
        .map(|namespace| object("namespaces", namespace.meta()))
        .collect();
    let mut not_served = Vec::new();
    let workloads = [
        (
            "deployments",
            list_kind::<Deployment>(&client, "deployments").await,
        ),
        (
            "statefulsets",
            list_kind::<StatefulSet>(&client, "statefulsets").await,
        ),
        (
            "daemonsets",
            list_kind::<DaemonSet>(&client, "daemonsets").await,
        ),
    ];
    for (resource, listed) in workloads {
        match listed {
            Some(listed) => objects.extend(listed),
            None => not_served.push(resource),
        }
    }
    (objects, not_served)
}

/// A violation as (resource, namespace, name, missing keys, mismatched
/// keys), the form that both sides of a comparison are brought to.
type Finding = (String, String, String, Vec<String>, Vec<String>);

/// Computes the findings of `required` (key, optional value) over `objects`.
fn expected_findings(objects: &[Object], required: &[(&str, Option<&str>)]) -> BTreeSet<Finding> {
    let mut findings = BTreeSet::new();
    for object in objects {
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        for (key, value) in required {
            match (object.labels.get(*key), value) {
                (None, _) => missing.push(key.to_string()),
                (Some(actual), Some(expected)) if actual != expected => {
                    mismatched.push(key.to_string());
                }
                _ => {}
            }
        }
        if missing.is_empty() && mismatched.is_empty() {
            continue;
        }
        findings.insert((
            object.resource.to_string(),
            object.namespace.clone().unwrap_or_default(),
            object.name.clone(),
            missing,
            mismatched,
        ));
    }
    findings
}

/// Reads the plugin's findings from one cluster's output.
fn reported_findings(output: &Value) -> BTreeSet<Finding> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| {
                item.as_str()
                    .unwrap_or_else(|| item["key"].as_str().unwrap())
                    .to_string()
            })
            .collect()
    };
    output["violations"]
        .as_array()
        .expect("violations is a list")
        .iter()
        .map(|violation| {
            (
                violation["resource"].as_str().unwrap().to_string(),
                violation["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                violation["name"].as_str().unwrap().to_string(),
                strings(&violation["missing"]),
                strings(&violation["mismatched"]),
            )
        })
        .collect()
}

/// Returns the result of `cluster` in a run's report.
fn result_of<'a>(report: &'a Value, cluster: &str) -> &'a Value {
    report["results"]
        .as_array()
        .expect("results is a list")
        .iter()
        .find(|result| result["cluster"] == cluster)
        .unwrap_or_else(|| panic!("no result for {cluster} in {report}"))
}

/// Returns the fix statuses of one cluster's violations.
fn fix_statuses(output: &Value) -> Vec<String> {
    output["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|violation| {
            violation["fix"]["status"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_matches_the_fleet() {
    let folder = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_in(folder.path(), 3).await;
    let component = label_policy();

    let report = run_plugin(&component, &kubeconfig, &["--arg", "labels=app=web,team"]).await;

    let required = [("app", Some("web")), ("team", None)];
    for cluster in fleet.cluster_names() {
        let (objects, not_served) = cluster_objects(&fleet, &cluster).await;
        let expected = expected_findings(&objects, &required);
        assert!(
            !expected.is_empty(),
            "{cluster}: the seed breaks the policy"
        );
        let result = result_of(&report, &cluster);
        let output = &result["output"];
        assert_eq!(reported_findings(output), expected, "{cluster}");
        assert_eq!(
            output["not_served"],
            serde_json::json!(not_served),
            "{cluster}"
        );
        assert_eq!(output["summary"]["objects"], objects.len(), "{cluster}");
        assert_eq!(output["mode"], "report", "{cluster}");
        assert_eq!(result["writes"], serde_json::json!([]), "{cluster}");

        let lines: Vec<&str> = result["stdout"].as_str().unwrap().lines().collect();
        assert_eq!(lines.len(), 1, "{cluster}: {lines:?}");
        let start = format!("{cluster} (v");
        assert!(lines[0].starts_with(&start), "{cluster}: {}", lines[0]);
        let count = format!("{} of {} objects", expected.len(), objects.len());
        assert!(lines[0].contains(&count), "{cluster}: {}", lines[0]);
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_fix_changes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_in(folder.path(), 2).await;
    let component = label_policy();
    let args = [
        "--arg",
        "labels=team",
        "--arg",
        "mode=fix",
        "--arg",
        "default.team=unassigned",
        "--allow",
        "write",
        "--dry-run",
    ];

    let report = run_plugin(&component, &kubeconfig, &args).await;

    assert_eq!(report["dry_run"], true);
    for cluster in fleet.cluster_names() {
        let result = result_of(&report, &cluster);
        let output = &result["output"];
        let statuses = fix_statuses(output);
        assert!(!statuses.is_empty(), "{cluster}: nothing to fix");
        assert!(
            statuses.iter().all(|status| status == "dry-run"),
            "{cluster}: {statuses:?}"
        );
        assert_eq!(output["summary"]["dry-run"], statuses.len(), "{cluster}");

        let writes = result["writes"].as_array().unwrap();
        assert_eq!(writes.len(), statuses.len(), "{cluster}");
        for write in writes {
            assert_eq!(write["verb"], "patch", "{cluster}: {write}");
            assert_eq!(write["dry_run"], true, "{cluster}: {write}");
            assert_eq!(write["result"], "ok", "{cluster}: {write}");
        }

        let (objects, _) = cluster_objects(&fleet, &cluster).await;
        let labelled: Vec<&str> = objects
            .iter()
            .filter(|object| object.labels.contains_key("team"))
            .map(|object| object.name.as_str())
            .collect();
        assert!(
            labelled.is_empty(),
            "{cluster}: a dry run stored labels on {labelled:?}"
        );
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_applies_labels_then_finds_none() {
    let folder = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_in(folder.path(), 2).await;
    // The manifest requests write and lazyhost.toml grants it.
    let (component, config) = with_manifest(folder.path(), "allow = [\"write\"]");
    let fix = [
        "--config",
        arg(&config),
        "--arg",
        "labels=team,owner=platform",
        "--arg",
        "mode=fix",
        "--arg",
        "default.team=unassigned",
    ];

    let report = run_plugin(&component, &kubeconfig, &fix).await;

    assert!(report["manifest"].is_string(), "{}", report["manifest"]);
    let policy = report["policy"].as_str().unwrap();
    assert!(policy.starts_with("read-write"), "{policy}");
    for cluster in fleet.cluster_names() {
        let output = &result_of(&report, &cluster)["output"];
        let statuses = fix_statuses(output);
        assert!(!statuses.is_empty(), "{cluster}: nothing to fix");
        assert!(
            statuses.iter().all(|status| status == "applied"),
            "{cluster}: {statuses:?}"
        );

        let (objects, _) = cluster_objects(&fleet, &cluster).await;
        for object in &objects {
            let labels = &object.labels;
            let name = format!("{} {}", object.resource, object.name);
            assert_eq!(
                labels.get("team").map(String::as_str),
                Some("unassigned"),
                "{name}"
            );
            assert_eq!(
                labels.get("owner").map(String::as_str),
                Some("platform"),
                "{name}"
            );
        }
    }

    let check = ["--arg", "labels=team,owner=platform"];
    let report = run_plugin(&component, &kubeconfig, &check).await;
    for cluster in fleet.cluster_names() {
        let output = &result_of(&report, &cluster)["output"];
        assert_eq!(output["violations"], serde_json::json!([]), "{cluster}");
        assert_eq!(output["summary"]["violations"], 0, "{cluster}");
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_without_grant_reports_denials() {
    let folder = tempfile::tempdir().unwrap();
    let (fleet, kubeconfig) = fleet_in(folder.path(), 2).await;
    // The manifest requests write, but lazyhost.toml does not grant it.
    let (component, config) = with_manifest(folder.path(), "timeout = \"2m\"");
    let fix = [
        "--config",
        arg(&config),
        "--arg",
        "labels=team",
        "--arg",
        "mode=fix",
        "--arg",
        "default.team=unassigned",
    ];

    let report = run_plugin(&component, &kubeconfig, &fix).await;

    assert_eq!(
        report["requested_not_granted"]["allow"],
        serde_json::json!(["write"])
    );
    for cluster in fleet.cluster_names() {
        let result = result_of(&report, &cluster);
        assert_eq!(result["status"], "ok", "{cluster}");
        assert_eq!(result["writes"], serde_json::json!([]), "{cluster}");
        let output = &result["output"];
        let violations = output["violations"].as_array().unwrap();
        assert!(!violations.is_empty(), "{cluster}: nothing to fix");
        for violation in violations {
            assert_eq!(
                violation["fix"]["status"], "denied",
                "{cluster}: {violation}"
            );
            let error = violation["fix"]["error"].as_str().unwrap();
            assert!(error.starts_with("denied: patch "), "{cluster}: {error}");
            assert!(error.contains("--allow write"), "{cluster}: {error}");
        }
        assert_eq!(output["summary"]["denied"], violations.len(), "{cluster}");
        let line = result["stdout"].as_str().unwrap();
        assert!(line.contains("denied"), "{cluster}: {line}");
    }
    fleet.shutdown().await;
}

#[test]
fn fix_without_default_is_an_error() {
    let component = label_policy();
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "-o",
        "json",
        "--arg",
        "labels=team",
        "--arg",
        "mode=fix",
    ]);

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let report = json(&output);
    let error = report["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("--arg default.team=VALUE"), "{error}");
}

/// Fills `template` into `target`, replacing the name placeholders.
fn instantiate(template: &Path, target: &Path, name: &str) {
    std::fs::create_dir_all(target).unwrap();
    for entry in std::fs::read_dir(template).unwrap() {
        let entry = entry.unwrap();
        let destination = target.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            instantiate(&entry.path(), &destination, name);
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text
            .replace("{{name_underscored}}", &name.replace('-', "_"))
            .replace("{{name}}", name);
        std::fs::write(&destination, text).unwrap();
        let permissions = entry.metadata().unwrap().permissions();
        std::fs::set_permissions(&destination, permissions).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_builds_and_counts_pods() {
    // A repository of its own: the template as plugins/js-skeleton beside a
    // link to the real wit/ folder, as `lazyhost new` would lay it out.
    let repository = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::root().join("wit"), repository.path().join("wit")).unwrap();
    let plugin_dir = repository.path().join("plugins/js-skeleton");
    instantiate(
        &common::root().join("templates/js"),
        &plugin_dir,
        "js-skeleton",
    );
    let component =
        tokio::task::spawn_blocking(move || build(&plugin_dir.join("build.sh"), "js_skeleton"))
            .await
            .unwrap();
    let (fleet, kubeconfig) = fleet_in(repository.path(), 2).await;

    let report = run_plugin(&component, &kubeconfig, &[]).await;

    for cluster in fleet.cluster_names() {
        let pods: Api<Pod> = Api::all(client(&fleet, &cluster).await);
        let expected = pods.list(&ListParams::default()).await.unwrap().items.len();
        let output = &result_of(&report, &cluster)["output"];
        assert_eq!(output["cluster"], cluster.as_str());
        assert_eq!(output["pods"], expected, "{cluster}");
    }
    fleet.shutdown().await;
}
