//! Every kubeconfig credential kind through the lazy pool against the
//! simulated fleet: bearer tokens inline and in a file, client certificates as
//! data and as files, and exec credential plugins, with the servers' counts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lazyhost::cluster::{ErrorKind, KubeFactory, KubePool, ListOptions, RequestError};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;
use lazyhost::pool::PoolConfig;
use lazyhost::sim::{Fleet, FleetOptions, UserAuth};
use serde_json::{Value, json};

/// Version of the ExecCredential that the test plugins print.
const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

async fn start_fleet(clusters: usize) -> Fleet {
    Fleet::start(FleetOptions {
        clusters,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// Writes `kubeconfig` to `dir` as YAML with the `user` entries of the named
/// clusters replaced, and returns the file's path.
fn write_kubeconfig(
    dir: &Path,
    kubeconfig: &kube::config::Kubeconfig,
    users: &[(&str, Value)],
) -> PathBuf {
    let mut document = serde_json::to_value(kubeconfig).expect("kubeconfig serializes");
    let entries = document["users"].as_array_mut().expect("users is a list");
    for (cluster, user) in users {
        let entry = entries
            .iter_mut()
            .find(|entry| entry["name"] == *cluster)
            .unwrap_or_else(|| panic!("no user named {cluster}"));
        entry["user"] = user.clone();
    }
    let path = dir.join("kubeconfig");
    let yaml = serde_yaml::to_string(&document).expect("kubeconfig converts to YAML");
    std::fs::write(&path, yaml).expect("kubeconfig is written");
    path
}

fn pool_with_config(kubeconfig: &Path, config: PoolConfig) -> KubePool {
    let inventory = Inventory::from_kubeconfig_files(&[kubeconfig.to_path_buf()])
        .expect("kubeconfig is readable");
    let factory = KubeFactory::new(Arc::new(Monitor::new()));
    KubePool::with_config(Arc::new(inventory), factory, config)
}

fn pool(kubeconfig: &Path) -> KubePool {
    pool_with_config(kubeconfig, PoolConfig::default())
}

/// Checks out `cluster` and lists its pods in every namespace; returns the
/// number of pods listed.
async fn list_pods(pool: &KubePool, cluster: &str) -> Result<usize, RequestError> {
    let client = pool.checkout(cluster).await?;
    let list = client.list("pods", &ListOptions::default()).await?;
    let list: Value = serde_json::from_str(&list).expect("the list is JSON");
    Ok(list["items"].as_array().expect("items is a list").len())
}

/// Asserts that one client listed the pods of `cluster` once, with no 401.
fn assert_listed_once(fleet: &Fleet, cluster: &str) {
    let counts = fleet.counts(cluster).unwrap();
    assert_eq!(counts.unauthorized, 0, "{counts:?}");
    assert_eq!(counts.clients, 1, "{counts:?}");
    assert_eq!(
        counts.requests_by_verb_path.get("list /api/v1/pods"),
        Some(&1),
        "{counts:?}"
    );
}

/// Writes an executable shell script named `name` into `dir`.
fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).expect("script is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("script is made executable");
    path
}

/// Returns the kubeconfig `user` entry that runs `command` as an exec
/// credential plugin.
fn exec_user(command: &Path) -> Value {
    json!({
        "exec": {
            "apiVersion": EXEC_API_VERSION,
            "command": command,
            "interactiveMode": "Never",
        }
    })
}

/// Writes an exec credential plugin that appends a line to `count_file` and
/// prints an ExecCredential with `token`.
fn write_token_plugin(dir: &Path, token: &str, count_file: &Path) -> PathBuf {
    let credential = json!({
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "status": {"token": token},
    });
    let body = format!(
        "echo run >> '{}'\necho '{credential}'\n",
        count_file.display()
    );
    write_script(dir, "token-plugin", &body)
}

fn runs(count_file: &Path) -> usize {
    std::fs::read_to_string(count_file)
        .unwrap_or_default()
        .lines()
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_authenticates() {
    let fleet = start_fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), &fleet.kubeconfig(), &[]);
    let pool = pool(&path);

    let pods = list_pods(&pool, "sim-1").await.expect("pods are listed");

    assert!(pods > 0);
    assert_listed_once(&fleet, "sim-1");
    assert_eq!(fleet.counts("sim-2").unwrap().requests, 0);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_authenticates() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    // Written as `echo` writes it: the line break is not part of the token.
    let token = format!("{}\n", fleet.token("sim-1").unwrap());
    std::fs::write(&token_file, token).unwrap();
    let user = json!({"tokenFile": token_file});
    let path = write_kubeconfig(dir.path(), &fleet.kubeconfig(), &[("sim-1", user)]);
    let pool = pool(&path);

    let pods = list_pods(&pool, "sim-1").await.expect("pods are listed");

    assert!(pods > 0);
    assert_listed_once(&fleet, "sim-1");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_data_authenticates() {
    let fleet = start_fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fleet
        .kubeconfig_with_auth(UserAuth::ClientCertificate)
        .expect("client certificates are issued");
    let user = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap();
    assert!(user.token.is_none());
    assert!(user.client_certificate_data.is_some());
    assert!(user.client_key_data.is_some());
    let path = write_kubeconfig(dir.path(), &kubeconfig, &[]);
    let pool = pool(&path);

    // A stale token elsewhere does not matter: the certificate alone authenticates.
    fleet.rotate_token("sim-1").unwrap();
    for cluster in ["sim-1", "sim-2"] {
        let pods = list_pods(&pool, cluster).await.expect("pods are listed");
        assert!(pods > 0, "{cluster}");
        assert_listed_once(&fleet, cluster);
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_files_authenticate() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let certificate = fleet.issue_client_certificate("alice").unwrap();
    let certificate_file = dir.path().join("alice.crt");
    let key_file = dir.path().join("alice.key");
    std::fs::write(&certificate_file, &certificate.certificate_pem).unwrap();
    std::fs::write(&key_file, &certificate.private_key_pem).unwrap();
    let user = json!({"client-certificate": certificate_file, "client-key": key_file});
    let path = write_kubeconfig(dir.path(), &fleet.kubeconfig(), &[("sim-1", user)]);
    let pool = pool(&path);

    let pods = list_pods(&pool, "sim-1").await.expect("pods are listed");

    assert!(pods > 0);
    assert_listed_once(&fleet, "sim-1");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_user_name_rejected() {
    let fleet = start_fleet(1).await;
    let error = fleet.issue_client_certificate("").unwrap_err();
    assert!(error.to_string().contains("user name"), "{error}");
    fleet.shutdown().await;
}

/// Starts one cluster whose user runs an exec credential plugin that prints
/// the cluster's token and counts its runs in the returned file.
async fn fleet_with_token_plugin(dir: &Path) -> (Fleet, KubePool, PathBuf) {
    let fleet = start_fleet(1).await;
    let count_file = dir.join("runs");
    let token = fleet.token("sim-1").unwrap();
    let plugin = write_token_plugin(dir, &token, &count_file);
    let users = [("sim-1", exec_user(&plugin))];
    let path = write_kubeconfig(dir, &fleet.kubeconfig(), &users);
    let pool = pool(&path);
    (fleet, pool, count_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_plugin_token_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, pool, count_file) = fleet_with_token_plugin(dir.path()).await;

    let pods = list_pods(&pool, "sim-1").await.expect("pods are listed");
    let runs_at_start = runs(&count_file);
    let client = pool.checkout("sim-1").await.unwrap();
    for _ in 0..3 {
        client
            .list("configmaps", &ListOptions::default())
            .await
            .expect("config maps are listed");
    }

    assert!(pods > 0);
    assert_listed_once(&fleet, "sim-1");
    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(
        counts.requests_by_verb_path.get("list /api/v1/configmaps"),
        Some(&3),
        "{counts:?}"
    );
    assert!(runs_at_start >= 1, "the exec plugin never ran");
    assert_eq!(runs(&count_file), runs_at_start, "requests ran the plugin");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_plugin_runs_once_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, pool, count_file) = fleet_with_token_plugin(dir.path()).await;

    list_pods(&pool, "sim-1").await.expect("pods are listed");
    let client = pool.checkout("sim-1").await.unwrap();
    for _ in 0..3 {
        client
            .list("configmaps", &ListOptions::default())
            .await
            .expect("config maps are listed");
    }

    assert_eq!(pool.stats().clients_built, 1);
    assert_eq!(runs(&count_file), 1, "runs of the exec plugin");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_unauthorized() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let user = json!({"token": "not-the-cluster-token"});
    let path = write_kubeconfig(dir.path(), &fleet.kubeconfig(), &[("sim-1", user)]);
    let pool = pool(&path);

    let error = list_pods(&pool, "sim-1").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unauthorized, "{error}");
    assert!(
        error
            .message
            .starts_with("failed to start the client of cluster `sim-1`: "),
        "{error}"
    );
    assert!(error.message.contains("Unauthorized"), "{error}");
    let counts = fleet.counts("sim-1").unwrap();
    assert!(counts.unauthorized >= 1, "{counts:?}");
    assert_eq!(counts.unauthorized, counts.requests, "{counts:?}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_token_makes_client_stale() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_kubeconfig(dir.path(), &fleet.kubeconfig(), &[]);
    let pool = pool(&path);
    let client = pool.checkout("sim-1").await.expect("client starts");
    let old_token = fleet.token("sim-1").unwrap();

    let new_token = fleet.rotate_token("sim-1").unwrap();
    let error = client
        .list("pods", &ListOptions::default())
        .await
        .unwrap_err();

    assert_ne!(new_token, old_token);
    assert_eq!(fleet.token("sim-1"), Some(new_token));
    assert_eq!(error.kind, ErrorKind::Unauthorized, "{error}");
    assert!(error.message.contains("Unauthorized"), "{error}");
    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(counts.unauthorized, 1, "{counts:?}");
    assert!(fleet.rotate_token("sim-9").is_err());
    fleet.shutdown().await;
}

/// Starts a one-cluster fleet whose user reads its token from a file, and
/// returns the fleet, the pool with sim-1's client started, and the file.
async fn fleet_with_token_file(dir: &Path) -> (Fleet, KubePool, PathBuf) {
    let fleet = start_fleet(1).await;
    let token_file = dir.join("token");
    std::fs::write(&token_file, fleet.token("sim-1").unwrap()).unwrap();
    let user = json!({"tokenFile": token_file});
    let path = write_kubeconfig(dir, &fleet.kubeconfig(), &[("sim-1", user)]);
    let pool = pool(&path);
    pool.checkout("sim-1").await.expect("client starts");
    (fleet, pool, token_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_token_file_reread_after_401() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, pool, token_file) = fleet_with_token_file(dir.path()).await;

    let rotated = fleet.rotate_token("sim-1").unwrap();
    std::fs::write(&token_file, rotated).unwrap();
    let pods = list_pods(&pool, "sim-1")
        .await
        .expect("the read is sent again");

    assert!(pods > 0);
    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(counts.unauthorized, 1, "{counts:?}");
    assert_eq!(
        counts.requests_by_verb_path.get("list /api/v1/pods"),
        Some(&2),
        "{counts:?}"
    );
    assert_eq!(counts.clients, 1, "the client is kept: {counts:?}");
    assert_eq!(pool.stats().clients_built, 1);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_credential_after_refresh_is_not_retried_again() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, pool, _token_file) = fleet_with_token_file(dir.path()).await;

    // The token file keeps the old token, so the refresh cannot help.
    fleet.rotate_token("sim-1").unwrap();
    let error = list_pods(&pool, "sim-1").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unauthorized, "{error}");
    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(counts.unauthorized, 2, "one try and one retry: {counts:?}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_that_got_401_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let (fleet, pool, token_file) = fleet_with_token_file(dir.path()).await;
    let client = pool.checkout("sim-1").await.unwrap();
    let config_map = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}).to_string()
    };

    let rotated = fleet.rotate_token("sim-1").unwrap();
    std::fs::write(&token_file, rotated).unwrap();
    let error = client
        .create("configmaps", Some("default"), &config_map("first"))
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unauthorized, "{error}");
    client
        .create("configmaps", Some("default"), &config_map("second"))
        .await
        .expect("the refreshed credential is used");

    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(counts.unauthorized, 1, "{counts:?}");
    assert_eq!(
        counts
            .requests_by_verb_path
            .get("create /api/v1/namespaces/default/configmaps"),
        Some(&2),
        "{counts:?}"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_exec_credential_runs_the_plugin_once_more() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let count_file = dir.path().join("runs");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, fleet.token("sim-1").unwrap()).unwrap();
    let body = format!(
        "echo run >> '{count}'\n\
         printf '{{\"apiVersion\":\"{EXEC_API_VERSION}\",\"kind\":\"ExecCredential\",\
         \"status\":{{\"token\":\"%s\"}}}}' \"$(cat '{token}')\"\n",
        count = count_file.display(),
        token = token_file.display(),
    );
    let plugin = write_script(dir.path(), "rotating-plugin", &body);
    let users = [("sim-1", exec_user(&plugin))];
    let path = write_kubeconfig(dir.path(), &fleet.kubeconfig(), &users);
    let pool = pool(&path);
    list_pods(&pool, "sim-1").await.expect("pods are listed");
    assert_eq!(runs(&count_file), 1);

    let rotated = fleet.rotate_token("sim-1").unwrap();
    std::fs::write(&token_file, rotated).unwrap();
    list_pods(&pool, "sim-1")
        .await
        .expect("the read is sent again");

    assert_eq!(runs(&count_file), 2, "runs of the exec plugin");
    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(counts.unauthorized, 1, "{counts:?}");
    assert_eq!(counts.clients, 1, "{counts:?}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_exec_plugin_is_named_with_its_message() {
    let fleet = start_fleet(1).await;
    let dir = tempfile::tempdir().unwrap();
    let plugin = write_script(
        dir.path(),
        "failing-plugin",
        "echo 'login expired: run sso-login' >&2\nexit 3\n",
    );
    let path = write_kubeconfig(
        dir.path(),
        &fleet.kubeconfig(),
        &[("sim-1", exec_user(&plugin))],
    );
    let pool = pool(&path);

    let error = list_pods(&pool, "sim-1").await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unauthorized, "{error}");
    let server = fleet.cluster_url("sim-1").unwrap();
    assert_eq!(
        error.message,
        format!(
            "failed to start the client of cluster `sim-1`: exec credential plugin `{}` failed \
             with exit status: 3: login expired: run sso-login; fix the plugin or the user's \
             exec entry in the kubeconfig (server {server})",
            plugin.display()
        )
    );
    assert_eq!(fleet.counts("sim-1").unwrap().requests, 0);
    fleet.shutdown().await;
}

