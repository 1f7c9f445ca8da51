//! Cluster configurations: where they come from and how they are looked up.
//!
//! The inventory reads kubeconfig files once, merges them the way kubectl
//! does (the first file to define a name wins), and turns each context into
//! one cluster. Building a client from a cluster's configuration is the
//! pool's job, so the inventory stores only names, servers and labels.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

/// Errors from reading cluster configurations.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No kubeconfig was given and none exists at the default location.
    #[error(
        "no kubeconfig found: pass --kubeconfig PATH, set KUBECONFIG, create ~/.kube/config, \
         or use --sim N for a simulated fleet"
    )]
    NoKubeconfig,
    /// A kubeconfig file could not be read or parsed.
    #[error("failed to read kubeconfig `{path}`: {source}")]
    Read {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: KubeconfigError,
    },
    /// Two kubeconfig files could not be merged.
    #[error("failed to merge kubeconfig `{path}`: {source}")]
    Merge {
        /// The file merged last.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: KubeconfigError,
    },
    /// The kubeconfig files define no contexts.
    #[error("kubeconfig {sources} defines no contexts: add a context for each cluster")]
    NoContexts {
        /// The files read, for the message.
        sources: String,
    },
    /// A context names a cluster that is not defined.
    #[error("context `{context}` names cluster `{cluster}`, which no kubeconfig defines")]
    MissingCluster {
        /// The context.
        context: String,
        /// The cluster it names.
        cluster: String,
    },
    /// A requested context does not exist.
    #[error("unknown context `{name}`: known contexts are {known}")]
    UnknownContext {
        /// The requested name.
        name: String,
        /// The configured names, for the message.
        known: String,
    },
    /// A context's configuration could not be turned into a client configuration.
    #[error("invalid configuration for cluster `{cluster}`: {source}")]
    ClientConfig {
        /// The cluster.
        cluster: String,
        /// The underlying error.
        #[source]
        source: KubeconfigError,
    },
}

/// One cluster: a kubeconfig context with its server and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The cluster's name in lazyhost, which is its context name.
    pub name: String,
    /// The API server URL.
    pub server: String,
    /// Labels attached to the cluster.
    pub labels: BTreeMap<String, String>,
}

/// The configured clusters and the merged kubeconfig they come from.
#[derive(Debug)]
pub struct Inventory {
    clusters: Vec<Arc<ClusterConfig>>,
    by_name: HashMap<String, usize>,
    kubeconfig: Kubeconfig,
    source_reads: AtomicU64,
    accesses: AtomicU64,
}

impl Inventory {
    /// Returns the kubeconfig files to read when none is given: the paths in
    /// `$KUBECONFIG` (separated by `:`), else `~/.kube/config`.
    pub fn default_kubeconfig_paths() -> Vec<PathBuf> {
        if let Some(value) = std::env::var_os("KUBECONFIG") {
            let paths: Vec<PathBuf> = std::env::split_paths(&value)
                .filter(|path| !path.as_os_str().is_empty())
                .collect();
            if !paths.is_empty() {
                return paths;
            }
        }
        std::env::home_dir()
            .map(|home| vec![home.join(".kube").join("config")])
            .unwrap_or_default()
    }

    /// Reads and merges the kubeconfig files at `paths`, in order.
    ///
    /// # Errors
    ///
    /// Fails when `paths` is empty, a file cannot be read or parsed, or the
    /// merged configuration has no usable contexts.
    pub fn from_kubeconfig_files(paths: &[PathBuf]) -> Result<Self, InventoryError> {
        let mut merged: Option<Kubeconfig> = None;
        for path in paths {
            let next = read_kubeconfig(path)?;
            merged = Some(match merged {
                None => next,
                Some(current) => current
                    .merge(next)
                    .map_err(|source| InventoryError::Merge {
                        path: path.clone(),
                        source,
                    })?,
            });
        }
        let kubeconfig = merged.ok_or(InventoryError::NoKubeconfig)?;
        let sources = paths
            .iter()
            .map(|path| format!("`{}`", path.display()))
            .collect::<Vec<_>>()
            .join(", ");
        Self::from_kubeconfig(kubeconfig, &sources)
    }

    /// Builds the inventory from a kubeconfig already in memory. `sources`
    /// names where it came from, for error messages.
    ///
    /// # Errors
    ///
    /// Fails when the kubeconfig has no contexts or a context names a
    /// cluster it does not define.
    pub fn from_kubeconfig(kubeconfig: Kubeconfig, sources: &str) -> Result<Self, InventoryError> {
        let mut clusters = Vec::new();
        for named in &kubeconfig.contexts {
            let context = named.context.as_ref();
            let cluster_name = context.map(|c| c.cluster.clone()).unwrap_or_default();
            let server = kubeconfig
                .clusters
                .iter()
                .find(|cluster| cluster.name == cluster_name)
                .and_then(|cluster| cluster.cluster.as_ref())
                .and_then(|cluster| cluster.server.clone())
                .ok_or_else(|| InventoryError::MissingCluster {
                    context: named.name.clone(),
                    cluster: cluster_name.clone(),
                })?;
            clusters.push(Arc::new(ClusterConfig {
                name: named.name.clone(),
                server,
                labels: BTreeMap::new(),
            }));
        }
        if clusters.is_empty() {
            return Err(InventoryError::NoContexts {
                sources: sources.to_string(),
            });
        }

        let by_name = clusters
            .iter()
            .enumerate()
            .map(|(index, cluster)| (cluster.name.clone(), index))
            .collect();
        Ok(Self {
            clusters,
            by_name,
            kubeconfig,
            source_reads: AtomicU64::new(1),
            accesses: AtomicU64::new(0),
        })
    }

