//! The kubeconfig that points clients at the fleet: one cluster, user and context
//! per simulated cluster, each named after its cluster.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::config::Kubeconfig;
use serde_json::{Value, json};

use super::SimError;
use super::base64;
use super::cluster::Cluster;
use super::tls::ClientCertificate;

/// Credential kind of the users in a fleet's kubeconfig.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserAuth {
    /// Each user has its cluster's bearer token in `token`.
    #[default]
    BearerToken,
    /// Each user has a client certificate that the fleet's certificate authority
    /// signed, in `client-certificate-data` and `client-key-data`. The
    /// certificate's common name is the user name, which is the cluster's name.
    ClientCertificate,
}

/// Returns the kubeconfig `user` entry that authenticates with `token`.
pub(crate) fn token_user(token: &str) -> Value {
    json!({"token": token})
}

/// Returns the kubeconfig `user` entry that authenticates with `certificate`.
pub(crate) fn certificate_user(certificate: &ClientCertificate) -> Value {
    json!({
        "client-certificate-data": base64::encode(certificate.certificate_pem.as_bytes()),
        "client-key-data": base64::encode(certificate.private_key_pem.as_bytes()),
    })
}

/// Builds the kubeconfig for `clusters`, trusting `ca_pem`, with `users[i]` as
/// the `user` entry of `clusters[i]`; `current-context` is the first cluster.
pub(crate) fn build(
    clusters: &[Arc<Cluster>],
    ca_pem: &str,
    users: Vec<Value>,
) -> Result<Kubeconfig, SimError> {
    let authority = base64::encode(ca_pem.as_bytes());
    let entries = |make: &dyn Fn(&Cluster) -> Value| -> Vec<Value> {
        clusters.iter().map(|cluster| make(cluster)).collect()
    };
    let users: Vec<Value> = clusters
        .iter()
        .zip(users)
        .map(|(cluster, user)| json!({"name": cluster.name, "user": user}))
        .collect();
    let document = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": entries(&|cluster| json!({
            "name": cluster.name,
            "cluster": {"server": cluster.url(), "certificate-authority-data": authority},
        })),
        "users": users,
        "contexts": entries(&|cluster| json!({
            "name": cluster.name,
            "context": {"cluster": cluster.name, "user": cluster.name},
        })),
        "current-context": clusters.first().map(|cluster| cluster.name.clone()),
        "preferences": {},
    });
    Ok(serde_json::from_value(document)?)
}

/// Writes `kubeconfig` as YAML to `path` atomically: a temporary file in the same
/// folder, created with mode 0600 on Unix, flushed to disk, then renamed over `path`.
pub(crate) fn write(kubeconfig: &Kubeconfig, path: &Path) -> Result<(), SimError> {
    let yaml = serde_yaml::to_string(kubeconfig)?;
    let temporary = temporary_path(path);
    // A file left by an interrupted run would keep its old mode, so start afresh.
    let _ = std::fs::remove_file(&temporary);
    let result =
        write_file(&temporary, yaml.as_bytes()).and_then(|()| std::fs::rename(&temporary, path));
    if let Err(source) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(SimError::WriteKubeconfig {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

fn temporary_path(path: &Path) -> PathBuf {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()))
}

fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
