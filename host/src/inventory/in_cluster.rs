//! The cluster lazyhost runs in, reached with the pod's service account.
//!
//! Inside a pod, Kubernetes sets `KUBERNETES_SERVICE_HOST` and
//! `KUBERNETES_SERVICE_PORT` and mounts the service account's token, CA
//! certificate and namespace under
//! `/var/run/secrets/kubernetes.io/serviceaccount`. lazyhost turns them
//! into a kubeconfig context named `in-cluster` whose user reads the token
//! file, so the kubelet's token rotation reaches every request without a
//! new client. `LAZYHOST_SERVICE_ACCOUNT_DIR` names another folder, for a
//! service account mounted elsewhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::config::Kubeconfig;

use super::{ClusterConfig, InventoryError};

/// The name of the in-cluster cluster and its context.
pub const IN_CLUSTER: &str = "in-cluster";

/// The folder where Kubernetes mounts a pod's service account.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The environment variable that names another service account folder.
pub const SERVICE_ACCOUNT_DIR_VAR: &str = "LAZYHOST_SERVICE_ACCOUNT_DIR";

/// Returns the folder holding the service account's files.
pub fn service_account_dir() -> PathBuf {
    std::env::var_os(SERVICE_ACCOUNT_DIR_VAR)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR), PathBuf::from)
}

/// Returns whether lazyhost runs in a pod: the service variables are set
/// and the service account's token is mounted.
pub fn detected() -> bool {
    server_from_env().is_ok() && service_account_dir().join("token").is_file()
}

/// Returns the files whose change calls for a new client: the CA
/// certificate and the namespace. The token is read on every refresh, so
/// its rotation is not one.
pub(super) fn watched_files() -> Vec<PathBuf> {
    let dir = service_account_dir();
    vec![dir.join("ca.crt"), dir.join("namespace")]
}

/// Builds the `in-cluster` cluster from the environment and the service
/// account folder.
pub(super) fn read() -> Result<Arc<ClusterConfig>, InventoryError> {
    let server = server_from_env()?;
    let dir = service_account_dir();
    for file in ["token", "ca.crt"] {
        let path = dir.join(file);
        if !path.is_file() {
            return Err(InventoryError::InCluster(format!(
                "no service account file `{}`: mount the pod's service account token, \
                 or set {SERVICE_ACCOUNT_DIR_VAR} to its folder",
                path.display()
            )));
        }
    }
    let kubeconfig = Arc::new(kubeconfig(&server, &dir)?);
    let entries = super::sources::Entries::of(&kubeconfig);
    super::sources::cluster_of_context(&kubeconfig, &entries, IN_CLUSTER, IN_CLUSTER.to_string())
}

/// Returns the API server URL from `KUBERNETES_SERVICE_HOST` and
/// `KUBERNETES_SERVICE_PORT`.
fn server_from_env() -> Result<String, InventoryError> {
    let variable = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.is_empty())
            .ok_or_else(|| {
                InventoryError::InCluster(format!(
                    "{name} is not set: lazyhost is not running in a pod; \
                     configure kubeconfig files instead"
                ))
            })
    };
    let host = variable("KUBERNETES_SERVICE_HOST")?;
    let port = variable("KUBERNETES_SERVICE_PORT")?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok(format!("https://{host}:{port}"))
}

fn kubeconfig(server: &str, dir: &Path) -> Result<Kubeconfig, InventoryError> {
    let namespace = std::fs::read_to_string(dir.join("namespace"))
        .map(|text| text.trim().to_string())
        .ok()
        .filter(|text| !text.is_empty());
    let document = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": IN_CLUSTER,
            "cluster": {
                "server": server,
                "certificate-authority": dir.join("ca.crt"),
            },
        }],
        "users": [{
            "name": IN_CLUSTER,
            "user": {"tokenFile": dir.join("token")},
        }],
        "contexts": [{
            "name": IN_CLUSTER,
            "context": {"cluster": IN_CLUSTER, "user": IN_CLUSTER, "namespace": namespace},
        }],
        "current-context": IN_CLUSTER,
    });
    serde_json::from_value(document).map_err(|error| {
        InventoryError::InCluster(format!("invalid service account settings: {error}"))
    })
}
