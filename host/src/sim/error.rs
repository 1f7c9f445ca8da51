//! Errors raised while starting, running or stopping the simulated fleet.
//!
//! Failures of individual API requests are not errors of this kind: the API
//! server returns them to the client as Kubernetes `Status` objects (see
//! [`super::status`]).

use std::net::SocketAddr;
use std::path::PathBuf;

/// An error that stops the simulated fleet from starting, serving or shutting down.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The requested fleet has no clusters.
    #[error("invalid cluster count {clusters}: the fleet needs at least 1 cluster")]
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
}
