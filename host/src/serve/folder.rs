//! The plugins folder: which `.wasm` files are there, and which of them
//! changed since they were last loaded.
//!
//! The folder is scanned on a fixed interval rather than watched through
//! the kernel, so it works the same on every file system, network and
//! container volumes included. A file counts as complete once its size and
//! modification time stay the same over two scans in a row: a file still
//! being copied is left alone until the copy ends. Copying to a temporary
//! name and renaming it into place is still the safest way to drop a
//! plugin in, since a rename is seen whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::manifest::{MANIFEST_SUFFIX, SHARED_MANIFEST_FILE};

/// The size and modification time of a file, which tell its versions
/// apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Size in bytes.
    pub len: u64,
    /// Modification time.
    pub modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        metadata.is_file().then(|| Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// One version of a plugin: the component and the manifest beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// The `.wasm` file.
    pub component: Stamp,
    /// The plugin's manifest, if it has one.
    pub manifest: Option<Stamp>,
}

/// A change in the folder since the last call of [`Folder::scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A complete plugin file appeared, or a loaded one changed.
    Ready {
        /// The plugin's name: its file name without `.wasm`.
        name: String,
        /// The file.
        path: PathBuf,
        /// The version found.
        version: Version,
    },
    /// A plugin file is gone.
    Removed {
        /// The plugin's name.
        name: String,
    },
}

struct Seen {
    path: PathBuf,
    /// The version of the last scan, which must repeat before it counts.
    pending: Version,
    /// The version last reported as ready.
    reported: Option<Version>,
    /// Whether to report the file again even if it has not changed.
    again: bool,
}

/// The state of a scanned plugins folder.
pub struct Folder {
    dir: PathBuf,
    seen: BTreeMap<String, Seen>,
    scans: u64,
}

impl Folder {
    /// Creates the scanner of `dir`; nothing is read until the first scan.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seen: BTreeMap::new(),
            scans: 0,
        }
    }

    /// Returns how many scans read the folder. After two, every file
    /// present at the first was reported, unless it was still changing.
    pub fn scans(&self) -> u64 {
        self.scans
    }

    /// Returns the folder scanned.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the folder and returns what changed: files whose version held
    /// still since the previous scan and differs from the one last
    /// reported, and files that disappeared.
    ///
    /// # Errors
    ///
    /// Fails when the folder cannot be read; the known files are kept, so
    /// a folder that comes back does not reload every plugin.
    pub fn scan(&mut self) -> std::io::Result<Vec<Change>> {
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = plugin_file_name(&path) else {
                continue;
            };
            let Some(component) = Stamp::of(&path) else {
                continue;
            };
            let manifest = manifest_of(&path, &name).and_then(|manifest| Stamp::of(&manifest));
            found.insert(
                name,
                (
                    path,
                    Version {
                        component,
                        manifest,
                    },
                ),
            );
        }

        self.scans += 1;
        let mut changes = Vec::new();
        self.seen.retain(|name, seen| {
            let kept = found.contains_key(name);
            if !kept && seen.reported.is_some() {
                changes.push(Change::Removed { name: name.clone() });
            }
            kept
        });
        for (name, (path, version)) in found {
            let Some(seen) = self.seen.get_mut(&name) else {
                // First sight: the file may still be being written.
                let seen = Seen {
                    path,
                    pending: version,
                    reported: None,
                    again: false,
                };
                self.seen.insert(name, seen);
                continue;
            };
            let steady = seen.pending == version;
            seen.pending = version;
            seen.path = path;
            if steady && (seen.reported != Some(version) || seen.again) {
                seen.reported = Some(version);
                seen.again = false;
                changes.push(Change::Ready {
                    name,
                    path: seen.path.clone(),
                    version,
                });
            }
        }
        Ok(changes)
    }

    /// Makes the next scan report every file again even if it did not
    /// change: used to reload every plugin after the configuration
    /// changed. A file removed before that scan is reported as removed.
    pub fn reload_all(&mut self) {
        for seen in self.seen.values_mut() {
            seen.again = true;
        }
    }
}

