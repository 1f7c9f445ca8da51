//! Reading cluster configurations from their sources: kubeconfig files
//! merged the way kubectl merges them, folders of kubeconfig files, and
//! clusters listed one by one in `lazyhost.toml`.
//!
//! In a folder, every regular file whose name does not start with `.` is a
//! kubeconfig, read in name order. A context name that appears in more than
//! one file of the folder is qualified by the file's name without its
//! extension, as `FILE/CONTEXT`. So context `admin` in `eu.yaml` and
//! `us.yaml` becomes `eu/admin` and `us/admin`, while a name that appears
//! once is kept.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::config::{Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext};

use super::{ClusterConfig, InventoryError};
use crate::config::ClusterEntry;

/// The sources of cluster configurations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    /// Kubeconfig files merged into one set of contexts.
    pub kubeconfigs: Vec<PathBuf>,
    /// Folders of kubeconfig files.
    pub kubeconfig_dirs: Vec<PathBuf>,
    /// Clusters listed one by one.
    pub clusters: Vec<ClusterEntry>,
    /// Whether to add the cluster lazyhost runs in, through the pod's
    /// service account, as the cluster `in-cluster`.
    pub in_cluster: bool,
}

impl Sources {
    /// Returns the sources' names for messages.
    pub fn describe(&self) -> String {
        let files = self.kubeconfigs.iter().chain(&self.kubeconfig_dirs);
        let mut names: Vec<String> = files.map(|path| format!("`{}`", path.display())).collect();
        if !self.clusters.is_empty() {
            names.push(format!("{} listed clusters", self.clusters.len()));
        }
        if self.in_cluster {
            names.push("the in-cluster service account".to_string());
        }
        names.join(", ")
    }
}

/// Reads every source and returns its clusters in source order.
/// Returns the clusters and the current context of the merged kubeconfig
/// files, if they name one.
pub(super) fn read_all(
    sources: &Sources,
) -> Result<(Vec<Arc<ClusterConfig>>, Option<String>), InventoryError> {
    let mut clusters = Vec::new();
    let mut current_context = None;
    if !sources.kubeconfigs.is_empty() {
        let merged = Arc::new(read_merged(&sources.kubeconfigs)?);
        let entries = Entries::of(&merged);
        for named in &merged.contexts {
            clusters.push(cluster_or_unusable(
                &merged,
                &entries,
                &named.name,
                named.name.clone(),
            ));
        }
        current_context = merged.current_context.clone();
    }
    for dir in &sources.kubeconfig_dirs {
        clusters.extend(read_dir(dir)?);
    }
    for entry in &sources.clusters {
        clusters.push(read_entry(entry)?);
    }
    if sources.in_cluster {
        clusters.push(super::in_cluster::read()?);
        current_context.get_or_insert_with(|| super::in_cluster::IN_CLUSTER.to_string());
    }
    reject_duplicates(&clusters)?;
    Ok((clusters, current_context))
}

/// Builds the cluster of `context`, or, when its context is broken (no
/// cluster entry, no server), a cluster that fails with that reason when
/// used. As in kubectl, one stale context does not block the others.
pub(super) fn cluster_or_unusable(
    kubeconfig: &Arc<Kubeconfig>,
    entries: &Entries<'_>,
    context: &str,
    name: String,
) -> Arc<ClusterConfig> {
    match cluster_of_context(kubeconfig, entries, context, name.clone()) {
        Ok(cluster) => cluster,
        Err(error) => {
            tracing::warn!(cluster = %name, %error, "context is unusable");
            Arc::new(ClusterConfig {
                hash: config_hash(entries, context, ""),
                name,
                server: String::new(),
                labels: BTreeMap::new(),
                context: context.to_string(),
                kubeconfig: Arc::clone(kubeconfig),
                problem: Some(error.to_string()),
            })
        }
    }
}

