//! Cluster configurations: where they come from and how they are looked up.
//!
//! The inventory reads its [`Sources`] once and turns each kubeconfig
//! context into one cluster with a name, a server and labels. Building a
//! client from a cluster's configuration is the pool's job.

mod cache;
pub mod in_cluster;
mod sources;

pub use cache::{InventoryCache, Refresh};
pub use sources::Sources;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use crate::selector::LabelSelector;

/// Errors from reading cluster configurations.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// No kubeconfig was given and none exists at the default location.
    #[error(
        "no kubeconfig found: pass --kubeconfig PATH, point KUBECONFIG at existing files, \
         create ~/.kube/config, run in a pod with a service account, or use --sim N for a \
         simulated fleet"
    )]
    NoKubeconfig,
    /// The in-cluster service account cannot be used.
    #[error("cannot use the in-cluster service account: {0}")]
    InCluster(String),
    /// A kubeconfig file could not be read or parsed.
    #[error("failed to read kubeconfig `{path}`: {source}")]
    Read {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: KubeconfigError,
    },
    /// A folder of kubeconfig files could not be listed.
    #[error("failed to read kubeconfig folder `{path}`: {source}")]
    ReadDir {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Two sources define a cluster of the same name.
    #[error("cluster `{name}` is defined twice: rename one of its contexts or entries")]
    DuplicateCluster {
        /// The repeated name.
        name: String,
    },
    /// A `--selector` could not be parsed.
    #[error("invalid selector `{selector}`: {reason}")]
    Selector {
        /// The selector text.
        selector: String,
        /// The parser's message.
        reason: String,
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
    /// A context names a cluster that is not defined or has no server.
    #[error(
        "context `{context}` names cluster `{cluster}`, which no kubeconfig defines with a server"
    )]
    MissingCluster {
        /// The context.
        context: String,
        /// The cluster it names.
        cluster: String,
    },
    /// A context names a user that is not defined.
    #[error("context `{context}` names user `{user}`, which no kubeconfig defines")]
    MissingUser {
        /// The context.
        context: String,
        /// The user it names.
        user: String,
    },
    /// A context is broken, so its cluster cannot be used.
    #[error("cluster `{cluster}` cannot be used: {reason}")]
    Unusable {
        /// The cluster.
        cluster: String,
        /// The problem with its context.
        reason: String,
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
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The cluster's name in lazyhost: its context name, unless qualified
    /// or given in `lazyhost.toml`.
    pub name: String,
    /// The API server URL.
    pub server: String,
    /// Labels attached to the cluster.
    pub labels: BTreeMap<String, String>,
    /// The context in `kubeconfig` that configures the cluster.
    pub context: String,
    /// MD5 hash, in hex, of the cluster's canonical configuration, including
    /// the contents of the files it names; it changes when the client must.
    pub hash: String,
    /// The problem of a broken context. Using the cluster fails with it.
    pub problem: Option<String>,
    kubeconfig: Arc<Kubeconfig>,
}

/// The configured clusters and the merged kubeconfig they come from.
#[derive(Debug)]
pub struct Inventory {
    clusters: Vec<Arc<ClusterConfig>>,
    by_name: HashMap<String, usize>,
    current_context: Option<String>,
    source_reads: AtomicU64,
    accesses: AtomicU64,
}

impl ClusterConfig {
    /// Builds the client configuration of the cluster from its context.
    ///
    /// # Errors
    ///
    /// Fails when the context's cluster or user entry cannot be loaded, for
    /// example a missing certificate file.
    pub async fn client_config(&self) -> Result<kube::Config, InventoryError> {
        if let Some(reason) = &self.problem {
            return Err(InventoryError::Unusable {
                cluster: self.name.clone(),
                reason: reason.clone(),
            });
        }
        let options = KubeConfigOptions {
            context: Some(self.context.clone()),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(Kubeconfig::clone(&self.kubeconfig), &options)
            .await
            .map_err(|source| InventoryError::ClientConfig {
                cluster: self.name.clone(),
                source,
            })
    }
}

impl Inventory {
    /// Returns the kubeconfig files to read when none is given: the paths in
    /// `$KUBECONFIG` (separated by `:`) that exist, as kubectl skips the
    /// missing ones, else `~/.kube/config` if it exists.
    pub fn default_kubeconfig_paths() -> Vec<PathBuf> {
        if let Some(value) = std::env::var_os("KUBECONFIG") {
            let paths: Vec<PathBuf> = std::env::split_paths(&value)
                .filter(|path| !path.as_os_str().is_empty())
                .collect();
            if !paths.is_empty() {
                return paths.into_iter().filter(|path| path.exists()).collect();
            }
        }
        std::env::home_dir()
            .map(|home| home.join(".kube").join("config"))
            .filter(|path| path.exists())
            .into_iter()
            .collect()
    }

