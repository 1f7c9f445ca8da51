//! The Go plugins: `plugins/node-capacity` and the `templates/go` skeleton,
//! each built with its build.sh (Go's wasip1 port and wasm-tools) and run by
//! the real binary.
//!
//! The expected capacity reports are computed through kube's own client from
//! an in-process fleet whose seed is the same for the same cluster index. A
//! missing toolchain fails these tests with the build.sh message;
//! `scripts/toolchains/go.sh` installs it.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{arg, json, lazyhost, root, stderr};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, PostParams};
use kube::config::KubeConfigOptions;
use kube::{Api, Client, Config};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Clusters of the main run: sim-1 to sim-9 cover the seed variants A to D.
const FLEET_SIZE: usize = 9;

/// The files with hand-written bindings of wit/plugin.wit.
const BINDINGS: [&str; 2] = [
    "plugins/node-capacity/bindings.go",
    "templates/go/bindings.go",
];

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

/// Builds `plugins/node-capacity` once per test binary.
fn node_capacity() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        build(
            &root().join("plugins/node-capacity/build.sh"),
            &root().join("target/plugins-go"),
            "node_capacity.wasm",
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

/// Returns `quantity * scale`, rounded up, for a Kubernetes quantity such as
/// `500m`, `1.5Gi` or `129e6`.
fn scaled_quantity(quantity: &str, scale: i128) -> i64 {
    let split = quantity
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let mut numerator: i128 = format!("{whole}{fraction}").parse().expect(quantity);
    let mut denominator: i128 = 10i128.pow(fraction.len() as u32);
    let (multiplier, divisor): (i128, i128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1_000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        exponent if exponent.starts_with(['e', 'E']) => {
            let power: i32 = exponent[1..].parse().expect(quantity);
            if power >= 0 {
                (10i128.pow(power as u32), 1)
            } else {
                (1, 10i128.pow(power.unsigned_abs()))
            }
        }
        other => panic!("unexpected quantity suffix {other:?} in {quantity}"),
    };
    numerator *= multiplier * scale;
    denominator *= divisor;
    let quotient = numerator.div_euclid(denominator);
    let ceiling = if numerator.rem_euclid(denominator) > 0 {
        quotient + 1
    } else {
        quotient
    };
    i64::try_from(ceiling).expect("the quantity fits in i64")
}

/// CPU in millicores and memory in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Amount {
    cpu: i64,
    memory: i64,
}

impl Amount {
    fn of(
        values: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    ) -> Self {
        let read = |key: &str, scale| {
            values
                .and_then(|values| values.get(key))
                .map_or(0, |quantity| scaled_quantity(&quantity.0, scale))
        };
        Self {
            cpu: read("cpu", 1000),
            memory: read("memory", 1),
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            cpu: self.cpu + other.cpu,
            memory: self.memory + other.memory,
        }
    }

    fn max(self, other: Self) -> Self {
        Self {
            cpu: self.cpu.max(other.cpu),
            memory: self.memory.max(other.memory),
        }
    }
}

/// Returns a pod's effective requests: the larger of the containers plus sidecars
/// and the peak of the init phase, plus the overhead.
fn pod_requests(pod: &Pod) -> Amount {
    let spec = pod.spec.as_ref().expect("pods have a spec");
    let requests = |container: &k8s_openapi::api::core::v1::Container| {
        Amount::of(
            container
                .resources
                .as_ref()
                .and_then(|resources| resources.requests.as_ref()),
        )
    };
    let mut sidecars = Amount::default();
    let mut init_peak = Amount::default();
    for container in spec.init_containers.iter().flatten() {
        if container.restart_policy.as_deref() == Some("Always") {
            sidecars = sidecars.plus(requests(container));
            init_peak = init_peak.max(sidecars);
        } else {
            init_peak = init_peak.max(requests(container).plus(sidecars));
        }
    }
    let containers = spec
        .containers
        .iter()
        .fold(Amount::default(), |sum, container| {
            sum.plus(requests(container))
        });
    containers
        .plus(sidecars)
        .max(init_peak)
        .plus(Amount::of(spec.overhead.as_ref()))
}

