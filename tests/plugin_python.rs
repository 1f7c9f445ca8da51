//! The Python plugins: `plugins/rollout-report` and the `templates/python`
//! skeleton, each built with its build.sh (componentize-py) and run by the
//! real binary over `--sim` fleets.
//!
//! The expected reports are computed through kube's own client from an
//! in-process fleet of the same size, whose seed is the same for the same
//! cluster index. A missing componentize-py fails these tests with the
//! build.sh message; `scripts/toolchains/python.sh` installs it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{arg, json, lazyhost, root, stderr};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};
use serde_json::{Value, json};

/// Clusters of the main run: sim-1 to sim-9 cover the seed variants A to D.
const FLEET_SIZE: usize = 9;

/// Maximum time between the fleet's start and the age computed from it, in
/// seconds. The seed dates objects whole hours before the fleet started, so
/// an age is those hours plus the seconds the fleet has been up.
const MAX_SECONDS_SINCE_FLEET_START: i64 = 600;

/// Runs `build_sh OUT_DIR` with `envs` and returns the component it wrote,
/// failing with the script's message (such as a missing toolchain) when it
/// does not exit with 0.
fn build(build_sh: &Path, out_dir: &Path, component: &str, envs: &[(&str, &Path)]) -> PathBuf {
    let output = Command::new("bash")
        .arg(build_sh)
        .arg(out_dir)
        .envs(envs.iter().map(|(key, value)| (*key, *value)))
        .output()
        .expect("bash runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{} failed:\n{}",
        build_sh.display(),
        stderr(&output)
    );
    let path = out_dir.join(component);
    assert!(
        path.exists(),
        "{} wrote no {}",
        build_sh.display(),
        path.display()
    );
    path
}

/// Builds `plugins/rollout-report` once per test binary.
fn rollout_report() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build(
            &root().join("plugins/rollout-report/build.sh"),
            &root().join("target/plugins-python"),
            "rollout_report.wasm",
            &[],
        )
    })
}

/// Runs `component` over a `--sim` fleet of `clusters` with `extra` arguments.
fn run(component: &Path, clusters: usize, extra: &[&str]) -> (Option<i32>, Value) {
    let clusters = clusters.to_string();
    let mut args = vec!["run", arg(component), "--sim", &clusters, "-o", "json"];
    args.extend_from_slice(extra);
    let output = lazyhost(&args);
    (output.status.code(), json(&output))
}

async fn fleet(clusters: usize) -> lazyhost::sim::Fleet {
    common::start_fleet(clusters).await
}