    /// Reads and merges the kubeconfig files at `paths`, in order.
    ///
    /// # Errors
    ///
    /// Fails when `paths` is empty, a file cannot be read or parsed, or the
    /// merged configuration has no usable contexts.
    pub fn from_kubeconfig_files(paths: &[PathBuf]) -> Result<Self, InventoryError> {
        let sources = Sources {
            kubeconfigs: paths.to_vec(),
            ..Sources::default()
        };
        Self::from_sources(&sources)
    }

    /// Reads every source: merged kubeconfig files, folders of kubeconfig
    /// files and clusters listed one by one.
    ///
    /// # Errors
    ///
    /// Fails when a source cannot be read, a context names a cluster that
    /// is not defined, two sources define the same cluster name, or there
    /// are no clusters at all.
    pub fn from_sources(sources: &Sources) -> Result<Self, InventoryError> {
        let (clusters, current_context) = sources::read_all(sources)?;
        Self::from_clusters(clusters, current_context, &sources.describe())
    }

    /// Builds the inventory from a kubeconfig already in memory. `sources`
    /// names where it came from, for error messages.
    ///
    /// # Errors
    ///
    /// Fails when the kubeconfig has no contexts or a context names a
    /// cluster it does not define.
    pub fn from_kubeconfig(kubeconfig: Kubeconfig, sources: &str) -> Result<Self, InventoryError> {
        let kubeconfig = Arc::new(kubeconfig);
        let entries = sources::Entries::of(&kubeconfig);
        let clusters = kubeconfig
            .contexts
            .iter()
            .map(|named| {
                sources::cluster_or_unusable(&kubeconfig, &entries, &named.name, named.name.clone())
            })
            .collect();
        Self::from_clusters(clusters, kubeconfig.current_context.clone(), sources)
    }

