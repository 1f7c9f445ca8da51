//! Checks the deployment examples under `examples/`.
//!
//! The Kubernetes manifests must parse, contain the kinds the daemon needs,
//! and agree with the `lazyhost.toml` in their ConfigMap. So every path the
//! configuration names must lie on a volume of the Deployment, and the
//! probes and the Service must use the port that `listen` names. The systemd
//! unit must set the keys the daemon relies on, in step with its own
//! `lazyhost.toml`. `kubectl kustomize` must build the manifests; it runs
//! offline, so no API server is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lazyhost::config::Config;
use serde::Deserialize;
use serde_yaml::Value;

/// The keys of `[serve]` that the daemon's configuration defines.
const SERVE_KEYS: &[&str] = &[
    "plugins_dir",
    "listen",
    "token_file",
    "state_dir",
    "audit_log",
    "allowed_digests",
    "grace_period",
    "runs_kept",
    "metrics_clusters",
    "metrics_max_clusters",
];

/// The kinds of the Kubernetes example, one entry per object.
const EXPECTED_KINDS: &[&str] = &[
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "Deployment",
    "Namespace",
    "PersistentVolumeClaim",
    "Secret",
    "Secret",
    "Service",
    "ServiceAccount",
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn kubernetes_dir() -> PathBuf {
    examples_dir().join("kubernetes")
}

/// Names of the manifest files of `examples/kubernetes`, sorted, without
/// kustomization.yaml.
fn manifest_files() -> Vec<String> {
    let listing = std::fs::read_dir(kubernetes_dir()).expect("examples/kubernetes is readable");
    let mut names: Vec<String> = listing
        .map(|entry| entry.expect("directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    names.sort();
    names
}

/// Parses every YAML document of `text`, leaving out empty ones.
fn parse_documents(text: &str, source: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|document| {
            Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{source} is not valid YAML: {error}"))
        })
        .filter(|document| !document.is_null())
        .collect()
}

/// Parses every object of the manifest files, in file order.
fn manifests() -> Vec<Value> {
    let mut objects = Vec::new();
    for name in manifest_files() {
        let path = kubernetes_dir().join(&name);
        let text = std::fs::read_to_string(&path).expect("manifest is readable");
        objects.extend(parse_documents(&text, &name));
    }
    objects
}

fn kind_of(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Returns the object of `kind`, and fails unless the manifests have exactly one.
fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let matching: Vec<&Value> = objects.iter().filter(|o| kind_of(o) == kind).collect();
    assert_eq!(matching.len(), 1, "expected exactly one {kind}");
    matching[0]
}

/// Finds the object of `kind` named `name` in the manifests.
fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| kind_of(object) == kind && name_of(object) == name)
        .unwrap_or_else(|| panic!("no {kind} named `{name}` in examples/kubernetes"))
}

fn as_list(value: &Value) -> &[Value] {
    value.as_sequence().map_or(&[], Vec::as_slice)
}

fn strings(value: &Value) -> Vec<&str> {
    as_list(value).iter().filter_map(Value::as_str).collect()
}

/// Returns the text of `lazyhost.toml` in the ConfigMap.
fn config_map_toml(objects: &[Value]) -> String {
    only(objects, "ConfigMap")["data"]["lazyhost.toml"]
        .as_str()
        .expect("the ConfigMap has a key lazyhost.toml")
        .to_string()
}

fn systemd_toml() -> String {
    std::fs::read_to_string(examples_dir().join("systemd/lazyhost.toml"))
        .expect("examples/systemd/lazyhost.toml is readable")
}

fn parse_table(text: &str, source: &str) -> toml::Table {
    text.parse()
        .unwrap_or_else(|error| panic!("{source} is not valid TOML: {error}"))
}

/// Returns the `[serve]` table of a configuration.
fn serve_table(table: &toml::Table) -> &toml::Table {
    table
        .get("serve")
        .and_then(toml::Value::as_table)
        .expect("the configuration has a [serve] section")
}

