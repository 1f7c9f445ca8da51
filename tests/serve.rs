//! `lazyhost serve` end to end: the real binary as a daemon over an
//! in-process simulated fleet, watched through its HTTP endpoints, its
//! state folder and the simulator's own counters.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{plugin, start_fleet};
use serde_json::Value;

/// How long a daemon may take to reach a state a test waits for.
const DEADLINE: Duration = Duration::from_secs(60);

/// A `lazyhost serve` child process with its own folders. Dropping it
/// kills the process by its id.
struct Daemon {
    child: Child,
    folder: PathBuf,
    address: String,
}

impl Daemon {
    /// Starts `lazyhost serve` with `config` as lazyhost.toml in `folder`,
    /// whose `plugins` subfolder contains the plugins and whose `cache`
    /// subfolder contains the compiled components.
    fn start(folder: &Path, config: &str) -> Self {
        std::fs::write(folder.join("lazyhost.toml"), config).unwrap();
        std::fs::create_dir_all(folder.join("plugins")).unwrap();
        let log = folder.join("serve.log");
        let _ = std::fs::remove_file(&log);
        let child = Command::new(env!("CARGO_BIN_EXE_lazyhost"))
            .args(["serve", "--config"])
            .arg(folder.join("lazyhost.toml"))
            .args(["--listen", "127.0.0.1:0", "--plugins"])
            .arg(folder.join("plugins"))
            .arg("--state-dir")
            .arg(folder.join("state"))
            .env_remove("KUBECONFIG")
            .env_remove("LAZYHOST_TOKEN")
            .env("RUST_LOG", "lazyhost=info")
            .env(lazyhost::plugin::CACHE_DIR_ENV, folder.join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("lazyhost serve starts");
        let mut daemon = Self {
            child,
            folder: folder.to_path_buf(),
            address: String::new(),
        };
        daemon.address = daemon.wait_for_log("HTTP endpoints listening", |line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("address="))
                .map(str::to_string)
        });
        daemon
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.folder.join("serve.log")).unwrap_or_default()
    }

    /// Waits for a log line containing `message` and returns what `pick`
    /// takes from it.
    fn wait_for_log<T>(&mut self, message: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(found) = self
                .log()
                .lines()
                .filter(|line| line.contains(message))
                .find_map(&pick)
            {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "lazyhost serve exited with {status}; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no `{message}` in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends GET `path` and returns the status code and body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).expect("the daemon accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status code");
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            unchunk(body)
        } else {
            body.to_string()
        };
        (status, body)
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|error| panic!("GET {path}: {error}: {body}"))
    }

    /// Polls `/plugins` until `check` holds for plugin `name`, and returns
    /// that plugin's entry.
    fn wait_for_plugin(&mut self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let plugins = self.get_json("/plugins");
            let entry = plugins["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .find(|entry| entry["name"] == name)
                .cloned();
            if let Some(entry) = entry
                && check(&entry)
            {
                return entry;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "lazyhost serve exited with {status}; its log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "plugin `{name}` never became {what}: {plugins:#}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` to the daemon by its process id.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the daemon to exit and returns its status.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "lazyhost serve did not exit; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn plugins_dir(&self) -> PathBuf {
        self.folder.join("plugins")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes a chunked HTTP body.
fn unchunk(mut body: &str) -> String {
    let mut text = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        text.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    text
}

/// Copies a file into the plugins folder the way an operator should: to a
/// hidden name first, then renamed into place.
fn drop_plugin(folder: &Path, source: &Path, name: &str) {
    let hidden = folder.join(format!(".{name}.wasm.part"));
    std::fs::copy(source, &hidden).unwrap();
    std::fs::rename(&hidden, folder.join(format!("{name}.wasm"))).unwrap();
}

fn digest_of(path: &Path) -> String {
    lazyhost::inspect::sha256_hex(&std::fs::read(path).unwrap())
}

fn fleet_config(folder: &Path, fleet: &lazyhost::sim::Fleet, rest: &str) -> String {
    fleet.write_kubeconfig(&folder.join("kubeconfig")).unwrap();
    format!("kubeconfigs = [\"kubeconfig\"]\n{rest}")
}

fn runs_of(entry: &Value) -> &Vec<Value> {
    entry["runs"].as_array().expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_changes_load_reload_and_unload() {
    let fleet = start_fleet(2).await;
    let folder = tempfile::tempdir().unwrap();
    let config = fleet_config(folder.path(), &fleet, "[plugins.audit]\nevery = \"2s\"\n");
    let mut daemon = Daemon::start(folder.path(), &config);
    let plugins = daemon.plugins_dir();

    // Dropped in: loaded, and its first scheduled run covers both clusters.
    drop_plugin(&plugins, &plugin("pod_audit"), "audit");
    let first_digest = format!("sha256:{}", digest_of(&plugin("pod_audit")));
    let entry = daemon.wait_for_plugin("audit", "run once", |entry| {
        entry["state"] == "loaded" && !runs_of(entry).is_empty()
    });
    assert_eq!(entry["version"]["digest"], first_digest);
    assert_eq!(entry["version"]["schedule"], "every 2s");
    assert_eq!(entry["version"]["world"], "plugin");
    let run = runs_of(&entry).last().unwrap();
    assert_eq!(run["trigger"], "schedule");
    assert_eq!(run["ok"], 2, "{run:#}");
    let clusters: Vec<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["sim-1", "sim-2"]);

    // Replaced: the new version runs on the same schedule, with its own
    // digest.
    drop_plugin(&plugins, &plugin("api_tour"), "audit");
    let second = digest_of(&plugin("api_tour"));
    let second_digest = format!("sha256:{second}");
    daemon.wait_for_plugin("audit", "reloaded and run", |entry| {
        entry["version"]["digest"] == second_digest.as_str()
            && runs_of(entry)[0]["digest"] == second.as_str()
    });

    // A broken file is reported, and the version already loaded keeps running.
    std::fs::write(plugins.join(".audit.part"), b"\0asm\x0d\0\x01\0broken").unwrap();
    std::fs::rename(plugins.join(".audit.part"), plugins.join("audit.wasm")).unwrap();
    let entry = daemon.wait_for_plugin("audit", "failed to reload", |entry| {
        !entry["last_error"].is_null()
    });
    assert_eq!(entry["state"], "loaded");
    assert_eq!(entry["version"]["digest"], second_digest);
    let message = entry["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("failed to compile component"), "{message}");

    // Removed: unloaded, and its runs are still served from the history.
    std::fs::remove_file(plugins.join("audit.wasm")).unwrap();
    let entry = daemon.wait_for_plugin("audit", "unloaded", |entry| entry["state"] == "unloaded");
    let digests: Vec<&str> = runs_of(&entry)
        .iter()
        .map(|run| run["digest"].as_str().unwrap())
        .collect();
    assert!(digests.contains(&second.as_str()), "{digests:?}");
    assert!(
        digests.contains(&first_digest.trim_start_matches("sha256:")),
        "{digests:?}"
    );
    assert!(daemon.log().contains("plugin unloaded"));
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_outside_allowlist_is_rejected() {
    let fleet = start_fleet(1).await;
    let folder = tempfile::tempdir().unwrap();
    let allowed = digest_of(&plugin("pod_audit"));
    let rest = format!("[serve]\nallowed_digests = [\"sha256:{allowed}\"]\n");
    let mut daemon = Daemon::start(folder.path(), &fleet_config(folder.path(), &fleet, &rest));
    drop_plugin(&daemon.plugins_dir(), &plugin("pod_audit"), "audit");
    drop_plugin(&daemon.plugins_dir(), &plugin("api_tour"), "tour");

    daemon.wait_for_plugin("audit", "loaded", |entry| entry["state"] == "loaded");
    let entry = daemon.wait_for_plugin("tour", "refused", |entry| entry["state"] == "failed");
    let message = entry["last_error"]["message"].as_str().unwrap();
    let refused = digest_of(&plugin("api_tour"));
    assert!(message.contains(&format!("sha256:{refused}")), "{message}");
    assert!(message.contains("serve.allowed_digests"), "{message}");
    assert_eq!(entry["last_error"]["digest"], refused);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loads_from_compiled_cache() {
    let fleet = start_fleet(1).await;
    let folder = tempfile::tempdir().unwrap();
    let config = fleet_config(folder.path(), &fleet, "");
    let mut daemon = Daemon::start(folder.path(), &config);
    drop_plugin(&daemon.plugins_dir(), &plugin("pod_audit"), "audit");
    daemon.wait_for_plugin("audit", "loaded", |entry| entry["state"] == "loaded");
    let stats = daemon.get_json("/stats");
    assert_eq!(stats["plugin_compilations"], 1, "{stats:#}");
    assert_eq!(stats["plugin_cache_hits"], 0, "{stats:#}");
    let allocator = stats["instance_allocator"].as_str().unwrap().to_string();
    assert!(["pooling", "on-demand"].contains(&allocator.as_str()));
    daemon.signal("TERM");
    assert!(daemon.wait_exit().success(), "{}", daemon.log());

    let mut daemon = Daemon::start(folder.path(), &config);
    daemon.wait_for_plugin("audit", "loaded", |entry| entry["state"] == "loaded");
    let stats = daemon.get_json("/stats");
    assert_eq!(stats["plugin_compilations"], 0, "{stats:#}");
    assert_eq!(stats["plugin_cache_hits"], 1, "{stats:#}");
    assert_eq!(stats["instance_allocator"], allocator.as_str());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_running_invocation() {
    let fleet = start_fleet(2).await;
    let mut faults = fleet.faults("sim-2").unwrap();
    faults.latency = Duration::from_secs(2);
    fleet.set_faults("sim-2", faults).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let config = fleet_config(folder.path(), &fleet, "[plugins.audit]\nevery = \"1h\"\n");
    let mut daemon = Daemon::start(folder.path(), &config);
    drop_plugin(&daemon.plugins_dir(), &plugin("pod_audit"), "audit");
    daemon.wait_for_plugin("audit", "running", |entry| entry["running"] == true);

    daemon.signal("TERM");
    assert!(daemon.wait_exit().success(), "{}", daemon.log());
    let log = daemon.log();
    assert!(
        log.contains("waiting for running invocations to finish"),
        "{log}"
    );
    assert!(!log.contains("cancelling the runs still going"), "{log}");

    // The run's result survived, and a new daemon serves it again.
    let history: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.path().join("state/runs/audit.json")).unwrap(),
    )
    .unwrap();
    let text = history.to_string();
    assert!(text.contains("\"ok\":2"), "{history:#}");
    fleet.clear_faults("sim-2").unwrap();
    std::fs::write(folder.path().join("lazyhost.toml"), &config).unwrap();
    let mut daemon = Daemon::start(folder.path(), &fleet_config(folder.path(), &fleet, ""));
    let entry = daemon.wait_for_plugin("audit", "loaded", |entry| entry["state"] == "loaded");
    let first = runs_of(&entry)
        .last()
        .expect("the run before the restart")
        .clone();
    assert_eq!(first["ok"], 2, "{first:#}");
    assert_eq!(first["cancelled"], 0, "{first:#}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_configuration_and_plugins() {
    let fleet = start_fleet(1).await;
    let folder = tempfile::tempdir().unwrap();
    let config = fleet_config(folder.path(), &fleet, "");
    let mut daemon = Daemon::start(folder.path(), &config);
    drop_plugin(&daemon.plugins_dir(), &plugin("pod_audit"), "audit");
    let entry = daemon.wait_for_plugin("audit", "loaded", |entry| entry["state"] == "loaded");
    assert!(entry["version"]["schedule"].is_null());

    let scheduled = fleet_config(folder.path(), &fleet, "[plugins.audit]\nevery = \"1h\"\n");
    std::fs::write(folder.path().join("lazyhost.toml"), scheduled).unwrap();
    daemon.signal("HUP");
    let entry = daemon.wait_for_plugin("audit", "scheduled", |entry| {
        entry["version"]["schedule"] == "every 1h" && runs_of(entry).len() == 1
    });
    assert_eq!(runs_of(&entry)[0]["ok"], 1);

    // Another SIGHUP with the same configuration reloads the plugin but
    // keeps its rhythm: the next run is an hour after the first.
    daemon.signal("HUP");
    daemon.wait_for_log("plugin reloaded", |_| Some(()));
    let entry = daemon.wait_for_plugin("audit", "reloaded", |entry| !entry["version"].is_null());
    assert_eq!(runs_of(&entry).len(), 1, "{entry:#}");
    let next = entry["version"]["next_run"].as_str().unwrap();
    let next = humantime::parse_rfc3339(next).unwrap();
    let ahead = next.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_secs(30 * 60),
        "next run in {ahead:?}"
    );

    // A narrowed allowlist unloads the running version.
    let revoked = format!(
        "[serve]\nallowed_digests = [\"sha256:{}\"]\n[plugins.audit]\nevery = \"1h\"\n",
        "0".repeat(64)
    );
    std::fs::write(
        folder.path().join("lazyhost.toml"),
        fleet_config(folder.path(), &fleet, &revoked),
    )
    .unwrap();
    daemon.signal("HUP");
    let entry = daemon.wait_for_plugin("audit", "unloaded", |entry| entry["state"] == "failed");
    let message = entry["last_error"]["message"].as_str().unwrap();
    assert!(message.contains("serve.allowed_digests"), "{message}");
    assert!(
        daemon
            .log()
            .contains("no longer allows the running version")
    );

    // A broken configuration is refused and the previous one stays.
    std::fs::write(folder.path().join("lazyhost.toml"), "[pool\n").unwrap();
    daemon.signal("HUP");
    daemon.wait_for_log("failed to reload the configuration", |_| Some(()));
    assert_eq!(daemon.get("/healthz").0, 200);
    fleet.shutdown().await;
}

/// Polls `/clusters` until cluster `name` is in a state `check` accepts.
fn wait_for_cluster(daemon: &mut Daemon, name: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let clusters = daemon.get_json("/clusters");
        let state = clusters["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["name"] == name)
            .and_then(|row| row["state"].as_str())
            .unwrap_or_default()
            .to_string();
        if check(&state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster `{name}` stayed `{state}`: {clusters:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Returns how many requests the simulator counted for `verb_path`, such
/// as `list /api/v1/configmaps`.
fn requests(fleet: &lazyhost::sim::Fleet, cluster: &str, verb_path: &str) -> u64 {
    let counts = fleet.counts(cluster).unwrap();
    counts
        .requests_by_verb_path
        .get(verb_path)
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reacts_through_watch() {
    use k8s_openapi::api::core::v1::ConfigMap;

    let fleet = start_fleet(3).await;
    let folder = tempfile::tempdir().unwrap();
    // Idle clients go after a second, so the unwatched sim-3 is evicted
    // while the watched sim-1 and sim-2 stay.
    let rest = "[pool]\nmax_idle = \"1s\"\nidle_threshold = \"1s\"\n\
                [plugins.stamp]\nallow = [\"write\"]\nclusters = [\"sim-1\", \"sim-2\"]\n\
                [plugins.audit]\nevery = \"1h\"\nclusters = [\"sim-3\"]\n";
    let mut daemon = Daemon::start(folder.path(), &fleet_config(folder.path(), &fleet, rest));
    drop_plugin(&daemon.plugins_dir(), &plugin("config_stamp"), "stamp");
    let entry = daemon.wait_for_plugin("stamp", "watching", |entry| {
        let watches = &entry["version"]["watches"]["watches"];
        watches.as_array().is_some_and(|watches| {
            watches.len() == 2
                && watches
                    .iter()
                    .all(|watch| watch["state"]["state"] == "running")
        })
    });
    assert_eq!(entry["version"]["world"], "controller");
    assert!(entry["version"]["schedule"].is_null());

    let options = kube::config::KubeConfigOptions {
        context: Some("sim-1".to_string()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .unwrap();
    let config_maps: kube::Api<ConfigMap> =
        kube::Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    let object: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "stamp-me", "labels": {"lazyhost.dev/stamp": "true"}},
        "data": {"key": "value"},
    }))
    .unwrap();
    config_maps
        .create(&Default::default(), &object)
        .await
        .unwrap();

    let deadline = Instant::now() + DEADLINE;
    loop {
        let current = config_maps.get("stamp-me").await.unwrap();
        let annotations = current.metadata.annotations.unwrap_or_default();
        if annotations
            .get("lazyhost.dev/stamped-by")
            .map(String::as_str)
            == Some("config-stamp")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never stamped:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // It reacted through the watch: one list per cluster, then watches,
    // and the write went to sim-1 alone.
    for cluster in ["sim-1", "sim-2"] {
        assert_eq!(
            requests(&fleet, cluster, "list /api/v1/configmaps"),
            1,
            "{cluster}"
        );
        let counts = fleet.counts(cluster).unwrap();
        assert!(counts.requests_by_verb.get("watch").copied().unwrap_or(0) >= 1);
        assert_eq!(counts.watches_open, 1, "{cluster}");
    }
    assert_eq!(
        requests(
            &fleet,
            "sim-1",
            "patch /api/v1/namespaces/default/configmaps/stamp-me"
        ),
        1
    );
    let sim_2 = fleet.counts("sim-2").unwrap();
    assert_eq!(sim_2.requests_by_verb.get("patch"), None, "{sim_2:?}");
    let audit = std::fs::read_to_string(folder.path().join("state/audit.jsonl")).unwrap();
    let line: Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!(line["plugin"], "stamp");
    assert_eq!(line["cluster"], "sim-1");
    assert_eq!(line["verb"], "patch");
    assert_eq!(line["name"], "stamp-me");

    // The unwatched cluster is evicted when idle; the watched ones are not.
    drop_plugin(&daemon.plugins_dir(), &plugin("pod_audit"), "audit");
    wait_for_cluster(&mut daemon, "sim-3", |state| state.starts_with("evicted"));
    for cluster in ["sim-1", "sim-2"] {
        wait_for_cluster(&mut daemon, cluster, |state| state == "ready");
    }

    // The metrics parse, and count the controller's events and host calls.
    let (status, text) = daemon.get("/metrics");
    assert_eq!(status, 200);
    let lines = text.lines().map(|line| Ok(line.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let sample = |name: &str, plugin: &str| {
        scrape
            .samples
            .iter()
            .find(|sample| sample.metric == name && sample.labels.get("plugin") == Some(plugin))
            .map(|sample| match sample.value {
                prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Gauge(value)
                | prometheus_parse::Value::Untyped(value) => value,
                _ => f64::NAN,
            })
    };
    assert!(sample("lazyhost_plugin_watch_events_total", "stamp").unwrap() >= 1.0);
    assert_eq!(sample("lazyhost_plugin_loaded", "stamp"), Some(1.0));
    assert_eq!(sample("lazyhost_plugin_loaded", "audit"), Some(1.0));

    // Unloading the controller closes its watches.
    std::fs::remove_file(daemon.plugins_dir().join("stamp.wasm")).unwrap();
    let deadline = Instant::now() + DEADLINE;
    while ["sim-1", "sim-2"]
        .iter()
        .any(|cluster| fleet.counts(cluster).unwrap().watches_open > 0)
    {
        assert!(
            Instant::now() < deadline,
            "watches stayed open:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fleet.shutdown().await;
}
