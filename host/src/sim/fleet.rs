//! Starting, describing and stopping the fleet of simulated clusters.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::config::Kubeconfig;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cluster::{Cluster, ClusterCounts, Counters};
use super::control::{self, ControlState};
use super::faults::{self, FaultState, Faults};
use super::kubeconfig::UserAuth;
use super::server::{self, TlsConfigs};
use super::shared_port::{self, Routes};
use super::store::Store;
use super::tls::{self, ClientCertificate, TlsMaterial};
use super::{SimError, extra_objects, kubeconfig, seed, time};

/// Listening layout of a fleet's clusters on 127.0.0.1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listen {
    /// Each cluster on its own ephemeral port: `https://127.0.0.1:<port>`.
    #[default]
    PortPerCluster,
    /// All clusters on one port, distinguished by a path prefix:
    /// `https://127.0.0.1:<port>/clusters/<name>`. A cluster that starts with a
    /// fault below HTTP (`down`, `wrong_ca`) still gets its own port.
    SharedPort,
}

/// Settings of a simulated fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetOptions {
    /// Number of clusters, named `sim-1` to `sim-<clusters>`; at least 1. Defaults to 3,
    /// one of each seed variant.
    pub clusters: usize,
    /// Delay added before sending each API response, to imitate the network
    /// latency of remote clusters in benchmarks. Defaults to zero.
    pub request_latency: Duration,
    /// Listening layout of the clusters. Defaults to one port per cluster.
    pub listen: Listen,
    /// Extra config maps and pods per cluster on top of the fixed seed, see the
    /// `extra_objects` module. Defaults to 0.
    pub objects: usize,
    /// Number of faulty clusters: the last `faulty` clusters get the faults of
    /// [`faults::default_mix`] in turn. Defaults to 0.
    pub faulty: usize,
    /// Faults per cluster name, replacing what `faulty` gives the same cluster.
    pub faults: BTreeMap<String, Faults>,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            clusters: 3,
            request_latency: Duration::ZERO,
            listen: Listen::PortPerCluster,
            objects: 0,
            faulty: 0,
            faults: BTreeMap::new(),
        }
    }
}

impl FleetOptions {
    /// Returns the faults each cluster starts with, `sim-1` first, after checking
    /// the cluster count, `faulty` and every entry of `faults`.
    fn initial_faults(&self) -> Result<Vec<Faults>, SimError> {
        if self.clusters == 0 || self.clusters > super::MAX_CLUSTERS {
            return Err(SimError::NoClusters {
                clusters: self.clusters,
            });
        }
        if self.faulty > self.clusters {
            return Err(SimError::TooManyFaulty {
                faulty: self.faulty,
                clusters: self.clusters,
            });
        }
        let first_faulty = self.clusters - self.faulty;
        let mut initial: Vec<Faults> = (0..self.clusters)
            .map(|position| match position.checked_sub(first_faulty) {
                Some(offset) => faults::default_mix(offset),
                None => Faults::default(),
            })
            .collect();
        for (name, faults) in &self.faults {
            let index = cluster_index(name, self.clusters)?;
            faults
                .validate()
                .map_err(|source| SimError::InvalidFaults {
                    cluster: name.clone(),
                    source,
                })?;
            initial[index - 1] = faults.clone();
        }
        Ok(initial)
    }
}

/// Returns the 1-based index of cluster `name`, `sim-<index>`.
fn cluster_index(name: &str, clusters: usize) -> Result<usize, SimError> {
    name.strip_prefix("sim-")
        .and_then(|digits| digits.parse::<usize>().ok())
        .filter(|index| (1..=clusters).contains(index) && name == format!("sim-{index}"))
        .ok_or_else(|| SimError::UnknownCluster {
            cluster: name.to_string(),
            clusters,
        })
}