fn serve_string<'a>(table: &'a toml::Table, key: &str) -> &'a str {
    serve_table(table)
        .get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("[serve] has no string key `{key}`"))
}

fn grace_period(table: &toml::Table) -> Duration {
    humantime::parse_duration(serve_string(table, "grace_period"))
        .expect("grace_period is a duration")
}

/// Writes `text` as lazyhost.toml in a temporary folder and loads it.
fn load_config(text: &str) -> Result<Config, String> {
    let folder = tempfile::tempdir().expect("temporary folder");
    let path = folder.path().join("lazyhost.toml");
    std::fs::write(&path, text).expect("configuration written");
    Config::load(&path).map_err(|error| error.to_string())
}

/// Finds the container of the Deployment that runs lazyhost.
fn lazyhost_container(deployment: &Value) -> &Value {
    as_list(&deployment["spec"]["template"]["spec"]["containers"])
        .iter()
        .find(|container| container["name"] == "lazyhost")
        .expect("the Deployment has a container named lazyhost")
}

fn pod_volume<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    as_list(&deployment["spec"]["template"]["spec"]["volumes"])
        .iter()
        .find(|volume| volume["name"] == name)
        .unwrap_or_else(|| panic!("the pod has no volume `{name}`"))
}

/// Finds the volume mount of `container` that contains `path`, the one with
/// the longest mount path, and returns it with the rest of `path` below it.
fn mount_holding<'a>(container: &'a Value, path: &str) -> (&'a Value, PathBuf) {
    let path = Path::new(path);
    as_list(&container["volumeMounts"])
        .iter()
        .filter_map(|mount| {
            let mount_path = Path::new(mount["mountPath"].as_str()?);
            let rest = path.strip_prefix(mount_path).ok()?;
            Some((mount, rest.to_path_buf(), mount_path.components().count()))
        })
        .max_by_key(|(_, _, depth)| *depth)
        .map(|(mount, rest, _)| (mount, rest))
        .unwrap_or_else(|| {
            panic!(
                "no volume of the lazyhost container contains `{}`",
                path.display()
            )
        })
}

fn is_read_only(mount: &Value) -> bool {
    mount["readOnly"].as_bool().unwrap_or(false)
}

/// Returns the key of a Secret or ConfigMap volume that is mounted at
/// `file` below the mount path: the item with that path, or without items
/// the key of that name.
fn volume_key(source: &Value, file: &Path) -> String {
    let file = file.to_str().expect("path is UTF-8");
    let items = as_list(&source["items"]);
    if items.is_empty() {
        return file.to_string();
    }
    items
        .iter()
        .find(|item| item["path"] == file)
        .and_then(|item| item["key"].as_str())
        .unwrap_or_else(|| panic!("no item of the volume is mounted at `{file}`"))
        .to_string()
}

/// Returns the keys of a Secret, from `data` and `stringData`.
fn secret_keys(secret: &Value) -> BTreeSet<String> {
    ["data", "stringData"]
        .iter()
        .filter_map(|field| secret[*field].as_mapping())
        .flat_map(|mapping| mapping.keys())
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Returns the container port that a probe's or Service's `port` means: a
/// number as it is, a name through the container's ports.
fn resolve_port(container: &Value, port: &Value) -> u16 {
    if let Some(number) = port.as_u64() {
        return u16::try_from(number).expect("port fits in 16 bits");
    }
    let name = port.as_str().expect("port is a number or a name");
    let number = as_list(&container["ports"])
        .iter()
        .find(|declared| declared["name"] == name)
        .unwrap_or_else(|| panic!("the lazyhost container has no port named `{name}`"))
        ["containerPort"]
        .as_u64()
        .expect("containerPort is a number");
    u16::try_from(number).expect("port fits in 16 bits")
}

fn listen_port(config: &toml::Table) -> u16 {
    let listen: SocketAddr = serve_string(config, "listen")
        .parse()
        .expect("listen is an address and port");
    listen.port()
}

#[test]
fn manifests_have_expected_kinds() {
    let objects = manifests();
    let mut kinds: Vec<&str> = objects.iter().map(kind_of).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, EXPECTED_KINDS);
    for object in &objects {
        assert!(
            object["apiVersion"].as_str().is_some(),
            "{} has no apiVersion",
            kind_of(object)
        );
        assert!(
            !name_of(object).is_empty(),
            "{} has no name",
            kind_of(object)
        );
    }
}

