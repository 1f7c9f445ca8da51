//! Starting, describing and stopping the fleet of simulated clusters.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::config::Kubeconfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cluster::{Cluster, ClusterCounts, Counters};
use super::store::Store;
use super::tls::{self, TlsMaterial};
use super::{SimError, control, kubeconfig, seed, server, time};

/// Settings of a simulated fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetOptions {
    /// Number of clusters, named `sim-1` to `sim-<clusters>`; at least 1. Defaults to 3,
    /// one of each seed variant.
    pub clusters: usize,
    /// Delay added before sending each API response, to imitate the network
    /// latency of remote clusters in benchmarks. Defaults to zero.
    pub request_latency: Duration,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            clusters: 3,
            request_latency: Duration::ZERO,
        }
    }
}

/// A running fleet of simulated clusters. Dropping it without [`Fleet::shutdown`]
/// also stops the servers, but without waiting for open requests to finish.
pub struct Fleet {
    clusters: Arc<Vec<Arc<Cluster>>>,
    ca_pem: String,
    control_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Starts `options.clusters` clusters and the control endpoint, each on an
    /// ephemeral port of 127.0.0.1.
    pub async fn start(options: FleetOptions) -> Result<Fleet, SimError> {
        if options.clusters == 0 {
            return Err(SimError::NoClusters {
                clusters: options.clusters,
            });
        }
        let material = TlsMaterial::generate()?;
        let start_time = time::now();
        let (shutdown, shutdown_receiver) = watch::channel(false);

        let mut clusters = Vec::with_capacity(options.clusters);
        let mut tasks = Vec::with_capacity(options.clusters + 1);
        for index in 1..=options.clusters {
            let (listener, address) = bind().await?;
            let cluster = Arc::new(new_cluster(index, address, start_time, &options)?);
            let server = server::serve_cluster(
                cluster.clone(),
                listener,
                material.server_config.clone(),
                shutdown_receiver.clone(),
            );
            tasks.push(tokio::spawn(server));
            clusters.push(cluster);
        }

        let clusters = Arc::new(clusters);
        let (control_listener, control_addr) = bind().await?;
        let control = control::serve_control(clusters.clone(), control_listener, shutdown_receiver);
        tasks.push(tokio::spawn(control));
        tracing::debug!(clusters = options.clusters, %control_addr, "simulated fleet started");
        Ok(Fleet {
            clusters,
            ca_pem: material.ca_pem,
            control_addr,
            shutdown,
            tasks,
        })
    }

    /// Returns the cluster names, `sim-1` first.
    pub fn cluster_names(&self) -> Vec<String> {
        self.clusters
            .iter()
            .map(|cluster| cluster.name.clone())
            .collect()
    }

    /// Returns the `https://127.0.0.1:<port>` URL of a cluster's API server.
    pub fn cluster_url(&self, cluster: &str) -> Option<String> {
        self.find(cluster).map(Cluster::url)
    }

    /// Returns the kubeconfig: per cluster a cluster entry with the fleet's
    /// certificate authority, a user with the cluster's bearer token and a context
    /// named after the cluster. The current context is `sim-1`.
    pub fn kubeconfig(&self) -> Kubeconfig {
        kubeconfig::build(&self.clusters, &self.ca_pem)
            .expect("the kubeconfig is built from valid strings")
    }

    /// Writes [`Fleet::kubeconfig`] as YAML to `path`, atomically and with mode 0600.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), SimError> {
        kubeconfig::write(&self.kubeconfig(), path)
    }

    /// Returns the traffic counters of a cluster, or `None` for an unknown name.
    pub fn counts(&self, cluster: &str) -> Option<ClusterCounts> {
        self.find(cluster)
            .map(|cluster| cluster.counters.snapshot())
    }

    /// Returns the address of the plain-HTTP control endpoint (`GET /clusters`).
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Stops accepting connections, lets open requests finish (up to 5 seconds per
    /// cluster) and waits for every server task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a simulated cluster task failed during shutdown");
            }
        }
        tracing::debug!("simulated fleet stopped");
    }

    fn find(&self, name: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|cluster| cluster.name == name)
            .map(Arc::as_ref)
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// Opens a listener on an ephemeral port of 127.0.0.1 and returns it with its address.
async fn bind() -> Result<(TcpListener, SocketAddr), SimError> {
    let bind_error = |source| SimError::Bind {
        addr: loopback(),
        source,
    };
    let listener = TcpListener::bind(loopback()).await.map_err(bind_error)?;
    let address = listener.local_addr().map_err(bind_error)?;
    Ok((listener, address))
}

/// Builds cluster `sim-<index>` with its seeded store and a fresh bearer token.
fn new_cluster(
    index: usize,
    address: SocketAddr,
    start_time: Timestamp,
    options: &FleetOptions,
) -> Result<Cluster, SimError> {
    let store = Store::new(index);
    seed::seed(&store, index, start_time);
    Ok(Cluster {
        name: format!("sim-{index}"),
        address,
        token: tls::random_token()?,
        store,
        counters: Counters::default(),
        request_latency: options.request_latency,
    })
}

/// Runs a fleet for `lazyhost sim`: starts it, writes the kubeconfig to
/// `kubeconfig_out`, logs each cluster's URL and the control URL, serves until
/// Ctrl-C or SIGTERM, then shuts down.
pub async fn serve_until_interrupted(
    options: FleetOptions,
    kubeconfig_out: &Path,
) -> Result<(), SimError> {
    let fleet = Fleet::start(options).await?;
    if let Err(error) = fleet.write_kubeconfig(kubeconfig_out) {
        fleet.shutdown().await;
        return Err(error);
    }
    for name in fleet.cluster_names() {
        let url = fleet.cluster_url(&name).unwrap_or_default();
        tracing::info!(cluster = %name, %url, "simulated cluster listening");
    }
    tracing::info!(
        control_url = %format!("http://{}/clusters", fleet.control_addr()),
        kubeconfig = %kubeconfig_out.display(),
        "simulated fleet ready; stop it with Ctrl-C or SIGTERM"
    );
    let signal = wait_for_interrupt().await;
    tracing::info!("stopping the simulated fleet");
    fleet.shutdown().await;
    signal
}

#[cfg(unix)]
async fn wait_for_interrupt() -> Result<(), SimError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(SimError::Signal),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_interrupt() -> Result<(), SimError> {
    tokio::signal::ctrl_c().await.map_err(SimError::Signal)
}