// kube runs an exec plugin synchronously; the pool runs it on a blocking
// thread, so a hung plugin holds that thread and no runtime worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_exec_plugin_times_out_alone() {
    let fleet = start_fleet(3).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("hung-plugin.pid");
    let body = format!("echo $$ > '{}'\nexec sleep 30\n", pid_file.display());
    let hung = write_script(dir.path(), "hung-plugin", &body);
    let path = write_kubeconfig(
        dir.path(),
        &fleet.kubeconfig(),
        &[("sim-2", exec_user(&hung))],
    );
    let config = PoolConfig {
        init_timeout: Duration::from_secs(5),
        ..PoolConfig::default()
    };
    let pool = Arc::new(pool_with_config(&path, config));

    let list = |cluster: &'static str| {
        let pool = Arc::clone(&pool);
        tokio::spawn(async move { list_pods(&pool, cluster).await })
    };
    let hung = list("sim-2");
    let (first, third) = tokio::join!(list("sim-1"), list("sim-3"));
    // The healthy clusters are done while the hung one still waits.
    let hung_still_waiting = !hung.is_finished();
    let hung = hung.await.expect("the sim-2 task completes");
    stop_process(&pid_file);

    assert!(
        hung_still_waiting,
        "sim-2 ended before the healthy clusters"
    );
    let first = first.expect("the sim-1 task completes");
    let third = third.expect("the sim-3 task completes");
    assert!(first.is_ok(), "sim-1: {first:?}");
    assert!(third.is_ok(), "sim-3: {third:?}");
    let error = hung.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Timeout, "{error}");
    assert!(error.message.contains("pool.init_timeout"), "{error}");
    assert_listed_once(&fleet, "sim-1");
    assert_listed_once(&fleet, "sim-3");
    assert_eq!(fleet.counts("sim-2").unwrap().requests, 0);
    fleet.shutdown().await;
}

/// Ends the process whose id the file at `pid_file` contains, so that a blocking
/// thread still waiting for it lets the test's runtime shut down. The process
/// may have exited already, so a failed `kill` is ignored.
fn stop_process(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file).expect("the plugin wrote its process id");
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_exec_plugin_does_not_keep_lazyhost_running() {
    let fleet = start_fleet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("hung-plugin.pid");
    let body = format!("echo $$ > '{}'\nexec sleep 300\n", pid_file.display());
    let hung = write_script(dir.path(), "hung-plugin", &body);
    write_kubeconfig(
        dir.path(),
        &fleet.kubeconfig(),
        &[("sim-2", exec_user(&hung))],
    );
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(
        &config,
        "kubeconfigs = [\"kubeconfig\"]\n[pool]\ninit_timeout = \"1s\"\n",
    )
    .unwrap();

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args(["clusters", "--check", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("lazyhost starts");
    // Generous: lazyhost exits about a second after start; only a process
    // that waits for the plugin would reach this.
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().expect("lazyhost can be waited on");
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    stop_process(&pid_file);

    let status = status.expect("lazyhost exited while the exec plugin still hung");
    assert_eq!(status.code(), Some(1), "one cluster failed to start");
    fleet.shutdown().await;
}
