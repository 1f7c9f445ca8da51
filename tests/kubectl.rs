//! Runs the real kubectl against `lazyhost sim` and checks its output.
//!
//! Each test starts its own fleet of four clusters through the `lazyhost` binary,
//! with kubectl's cache and home in a temporary folder, and compares kubectl's
//! output with literal text taken from the seeded data of `sim-1`, `sim-2` and
//! `sim-4`. kubectl on these machines dispatches to the bundled kubectl that
//! matches the server's minor version, so these tests exercise kubectl 1.32
//! (`sim-1` to `sim-3`) and kubectl 1.31 (`sim-4`).

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
    /// Starts `lazyhost sim --clusters 4` and waits for its kubeconfig.
    fn start() -> SimFleet {
        Self::start_with(&[])
    }

    /// Starts `lazyhost sim --clusters 4` with the extra options `options` and
    /// waits for its kubeconfig.
    fn start_with(options: &[&str]) -> SimFleet {
        let folder = tempfile::tempdir().expect("temporary folder");
        let log = std::fs::File::create(folder.path().join("sim.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_lazyhost"))
            .args(["sim", "--clusters", "4"])
            .args(options)
            .arg("--kubeconfig-out")
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

    /// Builds a kubectl command against `context` with a private cache and home folder.
    fn command(&self, context: &str, args: &[&str]) -> Command {
        let home = self.folder.path().join("home");
        std::fs::create_dir_all(&home).expect("home folder");
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(["--context", context])
            .args(args)
            .env("KUBECACHEDIR", self.folder.path().join("cache"))
            .env("HOME", &home)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null());
        command
    }

    /// Runs kubectl against `context` and returns its output.
    fn kubectl(&self, context: &str, args: &[&str]) -> Output {
        self.command(context, args)
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
        self.fails_in("sim-1", args)
    }

    fn fails_in(&self, context: &str, args: &[&str]) -> String {
        let output = self.kubectl(context, args);
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
NAME                        SHORTNAMES   APIVERSION                NAMESPACED   KIND
configmaps                  cm           v1                        true         ConfigMap
namespaces                  ns           v1                        false        Namespace
nodes                       no           v1                        false        Node
pods                        po           v1                        true         Pod
secrets                                  v1                        true         Secret
services                    svc          v1                        true         Service
customresourcedefinitions   crd,crds     apiextensions.k8s.io/v1   false        CustomResourceDefinition
deployments                 deploy       apps/v1                   true         Deployment
replicasets                 rs           apps/v1                   true         ReplicaSet
";
    assert_eq!(fleet.ok_in("sim-2", &["api-resources"]), expected);
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
fn client_certificate_authenticates() {
    let fleet = SimFleet::start_with(&["--auth", "cert"]);
    let kubeconfig = std::fs::read_to_string(fleet.kubeconfig()).expect("kubeconfig is readable");
    assert!(
        kubeconfig.contains("client-certificate-data: "),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains("client-key-data: "), "{kubeconfig}");
    assert!(!kubeconfig.contains("token: "), "{kubeconfig}");

    let namespaces = fleet.ok(&["get", "ns", "-o", "name"]);
    assert_eq!(
        namespaces,
        "namespace/default\nnamespace/kube-system\nnamespace/payments\nnamespace/shop\n"
    );
    let output = fleet.ok_in("sim-2", &["get", "pods", "-n", "payments", "-o", "name"]);
    assert!(output.starts_with("pod/api-"), "{output}");
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

/// Clusters of two minor versions: `sim-1` runs v1.32.4 and `sim-4` v1.31.6.
const TWO_VERSIONS: [&str; 2] = ["sim-1", "sim-4"];

const SHOP_API_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-api
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: shop-api
  template:
    metadata:
      labels:
        app: shop-api
    spec:
      containers:
      - name: api
        image: nginx:1.27.3
        ports:
        - containerPort: 80
";

const DELTA_WIDGET: &str = "\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: delta
  namespace: shop
spec:
  size: 2
  color: black
";

/// Replaces the AGE cell at the end of a table row with `<age>` when it is a
/// number of seconds, since rows of new objects age while the test runs.
fn mask_seconds_age(line: &str) -> String {
    match line.rsplit_once(' ') {
        Some((head, age)) if age.ends_with('s') && age[..age.len() - 1].parse::<u32>().is_ok() => {
            format!("{head} <age>")
        }
        _ => line.to_string(),
    }
}

#[test]
fn version_per_cluster() {
    let fleet = SimFleet::start();
    for (context, expected) in [
        ("sim-2", "Server Version: v1.32.4"),
        ("sim-4", "Server Version: v1.31.6"),
    ] {
        let output = fleet.ok_in(context, &["version"]);
        assert!(
            output.lines().any(|line| line == expected),
            "{context}: {output}"
        );
    }
}

#[test]
fn get_watch_until_timeout() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file("settings.yaml", SETTINGS_CONFIG_MAP);
    for context in TWO_VERSIONS {
        let watch = fleet
            .command(
                context,
                &[
                    "get",
                    "cm",
                    "-n",
                    "shop",
                    "-w",
                    "--output-watch-events",
                    "--request-timeout=4s",
                ],
            )
            .stdout(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        std::thread::sleep(Duration::from_millis(1500));
        fleet.ok_in(context, &["apply", "-f", path_arg(&manifest)]);
        fleet.ok_in(
            context,
            &[
                "patch",
                "cm",
                "settings",
                "-n",
                "shop",
                "-p",
                r#"{"data":{"size":"L"}}"#,
            ],
        );
        fleet.ok_in(context, &["delete", "cm", "settings", "-n", "shop"]);
        let output = watch
            .wait_with_output()
            .expect("kubectl exits at the timeout");
        assert!(output.status.success(), "{context}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<String> = text.lines().map(mask_seconds_age).collect();
        let expected = [
            "EVENT      NAME         DATA   AGE",
            "ADDED      web-config   2      15d",
            "ADDED      settings     1      <age>",
            "MODIFIED   settings     2      <age>",
            "DELETED    settings     2      <age>",
        ];
        assert_eq!(lines, expected, "{context}");
    }
}

#[test]
fn apply_twice_then_change() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file("shop-api.yaml", SHOP_API_DEPLOYMENT);
    let changed = fleet.write_file(
        "shop-api-changed.yaml",
        &SHOP_API_DEPLOYMENT.replace("nginx:1.27.3", "nginx:1.28.0"),
    );
    let generation = [
        "get",
        "deploy",
        "shop-api",
        "-n",
        "shop",
        "-o",
        "jsonpath={.metadata.generation} {.spec.template.spec.containers[0].image}",
    ];
    for context in TWO_VERSIONS {
        let apply = |path: &PathBuf| fleet.ok_in(context, &["apply", "-f", path_arg(path)]);
        assert_eq!(
            apply(&manifest),
            "deployment.apps/shop-api created\n",
            "{context}"
        );
        assert_eq!(
            apply(&manifest),
            "deployment.apps/shop-api unchanged\n",
            "{context}"
        );
        assert_eq!(
            fleet.ok_in(context, &generation),
            "1 nginx:1.27.3",
            "{context}"
        );
        assert_eq!(
            apply(&changed),
            "deployment.apps/shop-api configured\n",
            "{context}"
        );
        assert_eq!(
            fleet.ok_in(context, &generation),
            "2 nginx:1.28.0",
            "{context}"
        );
        let labeled = fleet.ok_in(
            context,
            &["label", "deploy", "shop-api", "-n", "shop", "team=web"],
        );
        assert_eq!(labeled, "deployment.apps/shop-api labeled\n", "{context}");
        assert_eq!(
            fleet.ok_in(context, &generation),
            "2 nginx:1.28.0",
            "{context}"
        );
    }
}

#[test]
fn server_side_apply_conflict_and_force() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file("settings.yaml", SETTINGS_CONFIG_MAP);
    let red = fleet.write_file(
        "settings-red.yaml",
        &SETTINGS_CONFIG_MAP.replace("blue", "red"),
    );
    for context in TWO_VERSIONS {
        let apply = ["apply", "--server-side", "-f", path_arg(&manifest)];
        assert_eq!(
            fleet.ok_in(context, &apply),
            "configmap/settings serverside-applied\n",
            "{context}"
        );
        assert_eq!(
            fleet.ok_in(context, &apply),
            "configmap/settings serverside-applied\n",
            "{context}"
        );

        let other = [
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            path_arg(&red),
        ];
        let error = fleet.fails_in(context, &other);
        assert_eq!(
            error.lines().next(),
            Some("error: Apply failed with 1 conflict: conflict with \"kubectl\": .data.color"),
            "{context}: {error}"
        );
        let forced = [&other[..], &["--force-conflicts"]].concat();
        assert_eq!(
            fleet.ok_in(context, &forced),
            "configmap/settings serverside-applied\n",
            "{context}"
        );
        let color = fleet.ok_in(
            context,
            &[
                "get",
                "cm",
                "settings",
                "-n",
                "shop",
                "-o",
                "jsonpath={.data.color} {.metadata.managedFields[*].manager}",
            ],
        );
        assert_eq!(color, "red other", "{context}");
    }
}

#[test]
fn patch_strategic_directives() {
    let fleet = SimFleet::start();
    let env = r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"name":"web","env":[{"name":"MODE","value":"prod"},{"name":"DEBUG","value":"1"}]}]}}}}"#;
    let remove = r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"DEBUG","$patch":"delete"}]}]}}}}"#;
    let show = [
        "get",
        "deploy",
        "web",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[*].name}",
    ];
    for context in TWO_VERSIONS {
        let patched = fleet.ok_in(
            context,
            &[
                "patch",
                "deploy",
                "web",
                "-n",
                "shop",
                "--type",
                "strategic",
                "-p",
                env,
            ],
        );
        assert_eq!(patched, "deployment.apps/web patched\n", "{context}");
        assert_eq!(
            fleet.ok_in(context, &show),
            "nginx:1.27.3 MODE DEBUG",
            "{context}"
        );
        fleet.ok_in(
            context,
            &[
                "patch",
                "deploy",
                "web",
                "-n",
                "shop",
                "--type",
                "strategic",
                "-p",
                remove,
            ],
        );
        assert_eq!(
            fleet.ok_in(context, &show),
            "nginx:1.27.3 MODE",
            "{context}"
        );
    }
    let widget_patch = [
        "patch",
        "wg",
        "alpha",
        "-n",
        "shop",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"size":4}}"#,
    ];
    let error = fleet.fails(&widget_patch);
    assert!(
        error.ends_with("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got \"application/strategic-merge-patch+json\"\n"),
        "{error}"
    );
}