/// Allocatable resources, requests and pods of one node or the cluster.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    allocatable: Amount,
    requested: Amount,
    pods: usize,
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// What the plugin should report for one cluster, read through kube.
struct Expected {
    version: String,
    nodes: BTreeMap<String, Usage>,
    total: Usage,
    unscheduled: usize,
}

async fn expected(fleet: &lazyhost::sim::Fleet, cluster: &str) -> Expected {
    let client = kube_client(fleet, cluster).await;
    let version = client
        .apiserver_version()
        .await
        .expect("version")
        .git_version;
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let pods: Api<Pod> = Api::all(client);
    let pods = pods.list(&ListParams::default()).await.expect("list pods");

    let mut usage: BTreeMap<String, Usage> = nodes
        .items
        .iter()
        .map(|node| {
            let allocatable = node
                .status
                .as_ref()
                .and_then(|status| status.allocatable.as_ref());
            let usage = Usage {
                allocatable: Amount::of(allocatable),
                ..Usage::default()
            };
            (node.metadata.name.clone().unwrap(), usage)
        })
        .collect();
    let mut unscheduled = 0;
    for pod in &pods.items {
        let phase = pod
            .status
            .as_ref()
            .and_then(|status| status.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        let node = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref());
        let Some(node) = node.filter(|name| !name.is_empty()) else {
            unscheduled += 1;
            continue;
        };
        let entry = usage
            .get_mut(node)
            .expect("seeded pods run on seeded nodes");
        entry.requested = entry.requested.plus(pod_requests(pod));
        entry.pods += 1;
    }
    let total = usage.values().fold(Usage::default(), |total, node| Usage {
        allocatable: total.allocatable.plus(node.allocatable),
        requested: total.requested.plus(node.requested),
        pods: total.pods + node.pods,
    });
    Expected {
        version,
        nodes: usage,
        total,
        unscheduled,
    }
}

/// Checks the capacity fields of one node or the total against `usage`.
fn check_usage(report: &Value, usage: &Usage, subject: &str) {
    assert_eq!(
        report["cpu_allocatable_millis"], usage.allocatable.cpu,
        "{subject}"
    );
    assert_eq!(
        report["cpu_requests_millis"], usage.requested.cpu,
        "{subject}"
    );
    assert_eq!(
        report["cpu_requests_percent"].as_f64(),
        percent(usage.requested.cpu, usage.allocatable.cpu),
        "{subject}"
    );
    assert_eq!(
        report["memory_allocatable_bytes"], usage.allocatable.memory,
        "{subject}"
    );
    assert_eq!(
        report["memory_requests_bytes"], usage.requested.memory,
        "{subject}"
    );
    assert_eq!(
        report["memory_requests_percent"].as_f64(),
        percent(usage.requested.memory, usage.allocatable.memory),
        "{subject}"
    );
    assert_eq!(report["pods"], usage.pods, "{subject}");
}