    fn from_clusters(
        clusters: Vec<Arc<ClusterConfig>>,
        current_context: Option<String>,
        sources: &str,
    ) -> Result<Self, InventoryError> {
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
            current_context,
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
        let current = self.current_context.as_deref()?;
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

    /// Returns the clusters whose labels match `selector`, in inventory order.
    ///
    /// # Errors
    ///
    /// Fails when the selector cannot be parsed.
    pub fn select_by_labels(
        &self,
        selector: &str,
    ) -> Result<Vec<Arc<ClusterConfig>>, InventoryError> {
        let parsed = LabelSelector::parse(selector).map_err(|error| InventoryError::Selector {
            selector: selector.to_string(),
            reason: error.to_string(),
        })?;
        Ok(self
            .clusters
            .iter()
            .filter(|cluster| parsed.matches(&cluster.labels))
            .cloned()
            .collect())
    }

    /// Counts one lookup of a cluster's configuration served from memory.
    pub fn count_access(&self) {
        self.accesses.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `count` lookups served by the inventory this one replaces, so
    /// the figure stays a running total across reloads.
    pub(crate) fn add_accesses(&self, count: u64) {
        self.accesses.fetch_add(count, Ordering::Relaxed);
    }

    /// Records how often the sources have been read, for the statistics.
    pub(crate) fn set_source_reads(&self, reads: u64) {
        self.source_reads.store(reads, Ordering::Relaxed);
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
    fn broken_context_fails_alone() {
        let text = TWO_CONTEXTS.replace("cluster: west, user", "cluster: north, user");
        let kubeconfig = Kubeconfig::from_yaml(&text).unwrap();
        let inventory = Inventory::from_kubeconfig(kubeconfig, "test").unwrap();
        assert_eq!(inventory.clusters().len(), 2);
        assert_eq!(inventory.clusters()[0].problem, None);

        let broken = inventory.get("prod-west").unwrap();
        let error = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(broken.client_config())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cluster `prod-west` cannot be used: context `prod-west` names cluster `north`, \
             which no kubeconfig defines with a server"
        );
    }

    #[test]
    fn context_naming_a_missing_user_fails_alone() {
        let text =
            TWO_CONTEXTS.replace("cluster: west, user: admin", "cluster: west, user: nobody");
        let kubeconfig = Kubeconfig::from_yaml(&text).unwrap();
        let inventory = Inventory::from_kubeconfig(kubeconfig, "test").unwrap();
        assert_eq!(inventory.clusters()[0].problem, None);
        assert_eq!(
            inventory.clusters()[1].problem.as_deref(),
            Some("context `prod-west` names user `nobody`, which no kubeconfig defines")
        );
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn one_context(context: &str, port: u16) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:{port}'}}\n\
             users:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: {context}\n  context: {{cluster: c, user: u}}\n"
        )
    }

    #[test]
    fn folder_qualifies_repeated_contexts() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "eu.yaml", &one_context("admin", 1));
        write(dir.path(), "us.yaml", &one_context("admin", 2));
        write(dir.path(), "lab.yaml", &one_context("lab", 3));
        write(dir.path(), ".hidden.yaml", "not a kubeconfig");
        let sources = Sources {
            kubeconfig_dirs: vec![dir.path().to_path_buf()],
            ..Sources::default()
        };
        let inventory = Inventory::from_sources(&sources).unwrap();
        let names: Vec<&str> = inventory
            .clusters()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["eu/admin", "lab", "us/admin"]);
        assert_eq!(inventory.clusters()[2].server, "https://127.0.0.1:2");
        assert_eq!(inventory.clusters()[2].context, "admin");
    }

    #[test]
    fn listed_clusters_carry_labels_for_selectors() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fleet.yaml", TWO_CONTEXTS);
        let entry = |name: &str, context: &str, env: &str| crate::config::ClusterEntry {
            name: name.to_string(),
            kubeconfig: file.clone(),
            context: Some(context.to_string()),
            labels: [("env".to_string(), env.to_string())].into(),
        };
        let sources = Sources {
            clusters: vec![
                entry("east", "prod-east", "prod"),
                entry("west", "prod-west", "staging"),
            ],
            ..Sources::default()
        };
        let inventory = Inventory::from_sources(&sources).unwrap();
        let prod = inventory.select_by_labels("env=prod").unwrap();
        assert_eq!(prod.len(), 1);
        assert_eq!(prod[0].name, "east");
        assert_eq!(prod[0].context, "prod-east");
        assert_eq!(
            inventory
                .select_by_labels("env in (prod,staging)")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(inventory.select_by_labels("!env").unwrap().len(), 0);
        let error = inventory.select_by_labels("env in prod").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid selector `env in prod`: "),
            "{error}"
        );
    }

    #[test]
    fn entry_unknown_context_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fleet.yaml", TWO_CONTEXTS);
        let sources = Sources {
            clusters: vec![crate::config::ClusterEntry {
                name: "east".to_string(),
                kubeconfig: file.clone(),
                context: Some("nope".to_string()),
                labels: BTreeMap::new(),
            }],
            ..Sources::default()
        };
        let error = Inventory::from_sources(&sources).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "cluster `east` cannot be used: unknown context `nope`: known contexts are \
                 `prod-east`, `prod-west` (in `{}`): fix the entry's context or kubeconfig in \
                 lazyhost.toml",
                file.display()
            )
        );
    }

    #[test]
    fn duplicate_names_across_sources_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "fleet.yaml", TWO_CONTEXTS);
        let sources = Sources {
            kubeconfigs: vec![file.clone()],
            clusters: vec![crate::config::ClusterEntry {
                name: "prod-east".to_string(),
                kubeconfig: file,
                context: None,
                labels: BTreeMap::new(),
            }],
            ..Sources::default()
        };
        let error = Inventory::from_sources(&sources).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cluster `prod-east` is defined twice: rename one of its contexts or entries"
        );
    }

    #[test]
    fn missing_folder_is_an_error() {
        let sources = Sources {
            kubeconfig_dirs: vec![PathBuf::from("/nonexistent/fleet")],
            ..Sources::default()
        };
        let error = Inventory::from_sources(&sources).unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to read kubeconfig folder `/nonexistent/fleet`: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn hash_follows_configuration_and_referenced_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = write(dir.path(), "ca.crt", "first CA");
        let text = TWO_CONTEXTS.replace(
            "cluster: {server: 'https://127.0.0.1:6443'}",
            &format!(
                "cluster: {{server: 'https://127.0.0.1:6443', certificate-authority: '{}'}}",
                ca.display()
            ),
        );
        let hashes = |text: &str| -> Vec<String> {
            let kubeconfig = Kubeconfig::from_yaml(text).unwrap();
            let inventory = Inventory::from_kubeconfig(kubeconfig, "test").unwrap();
            inventory
                .clusters()
                .iter()
                .map(|c| c.hash.clone())
                .collect()
        };

        let before = hashes(&text);
        assert_eq!(before[0].len(), 32);
        assert_eq!(before, hashes(&text), "the hash is stable");
        assert_ne!(before[0], before[1]);

        std::fs::write(&ca, "rotated CA").unwrap();
        let after_rotation = hashes(&text);
        assert_ne!(
            after_rotation[0], before[0],
            "a changed CA file changes the hash"
        );
        assert_eq!(
            after_rotation[1], before[1],
            "the other cluster keeps its hash"
        );

        let moved = text.replace("https://127.0.0.1:7443", "https://127.0.0.1:7444");
        assert_ne!(
            hashes(&moved)[1],
            before[1],
            "a changed server changes the hash"
        );
    }
}