#[test]
fn replace_stale_version_conflicts() {
    let fleet = SimFleet::start();
    for context in TWO_VERSIONS {
        let stale = fleet.ok_in(
            context,
            &["get", "cm", "web-config", "-n", "shop", "-o", "yaml"],
        );
        let manifest = fleet.write_file(&format!("stale-{context}.yaml"), &stale);
        fleet.ok_in(
            context,
            &["label", "cm", "web-config", "-n", "shop", "edited=yes"],
        );
        let error = fleet.fails_in(context, &["replace", "-f", path_arg(&manifest)]);
        let expected = format!(
            "Error from server (Conflict): error when replacing \"{}\": Operation cannot be fulfilled on configmaps \"web-config\": the object has been modified; please apply your changes to the latest version and try again\n",
            manifest.display()
        );
        assert_eq!(error, expected, "{context}");
    }
}

#[test]
fn dry_run_server_stores_nothing() {
    let fleet = SimFleet::start();
    let manifest = fleet.write_file("settings.yaml", SETTINGS_CONFIG_MAP);
    for context in TWO_VERSIONS {
        let created = fleet.ok_in(
            context,
            &["create", "-f", path_arg(&manifest), "--dry-run=server"],
        );
        assert_eq!(
            created, "configmap/settings created (server dry run)\n",
            "{context}"
        );
        let error = fleet.fails_in(context, &["get", "cm", "settings", "-n", "shop"]);
        assert_eq!(
            error, "Error from server (NotFound): configmaps \"settings\" not found\n",
            "{context}"
        );

        let deleted = fleet.ok_in(
            context,
            &[
                "delete",
                "cm",
                "web-config",
                "-n",
                "shop",
                "--dry-run=server",
            ],
        );
        assert_eq!(
            deleted, "configmap \"web-config\" deleted (server dry run)\n",
            "{context}"
        );
        let kept = fleet.ok_in(
            context,
            &["get", "cm", "web-config", "-n", "shop", "-o", "name"],
        );
        assert_eq!(kept, "configmap/web-config\n", "{context}");
    }
}

