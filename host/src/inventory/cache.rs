//! The configuration cache: sources are read once, and read again only
//! when the cache is older than its refresh interval or a source file's
//! modification time changed.
//!
//! A read that fails keeps the last good inventory, so a half-written or
//! broken file never takes clusters away. The error is logged and returned
//! so the caller can report it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Inventory, InventoryError, Sources};

/// Modification time of one source path, `None` when it cannot be read.
type Stamp = (PathBuf, Option<SystemTime>);

/// Cached inventory with change detection.
pub struct InventoryCache {
    sources: Sources,
    refresh_interval: Duration,
    current: Arc<Inventory>,
    read_at: Instant,
    stamps: Vec<Stamp>,
    reads: u64,
    failed_reads: u64,
}

/// The outcome of [`InventoryCache::refresh`].
#[derive(Debug)]
pub enum Refresh {
    /// The cache was fresh and no source changed; nothing was read.
    Fresh,
    /// The sources were read again and gave this inventory.
    Reloaded(Arc<Inventory>),
    /// The sources were read again and failed; the last good inventory stays.
    Failed(InventoryError),
}

impl InventoryCache {
    /// Reads the sources for the first time.
    ///
    /// # Errors
    ///
    /// Fails as [`Inventory::from_sources`] does; there is no last good
    /// inventory to fall back on yet.
    pub fn load(sources: Sources, refresh_interval: Duration) -> Result<Self, InventoryError> {
        let current = Arc::new(Inventory::from_sources(&sources)?);
        let stamps = stamps(&sources);
        Ok(Self {
            sources,
            refresh_interval,
            current,
            read_at: Instant::now(),
            stamps,
            reads: 1,
            failed_reads: 0,
        })
    }

    /// Returns the cached inventory without reading anything.
    pub fn current(&self) -> Arc<Inventory> {
        Arc::clone(&self.current)
    }

    /// Returns how many times the sources were read, failed reads included.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// Returns how many reads failed and kept the last good inventory.
    pub fn failed_reads(&self) -> u64 {
        self.failed_reads
    }

    /// Reads the sources again when the cache is older than the refresh
    /// interval or a source path's modification time changed.
    pub fn refresh(&mut self) -> Refresh {
        let stamps = stamps(&self.sources);
        let stale = self.read_at.elapsed() >= self.refresh_interval;
        if !stale && stamps == self.stamps {
            return Refresh::Fresh;
        }

        self.reads += 1;
        self.read_at = Instant::now();
        self.stamps = stamps;
        match Inventory::from_sources(&self.sources) {
            Ok(inventory) => {
                inventory.set_source_reads(self.reads);
                self.current = Arc::new(inventory);
                Refresh::Reloaded(Arc::clone(&self.current))
            }
            Err(error) => {
                self.current.set_source_reads(self.reads);
                self.failed_reads += 1;
                tracing::warn!(%error, sources = %self.sources.describe(), "keeping the last good configuration");
                Refresh::Failed(error)
            }
        }
    }
}

/// Returns the modification times of every source path and, for folders,
/// of every file in them.
fn stamps(sources: &Sources) -> Vec<Stamp> {
    let mut paths: Vec<PathBuf> = sources.kubeconfigs.clone();
    paths.extend(
        sources
            .clusters
            .iter()
            .map(|entry| entry.kubeconfig.clone()),
    );
    if sources.in_cluster {
        paths.extend(super::in_cluster::watched_files());
    }
    for dir in &sources.kubeconfig_dirs {
        paths.push(dir.clone());
        if let Ok(listing) = std::fs::read_dir(dir) {
            let mut files: Vec<PathBuf> =
                listing.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            paths.extend(files);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let modified = std::fs::metadata(&path)
                .and_then(|meta| meta.modified())
                .ok();
            (path, modified)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}'}}\n\
             users:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: prod\n  context: {{cluster: c, user: u}}\n"
        )
    }

    /// Writes `text` and moves the file's modification time forward, so a
    /// change within the same second is still seen.
    fn write(path: &std::path::Path, text: &str, age: u64) {
        std::fs::write(path, text).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        let time = SystemTime::now() - Duration::from_secs(1000) + Duration::from_secs(age);
        file.set_modified(time).unwrap();
    }

    fn cache(path: &std::path::Path, refresh: Duration) -> InventoryCache {
        let sources = Sources {
            kubeconfigs: vec![path.to_path_buf()],
            ..Sources::default()
        };
        InventoryCache::load(sources, refresh).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn unchanged_sources_are_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write(&path, &kubeconfig("https://127.0.0.1:1"), 1);
        let mut cache = cache(&path, Duration::from_secs(60));
        for _ in 0..5 {
            assert!(matches!(cache.refresh(), Refresh::Fresh));
        }
        assert_eq!(cache.reads(), 1);

        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(cache.refresh(), Refresh::Reloaded(_)));
        assert_eq!(cache.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn changed_file_is_read_before_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write(&path, &kubeconfig("https://127.0.0.1:1"), 1);
        let mut cache = cache(&path, Duration::from_secs(3600));
        let before = cache.current().clusters()[0].hash.clone();

        write(&path, &kubeconfig("https://127.0.0.1:2"), 2);
        let Refresh::Reloaded(inventory) = cache.refresh() else {
            panic!("a changed file is read again");
        };
        assert_eq!(inventory.clusters()[0].server, "https://127.0.0.1:2");
        assert_ne!(inventory.clusters()[0].hash, before);
    }

    #[tokio::test(start_paused = true)]
    async fn broken_file_keeps_last_good_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        write(&path, &kubeconfig("https://127.0.0.1:1"), 1);
        let mut cache = cache(&path, Duration::from_secs(3600));

        write(&path, "clusters: [unterminated", 2);
        assert!(matches!(cache.refresh(), Refresh::Failed(_)));
        assert_eq!(cache.current().clusters()[0].server, "https://127.0.0.1:1");
        assert_eq!(cache.failed_reads(), 1);

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(cache.refresh(), Refresh::Failed(_)));
        assert_eq!(cache.current().clusters().len(), 1);
        assert_eq!(cache.reads(), 3);
    }
}