async fn kube_client(fleet: &lazyhost::sim::Fleet, cluster: &str) -> Client {
    let options = KubeConfigOptions {
        context: Some(cluster.to_string()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .expect("the fleet's kubeconfig is valid");
    Client::try_from(config).expect("client builds")
}

/// What the plugin should report for one cluster, read through kube.
struct Expected {
    version: String,
    checked: usize,
    /// Lagging deployments without their age, sorted by namespace and name.
    lagging: Vec<Value>,
    /// Age of each lagging deployment in whole hours, by `namespace/name`.
    age_hours: BTreeMap<String, i64>,
}

async fn expected(
    fleet: &lazyhost::sim::Fleet,
    cluster: &str,
    namespace: Option<&str>,
) -> Expected {
    let client = kube_client(fleet, cluster).await;
    let version = client
        .apiserver_version()
        .await
        .expect("version")
        .git_version;
    let api: Api<Deployment> = match namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let deployments = api.list(&ListParams::default()).await.expect("list");

    let mut lagging = Vec::new();
    let mut age_hours = BTreeMap::new();
    let now = k8s_openapi::jiff::Timestamp::now();
    for deployment in &deployments.items {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|spec| spec.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let available = status.available_replicas.unwrap_or(0);
        if available >= desired {
            continue;
        }
        let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let conditions: BTreeMap<String, Value> = status
            .conditions
            .iter()
            .flatten()
            .map(|condition| {
                let fields = json!({
                    "status": condition.status,
                    "reason": condition.reason,
                    "message": condition.message,
                });
                (condition.type_.clone(), fields)
            })
            .collect();
        let (reason, message) = lag_reason(&conditions);
        lagging.push(json!({
            "namespace": namespace,
            "name": name,
            "desired": desired,
            "available": available,
            "updated": status.updated_replicas.unwrap_or(0),
            "reason": reason,
            "message": message,
            "conditions": conditions,
        }));
        let created = deployment
            .metadata
            .creation_timestamp
            .as_ref()
            .expect("seeded objects have a creationTimestamp")
            .0;
        let age_seconds = now.as_second() - created.as_second();
        age_hours.insert(format!("{namespace}/{name}"), age_seconds / 3600);
    }
    lagging.sort_by_key(|entry| (entry["namespace"].to_string(), entry["name"].to_string()));
    Expected {
        version,
        checked: deployments.items.len(),
        lagging,
        age_hours,
    }
}

/// Returns the reason and message of the condition that explains a lag. That
/// is Progressing, then Available, whose status is not True, else
/// Progressing, else Available.
fn lag_reason(conditions: &BTreeMap<String, Value>) -> (Value, Value) {
    let not_true = ["Progressing", "Available"]
        .iter()
        .filter_map(|kind| conditions.get(*kind))
        .find(|condition| condition["status"] != "True");
    let chosen = not_true
        .or_else(|| conditions.get("Progressing"))
        .or_else(|| conditions.get("Available"));
    match chosen {
        Some(condition) => (condition["reason"].clone(), condition["message"].clone()),
        None => (
            json!("Unknown"),
            json!("the deployment reports no Progressing or Available condition"),
        ),
    }
}

/// Checks one cluster's result against `expected`, age included.
fn check_result(result: &Value, cluster: &str, namespace: Option<&str>, expected: &Expected) {
    assert_eq!(result["cluster"], cluster);
    assert_eq!(result["status"], "ok", "{cluster}: {}", result["error"]);
    let output = &result["output"];
    assert_eq!(output["cluster"], cluster);
    assert_eq!(output["server_version"], expected.version, "{cluster}");
    assert_eq!(output["namespace"], json!(namespace), "{cluster}");
    assert_eq!(output["deployments_checked"], expected.checked, "{cluster}");
    assert_eq!(output["lists_recorded"], 1, "{cluster}");
    assert!(
        output["list_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{cluster}: {output}"
    );

    let lagging = output["lagging"].as_array().expect("lagging is a list");
    let without_age: Vec<Value> = lagging
        .iter()
        .map(|entry| {
            let mut entry = entry.clone();
            let fields = entry.as_object_mut().expect("entries are objects");
            fields.remove("age");
            fields.remove("age_seconds");
            entry
        })
        .collect();
    assert_eq!(without_age, expected.lagging, "{cluster}");

    for entry in lagging {
        let key = format!(
            "{}/{}",
            entry["namespace"].as_str().unwrap(),
            entry["name"].as_str().unwrap()
        );
        let hours = expected.age_hours[&key];
        let seconds = entry["age_seconds"]
            .as_i64()
            .expect("age_seconds is a number");
        assert!(
            (hours * 3600..hours * 3600 + MAX_SECONDS_SINCE_FLEET_START).contains(&seconds),
            "{cluster} {key}: age {seconds}s, expected {hours}h plus the seconds since the fleet started"
        );
        assert_eq!(entry["age"], format!("{}d", hours / 24), "{cluster} {key}");
    }

    let mut line = format!(
        "{cluster} ({}): {} deployments, {} lagging",
        expected.version,
        expected.checked,
        expected.lagging.len()
    );
    let named: Vec<String> = expected
        .lagging
        .iter()
        .map(|entry| {
            format!(
                "{}/{} {}/{} ({})",
                entry["namespace"].as_str().unwrap(),
                entry["name"].as_str().unwrap(),
                entry["available"],
                entry["desired"],
                entry["reason"].as_str().unwrap()
            )
        })
        .collect();
    if !named.is_empty() {
        line = format!("{line}: {}", named.join(", "));
    }
    assert_eq!(result["stdout"], format!("{line}\n"), "{cluster}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_report_matches_fleet() {
    let component = rollout_report();
    let (code, document) = tokio::task::block_in_place(|| run(component, FLEET_SIZE, &[]));
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["plugin"], "rollout_report");
    let results = document["results"].as_array().expect("results");
    assert_eq!(results.len(), FLEET_SIZE);

    let fleet = fleet(FLEET_SIZE).await;
    let mut lagging_total = 0;
    for (index, result) in results.iter().enumerate() {
        let cluster = format!("sim-{}", index + 1);
        let expected = expected(&fleet, &cluster, None).await;
        lagging_total += expected.lagging.len();
        check_result(result, &cluster, None, &expected);
    }

    // The seed gives each cluster with workloads one deployment short of its
    // replicas (shop/cart, payments/worker or analytics/ingest), and the
    // clusters of variant D (sim-6, sim-9) none.
    assert_eq!(lagging_total, 7);
    let sim_1 = &results[0]["output"]["lagging"][0];
    assert_eq!(sim_1["namespace"], "shop");
    assert_eq!(sim_1["name"], "cart");
    assert_eq!(sim_1["reason"], "ProgressDeadlineExceeded");
    assert_eq!(results[5]["output"]["deployments_checked"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_report_namespace_argument() {
    let component = rollout_report();
    let (code, document) =
        tokio::task::block_in_place(|| run(component, 3, &["--arg", "namespace=shop"]));
    assert_eq!(code, Some(0), "{document}");

    let fleet = fleet(3).await;
    for (index, result) in document["results"]
        .as_array()
        .expect("results")
        .iter()
        .enumerate()
    {
        let cluster = format!("sim-{}", index + 1);
        let expected = expected(&fleet, &cluster, Some("shop")).await;
        check_result(result, &cluster, Some("shop"), &expected);
    }
    assert_eq!(
        document["results"][0]["output"]["lagging"][0]["name"],
        "cart"
    );
    assert_eq!(document["results"][1]["output"]["lagging"], json!([]));
}

#[test]
fn rollout_report_rejects_unknown_argument() {
    let (code, document) = run(rollout_report(), 1, &["--arg", "max=3"]);
    assert_eq!(code, Some(1), "{document}");
    let result = &document["results"][0];
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["error"],
        "unknown argument max='3': the only argument is namespace=NAME"
    );
}

#[test]
fn build_sh_reports_missing_toolchain() {
    // A PATH with only `dirname`, which build.sh needs before its check, and
    // a toolchains folder without the Python environment.
    let empty = tempfile::tempdir().expect("temporary folder");
    let bin = empty.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/dirname", bin.join("dirname")).unwrap();
    let output = Command::new("/bin/bash")
        .arg(root().join("plugins/rollout-report/build.sh"))
        .arg(empty.path().join("out"))
        .env("PATH", &bin)
        .env("LAZYHOST_TOOLCHAINS", empty.path())
        .output()
        .expect("bash runs");
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    let message = stderr(&output);
    let script = root().join("scripts/toolchains/python.sh");
    assert_eq!(
        message,
        format!(
            "missing toolchain: componentize-py; install it with: {}\n",
            script.display()
        )
    );
    assert!(!empty.path().join("out").exists(), "nothing is written");
}

/// Copies `templates/python` into `folder/NAME`, filling in the placeholders.
fn instantiate_template(folder: &Path, name: &str) -> PathBuf {
    let plugin = folder.join(name);
    std::fs::create_dir_all(&plugin).unwrap();
    for entry in std::fs::read_dir(root().join("templates/python")).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text
            .replace("{{name}}", name)
            .replace("{{name_underscored}}", &name.replace('-', "_"));
        std::fs::write(plugin.join(entry.file_name()), text).unwrap();
    }
    plugin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_template_counts_pods() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let plugin = instantiate_template(folder.path(), "pod-count");
    let component = tokio::task::block_in_place(|| {
        build(
            &plugin.join("build.sh"),
            &folder.path().join("out"),
            "pod_count.wasm",
            &[("LAZYHOST_WIT", &root().join("wit"))],
        )
    });
    let (code, document) = tokio::task::block_in_place(|| run(&component, 3, &[]));
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["plugin"], "pod_count");

    let fleet = fleet(3).await;
    for (index, result) in document["results"]
        .as_array()
        .expect("results")
        .iter()
        .enumerate()
    {
        let cluster = format!("sim-{}", index + 1);
        let pods: Api<Pod> = Api::all(kube_client(&fleet, &cluster).await);
        let count = pods
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .len();
        assert_eq!(result["status"], "ok", "{cluster}: {}", result["error"]);
        assert_eq!(result["output"], json!({"cluster": cluster, "pods": count}));
        assert_eq!(result["stdout"], format!("{cluster}: {count} pods\n"));
    }
}