#[test]
fn namespaced_objects_use_the_namespace() {
    let objects = manifests();
    let namespace = name_of(only(&objects, "Namespace"));
    let cluster_scoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"];
    for object in &objects {
        let kind = kind_of(object);
        let actual = object["metadata"]["namespace"].as_str();
        if cluster_scoped.contains(&kind) {
            assert_eq!(actual, None, "{kind} is cluster-scoped");
        } else {
            assert_eq!(actual, Some(namespace), "namespace of {kind}");
        }
    }
}

#[test]
fn kustomization_lists_every_manifest() {
    let text = std::fs::read_to_string(kubernetes_dir().join("kustomization.yaml"))
        .expect("kustomization.yaml is readable");
    let kustomization: Value = serde_yaml::from_str(&text).expect("kustomization.yaml parses");
    assert_eq!(kustomization["kind"], "Kustomization");
    let mut listed: Vec<String> = strings(&kustomization["resources"])
        .into_iter()
        .map(str::to_string)
        .collect();
    listed.sort();
    assert_eq!(listed, manifest_files());
}

/// `kubectl kustomize` builds the manifests without an API server. kubectl
/// gets an empty kubeconfig and its own home folder, so it reads nothing of
/// the machine's.
#[test]
fn kubectl_kustomize_builds() {
    let home = tempfile::tempdir().expect("temporary folder");
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "").expect("empty kubeconfig written");
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(kubernetes_dir())
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", home.path())
        .output()
        .expect("kubectl is on PATH; scripts/test installs it");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl kustomize failed: {stderr}"
    );
    let built = parse_documents(&String::from_utf8_lossy(&output.stdout), "kubectl output");
    let mut kinds: Vec<&str> = built.iter().map(kind_of).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, EXPECTED_KINDS);
}

#[test]
fn serve_sections_use_known_keys() {
    let objects = manifests();
    let sources = [
        ("the ConfigMap", config_map_toml(&objects)),
        ("examples/systemd/lazyhost.toml", systemd_toml()),
    ];
    for (source, text) in sources {
        let table = parse_table(&text, source);
        for key in serve_table(&table).keys() {
            assert!(
                SERVE_KEYS.contains(&key.as_str()),
                "{source}: unknown [serve] key `{key}`"
            );
        }
        let listen = serve_string(&table, "listen");
        assert!(
            listen.parse::<SocketAddr>().is_ok(),
            "{source}: listen `{listen}` is not an address and port"
        );
        assert!(
            !grace_period(&table).is_zero(),
            "{source}: grace_period is zero"
        );
    }
}

/// The parts of both configurations that `Config` parses today must load.
/// `config_files_load` checks the whole files once `Config` parses
/// `[serve]` and the schedule keys of plugin sections.
#[test]
fn config_files_load() {
    let objects = manifests();
    let sources = [
        ("the ConfigMap", config_map_toml(&objects)),
        ("examples/systemd/lazyhost.toml", systemd_toml()),
    ];
    for (source, text) in sources {
        if let Err(error) = load_config(&text) {
            panic!("{source} does not load: {error}");
        }
    }
}