#[test]
fn get_widgets_custom_resource() {
    let fleet = SimFleet::start();
    let expected_sim_1 = "\
NAMESPACE   NAME    SIZE   COLOR   AGE
shop        alpha   3      red     5d
shop        beta    5      blue    5d
";
    assert_eq!(fleet.ok(&["get", "wg", "-A"]), expected_sim_1);
    let expected_sim_4 = "\
NAME    SIZE   COLOR   AGE
alpha   3      red     5d
beta    5      blue    5d
";
    assert_eq!(
        fleet.ok_in("sim-4", &["get", "widgets", "-n", "shop"]),
        expected_sim_4
    );
    let missing = fleet.fails_in("sim-2", &["get", "wg", "-A"]);
    assert_eq!(
        missing,
        "error: the server doesn't have a resource type \"wg\"\n"
    );

    let manifest = fleet.write_file("delta.yaml", DELTA_WIDGET);
    for context in TWO_VERSIONS {
        let apply = ["apply", "-f", path_arg(&manifest)];
        assert_eq!(
            fleet.ok_in(context, &apply),
            "widget.example.com/delta created\n",
            "{context}"
        );
        assert_eq!(
            fleet.ok_in(context, &apply),
            "widget.example.com/delta unchanged\n",
            "{context}"
        );
        let size = fleet.ok_in(
            context,
            &[
                "patch",
                "wg",
                "delta",
                "-n",
                "shop",
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"size":4}}"#,
            ],
        );
        assert_eq!(size, "widget.example.com/delta patched\n", "{context}");
        let row = fleet.ok_in(
            context,
            &["get", "wg", "delta", "-n", "shop", "--no-headers"],
        );
        assert_eq!(
            mask_seconds_age(row.trim_end()),
            "delta   4     black   <age>",
            "{context}"
        );
        let deleted = fleet.ok_in(context, &["delete", "wg", "delta", "-n", "shop"]);
        assert_eq!(
            deleted, "widget.example.com \"delta\" deleted\n",
            "{context}"
        );
    }
}

#[test]
fn api_resources_lists_widgets() {
    let fleet = SimFleet::start();
    for context in TWO_VERSIONS {
        let output = fleet.ok_in(context, &["api-resources", "--api-group=example.com"]);
        let expected = "\
NAME      SHORTNAMES   APIVERSION       NAMESPACED   KIND
widgets   wg           example.com/v1   true         Widget
";
        assert_eq!(output, expected, "{context}");
    }
    let crds = fleet.ok(&["get", "crd", "-o", "name"]);
    assert_eq!(
        crds,
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com\n"
    );
}
