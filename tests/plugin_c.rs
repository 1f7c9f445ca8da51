//! The C plugins: `plugins/image-inventory` and the `templates/c` skeleton,
//! each built with its build.sh (clang, wit-bindgen and wasm-tools) and run
//! by the real binary.
//!
//! The expected inventories are computed through kube's own client from an
//! in-process fleet whose seed is the same for the same cluster index. A
//! missing toolchain fails these tests with the build.sh message;
//! `scripts/toolchains/c.sh` installs it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{arg, json, lazyhost, root, stderr};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{ListParams, PostParams};
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};
use serde_json::{Value, json};

/// Clusters of the main run: sim-1 to sim-9 cover the seed variants A to D.
const FLEET_SIZE: usize = 9;

/// Pods per page of the plugin's raw list, as `PAGE_SIZE` in
/// plugins/image-inventory/src/image_inventory.c sets it.
const PLUGIN_PAGE_SIZE: usize = 500;

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

/// Builds `plugins/image-inventory` once per test binary.
fn image_inventory() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build(
            &root().join("plugins/image-inventory/build.sh"),
            &root().join("target/plugins-c"),
            "image_inventory.wasm",
            &[],
        )
    })
}

/// Runs `component` with `args` after `run COMPONENT` and `-o json`.
fn run(component: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["run", arg(component), "-o", "json"];
    all.extend_from_slice(args);
    let output = lazyhost(&all);
    (output.status.code(), json(&output))
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

/// Splits an image reference into name, tag and digest. A digest follows
/// `@`, and a tag follows a `:` in the last path segment. A reference with
/// neither has the tag `latest`.
fn split_reference(reference: &str) -> (String, Option<String>, Option<String>) {
    let (base, digest) = match reference.split_once('@') {
        Some((base, digest)) => (base, Some(digest.to_string())),
        None => (reference, None),
    };
    let segment_start = base.rfind('/').map_or(0, |slash| slash + 1);
    match base[segment_start..].rfind(':') {
        Some(colon) => {
            let colon = segment_start + colon;
            let tag = base[colon + 1..].to_string();
            (base[..colon].to_string(), Some(tag), digest)
        }
        None if digest.is_none() => (base.to_string(), Some("latest".to_string()), None),
        None => (base.to_string(), None, digest),
    }
}

/// What the plugin should report for one cluster, read through kube.
struct Expected {
    pods: usize,
    containers: usize,
    namespaces: usize,
    images: Vec<Value>,
}

#[derive(Default)]
struct Usage {
    containers: usize,
    pods: BTreeSet<String>,
    namespaces: BTreeSet<String>,
}

async fn expected(fleet: &lazyhost::sim::Fleet, cluster: &str) -> Expected {
    let client = kube_client(fleet, cluster).await;
    let pods: Api<Pod> = Api::all(client.clone());
    let pods = pods.list(&ListParams::default()).await.expect("list pods");
    let namespaces: Api<Namespace> = Api::all(client);
    let namespaces = namespaces
        .list(&ListParams::default())
        .await
        .expect("list namespaces");

    let mut usage: BTreeMap<(String, Option<String>, Option<String>), Usage> = BTreeMap::new();
    let mut containers = 0;
    for pod in &pods.items {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let pod_key = format!("{namespace}/{}", pod.metadata.name.as_deref().unwrap_or(""));
        let spec = pod.spec.as_ref().expect("pods have a spec");
        let all = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers);
        for container in all {
            containers += 1;
            let reference = container
                .image
                .as_deref()
                .expect("containers have an image");
            let entry = usage.entry(split_reference(reference)).or_default();
            entry.containers += 1;
            entry.pods.insert(pod_key.clone());
            entry.namespaces.insert(namespace.clone());
        }
    }
    let images = usage
        .into_iter()
        .map(|((name, tag, digest), usage)| {
            json!({
                "image": name,
                "tag": tag,
                "digest": digest,
                "containers": usage.containers,
                "pods": usage.pods.len(),
                "namespaces": usage.namespaces,
            })
        })
        .collect();
    Expected {
        pods: pods.items.len(),
        containers,
        namespaces: namespaces.items.len(),
        images,
    }
}