/// Reads and merges kubeconfig files in order; the first file to define a
/// name wins, as in kubectl.
pub(super) fn read_merged(paths: &[PathBuf]) -> Result<Kubeconfig, InventoryError> {
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
    merged.ok_or(InventoryError::NoKubeconfig)
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, InventoryError> {
    Kubeconfig::read_from(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The named entries of one kubeconfig, looked up by name; the first
/// entry of a name wins, as in kubectl.
pub(super) struct Entries<'a> {
    contexts: HashMap<&'a str, &'a NamedContext>,
    clusters: HashMap<&'a str, &'a NamedCluster>,
    users: HashMap<&'a str, &'a NamedAuthInfo>,
}

impl<'a> Entries<'a> {
    pub(super) fn of(kubeconfig: &'a Kubeconfig) -> Self {
        fn by_name<T>(items: &[T], name: impl Fn(&T) -> &str) -> HashMap<&str, &T> {
            let mut map = HashMap::with_capacity(items.len());
            for item in items {
                map.entry(name(item)).or_insert(item);
            }
            map
        }
        Self {
            contexts: by_name(&kubeconfig.contexts, |named| named.name.as_str()),
            clusters: by_name(&kubeconfig.clusters, |named| named.name.as_str()),
            users: by_name(&kubeconfig.auth_infos, |named| named.name.as_str()),
        }
    }
}

/// Builds the cluster of `context` in `kubeconfig`, named `name`.
pub(super) fn cluster_of_context(
    kubeconfig: &Arc<Kubeconfig>,
    entries: &Entries<'_>,
    context: &str,
    name: String,
) -> Result<Arc<ClusterConfig>, InventoryError> {
    let named = entries
        .contexts
        .get(context)
        .ok_or_else(|| InventoryError::UnknownContext {
            name: context.to_string(),
            known: kubeconfig
                .contexts
                .iter()
                .map(|named| format!("`{}`", named.name))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let cluster_name = cluster_name_of(named);
    let server = entries
        .clusters
        .get(cluster_name.as_str())
        .and_then(|cluster| cluster.cluster.as_ref())
        .and_then(|cluster| cluster.server.clone())
        .ok_or_else(|| InventoryError::MissingCluster {
            context: context.to_string(),
            cluster: cluster_name.clone(),
        })?;
    let user = named.context.as_ref().and_then(|c| c.user.as_deref());
    if let Some(user) = user.filter(|user| !user.is_empty())
        && !entries.users.contains_key(user)
    {
        return Err(InventoryError::MissingUser {
            context: context.to_string(),
            user: user.to_string(),
        });
    }
    Ok(Arc::new(ClusterConfig {
        hash: config_hash(entries, context, &cluster_name),
        name,
        server,
        labels: BTreeMap::new(),
        context: context.to_string(),
        kubeconfig: Arc::clone(kubeconfig),
        problem: None,
    }))
}

fn cluster_name_of(named: &kube::config::NamedContext) -> String {
    named
        .context
        .as_ref()
        .map(|c| c.cluster.clone())
        .unwrap_or_default()
}

/// Returns the MD5 hash, in hex, of everything that configures the client
/// of `context`: the context, its cluster and user entries, and the
/// contents of the files they name (CA, client certificate and key). A
/// file that cannot be read is hashed as its path alone, so the client
/// start reports the problem. A token file counts by its path only: the
/// client reads it again when it rotates, so a new token needs no new
/// client.
pub(super) fn config_hash(entries: &Entries<'_>, context: &str, cluster: &str) -> String {
    use md5::{Digest, Md5};

    let named_context = entries.contexts.get(context).copied();
    let user = named_context
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.as_deref())
        .unwrap_or_default();
    let named_cluster = entries.clusters.get(cluster).copied();
    let named_user = entries.users.get(user).copied();

    let mut hasher = Md5::new();
    let canonical = (named_context, named_cluster, named_user);
    // Kubeconfig entries have string keys only, so serializing them to JSON
    // cannot fail.
    let text = serde_json::to_vec(&canonical).unwrap_or_default();
    hasher.update(&text);
    let cluster_files = named_cluster
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.certificate_authority.clone());
    let user_files = named_user.and_then(|a| a.auth_info.as_ref()).map(|auth| {
        [&auth.client_certificate, &auth.client_key]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
    });
    for path in cluster_files
        .into_iter()
        .chain(user_files.into_iter().flatten())
    {
        hasher.update(path.as_bytes());
        if let Ok(contents) = std::fs::read(&path) {
            hasher.update(&contents);
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn read_dir(dir: &Path) -> Result<Vec<Arc<ClusterConfig>>, InventoryError> {
    let listing = std::fs::read_dir(dir).map_err(|source| InventoryError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && !is_hidden(path))
        .collect();
    files.sort();

    let mut kubeconfigs = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for path in files {
        let kubeconfig = Arc::new(read_kubeconfig(&path)?);
        for named in &kubeconfig.contexts {
            *seen.entry(named.name.clone()).or_default() += 1;
        }
        kubeconfigs.push((path, kubeconfig));
    }

    let mut clusters = Vec::new();
    for (path, kubeconfig) in &kubeconfigs {
        let entries = Entries::of(kubeconfig);
        for named in &kubeconfig.contexts {
            let name = if seen[&named.name] > 1 {
                format!("{}/{}", file_stem(path), named.name)
            } else {
                named.name.clone()
            };
            clusters.push(cluster_or_unusable(kubeconfig, &entries, &named.name, name));
        }
    }
    Ok(clusters)
}

fn read_entry(entry: &ClusterEntry) -> Result<Arc<ClusterConfig>, InventoryError> {
    let kubeconfig = Arc::new(read_kubeconfig(&entry.kubeconfig)?);
    let context = entry.context.as_deref().unwrap_or(&entry.name);
    let cluster = cluster_of_context(
        &kubeconfig,
        &Entries::of(&kubeconfig),
        context,
        entry.name.clone(),
    )
    .map_err(|error| InventoryError::Unusable {
        cluster: entry.name.clone(),
        reason: format!(
            "{error} (in `{}`): fix the entry's context or kubeconfig in lazyhost.toml",
            entry.kubeconfig.display()
        ),
    })?;
    let mut cluster = Arc::unwrap_or_clone(cluster);
    cluster.labels = entry.labels.clone();
    Ok(Arc::new(cluster))
}

fn reject_duplicates(clusters: &[Arc<ClusterConfig>]) -> Result<(), InventoryError> {
    let mut names = HashMap::new();
    for cluster in clusters {
        if names.insert(cluster.name.as_str(), ()).is_some() {
            return Err(InventoryError::DuplicateCluster {
                name: cluster.name.clone(),
            });
        }
    }
    Ok(())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}