/// Checks one cluster's result against `expected`.
fn check_result(result: &Value, cluster: &str, expected: &Expected) {
    assert_eq!(result["cluster"], cluster);
    assert_eq!(result["status"], "ok", "{cluster}: {}", result["error"]);
    let output = &result["output"];
    assert_eq!(output["cluster"], cluster);
    assert_eq!(output["server_version"], expected.version, "{cluster}");
    assert_eq!(
        output["unscheduled_pods"], expected.unscheduled,
        "{cluster}"
    );
    assert_eq!(output["pods_on_unknown_nodes"], 0, "{cluster}");
    assert_eq!(output["lists_recorded"], 1, "{cluster}");
    assert!(
        output["list_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{cluster}: {output}"
    );

    let nodes = output["nodes"].as_array().expect("nodes is a list");
    let names: Vec<&str> = nodes
        .iter()
        .map(|node| node["name"].as_str().unwrap())
        .collect();
    let expected_names: Vec<&str> = expected.nodes.keys().map(String::as_str).collect();
    assert_eq!(names, expected_names, "{cluster}");
    for (node, (name, usage)) in nodes.iter().zip(&expected.nodes) {
        check_usage(node, usage, &format!("{cluster} {name}"));
    }
    check_usage(
        &output["total"],
        &expected.total,
        &format!("{cluster} total"),
    );
    assert_eq!(output["total"]["nodes"], expected.nodes.len(), "{cluster}");

    let format_percent =
        |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.1}%"));
    let total = &expected.total;
    let gibibytes = |bytes: i64| bytes as f64 / (1u64 << 30) as f64;
    let line = format!(
        "{cluster} ({}): {} nodes, CPU {}m of {}m requested ({}), memory {:.1}Gi of {:.1}Gi ({})\n",
        expected.version,
        expected.nodes.len(),
        total.requested.cpu,
        total.allocatable.cpu,
        format_percent(percent(total.requested.cpu, total.allocatable.cpu)),
        gibibytes(total.requested.memory),
        gibibytes(total.allocatable.memory),
        format_percent(percent(total.requested.memory, total.allocatable.memory)),
    );
    assert_eq!(result["stdout"], line, "{cluster}");
}

#[test]
fn scaled_quantity_cases() {
    let cases = [
        ("500m", 1000, 500),
        ("2", 1000, 2000),
        ("1.5", 1000, 1500),
        ("100u", 1000, 1),
        ("1Gi", 1, 1 << 30),
        ("512Mi", 1, 512 << 20),
        ("16290820Ki", 1, 16_290_820 * 1024),
        ("129e6", 1, 129_000_000),
        ("1.5G", 1, 1_500_000_000),
    ];
    for (quantity, scale, expected) in cases {
        assert_eq!(scaled_quantity(quantity, scale), expected, "{quantity}");
    }
}