#[test]
fn deployment_mounts_config_paths() {
    let objects = manifests();
    let text = config_map_toml(&objects);
    let config = parse_table(&text, "the ConfigMap");
    let deployment = only(&objects, "Deployment");
    let container = lazyhost_container(deployment);

    // --config names the ConfigMap's key on the ConfigMap's volume.
    let args = strings(&container["args"]);
    assert_eq!(args.first(), Some(&"serve"), "the container runs `serve`");
    let config_path = args
        .iter()
        .position(|arg| *arg == "--config")
        .and_then(|index| args.get(index + 1))
        .expect("the container passes --config PATH");
    let (mount, file) = mount_holding(container, config_path);
    let source = &pod_volume(deployment, mount["name"].as_str().unwrap())["configMap"];
    assert_eq!(
        source["name"].as_str(),
        Some(name_of(only(&objects, "ConfigMap")))
    );
    assert_eq!(volume_key(source, &file), "lazyhost.toml");

    // Kubeconfigs come from the kubeconfig Secret, each file an item of it.
    let mut kubeconfig_paths: Vec<String> = Vec::new();
    for dir in config["kubeconfig_dirs"].as_array().into_iter().flatten() {
        kubeconfig_paths.push(dir.as_str().unwrap().to_string());
    }
    for entry in config["clusters"].as_array().into_iter().flatten() {
        kubeconfig_paths.push(entry["kubeconfig"].as_str().unwrap().to_string());
    }
    assert!(
        !kubeconfig_paths.is_empty(),
        "the configuration names kubeconfigs"
    );
    let kubeconfig_secret = named(&objects, "Secret", "lazyhost-kubeconfigs");
    for path in &kubeconfig_paths {
        let (mount, rest) = mount_holding(container, path);
        assert!(is_read_only(mount), "{path} is mounted read-only");
        let source = &pod_volume(deployment, mount["name"].as_str().unwrap())["secret"];
        assert_eq!(source["secretName"].as_str(), Some("lazyhost-kubeconfigs"));
        let items = as_list(&source["items"]);
        let covered = items.iter().any(|item| {
            let item_path = Path::new(item["path"].as_str().unwrap());
            item_path == rest || item_path.parent() == Some(rest.as_path())
        });
        assert!(covered, "no item of the Secret is at or in `{path}`");
    }
    for item in as_list(&pod_volume(deployment, "kubeconfigs")["secret"]["items"]) {
        let key = item["key"].as_str().unwrap();
        assert!(
            secret_keys(kubeconfig_secret).contains(key),
            "the kubeconfig Secret has no key `{key}`"
        );
    }

    // The token file is a key of the token Secret.
    let token_file = serve_string(&config, "token_file");
    let (mount, file) = mount_holding(container, token_file);
    assert!(is_read_only(mount), "the token is mounted read-only");
    let source = &pod_volume(deployment, mount["name"].as_str().unwrap())["secret"];
    let secret_name = source["secretName"]
        .as_str()
        .expect("the token is a Secret");
    let key = volume_key(source, &file);
    assert!(
        secret_keys(named(&objects, "Secret", secret_name)).contains(&key),
        "Secret {secret_name} has no key `{key}`"
    );

    // The state folder and the audit log are on the claim, writable.
    let claim = name_of(only(&objects, "PersistentVolumeClaim"));
    let mut state_paths = vec![serve_string(&config, "state_dir")];
    if serve_table(&config).contains_key("audit_log") {
        state_paths.push(serve_string(&config, "audit_log"));
    }
    for path in state_paths {
        let (mount, _) = mount_holding(container, path);
        assert!(!is_read_only(mount), "{path} is writable");
        let volume = pod_volume(deployment, mount["name"].as_str().unwrap());
        assert_eq!(
            volume["persistentVolumeClaim"]["claimName"].as_str(),
            Some(claim),
            "{path} is on the claim"
        );
    }

    // The plugins folder is read-only to the daemon, and an init container
    // fills the same volume.
    let plugins_dir = serve_string(&config, "plugins_dir");
    let (mount, _) = mount_holding(container, plugins_dir);
    assert!(is_read_only(mount), "the plugins are mounted read-only");
    let plugins_volume = mount["name"].as_str().unwrap();
    let init_containers = as_list(&deployment["spec"]["template"]["spec"]["initContainers"]);
    let fills = init_containers.iter().any(|init| {
        as_list(&init["volumeMounts"])
            .iter()
            .any(|init_mount| init_mount["name"] == plugins_volume && !is_read_only(init_mount))
    });
    assert!(fills, "an init container writes the plugins volume");

    // The compiled-component cache is writable despite the read-only root.
    let cache_dir = as_list(&container["env"])
        .iter()
        .find(|variable| variable["name"] == "LAZYHOST_CACHE_DIR")
        .and_then(|variable| variable["value"].as_str())
        .expect("LAZYHOST_CACHE_DIR is set");
    let (mount, _) = mount_holding(container, cache_dir);
    assert!(!is_read_only(mount), "the cache folder is writable");
}