/// Checks one cluster's result against `expected`.
fn check_result(result: &Value, cluster: &str, expected: &Expected) {
    assert_eq!(result["cluster"], cluster);
    assert_eq!(result["status"], "ok", "{cluster}: {}", result["error"]);
    let output = &result["output"];
    assert_eq!(output["cluster"], cluster);
    assert_eq!(output["pods"], expected.pods, "{cluster}");
    assert_eq!(output["containers"], expected.containers, "{cluster}");
    assert_eq!(output["namespaces"], expected.namespaces, "{cluster}");
    assert_eq!(output["images"], json!(expected.images), "{cluster}");
    assert_eq!(output["lists_recorded"], 1, "{cluster}");
    assert!(
        output["list_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{cluster}: {output}"
    );
    assert_eq!(
        result["stdout"],
        format!(
            "{cluster}: {} images in {} containers of {} pods\n",
            expected.images.len(),
            expected.containers,
            expected.pods
        ),
        "{cluster}"
    );
}

#[test]
fn split_reference_cases() {
    let cases = [
        ("nginx", ("nginx", Some("latest"), None)),
        ("nginx:1.27.3", ("nginx", Some("1.27.3"), None)),
        (
            "localhost:5000/team/app",
            ("localhost:5000/team/app", Some("latest"), None),
        ),
        (
            "localhost:5000/team/app:2.0",
            ("localhost:5000/team/app", Some("2.0"), None),
        ),
        ("app@sha256:ab", ("app", None, Some("sha256:ab"))),
        ("app:1@sha256:ab", ("app", Some("1"), Some("sha256:ab"))),
    ];
    for (reference, (name, tag, digest)) in cases {
        let expected = (
            name.to_string(),
            tag.map(str::to_string),
            digest.map(str::to_string),
        );
        assert_eq!(split_reference(reference), expected, "{reference}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_inventory_matches_fleet() {
    let component = image_inventory();
    let clusters = FLEET_SIZE.to_string();
    let (code, document) = tokio::task::block_in_place(|| run(component, &["--sim", &clusters]));
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["plugin"], "image_inventory");
    let results = document["results"].as_array().expect("results");
    assert_eq!(results.len(), FLEET_SIZE);

    let fleet = common::start_fleet(FLEET_SIZE).await;
    for (index, result) in results.iter().enumerate() {
        let cluster = format!("sim-{}", index + 1);
        let expected = expected(&fleet, &cluster).await;
        check_result(result, &cluster, &expected);
    }

    // The seed runs nginx:1.27.3 as the three replicas of shop/web on sim-1,
    // and the untagged ghcr.io/example/cart, which reads as `latest`.
    let images = results[0]["output"]["images"].as_array().unwrap();
    let nginx = images
        .iter()
        .find(|image| image["image"] == "nginx")
        .expect("sim-1 runs nginx");
    assert_eq!(nginx["tag"], "1.27.3");
    assert_eq!(nginx["containers"], 3);
    let cart = images
        .iter()
        .find(|image| image["image"] == "ghcr.io/example/cart")
        .expect("sim-1 runs the cart");
    assert_eq!(cart["tag"], "latest");
}

/// Returns a pod whose references cover a digest, a tag with a digest, a
/// registry port and an init container, and which uses one image twice.
fn reference_cases_pod() -> Pod {
    let digest = format!("sha256:{}", "ab".repeat(32));
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "references", "namespace": "default"},
        "spec": {
            "initContainers": [
                {"name": "setup", "image": "localhost:5000/team/setup"},
            ],
            "containers": [
                {"name": "tool", "image": format!("ghcr.io/example/tool@{digest}")},
                {"name": "pinned", "image": format!("localhost:5000/team/setup:2.0@{digest}")},
                {"name": "web", "image": "nginx:1.27.3"},
                {"name": "web-copy", "image": "nginx:1.27.3"},
            ],
        },
    }))
    .expect("the pod is valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_inventory_pages_and_references() {
    // 1,100 extra objects add 550 nginx pods to sim-1's seed, so the plugin
    // reads more than one page.
    let fleet = lazyhost::sim::Fleet::start(lazyhost::sim::FleetOptions {
        clusters: 1,
        objects: 1100,
        ..lazyhost::sim::FleetOptions::default()
    })
    .await
    .expect("fleet starts");
    let client = kube_client(&fleet, "sim-1").await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &reference_cases_pod())
        .await
        .expect("create the pod");

    let folder = tempfile::tempdir().expect("temporary folder");
    let kubeconfig = folder.path().join("kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let component = image_inventory();
    let (code, document) = tokio::task::block_in_place(|| {
        run(component, &["--kubeconfig", arg(&kubeconfig), "--all"])
    });
    assert_eq!(code, Some(0), "{document}");

    let expected = expected(&fleet, "sim-1").await;
    assert!(
        expected.pods > PLUGIN_PAGE_SIZE,
        "the fleet has {} pods, too few for a second page",
        expected.pods
    );
    check_result(&document["results"][0], "sim-1", &expected);

    let images = document["results"][0]["output"]["images"]
        .as_array()
        .unwrap();
    let find = |name: &str, tag: Value| {
        images
            .iter()
            .find(|image| image["image"] == name && image["tag"] == tag)
            .unwrap_or_else(|| panic!("no entry {name} {tag} in {images:?}"))
    };
    let digest = format!("sha256:{}", "ab".repeat(32));
    let tool = find("ghcr.io/example/tool", Value::Null);
    assert_eq!(tool["digest"], digest);
    let pinned = find("localhost:5000/team/setup", json!("2.0"));
    assert_eq!(pinned["digest"], digest);
    let setup = find("localhost:5000/team/setup", json!("latest"));
    assert_eq!(setup["digest"], Value::Null);
    assert_eq!(setup["containers"], 1);
    // The seed's three shop/web replicas, the 550 extra pods, and the two
    // containers of the new pod, which count as one pod.
    let nginx = find("nginx", json!("1.27.3"));
    assert_eq!(nginx["containers"], 3 + 550 + 2);
    assert_eq!(nginx["pods"], 3 + 550 + 1);
}

