//! Reaching clusters the ways real fleets do: from inside a pod with its
//! service account, and through an HTTP proxy named by `proxy-url`.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use kube::config::Kubeconfig;
use lazyhost::cluster::{KubeFactory, KubePool, ListOptions};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;
use lazyhost::sim::{Fleet, FleetOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn fleet(clusters: usize) -> Fleet {
    Fleet::start(FleetOptions {
        clusters,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// Writes the service account files of `cluster` the way Kubernetes
/// mounts them, and returns the server's port.
fn mount_service_account(kubeconfig: &Kubeconfig, cluster: &str, dir: &Path) -> String {
    let entry = kubeconfig
        .clusters
        .iter()
        .find(|named| named.name == cluster)
        .and_then(|named| named.cluster.as_ref())
        .unwrap();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(entry.certificate_authority_data.as_ref().unwrap())
        .unwrap();
    std::fs::write(dir.join("ca.crt"), ca).unwrap();
    let user = kubeconfig
        .auth_infos
        .iter()
        .find(|named| named.name == cluster)
        .and_then(|named| named.auth_info.as_ref())
        .unwrap();
    let token = user.token.as_ref().unwrap();
    use secrecy::ExposeSecret as _;
    std::fs::write(dir.join("token"), token.expose_secret()).unwrap();
    std::fs::write(dir.join("namespace"), "shop\n").unwrap();
    let server: http::Uri = entry.server.as_ref().unwrap().parse().unwrap();
    server.port_u16().unwrap().to_string()
}

/// Runs `lazyhost` as if in a pod: service variables set, the service
/// account in `account`, and no kubeconfig anywhere.
fn lazyhost_in_pod(args: &[&str], port: &str, account: &Path, home: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args(args)
        .current_dir(home)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .env("HOME", home)
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", port)
        .env("LAZYHOST_SERVICE_ACCOUNT_DIR", account)
        .output()
        .expect("lazyhost runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_service_account_is_the_default_cluster() {
    let fleet = fleet(1).await;
    let account = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let port = mount_service_account(&fleet.kubeconfig(), "sim-1", account.path());

    let clusters = lazyhost_in_pod(
        &["clusters", "--check", "-o", "json"],
        &port,
        account.path(),
        home.path(),
    );
    let document = common::json(&clusters);
    let row = &document["clusters"][0];
    assert_eq!(row["name"], "in-cluster", "{document}");
    assert_eq!(row["state"], "ready", "{document}");
    assert_eq!(row["server"], format!("https://127.0.0.1:{port}"));

    let plugin = common::plugin("pod_audit");
    let run = lazyhost_in_pod(
        &["run", common::arg(&plugin), "-o", "json"],
        &port,
        account.path(),
        home.path(),
    );
    let document = common::json(&run);
    let result = &document["results"][0];
    assert_eq!(result["cluster"], "in-cluster", "{document}");
    assert_eq!(result["status"], "ok", "{document}");
    assert_eq!(result["output"]["pods"], 11, "{document}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_service_account_token_is_named() {
    let fleet = fleet(1).await;
    let account = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let port = mount_service_account(&fleet.kubeconfig(), "sim-1", account.path());
    std::fs::write(home.path().join("lazyhost.toml"), "in_cluster = true\n").unwrap();
    std::fs::remove_file(account.path().join("token")).unwrap();

    let output = lazyhost_in_pod(&["clusters"], &port, account.path(), home.path());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        common::stderr(&output),
        format!(
            "error: cannot use the in-cluster service account: no service account file `{}`: \
             mount the pod's service account token, or set LAZYHOST_SERVICE_ACCOUNT_DIR to its folder\n",
            account.path().join("token").display()
        )
    );
    fleet.shutdown().await;
}

/// A forward proxy that only tunnels: it accepts `CONNECT host:port` when
/// the request carries `authorization`, and counts the tunnels it opened.
struct TunnelProxy {
    address: std::net::SocketAddr,
    tunnels: Arc<AtomicUsize>,
    targets: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl TunnelProxy {
    async fn start(authorization: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (counter, seen) = (Arc::clone(&tunnels), Arc::clone(&targets));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (counter, seen) = (Arc::clone(&counter), Arc::clone(&seen));
                tokio::spawn(async move {
                    tunnel(stream, authorization, &counter, &seen).await;
                });
            }
        });
        Self {
            address,
            tunnels,
            targets,
        }
    }
}

async fn tunnel(
    mut client: TcpStream,
    authorization: &str,
    counter: &AtomicUsize,
    seen: &parking_lot::Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let authorized = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("proxy-authorization") && value.trim() == authorization
        })
    });
    if !authorized {
        let _ = client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    }
    let Ok(mut upstream) = TcpStream::connect(&target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    counter.fetch_add(1, Ordering::SeqCst);
    seen.lock().push(target);
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

fn pool_over(kubeconfig: Kubeconfig) -> KubePool {
    let inventory = Arc::new(Inventory::from_kubeconfig(kubeconfig, "test fleet").unwrap());
    KubePool::new(inventory, KubeFactory::new(Arc::new(Monitor::new())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_url_tunnels_with_its_credentials() {
    let fleet = fleet(2).await;
    // base64 of "ops:p@ss"
    let proxy = TunnelProxy::start("Basic b3BzOnBAc3M=").await;
    let mut kubeconfig = fleet.kubeconfig();
    let sim1 = kubeconfig.clusters[0].cluster.as_mut().unwrap();
    sim1.proxy_url = Some(format!("http://ops:p%40ss@{}", proxy.address));
    let pool = pool_over(kubeconfig);

    for cluster in ["sim-1", "sim-2"] {
        let client = pool.checkout(cluster).await.expect("client starts");
        client
            .list("pods", &ListOptions::default())
            .await
            .expect("list succeeds");
    }

    let sim1_address = fleet.cluster_url("sim-1").unwrap();
    let sim1_address = sim1_address.trim_start_matches("https://");
    // Discovery reads groups in parallel, so the client may open a few
    // connections. Every one of sim-1's goes through the proxy, and none
    // of sim-2's does.
    let tunnels = proxy.tunnels.load(Ordering::SeqCst);
    let targets = proxy.targets.lock().clone();
    assert!(tunnels >= 1);
    assert_eq!(targets, vec![sim1_address.to_string(); tunnels]);
    assert_eq!(fleet.counts("sim-1").unwrap().connections as usize, tunnels);
    assert!(fleet.counts("sim-2").unwrap().connections >= 1);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_proxy_scheme_is_named() {
    let fleet = fleet(1).await;
    let mut kubeconfig = fleet.kubeconfig();
    kubeconfig.clusters[0].cluster.as_mut().unwrap().proxy_url =
        Some("socks5://alice:s3cret@127.0.0.1:1080".to_string());
    let pool = pool_over(kubeconfig);

    let error = pool.checkout("sim-1").await.err().expect("start fails");
    let message = lazyhost::cluster::error_chain(&error);
    assert!(
        message
            .starts_with("failed to start the client of cluster `sim-1`: failed to build client: "),
        "{message}"
    );
    assert!(message.contains("socks5://127.0.0.1:1080"), "{message}");
    assert!(
        !message.contains("s3cret"),
        "the password leaked: {message}"
    );
    assert_eq!(fleet.counts("sim-1").unwrap().connections, 0);
    fleet.shutdown().await;
}