#[test]
fn deployment_probes_use_listen_port() {
    let objects = manifests();
    let config = parse_table(&config_map_toml(&objects), "the ConfigMap");
    let port = listen_port(&config);
    let container = lazyhost_container(only(&objects, "Deployment"));

    for probe in ["startupProbe", "livenessProbe"] {
        let http = &container[probe]["httpGet"];
        assert_eq!(http["path"], "/healthz", "{probe} path");
        assert_eq!(resolve_port(container, &http["port"]), port, "{probe} port");
    }

    // The readiness probe is a TCP check on the listen port, because an
    // httpGet probe cannot carry the token. An httpGet on /readyz passes
    // too, for a daemon that serves /readyz without the token.
    let readiness = &container["readinessProbe"];
    let http = &readiness["httpGet"];
    let tcp = &readiness["tcpSocket"];
    if http.is_mapping() {
        assert_eq!(http["path"], "/readyz", "readinessProbe path");
        assert_eq!(
            resolve_port(container, &http["port"]),
            port,
            "readinessProbe port"
        );
    } else {
        assert!(tcp.is_mapping(), "readinessProbe is httpGet or tcpSocket");
        assert_eq!(
            resolve_port(container, &tcp["port"]),
            port,
            "readinessProbe port"
        );
    }

    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        for header in as_list(&container[probe]["httpGet"]["httpHeaders"]) {
            let name = header["name"].as_str().unwrap_or_default();
            assert!(
                !name.eq_ignore_ascii_case("authorization"),
                "{probe} puts a token in the Deployment"
            );
        }
    }
}

#[test]
fn deployment_runs_one_hardened_replica() {
    let objects = manifests();
    let config = parse_table(&config_map_toml(&objects), "the ConfigMap");
    let deployment = only(&objects, "Deployment");
    let spec = &deployment["spec"];
    let pod = &spec["template"]["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["strategy"]["type"], "Recreate");
    assert_eq!(
        pod["serviceAccountName"].as_str(),
        Some(name_of(only(&objects, "ServiceAccount")))
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    let termination = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds is set");
    assert!(
        Duration::from_secs(termination) > grace_period(&config),
        "terminationGracePeriodSeconds must exceed grace_period"
    );

    let mut containers: Vec<&Value> = as_list(&pod["containers"]).iter().collect();
    containers.extend(as_list(&pod["initContainers"]));
    for container in containers {
        let name = container["name"].as_str().unwrap_or_default();
        let security = &container["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(
            strings(&security["capabilities"]["drop"]),
            ["ALL"],
            "{name}"
        );
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    !container["resources"][bound][resource].is_null(),
                    "{name} has no {bound}.{resource}"
                );
            }
        }
    }

    let claim = only(&objects, "PersistentVolumeClaim");
    assert_eq!(strings(&claim["spec"]["accessModes"]), ["ReadWriteOnce"]);
}