#[test]
fn image_inventory_rejects_arguments() {
    let (code, document) = run(image_inventory(), &["--sim", "1", "--arg", "max=3"]);
    assert_eq!(code, Some(1), "{document}");
    let result = &document["results"][0];
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["error"],
        "unknown argument max='3': image-inventory takes no arguments"
    );
}

#[test]
fn image_inventory_reports_denied_list() {
    // Limited to one namespace, the plugin may not list pods of every
    // namespace, and the host's error reaches the result.
    let (code, document) = run(
        image_inventory(),
        &["--sim", "1", "--allow-namespace", "shop"],
    );
    assert_eq!(code, Some(1), "{document}");
    let result = &document["results"][0];
    assert_eq!(result["status"], "error");
    let error = result["error"].as_str().expect("an error message");
    assert!(
        error.starts_with("GET /api/v1/pods?limit=500 failed: denied: "),
        "{error}"
    );
}

#[test]
fn build_sh_reports_missing_toolchain() {
    // A PATH with only the commands build.sh needs before its check, a HOME
    // without ~/.cargo/bin, and a toolchains folder without the adapter.
    let empty = tempfile::tempdir().expect("temporary folder");
    let bin = empty.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for command in ["dirname", "sed"] {
        std::os::unix::fs::symlink(format!("/usr/bin/{command}"), bin.join(command)).unwrap();
    }
    let output = Command::new("/bin/bash")
        .arg(root().join("plugins/image-inventory/build.sh"))
        .arg(empty.path().join("out"))
        .env("PATH", &bin)
        .env("HOME", empty.path())
        .env("LAZYHOST_TOOLCHAINS", empty.path())
        .output()
        .expect("bash runs");
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    let script = root().join("scripts/toolchains/c.sh");
    assert_eq!(
        stderr(&output),
        format!(
            "missing toolchain: clang, lld (wasm-ld), wit-bindgen, wasm-tools, \
             the WASI preview 1 reactor adapter; install it with: {}\n",
            script.display()
        )
    );
    assert!(!empty.path().join("out").exists(), "nothing is written");
}

/// Copies `templates/c` into `folder/NAME`, filling in the placeholders in
/// file contents.
fn instantiate_template(folder: &Path, name: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path, name: &str) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target, name);
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let text = text
                .replace("{{name}}", name)
                .replace("{{name_underscored}}", &name.replace('-', "_"));
            std::fs::write(target, text).unwrap();
        }
    }
    let plugin = folder.join(name);
    copy(&root().join("templates/c"), &plugin, name);
    plugin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_template_counts_pods() {
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
    let (code, document) = tokio::task::block_in_place(|| run(&component, &["--sim", "3"]));
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["plugin"], "pod_count");

    let fleet = common::start_fleet(3).await;
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