    /// Returns every configured cluster, in kubeconfig order.
    pub fn clusters(&self) -> &[Arc<ClusterConfig>] {
        &self.clusters
    }

    /// Returns the kubeconfig's current context, if it names a configured cluster.
    pub fn current_context(&self) -> Option<&str> {
        let current = self.kubeconfig.current_context.as_deref()?;
        self.by_name.contains_key(current).then_some(current)
    }

    /// Looks up a cluster by name. Each lookup counts as one access to the
    /// configuration cache.
    pub fn get(&self, name: &str) -> Option<Arc<ClusterConfig>> {
        self.accesses.fetch_add(1, Ordering::Relaxed);
        let index = *self.by_name.get(name)?;
        Some(Arc::clone(&self.clusters[index]))
    }

    /// Resolves the names the user asked for, in the order given.
    ///
    /// # Errors
    ///
    /// Fails on the first name that is not a configured context.
    pub fn select(&self, names: &[String]) -> Result<Vec<Arc<ClusterConfig>>, InventoryError> {
        names
            .iter()
            .map(|name| {
                self.get(name)
                    .ok_or_else(|| InventoryError::UnknownContext {
                        name: name.clone(),
                        known: self.known_names(),
                    })
            })
            .collect()
    }

    /// Builds the client configuration of one cluster from its context.
    ///
    /// # Errors
    ///
    /// Fails when the context's cluster or user entry cannot be loaded, for
    /// example a missing certificate file.
    pub async fn client_config(
        &self,
        cluster: &ClusterConfig,
    ) -> Result<kube::Config, InventoryError> {
        let options = KubeConfigOptions {
            context: Some(cluster.name.clone()),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(self.kubeconfig.clone(), &options)
            .await
            .map_err(|source| InventoryError::ClientConfig {
                cluster: cluster.name.clone(),
                source,
            })
    }

    /// Returns how often the configuration sources were read.
    pub fn source_reads(&self) -> u64 {
        self.source_reads.load(Ordering::Relaxed)
    }

    /// Returns how many lookups the configuration cache has served.
    pub fn accesses(&self) -> u64 {
        self.accesses.load(Ordering::Relaxed)
    }

    fn known_names(&self) -> String {
        const SHOWN: usize = 10;
        let mut names: Vec<String> = self
            .clusters
            .iter()
            .take(SHOWN)
            .map(|cluster| format!("`{}`", cluster.name))
            .collect();
        if self.clusters.len() > SHOWN {
            names.push(format!(
                "and {} more (see `lazyhost clusters`)",
                self.clusters.len() - SHOWN
            ));
        }
        names.join(", ")
    }
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, InventoryError> {
    Kubeconfig::read_from(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CONTEXTS: &str = "
apiVersion: v1
kind: Config
clusters:
- name: east
  cluster: {server: 'https://127.0.0.1:6443'}
- name: west
  cluster: {server: 'https://127.0.0.1:7443'}
users:
- name: admin
  user: {token: secret}
contexts:
- name: prod-east
  context: {cluster: east, user: admin}
- name: prod-west
  context: {cluster: west, user: admin}
current-context: prod-east
";

    fn inventory() -> Inventory {
        let kubeconfig = Kubeconfig::from_yaml(TWO_CONTEXTS).unwrap();
        Inventory::from_kubeconfig(kubeconfig, "test").unwrap()
    }

    #[test]
    fn contexts_become_clusters() {
        let inventory = inventory();
        let names: Vec<&str> = inventory
            .clusters()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["prod-east", "prod-west"]);
        assert_eq!(inventory.clusters()[1].server, "https://127.0.0.1:7443");
    }

    #[test]
    fn select_unknown_context_names_known_ones() {
        let error = inventory().select(&["prod-north".to_string()]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown context `prod-north`: known contexts are `prod-east`, `prod-west`"
        );
    }

    #[test]
    fn lookups_are_counted() {
        let inventory = inventory();
        inventory.get("prod-east");
        inventory.get("missing");
        assert_eq!(inventory.accesses(), 2);
        assert_eq!(inventory.source_reads(), 1);
    }

    #[test]
    fn context_without_cluster_is_rejected() {
        let text = TWO_CONTEXTS.replace("cluster: west, user", "cluster: north, user");
        let kubeconfig = Kubeconfig::from_yaml(&text).unwrap();
        let error = Inventory::from_kubeconfig(kubeconfig, "test").unwrap_err();
        assert_eq!(
            error.to_string(),
            "context `prod-west` names cluster `north`, which no kubeconfig defines"
        );
    }
}