#[test]
fn service_scrapes_listen_port() {
    let objects = manifests();
    let config = parse_table(&config_map_toml(&objects), "the ConfigMap");
    let port = listen_port(&config);
    let deployment = only(&objects, "Deployment");
    let container = lazyhost_container(deployment);
    let service = only(&objects, "Service");

    let annotations = &service["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    assert_eq!(annotations["prometheus.io/port"], port.to_string().as_str());

    let ports = as_list(&service["spec"]["ports"]);
    assert_eq!(ports.len(), 1, "the Service has one port");
    assert_eq!(resolve_port(container, &ports[0]["targetPort"]), port);

    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = service["spec"]["selector"]
        .as_mapping()
        .expect("the Service has a selector");
    for (key, value) in selector {
        assert_eq!(
            &pod_labels[key.as_str().unwrap()],
            value,
            "the Service selects the pod"
        );
    }
}

/// The ClusterRole grants what the plugin sections use and no more: reads
/// only, no wildcard, and `impersonate` only when a section sets `as`.
#[test]
fn cluster_role_grants_plugin_reads() {
    let objects = manifests();
    let config = parse_table(&config_map_toml(&objects), "the ConfigMap");
    let role = only(&objects, "ClusterRole");
    let rules = as_list(&role["rules"]);
    assert!(!rules.is_empty(), "the ClusterRole has rules");

    let sections: Vec<&toml::Table> = config["plugins"]
        .as_table()
        .expect("the configuration has plugin sections")
        .values()
        .map(|section| section.as_table().unwrap())
        .collect();
    let impersonates = sections.iter().any(|section| section.contains_key("as"));
    for rule in rules {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(
                !strings(&rule[field]).contains(&"*"),
                "a rule has `*` in {field}"
            );
        }
        for verb in strings(&rule["verbs"]) {
            let allowed =
                matches!(verb, "get" | "list" | "watch") || (verb == "impersonate" && impersonates);
            assert!(allowed, "the ClusterRole grants `{verb}`");
        }
    }

    let mut granted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for rule in rules {
        for resource in strings(&rule["resources"]) {
            granted
                .entry(resource)
                .or_default()
                .extend(strings(&rule["verbs"]));
        }
    }
    for section in sections {
        let list = |key: &str| -> Vec<&str> {
            section
                .get(key)
                .and_then(toml::Value::as_array)
                .expect("the plugin section names `resources` and `verbs`")
                .iter()
                .filter_map(toml::Value::as_str)
                .collect()
        };
        for resource in list("resources") {
            for verb in list("verbs") {
                let allowed = granted
                    .get(resource)
                    .is_some_and(|verbs| verbs.contains(verb));
                assert!(
                    allowed,
                    "the ClusterRole does not grant {verb} on {resource}"
                );
            }
        }
    }

    let binding = only(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"].as_str(), Some(name_of(role)));
    let account = only(&objects, "ServiceAccount");
    let subject = &as_list(&binding["subjects"])[0];
    assert_eq!(subject["kind"], "ServiceAccount");
    assert_eq!(subject["name"].as_str(), Some(name_of(account)));
    assert_eq!(subject["namespace"], account["metadata"]["namespace"]);
}

/// Each value of the kubeconfig Secret is a kubeconfig, marked as a
/// placeholder, and each `[[clusters]]` entry's context is in its file.
#[test]
fn kubeconfig_secret_contains_kubeconfigs() {
    let objects = manifests();
    let config = parse_table(&config_map_toml(&objects), "the ConfigMap");
    let secret = named(&objects, "Secret", "lazyhost-kubeconfigs");
    let data = secret["stringData"]
        .as_mapping()
        .expect("the Secret has its kubeconfigs in stringData");
    for (key, text) in data {
        let key = key.as_str().unwrap();
        let text = text.as_str().unwrap();
        assert!(
            text.contains("PLACEHOLDER"),
            "{key} is marked as a placeholder"
        );
        let kubeconfig: Value = serde_yaml::from_str(text)
            .unwrap_or_else(|error| panic!("{key} is not valid YAML: {error}"));
        assert_eq!(kubeconfig["kind"], "Config", "{key}");
        assert!(
            !as_list(&kubeconfig["contexts"]).is_empty(),
            "{key} has contexts"
        );
    }

    let deployment = only(&objects, "Deployment");
    let items = as_list(&pod_volume(deployment, "kubeconfigs")["secret"]["items"]);
    let container = lazyhost_container(deployment);
    for entry in config["clusters"].as_array().into_iter().flatten() {
        let name = entry["name"].as_str().unwrap();
        let context = entry
            .get("context")
            .and_then(toml::Value::as_str)
            .unwrap_or(name);
        let (_, rest) = mount_holding(container, entry["kubeconfig"].as_str().unwrap());
        let key = items
            .iter()
            .find(|item| Path::new(item["path"].as_str().unwrap()) == rest)
            .and_then(|item| item["key"].as_str())
            .unwrap_or_else(|| panic!("cluster {name}: its kubeconfig is no item of the Secret"));
        let kubeconfig: Value = serde_yaml::from_str(data[key].as_str().unwrap()).unwrap();
        let contexts: Vec<&str> = as_list(&kubeconfig["contexts"])
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert!(
            contexts.contains(&context),
            "cluster {name}: no context `{context}` in {key}"
        );
    }
}

/// Reads a systemd unit file into (section, key, value) entries, in order.
fn parse_unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("unit line `{line}` is not KEY=VALUE"));
        entries.push((
            section.clone(),
            key.trim().to_string(),
            value.trim().to_string(),
        ));
    }
    entries
}

