//! Errors raised while starting, running or stopping the simulated fleet.
//!
//! Failures of individual API requests are not errors of this kind: the API
//! server returns them to the client as Kubernetes `Status` objects (see
//! [`super::status`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::faults::FaultError;

/// An error that stops the simulated fleet from starting, serving or shutting down.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The requested fleet has no clusters, or more than [`super::MAX_CLUSTERS`].
    #[error(
        "invalid cluster count {clusters}: a fleet has 1 to {} clusters",
        super::MAX_CLUSTERS
    )]
    NoClusters {
        /// Number of clusters requested.
        clusters: usize,
    },

    /// rcgen failed to generate the certificate authority or the server certificate.
    #[error("failed to generate the simulator's TLS certificate: {0}")]
    Certificate(#[from] rcgen::Error),

    /// rustls rejected the generated certificate, key or protocol settings.
    #[error("failed to configure TLS for the simulated clusters: {0}")]
    Tls(#[from] rustls::Error),

    /// rustls rejected the certificate authority as the root that verifies client certificates.
    #[error("failed to configure client certificate verification for the simulated clusters: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),

    /// A client certificate was requested for an empty user name.
    #[error(
        "invalid user name: the name is empty, but it becomes the client certificate's common name; pass a name such as `admin`"
    )]
    EmptyUserName,

    /// The operating system's random number generator failed while making bearer tokens.
    #[error("failed to generate a bearer token: the system random number generator is unavailable")]
    Random,

    /// A listening socket could not be opened on loopback.
    #[error("failed to listen on {addr}: {source}; check that 127.0.0.1 is available")]
    Bind {
        /// Address the listener tried to bind.
        addr: SocketAddr,
        /// Error from the operating system.
        source: std::io::Error,
    },

    /// The kubeconfig could not be serialized to YAML.
    #[error("failed to serialize the kubeconfig to YAML: {0}")]
    KubeconfigYaml(#[from] serde_yaml::Error),

    /// The kubeconfig could not be converted into kube's typed form.
    #[error("failed to build the kubeconfig: {0}")]
    KubeconfigJson(#[from] serde_json::Error),

    /// The kubeconfig file could not be written or renamed into place.
    #[error(
        "failed to write kubeconfig {path}: {source}; check that its folder exists and is writable"
    )]
    WriteKubeconfig {
        /// Destination of the kubeconfig.
        path: PathBuf,
        /// Error from the file system.
        source: std::io::Error,
    },

    /// The process could not subscribe to Ctrl-C or SIGTERM.
    #[error("failed to listen for Ctrl-C or SIGTERM: {0}")]
    Signal(std::io::Error),

    /// More faulty clusters were requested than the fleet has.
    #[error(
        "invalid faulty count {faulty}: the fleet has only {clusters} clusters; lower --faulty or raise --clusters"
    )]
    TooManyFaulty {
        /// Number of faulty clusters requested.
        faulty: usize,
        /// Number of clusters in the fleet.
        clusters: usize,
    },

    /// A cluster name is not one of the fleet's.
    #[error("unknown cluster `{cluster}`: the fleet has clusters sim-1 to sim-{clusters}")]
    UnknownCluster {
        /// The name as given.
        cluster: String,
        /// Number of clusters in the fleet.
        clusters: usize,
    },

    /// Faults with a value the simulator cannot inject.
    #[error("invalid faults for cluster `{cluster}`: {source}")]
    InvalidFaults {
        /// The cluster the faults were meant for.
        cluster: String,
        /// The reason they are invalid.
        source: FaultError,
    },

    /// `down` or `wrong_ca` for a cluster on the shared port, where they would
    /// affect every cluster on it.
    #[error(
        "cannot set down or wrong_ca on cluster `{cluster}` at run time: it shares the fleet's port; \
         give it these faults in the fleet file or start the fleet with one port per cluster"
    )]
    SharedPortFault {
        /// The cluster on the shared port.
        cluster: String,
    },

    /// The fleet file could not be read.
    #[error("failed to read fleet file {path}: {source}")]
    ReadFleetFile {
        /// Path of the fleet file.
        path: PathBuf,
        /// Error from the file system.
        source: std::io::Error,
    },

    /// The fleet file is not valid TOML or has unknown keys or invalid values.
    #[error("invalid fleet file {path}: {message}")]
    ParseFleetFile {
        /// Path of the fleet file.
        path: PathBuf,
        /// The TOML parser's message, with the line and column.
        message: String,
    },
}