#[test]
fn go_bindings_match_wit() {
    let wit = std::fs::read(root().join("wit/plugin.wit")).expect("wit/plugin.wit");
    let digest: String = Sha256::digest(&wit)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    for bindings in BINDINGS {
        let text = std::fs::read_to_string(root().join(bindings)).expect(bindings);
        let recorded = text
            .lines()
            .find_map(|line| line.strip_prefix("const witSHA256 = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{bindings} has no line `const witSHA256 = \"...\"`"));
        assert_eq!(
            recorded, digest,
            "wit/plugin.wit changed since {bindings} was written: check the hand-written \
             lowering in {bindings} and the imports in imports.go.in beside it against the \
             new WIT, then set witSHA256 to {digest} in both {:?}",
            BINDINGS
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_capacity_matches_fleet() {
    let component = node_capacity();
    let clusters = FLEET_SIZE.to_string();
    let (code, document) = tokio::task::block_in_place(|| run(component, &["--sim", &clusters]));
    assert_eq!(code, Some(0), "{document}");
    assert_eq!(document["plugin"], "node_capacity");
    let results = document["results"].as_array().expect("results");
    assert_eq!(results.len(), FLEET_SIZE);

    let fleet = common::start_fleet(FLEET_SIZE).await;
    for (index, result) in results.iter().enumerate() {
        let cluster = format!("sim-{}", index + 1);
        let expected = expected(&fleet, &cluster).await;
        check_result(result, &cluster, &expected);
    }
    // sim-1's seeded pods request CPU, so a total of zero would mean the
    // plugin read no pods.
    assert!(results[0]["output"]["total"]["cpu_requests_millis"].as_i64() > Some(0));
}

/// Returns a pod on `node` whose requests need the scheduler's rules: an init
/// container larger than the containers, a sidecar, an overhead, and
/// quantities in several notations.
fn requests_cases_pod(node: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "requests", "namespace": "default"},
        "spec": {
            "nodeName": node,
            "overhead": {"cpu": "10m", "memory": "1Mi"},
            "initContainers": [
                {"name": "sidecar", "image": "proxy:1", "restartPolicy": "Always",
                 "resources": {"requests": {"cpu": "0.1", "memory": "64Mi"}}},
                {"name": "migrate", "image": "migrate:1",
                 "resources": {"requests": {"cpu": "3", "memory": "129e6"}}},
            ],
            "containers": [
                {"name": "app", "image": "app:1",
                 "resources": {"requests": {"cpu": "250m", "memory": "0.5Gi"}}},
                {"name": "helper", "image": "helper:1",
                 "resources": {"requests": {"cpu": "1500u", "memory": "1G"}}},
            ],
        },
    }))
    .expect("the pod is valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_capacity_pages_and_requests() {
    // 1,100 extra objects add 550 pods, so the pod list takes two pages.
    let fleet = lazyhost::sim::Fleet::start(lazyhost::sim::FleetOptions {
        clusters: 1,
        objects: 1100,
        ..lazyhost::sim::FleetOptions::default()
    })
    .await
    .expect("fleet starts");
    let client = kube_client(&fleet, "sim-1").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(&PostParams::default(), &requests_cases_pod(&node))
        .await
        .expect("create the pod");

    let folder = tempfile::tempdir().expect("temporary folder");
    let kubeconfig = folder.path().join("kubeconfig");
    fleet.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let component = node_capacity();
    let (code, document) = tokio::task::block_in_place(|| {
        run(component, &["--kubeconfig", arg(&kubeconfig), "--all"])
    });
    assert_eq!(code, Some(0), "{document}");
    let expected = expected(&fleet, "sim-1").await;
    assert!(expected.total.pods > 500, "{} pods", expected.total.pods);
    check_result(&document["results"][0], "sim-1", &expected);

    // CPU peaks in the init phase: the migration's 3 CPUs beside the
    // sidecar's 100m exceed the containers' 250m + 2m (1500u rounds up)
    // plus the sidecar. Memory peaks in the running phase: 512Mi + 1G + the
    // sidecar's 64Mi. The overhead adds 10m and 1Mi.
    let pod = requests_cases_pod(&node);
    assert_eq!(
        pod_requests(&pod),
        Amount {
            cpu: 3100 + 10,
            memory: (512 << 20) + 1_000_000_000 + (64 << 20) + (1 << 20),
        }
    );
}

#[test]
fn node_capacity_rejects_arguments() {
    let (code, document) = run(node_capacity(), &["--sim", "1", "--arg", "max=3"]);
    assert_eq!(code, Some(1), "{document}");
    let result = &document["results"][0];
    assert_eq!(result["status"], "error");
    assert_eq!(
        result["error"],
        "unknown argument max=\"3\": node-capacity takes no arguments"
    );
}

#[test]
fn build_sh_reports_missing_toolchain() {
    // A PATH with only the commands build.sh needs before its check, a HOME
    // without ~/.cargo/bin, and a toolchains folder without Go or the
    // adapter.
    let empty = tempfile::tempdir().expect("temporary folder");
    let bin = empty.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/dirname", bin.join("dirname")).unwrap();
    let output = Command::new("/bin/bash")
        .arg(root().join("plugins/node-capacity/build.sh"))
        .arg(empty.path().join("out"))
        .env("PATH", &bin)
        .env("HOME", empty.path())
        .env("LAZYHOST_TOOLCHAINS", empty.path())
        .output()
        .expect("bash runs");
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
    let script = root().join("scripts/toolchains/go.sh");
    assert_eq!(
        stderr(&output),
        format!(
            "missing toolchain: go, wasm-tools, the WASI preview 1 reactor adapter; \
             install it with: {}\n",
            script.display()
        )
    );
    assert!(!empty.path().join("out").exists(), "nothing is written");
}

/// Copies `templates/go` into `folder/NAME`, filling in the placeholders.
fn instantiate_template(folder: &Path, name: &str) -> PathBuf {
    let plugin = folder.join(name);
    std::fs::create_dir_all(&plugin).unwrap();
    for entry in std::fs::read_dir(root().join("templates/go")).unwrap() {
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
async fn go_template_counts_pods() {
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
