//! Runs the real kubectl against `lazyhost sim` and checks its output.
//!
//! Each test starts its own fleet of two clusters through the `lazyhost` binary,
//! with kubectl's cache and home in a temporary folder, and compares kubectl's
//! output with literal text taken from the seeded data of `sim-1` and `sim-2`.
//! kubectl on these machines dispatches to the bundled kubectl that matches the
//! server's minor version, so these tests exercise kubectl 1.32.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the fleet may take to write its kubeconfig.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A `lazyhost sim` child process, killed when dropped so a failed assert cannot leak it.
struct SimFleet {
    child: Child,
    folder: tempfile::TempDir,
}

impl SimFleet {
    /// Starts `lazyhost sim --clusters 2` and waits for its kubeconfig.
    fn start() -> SimFleet {
        let folder = tempfile::tempdir().expect("temporary folder");
        let log = std::fs::File::create(folder.path().join("sim.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_lazyhost"))
            .args(["sim", "--clusters", "2", "--kubeconfig-out"])
            .arg(folder.path().join("kubeconfig"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("failed to start lazyhost sim");
        let fleet = SimFleet { child, folder };
        fleet.wait_for_kubeconfig();
        fleet
    }

    fn kubeconfig(&self) -> PathBuf {
        self.folder.path().join("kubeconfig")
    }

    fn wait_for_kubeconfig(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.kubeconfig().exists() {
            assert!(
                Instant::now() < deadline,
                "lazyhost sim wrote no kubeconfig within {START_TIMEOUT:?}; its log:\n{}",
                std::fs::read_to_string(self.folder.path().join("sim.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs kubectl against `context` with a private cache and home folder.
    fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        let home = self.folder.path().join("home");
        std::fs::create_dir_all(&home).expect("home folder");
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(["--context", context])
            .args(args)
            .env("KUBECACHEDIR", self.folder.path().join("cache"))
            .env("HOME", &home)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("failed to run kubectl")
    }

    /// Runs kubectl against `sim-1` and returns stdout, failing the test on a non-zero exit.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_in("sim-1", args)
    }

    fn ok_in(&self, context: &str, args: &[&str]) -> String {
        let output = self.kubectl(context, args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
    }

    /// Runs kubectl against `sim-1`, expects a failure and returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.kubectl("sim-1", args);
        assert!(
            !output.status.success(),
            "kubectl {args:?} succeeded: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).expect("kubectl prints UTF-8")
    }

    fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.folder.path().join(name);
        std::fs::write(&path, contents).expect("write manifest");
        path
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        // Killing by the child's own handle targets exactly the process this test started.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

const SETTINGS_CONFIG_MAP: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
";

#[test]
fn version_server_line() {
    let fleet = SimFleet::start();
    let output = fleet.ok(&["version"]);
    assert!(
        output.lines().any(|line| line == "Server Version: v1.32.4"),
        "{output}"
    );
}

#[test]
fn get_namespaces() {
    let fleet = SimFleet::start();
    let expected = "\
NAME          STATUS   AGE
default       Active   30d
kube-system   Active   30d
payments      Active   20d
shop          Active   20d
";
    assert_eq!(fleet.ok(&["get", "ns"]), expected);
}

#[test]
fn get_pods_all_namespaces() {
    let fleet = SimFleet::start();
    let expected = "\
NAMESPACE     NAME                       READY   STATUS             RESTARTS      AGE
kube-system   coredns-fc8v47xxxt-6qq7n   1/1     Running            0             9d
kube-system   coredns-fc8v47xxxt-g7s4s   1/1     Running            0             9d
payments      api-vgc7gtp57v-5wscw       1/1     Running            0             9d
payments      api-vgc7gtp57v-fdw82       1/1     Running            0             9d
payments      worker-bgzvhgnsb4-hkjfm    1/1     Running            0             9d
shop          cart-qznrrdsvs8-jwdhg      0/1     CrashLoopBackOff   7 (10h ago)   26h
shop          cart-qznrrdsvs8-schdl      1/1     Running            0             9d
shop          db-migrate                 0/1     Error              0             2d
shop          web-fsh4hgss44-7qvlb       1/1     Running            0             9d
shop          web-fsh4hgss44-h7xhg       1/1     Running            0             9d
shop          web-fsh4hgss44-lwpsz       1/1     Running            0             9d
";
    assert_eq!(fleet.ok(&["get", "pods", "-A"]), expected);
}

#[test]
fn get_pods_second_cluster() {
    let fleet = SimFleet::start();
    let output = fleet.ok_in("sim-2", &["get", "pods", "-n", "payments"]);
    let expected = "\
NAME                      READY   STATUS    RESTARTS   AGE
api-vgc7gtp57v-5wscw      1/1     Running   0          9d
api-vgc7gtp57v-fdw82      1/1     Running   0          9d
worker-bgzvhgnsb4-hkjfm   0/1     Pending   0          12h
";
    assert_eq!(output, expected);
}

#[test]
fn get_pods_label_selector() {
    let fleet = SimFleet::start();
    let expected = "\
NAME                   READY   STATUS    RESTARTS   AGE
web-fsh4hgss44-7qvlb   1/1     Running   0          9d
web-fsh4hgss44-h7xhg   1/1     Running   0          9d
web-fsh4hgss44-lwpsz   1/1     Running   0          9d
";
    assert_eq!(
        fleet.ok(&["get", "pods", "-n", "shop", "-l", "app=web"]),
        expected
    );
}

#[test]
fn get_pods_field_selector() {
    let fleet = SimFleet::start();
    let args = [
        "get",
        "pods",
        "-A",
        "--field-selector",
        "status.phase=Failed",
        "-o",
        "name",
    ];
    assert_eq!(fleet.ok(&args), "pod/db-migrate\n");

    let args = ["get", "pods", "-A", "--field-selector", "spec.host=x"];
    let error = fleet.fails(&args);
    assert!(
        error.contains("field label not supported: spec.host"),
        "{error}"
    );
}

#[test]
fn get_pods_chunked() {
    let fleet = SimFleet::start();
    let whole = fleet.ok(&["get", "pods", "-A", "-o", "name"]);
    let chunked = fleet.ok(&["get", "pods", "-A", "-o", "name", "--chunk-size", "3"]);
    assert_eq!(whole.lines().count(), 11);
    assert_eq!(chunked, whole);
}

#[test]
fn get_deployments_json() {
    let fleet = SimFleet::start();
    let output = fleet.ok(&["get", "deploy", "-n", "shop", "-o", "json"]);
    let list: Value = serde_json::from_str(&output).expect("kubectl prints JSON");
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().expect("items");
    let names: Vec<&str> = items
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cart", "web"]);

    let cart = &items[0];
    assert_eq!(cart["apiVersion"], "apps/v1");
    assert_eq!(cart["kind"], "Deployment");
    assert_eq!(cart["spec"]["replicas"], 2);
    assert_eq!(cart["status"]["availableReplicas"], 1);
    assert_eq!(cart["status"]["unavailableReplicas"], 1);
    assert_eq!(cart["status"]["conditions"][0]["type"], "Available");
    assert_eq!(cart["status"]["conditions"][0]["status"], "False");
    let cart_container = &cart["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(cart_container["image"], "ghcr.io/example/cart");
    assert_eq!(cart_container["resources"], serde_json::json!({}));

    let web = &items[1];
    let web_container = &web["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(web_container["image"], "nginx:1.27.3");
    assert_eq!(web_container["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(web["status"]["readyReplicas"], 3);
    assert_eq!(web["metadata"]["generation"], 1);
}

#[test]
fn get_pod_yaml() {
    let fleet = SimFleet::start();
    let output = fleet.ok(&[
        "get",
        "pod",
        "cart-qznrrdsvs8-jwdhg",
        "-n",
        "shop",
        "-o",
        "yaml",
    ]);
    let pod: Value = serde_yaml::from_str(&output).expect("kubectl prints YAML");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["namespace"], "shop");
    assert_eq!(pod["metadata"]["labels"]["app"], "cart");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    assert_eq!(
        pod["metadata"]["ownerReferences"][0]["name"],
        "cart-qznrrdsvs8"
    );
    assert_eq!(pod["spec"]["nodeName"], "sim-1-worker-1");
    assert_eq!(pod["status"]["phase"], "Running");
    let status = &pod["status"]["containerStatuses"][0];
    assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(status["restartCount"], 7);
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 1);
    assert!(output.contains("\n  phase: Running\n"), "{output}");
}

#[test]
fn create_config_map_twice() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file("settings.yaml", SETTINGS_CONFIG_MAP);
    let created = fleet.ok(&["create", "-f", path_arg(&manifest)]);
    assert_eq!(created, "configmap/settings created\n");

    let data = fleet.ok(&[
        "get",
        "cm",
        "settings",
        "-n",
        "shop",
        "-o",
        "jsonpath={.data.color}",
    ]);
    assert_eq!(data, "blue");

    let error = fleet.fails(&["create", "-f", path_arg(&manifest)]);
    let expected = format!(
        "Error from server (AlreadyExists): error when creating \"{}\": configmaps \"settings\" already exists\n",
        manifest.display()
    );
    assert_eq!(error, expected);
}

#[test]
fn delete_config_map() {
    let fleet = SimFleet::start();
    let deleted = fleet.ok(&["delete", "cm", "web-config", "-n", "shop"]);
    assert_eq!(deleted, "configmap \"web-config\" deleted\n");

    let error = fleet.fails(&["get", "cm", "web-config", "-n", "shop"]);
    assert_eq!(
        error,
        "Error from server (NotFound): configmaps \"web-config\" not found\n"
    );
}

#[test]
fn api_resources_table() {
    let fleet = SimFleet::start();
    let expected = "\
NAME          SHORTNAMES   APIVERSION   NAMESPACED   KIND
configmaps    cm           v1           true         ConfigMap
namespaces    ns           v1           false        Namespace
nodes         no           v1           false        Node
pods          po           v1           true         Pod
secrets                    v1           true         Secret
services      svc          v1           true         Service
deployments   deploy       apps/v1      true         Deployment
replicasets   rs           apps/v1      true         ReplicaSet
";
    assert_eq!(fleet.ok(&["api-resources"]), expected);
}

#[test]
fn bad_token_unauthorized() {
    let fleet = SimFleet::start();
    let args = ["get", "pods", "-A", "--token", "not-the-token"];

    // With no discovery cache, kubectl fails during discovery and logs each retry first.
    let cold = fleet.fails(&args);
    assert_eq!(
        cold.lines().last(),
        Some(
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
        ),
        "{cold}"
    );

    // With discovery cached from a valid request, the list request itself is rejected.
    fleet.ok(&["get", "ns"]);
    let warm = fleet.fails(&args);
    assert_eq!(
        warm,
        "error: You must be logged in to the server (Unauthorized)\n"
    );
}

#[test]
fn missing_pod_not_found() {
    let fleet = SimFleet::start();
    let error = fleet.fails(&["get", "pod", "nope", "-n", "shop"]);
    assert_eq!(
        error,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
}

#[test]
fn invalid_name_rejected() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n",
    );
    let error = fleet.fails(&["create", "-f", path_arg(&manifest)]);
    let expected = "The ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": \
a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
and must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')\n";
    assert_eq!(error, expected);
}

#[test]
fn missing_namespace_not_found() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file(
        "elsewhere.yaml",
        &SETTINGS_CONFIG_MAP.replace("namespace: shop", "namespace: nowhere"),
    );
    let error = fleet.fails(&["create", "-f", path_arg(&manifest)]);
    assert!(
        error.contains("namespaces \"nowhere\" not found"),
        "{error}"
    );
}