#[test]
fn systemd_unit_sets_required_keys() {
    let text = std::fs::read_to_string(examples_dir().join("systemd/lazyhost.service"))
        .expect("examples/systemd/lazyhost.service is readable");
    let entries = parse_unit(&text);
    let values = |key: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|(section, name, _)| section == "Service" && name == key)
            .map(|(_, _, value)| value.as_str())
            .collect()
    };
    let value = |key: &str| -> &str {
        let found = values(key);
        assert_eq!(found.len(), 1, "[Service] sets {key} once");
        found[0]
    };
    let config = parse_table(&systemd_toml(), "examples/systemd/lazyhost.toml");

    let exec_start: Vec<&str> = value("ExecStart").split_whitespace().collect();
    assert_eq!(exec_start.get(1), Some(&"serve"), "ExecStart runs `serve`");
    let config_path = exec_start
        .iter()
        .position(|arg| *arg == "--config")
        .and_then(|index| exec_start.get(index + 1))
        .expect("ExecStart passes --config PATH");
    let exec_reload = value("ExecReload");
    assert!(exec_reload.contains("-HUP"), "ExecReload sends SIGHUP");
    assert!(
        exec_reload.contains("$MAINPID"),
        "ExecReload signals the daemon"
    );
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert_eq!(value("Restart"), "on-failure");
    assert_eq!(value("ProtectSystem"), "strict");
    assert_eq!(value("NoNewPrivileges"), "yes");

    let timeout =
        humantime::parse_duration(value("TimeoutStopSec")).expect("TimeoutStopSec is a duration");
    assert!(
        timeout > grace_period(&config),
        "TimeoutStopSec must exceed grace_period"
    );

    let dynamic_user = values("DynamicUser") == ["yes"];
    assert!(
        dynamic_user || values("User").len() == 1,
        "the unit sets User= or DynamicUser=yes"
    );

    let state_directory = value("StateDirectory");
    assert_eq!(
        serve_string(&config, "state_dir"),
        format!("/var/lib/{state_directory}"),
        "state_dir is the unit's StateDirectory"
    );

    let read_only: Vec<&str> = values("ReadOnlyPaths")
        .iter()
        .flat_map(|paths| paths.split_whitespace())
        .collect();
    let covered = |path: &str| {
        read_only
            .iter()
            .any(|prefix| Path::new(path).starts_with(prefix.trim_start_matches('-')))
    };
    assert!(covered(config_path), "ReadOnlyPaths covers {config_path}");
    let plugins_dir = serve_string(&config, "plugins_dir");
    assert!(covered(plugins_dir), "ReadOnlyPaths covers {plugins_dir}");

    let cache_directory = value("CacheDirectory");
    let cache_variable = values("Environment")
        .iter()
        .find_map(|assignment| assignment.strip_prefix("LAZYHOST_CACHE_DIR="))
        .expect("the unit sets LAZYHOST_CACHE_DIR");
    assert!(
        Path::new(cache_variable).starts_with(format!("/var/cache/{cache_directory}")),
        "LAZYHOST_CACHE_DIR is inside CacheDirectory"
    );
}