/// A running fleet of simulated clusters. Dropping it without [`Fleet::shutdown`]
/// also stops the servers, but without waiting for open requests to finish.
pub struct Fleet {
    clusters: Arc<Vec<Arc<Cluster>>>,
    tls: TlsMaterial,
    control_addr: SocketAddr,
    shared_addr: Option<SocketAddr>,
    resident_memory_at_start: Option<u64>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Address and listener of one cluster, decided before its kubeconfig entry is written.
struct Endpoint {
    address: SocketAddr,
    path_prefix: String,
    /// The cluster's own listener; `None` on the shared port.
    listener: Option<TcpListener>,
}

impl Fleet {
    /// Starts the clusters and the control endpoint on 127.0.0.1, each cluster
    /// with its seeded objects and initial faults.
    pub async fn start(options: FleetOptions) -> Result<Fleet, SimError> {
        let initial = options.initial_faults()?;
        let material = TlsMaterial::generate()?;
        let (endpoints, shared) = bind_endpoints(&options, &initial).await?;
        let clusters = build_clusters(&endpoints, initial, &options)?;

        let (shutdown, shutdown_receiver) = watch::channel(false);
        let tls = TlsConfigs {
            fleet: material.server_config.clone(),
            wrong_ca: material.wrong_ca_config.clone(),
        };
        let mut tasks = spawn_own_ports(&clusters, endpoints, &tls, &shutdown_receiver);
        let shared_addr = shared.as_ref().map(|(_, address)| *address);
        if let Some((listener, _)) = shared {
            let routes = shared_routes(&clusters);
            let serve =
                shared_port::serve_shared(routes, listener, tls.fleet, shutdown_receiver.clone());
            tasks.push(tokio::spawn(serve));
        }
        let clusters = Arc::new(clusters);
        let resident_memory_at_start = control::resident_memory_bytes();
        let state = ControlState {
            clusters: clusters.clone(),
            shared_addr,
            resident_memory_at_start,
        };
        let (control_listener, control_addr) = bind().await?;
        let control = control::serve_control(Arc::new(state), control_listener, shutdown_receiver);
        tasks.push(tokio::spawn(control));
        tracing::debug!(clusters = options.clusters, %control_addr, "simulated fleet started");
        Ok(Fleet {
            clusters,
            tls: material,
            control_addr,
            shared_addr,
            resident_memory_at_start,
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

    /// Returns the URL of a cluster's API server: `https://127.0.0.1:<port>`, or
    /// `https://127.0.0.1:<port>/clusters/<name>` on the shared port.
    pub fn cluster_url(&self, cluster: &str) -> Option<String> {
        self.find(cluster).map(Cluster::url)
    }

    /// Returns the kubeconfig: per cluster a cluster entry with the fleet's
    /// certificate authority, a user with the cluster's bearer token and a context
    /// named after the cluster. The current context is `sim-1`.
    ///
    /// The tokens are those in force now; [`Fleet::rotate_token`] makes them stale.
    pub fn kubeconfig(&self) -> Kubeconfig {
        let users = self
            .clusters
            .iter()
            .map(|cluster| kubeconfig::token_user(&cluster.token()))
            .collect();
        kubeconfig::build(&self.clusters, &self.tls.ca_pem, users)
            .expect("the kubeconfig is built from valid strings")
    }

    /// Returns the kubeconfig of [`Fleet::kubeconfig`] with users that
    /// authenticate with the credential kind `auth`. For [`UserAuth::ClientCertificate`] each call
    /// issues a new certificate per user, named after its cluster.
    ///
    /// # Errors
    ///
    /// Fails when a client certificate cannot be generated.
    pub fn kubeconfig_with_auth(&self, auth: UserAuth) -> Result<Kubeconfig, SimError> {
        let users = match auth {
            UserAuth::BearerToken => return Ok(self.kubeconfig()),
            UserAuth::ClientCertificate => self
                .clusters
                .iter()
                .map(|cluster| {
                    let certificate = self.tls.issue_client_certificate(&cluster.name)?;
                    Ok(kubeconfig::certificate_user(&certificate))
                })
                .collect::<Result<Vec<_>, SimError>>()?,
        };
        kubeconfig::build(&self.clusters, &self.tls.ca_pem, users)
    }

    /// Issues a client certificate for `user`, signed by the fleet's certificate
    /// authority, with a new private key. Every cluster of the fleet authenticates
    /// a request over a TLS connection with this certificate as `user`, even when
    /// the request also carries a wrong bearer token.
    ///
    /// # Errors
    ///
    /// Fails for an empty user name, or when the key or certificate cannot be
    /// generated.
    pub fn issue_client_certificate(&self, user: &str) -> Result<ClientCertificate, SimError> {
        self.tls.issue_client_certificate(user)
    }

    /// Returns the bearer token of a cluster now, or `None` for an unknown name.
    pub fn token(&self, cluster: &str) -> Option<String> {
        self.find(cluster).map(Cluster::token)
    }

    /// Replaces the bearer token of a cluster with a new random one and returns
    /// it. Requests that carry the old token get 401 Unauthorized from then on,
    /// also on connections already open; client certificates keep working.
    ///
    /// # Errors
    ///
    /// Fails for an unknown cluster, or when the system random number generator
    /// fails.
    pub fn rotate_token(&self, cluster: &str) -> Result<String, SimError> {
        let cluster = self.find(cluster).ok_or_else(|| SimError::UnknownCluster {
            cluster: cluster.to_string(),
            clusters: self.clusters.len(),
        })?;
        let token = tls::random_token()?;
        cluster.rotate_token(token.clone());
        tracing::info!(cluster = %cluster.name, "bearer token rotated");
        Ok(token)
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

    /// Returns the faults in force on a cluster, or `None` for an unknown name.
    pub fn faults(&self, cluster: &str) -> Option<Faults> {
        self.find(cluster)
            .map(|cluster| (*cluster.faults()).clone())
    }

    /// Replaces the faults of a cluster, restarting its request numbers and the
    /// token expiry clock. HTTP-level faults apply to the next request.
    ///
    /// NOTE: the cluster's server task closes or reopens its listener for `down`
    /// shortly after this returns, so a connection made at once may still be
    /// accepted and then reset.
    ///
    /// # Errors
    ///
    /// Fails for an unknown cluster, invalid faults, or `down` or `wrong_ca` on a
    /// cluster that shares the fleet's port.
    pub fn set_faults(&self, cluster: &str, faults: Faults) -> Result<(), SimError> {
        let cluster = self.find(cluster).ok_or_else(|| SimError::UnknownCluster {
            cluster: cluster.to_string(),
            clusters: self.clusters.len(),
        })?;
        apply_faults(cluster, faults)
    }

    /// Removes every fault of a cluster.
    pub fn clear_faults(&self, cluster: &str) -> Result<(), SimError> {
        self.set_faults(cluster, Faults::default())
    }

    /// Compacts a cluster's event history, as etcd compaction does: a watch from an
    /// older resourceVersion then gets one ERROR event with a 410 Expired Status,
    /// and a continue token of an older list gets 410. Returns the resourceVersion
    /// compacted to.
    pub fn compact(&self, cluster: &str) -> Result<u64, SimError> {
        let cluster = self.find(cluster).ok_or_else(|| SimError::UnknownCluster {
            cluster: cluster.to_string(),
            clusters: self.clusters.len(),
        })?;
        Ok(cluster.store.compact())
    }

    /// Returns the address of the plain-HTTP control endpoint (`GET /clusters`).
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Returns the address of the port that clusters share, if any listens there.
    pub fn shared_addr(&self) -> Option<SocketAddr> {
        self.shared_addr
    }

    /// Returns the process's resident memory in bytes, measured once the servers
    /// were started; `None` where the operating system does not report it.
    pub fn resident_memory_at_start(&self) -> Option<u64> {
        self.resident_memory_at_start
    }

    /// Stops accepting connections, lets open requests finish (up to 5 seconds per
    /// listener) and waits for every server task.
    pub async fn shutdown(self) {
        for cluster in self.clusters.iter() {
            cluster.store.stop_watches();
        }
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(error) = task.await {
                tracing::warn!(%error, "a simulated cluster task failed during shutdown");
            }
        }
        tracing::debug!("simulated fleet stopped");
    }

    fn find(&self, name: &str) -> Option<&Cluster> {
        find(&self.clusters, name)
    }
}

/// Finds a cluster by name.
pub(crate) fn find<'a>(clusters: &'a [Arc<Cluster>], name: &str) -> Option<&'a Cluster> {
    let index = cluster_index(name, clusters.len()).ok()?;
    clusters.get(index - 1).map(Arc::as_ref)
}

/// Validates `faults` and makes them the cluster's faults.
pub(crate) fn apply_faults(cluster: &Cluster, faults: Faults) -> Result<(), SimError> {
    faults
        .validate()
        .map_err(|source| SimError::InvalidFaults {
            cluster: cluster.name.clone(),
            source,
        })?;
    if faults.needs_own_port() && !cluster.path_prefix.is_empty() {
        return Err(SimError::SharedPortFault {
            cluster: cluster.name.clone(),
        });
    }
    tracing::info!(cluster = %cluster.name, faults = %faults.describe(), "faults set");
    cluster.faults.replace(faults);
    Ok(())
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

/// Decides each cluster's endpoint and opens its listeners: its own port, or the
/// shared port unless a fault below HTTP needs its own.
async fn bind_endpoints(
    options: &FleetOptions,
    initial: &[Faults],
) -> Result<(Vec<Endpoint>, Option<(TcpListener, SocketAddr)>), SimError> {
    let own_port =
        |faults: &Faults| options.listen == Listen::PortPerCluster || faults.needs_own_port();
    let shared = match initial.iter().all(own_port) {
        true => None,
        false => Some(bind().await?),
    };
    let mut endpoints = Vec::with_capacity(initial.len());
    for (position, faults) in initial.iter().enumerate() {
        let endpoint = match &shared {
            Some((_, address)) if !own_port(faults) => Endpoint {
                address: *address,
                path_prefix: shared_port::path_prefix(&format!("sim-{}", position + 1)),
                listener: None,
            },
            _ => {
                let (listener, address) = bind().await?;
                Endpoint {
                    address,
                    path_prefix: String::new(),
                    listener: Some(listener),
                }
            }
        };
        endpoints.push(endpoint);
    }
    Ok((endpoints, shared))
}

/// Builds the clusters, `sim-1` first, with their seeded stores and initial faults.
fn build_clusters(
    endpoints: &[Endpoint],
    initial: Vec<Faults>,
    options: &FleetOptions,
) -> Result<Vec<Arc<Cluster>>, SimError> {
    let start_time = time::now();
    endpoints
        .iter()
        .zip(initial)
        .enumerate()
        .map(|(position, (endpoint, faults))| {
            new_cluster(position + 1, endpoint, faults, start_time, options).map(Arc::new)
        })
        .collect()
}

/// Spawns the server of every cluster that has its own listener.
fn spawn_own_ports(
    clusters: &[Arc<Cluster>],
    endpoints: Vec<Endpoint>,
    tls: &TlsConfigs,
    shutdown: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    clusters
        .iter()
        .zip(endpoints)
        .filter_map(|(cluster, endpoint)| {
            let listener = endpoint.listener?;
            let serve =
                server::serve_cluster(cluster.clone(), listener, tls.clone(), shutdown.clone());
            Some(tokio::spawn(serve))
        })
        .collect()
}

fn shared_routes(clusters: &[Arc<Cluster>]) -> Routes {
    let routes = clusters
        .iter()
        .filter(|cluster| !cluster.path_prefix.is_empty())
        .map(|cluster| (cluster.name.clone(), cluster.clone()))
        .collect();
    Arc::new(routes)
}

/// Builds cluster `sim-<index>` with its seeded store, extra objects, faults and
/// a fresh bearer token.
fn new_cluster(
    index: usize,
    endpoint: &Endpoint,
    faults: Faults,
    start_time: Timestamp,
    options: &FleetOptions,
) -> Result<Cluster, SimError> {
    let store = Store::new(index);
    seed::seed(&store, index, start_time);
    extra_objects::seed_extra(&store, index, start_time, options.objects);
    Ok(Cluster {
        name: format!("sim-{index}"),
        address: endpoint.address,
        path_prefix: endpoint.path_prefix.clone(),
        token: parking_lot::RwLock::new(tls::random_token()?),
        store,
        counters: Counters::default(),
        request_latency: options.request_latency,
        faults: FaultState::new(faults),
    })
}

/// Runs a fleet for `lazyhost sim`: starts it, writes the kubeconfig whose users
/// authenticate with the credential kind `auth` to `kubeconfig_out`, logs the
/// clusters, the control URL and the resident memory, serves until Ctrl-C or
/// SIGTERM, then shuts down.
pub async fn serve_until_interrupted(
    options: FleetOptions,
    kubeconfig_out: &Path,
    auth: UserAuth,
) -> Result<(), SimError> {
    let fleet = Fleet::start(options).await?;
    let written = fleet
        .kubeconfig_with_auth(auth)
        .and_then(|kubeconfig| kubeconfig::write(&kubeconfig, kubeconfig_out));
    if let Err(error) = written {
        fleet.shutdown().await;
        return Err(error);
    }
    log_clusters(&fleet);
    let memory_mib = fleet.resident_memory_at_start.unwrap_or(0) as f64 / (1024.0 * 1024.0);
    tracing::info!(
        clusters = fleet.clusters.len(),
        control_url = %format!("http://{}/clusters", fleet.control_addr()),
        kubeconfig = %kubeconfig_out.display(),
        resident_memory_mib = format!("{memory_mib:.1}"),
        "simulated fleet ready; stop it with Ctrl-C or SIGTERM"
    );
    let signal = wait_for_interrupt().await;
    tracing::info!("stopping the simulated fleet");
    fleet.shutdown().await;
    signal
}

/// Largest fleet whose healthy clusters each get an info line at start; larger
/// fleets log them at debug level to keep the start readable.
const MAX_LISTED_CLUSTERS: usize = 20;

/// Logs each cluster's URL, and its faults when it has any.
fn log_clusters(fleet: &Fleet) {
    let list_all = fleet.clusters.len() <= MAX_LISTED_CLUSTERS;
    for cluster in fleet.clusters.iter() {
        let faults = cluster.faults();
        let url = cluster.url();
        if *faults != Faults::default() {
            let faults = faults.describe();
            tracing::info!(cluster = %cluster.name, %url, %faults, "simulated cluster listening");
        } else if list_all {
            tracing::info!(cluster = %cluster.name, %url, "simulated cluster listening");
        } else {
            tracing::debug!(cluster = %cluster.name, %url, "simulated cluster listening");
        }
    }
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