/// Returns the plugin name of `path` when it is a `.wasm` file that is not
/// hidden: editors and copy tools write hidden temporary files.
fn plugin_file_name(path: &Path) -> Option<String> {
    let file_name = path.file_name()?.to_str()?;
    let name = file_name.strip_suffix(".wasm")?;
    (!name.is_empty() && !file_name.starts_with('.')).then(|| name.to_string())
}

/// Returns the manifest that applies to plugin `name` at `path`:
/// `NAME.plugin.toml` when it exists, else the folder's `PLUGIN.toml`.
fn manifest_of(path: &Path, name: &str) -> Option<PathBuf> {
    let dir = path.parent()?;
    let own = dir.join(format!("{name}{MANIFEST_SUFFIX}"));
    if own.is_file() {
        return Some(own);
    }
    let shared = dir.join(SHARED_MANIFEST_FILE);
    shared.is_file().then_some(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    fn names(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|change| match change {
                Change::Ready { name, .. } => format!("ready {name}"),
                Change::Removed { name } => format!("removed {name}"),
            })
            .collect()
    }

    #[test]
    fn new_file_ready_after_two_scans() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), "audit.wasm", b"\0asm");
        assert!(folder.scan().unwrap().is_empty());
        assert_eq!(names(&folder.scan().unwrap()), ["ready audit"]);
        assert!(folder.scan().unwrap().is_empty());
    }

    #[test]
    fn growing_file_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), "audit.wasm", b"\0as");
        folder.scan().unwrap();
        write(dir.path(), "audit.wasm", b"\0asm\x0d\0");
        assert!(folder.scan().unwrap().is_empty());
        assert_eq!(names(&folder.scan().unwrap()), ["ready audit"]);
    }

    #[test]
    fn changed_and_removed_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), "audit.wasm", b"\0asm");
        folder.scan().unwrap();
        folder.scan().unwrap();
        write(dir.path(), "audit.wasm", b"\0asm\x0d\0\x01\0");
        folder.scan().unwrap();
        assert_eq!(names(&folder.scan().unwrap()), ["ready audit"]);
        std::fs::remove_file(dir.path().join("audit.wasm")).unwrap();
        assert_eq!(names(&folder.scan().unwrap()), ["removed audit"]);
        assert!(folder.scan().unwrap().is_empty());
    }

    #[test]
    fn changed_manifest_reports_plugin_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), "audit.wasm", b"\0asm");
        folder.scan().unwrap();
        folder.scan().unwrap();
        write(dir.path(), "audit.plugin.toml", b"allow = []\n");
        folder.scan().unwrap();
        assert_eq!(names(&folder.scan().unwrap()), ["ready audit"]);
    }

    #[test]
    fn hidden_and_other_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), ".audit.wasm", b"\0asm");
        write(dir.path(), "notes.txt", b"text");
        std::fs::create_dir(dir.path().join("sub.wasm")).unwrap();
        folder.scan().unwrap();
        assert!(folder.scan().unwrap().is_empty());
    }

    #[test]
    fn removal_before_reload_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), "audit.wasm", b"\0asm");
        folder.scan().unwrap();
        folder.scan().unwrap();
        folder.reload_all();
        std::fs::remove_file(dir.path().join("audit.wasm")).unwrap();
        assert_eq!(names(&folder.scan().unwrap()), ["removed audit"]);
    }

    #[test]
    fn reloading_reports_every_plugin_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut folder = Folder::new(dir.path().to_path_buf());
        write(dir.path(), "audit.wasm", b"\0asm");
        folder.scan().unwrap();
        folder.scan().unwrap();
        folder.reload_all();
        assert_eq!(names(&folder.scan().unwrap()), ["ready audit"]);
    }
}
