//! Durable records of `lazyhost serve`: the audit log of every write
//! plugins send, and the history of each plugin's recent runs, which
//! survives a restart.
//!
//! Both block on file I/O, so async code calls them from a blocking thread
//! (`tokio::task::spawn_blocking`).

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::plugin::Write;
use crate::run::{ClusterResult, Report, Status};

/// A failure to read or write a record file. The message names the path
/// and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    /// A folder for records could not be created.
    #[error(
        "cannot create folder `{}`: {source}; make its parent writable by this user \
         or set `{setting}` under [serve] in lazyhost.toml",
        path.display()
    )]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// The `[serve]` setting that chooses the folder.
        setting: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The audit log could not be opened.
    #[error(
        "cannot open audit log `{}`: {source}; make it and its folder writable by this \
         user or set `audit_log` under [serve] in lazyhost.toml",
        path.display()
    )]
    OpenAudit {
        /// The audit log.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A line could not be appended to the audit log.
    #[error(
        "cannot write audit log `{}`: {source}; check that its file system has free \
         space and that the file is writable by this user",
        path.display()
    )]
    WriteAudit {
        /// The audit log.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The run history folder or one of its files could not be read.
    #[error(
        "cannot read run history `{}`: {source}; make the state folder readable by this \
         user or set `state_dir` under [serve] in lazyhost.toml",
        path.display()
    )]
    ReadHistory {
        /// The folder or file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A plugin's run history file could not be written.
    #[error(
        "cannot write run history `{}`: {source}; make the state folder writable by this \
         user or set `state_dir` under [serve] in lazyhost.toml",
        path.display()
    )]
    WriteHistory {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A plugin name that cannot be used as a file name.
    #[error(
        "cannot keep run history for plugin `{plugin}`: a plugin name must be a file name, \
         not empty, `.` or `..` and without `/`, `\\` or NUL; rename the plugin's file"
    )]
    InvalidPluginName {
        /// The rejected name.
        plugin: String,
    },
}

/// An append-only audit log of plugin writes, one JSON object per line.
///
/// Each line has the keys `time` (RFC 3339, UTC, milliseconds), `plugin`,
/// `cluster`, `verb`, `resource`, `namespace`, `name`, `dry_run`,
/// `identity` (the impersonated user), `result` (`ok` or `error`) and
/// `error`, in that order. Absent values are `null`.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    /// Held while a line is written, so lines of concurrent appends never
    /// interleave within this process.
    write_lock: Mutex<()>,
}

/// One line of the audit log.
#[derive(Serialize)]
struct AuditLine<'a> {
    time: String,
    plugin: &'a str,
    cluster: &'a str,
    verb: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    dry_run: bool,
    identity: Option<&'a str>,
    result: &'a str,
    error: Option<&'a str>,
}

impl AuditLog {
    /// Opens the audit log at `path` for appending, creating the file and
    /// its parent folders when they are missing. On Unix a new file gets
    /// mode 0600, and an existing file keeps its mode.
    ///
    /// # Errors
    ///
    /// Returns an error when a folder cannot be created or the file cannot
    /// be opened for appending.
    pub fn open(path: &Path) -> Result<Self, RecordsError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            fs::create_dir_all(parent).map_err(|source| RecordsError::CreateFolder {
                path: parent.to_path_buf(),
                setting: "audit_log",
                source,
            })?;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(path)
            .map_err(|source| RecordsError::OpenAudit {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            write_lock: Mutex::new(()),
        })
    }

    /// Returns the path of the log file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line for `write`, sent by `plugin` as `identity` (the
    /// impersonated user, if any), stamped with the current time, and
    /// flushes it to disk.
    ///
    /// The whole line goes out in one `write_all` under a lock, so lines of
    /// concurrent appends from this process never interleave. Another
    /// process appending to the same file has no such guarantee.
    ///
    /// # Errors
    ///
    /// Returns an error when the line cannot be written or synced. A
    /// failure partway, such as a full disk, can leave part of the line in
    /// the file.
    pub fn append(
        &self,
        plugin: &str,
        identity: Option<&str>,
        write: &Write,
    ) -> Result<(), RecordsError> {
        let line = AuditLine {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            plugin,
            cluster: &write.cluster,
            verb: &write.verb,
            resource: &write.resource,
            namespace: write.namespace.as_deref(),
            name: write.name.as_deref(),
            dry_run: write.dry_run,
            identity,
            result: write.result,
            error: write.error.as_deref(),
        };
        let failed = |source: io::Error| RecordsError::WriteAudit {
            path: self.path.clone(),
            source,
        };
        // JSON escapes line breaks inside strings, so the only newline is
        // the one that ends the line.
        let mut bytes = serde_json::to_vec(&line).map_err(|error| failed(error.into()))?;
        bytes.push(b'\n');
        {
            let _guard = self.write_lock.lock();
            (&self.file).write_all(&bytes).map_err(failed)?;
        }
        self.file.sync_data().map_err(failed)
    }
}

/// The cause of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The plugin's schedule came due.
    Schedule,
    /// The plugin was loaded, at daemon start or when its file appeared.
    Start,
    /// A watched cluster event.
    Event,
}

impl Trigger {
    /// Returns the name used in JSON: `schedule`, `start` or `event`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Start => "start",
            Self::Event => "event",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One run of a plugin over its clusters, as kept in the run history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The plugin's name.
    pub plugin: String,
    /// Digest of the plugin file that ran, as `sha256:<hex>`.
    pub digest: String,
    /// The cause of the run.
    pub trigger: Trigger,
    /// Start time, RFC 3339 in UTC with milliseconds.
    pub started: String,
    /// Wall-clock time of the whole run, in milliseconds.
    pub duration_ms: u64,
    /// Clusters that succeeded.
    pub ok: usize,
    /// Clusters that failed.
    pub error: usize,
    /// Clusters not finished when the run was interrupted.
    pub cancelled: usize,
    /// One outcome per target cluster, in target order.
    pub results: Vec<ClusterOutcome>,
}

/// The outcome of one cluster in a [`RunRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterOutcome {
    /// Cluster name.
    pub cluster: String,
    /// `ok`, `error` or `cancelled`.
    pub status: Status,
    /// Wall-clock time of the invocation, in milliseconds.
    pub duration_ms: u64,
    /// The failure message, if the invocation failed.
    pub error: Option<String>,
    /// The plugin's JSON result, on success.
    pub output: Option<serde_json::Value>,
    /// Number of writes the plugin sent to the cluster.
    pub writes: usize,
}

impl ClusterOutcome {
    fn from_result(result: &ClusterResult) -> Self {
        Self {
            cluster: result.cluster.clone(),
            status: result.status,
            duration_ms: result.duration_ms,
            error: result.error.clone(),
            output: result.output.clone(),
            writes: result.writes.len(),
        }
    }
}

impl RunRecord {
    /// Builds the record of `report`, a run of the plugin file with
    /// `digest` that `trigger` started at `started`.
    #[must_use]
    pub fn from_report(
        report: &Report,
        digest: &str,
        trigger: Trigger,
        started: SystemTime,
    ) -> Self {
        Self {
            plugin: report.plugin.clone(),
            digest: digest.to_string(),
            trigger,
            started: humantime::format_rfc3339_millis(started).to_string(),
            duration_ms: report.summary.duration_ms,
            ok: report.summary.ok,
            error: report.summary.error,
            cancelled: report.summary.cancelled,
            results: report
                .results
                .iter()
                .map(ClusterOutcome::from_result)
                .collect(),
        }
    }

    /// Returns the start time, or `None` when `started` is not RFC 3339.
    #[must_use]
    pub fn started_at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339(&self.started).ok()
    }
}

/// The last runs of each plugin, in memory and in one JSON file per plugin
/// under `<state folder>/runs/`, so they survive a restart.
///
/// NOTE: a record keeps every cluster's JSON output, so a plugin with large
/// outputs over many clusters makes its file large, and each run rewrites
/// the whole file.
#[derive(Debug)]
pub struct RunHistory {
    folder: PathBuf,
    keep: usize,
    /// Runs of each plugin, newest first. Each plugin's lock is held while
    /// its file is written, so the file always ends with the latest state.
    plugins: RwLock<BTreeMap<String, Arc<Mutex<VecDeque<RunRecord>>>>>,
}

impl RunHistory {
    /// Opens the run history under `state_folder`, creating
    /// `<state_folder>/runs` when it is missing, and loads the files found
    /// there, keeping the newest `keep` runs of each plugin. A `keep` of 0
    /// counts as 1.
    ///
    /// A file that is not valid history JSON is renamed to
    /// `<plugin>.json.corrupt`, replacing an earlier one, with a warning,
    /// and that plugin starts with no history.
    ///
    /// # Errors
    ///
    /// Returns an error when the folder cannot be created or listed, or a
    /// file in it cannot be read.
    pub fn open(state_folder: &Path, keep: usize) -> Result<Self, RecordsError> {
        let folder = state_folder.join("runs");
        fs::create_dir_all(&folder).map_err(|source| RecordsError::CreateFolder {
            path: folder.clone(),
            setting: "state_dir",
            source,
        })?;
        let keep = keep.max(1);
        let mut plugins = BTreeMap::new();
        for (plugin, path) in history_files(&folder)? {
            let Some(mut runs) = load_history_file(&path)? else {
                continue;
            };
            runs.truncate(keep);
            plugins.insert(plugin, Arc::new(Mutex::new(runs)));
        }
        tracing::debug!(folder = %folder.display(), plugins = plugins.len(), "loaded run history");
        Ok(Self {
            folder,
            keep,
            plugins: RwLock::new(plugins),
        })
    }

    /// Adds `run` as the plugin's newest run, drops runs beyond the newest
    /// `keep`, and rewrites the plugin's file atomically: a reader or a
    /// restart reads either the old file or the new one, never part of one.
    ///
    /// # Errors
    ///
    /// Returns an error when the plugin name cannot be a file name, and when
    /// the file cannot be written. In the second case the run is still kept
    /// in memory.
    pub fn record(&self, run: RunRecord) -> Result<(), RecordsError> {
        if !is_valid_plugin_name(&run.plugin) {
            return Err(RecordsError::InvalidPluginName { plugin: run.plugin });
        }
        let path = self.folder.join(format!("{}.json", run.plugin));
        let runs = self.plugin_runs(&run.plugin);
        let mut runs = runs.lock();
        runs.push_front(run);
        runs.truncate(self.keep);
        let mut bytes = serde_json::to_vec(&*runs).map_err(|error| RecordsError::WriteHistory {
            path: path.clone(),
            source: error.into(),
        })?;
        bytes.push(b'\n');
        // The folder is created again in case it was removed while running.
        fs::create_dir_all(&self.folder)
            .and_then(|()| write_atomically(&path, &bytes))
            .map_err(|source| RecordsError::WriteHistory { path, source })
    }

    /// Returns the plugin's kept runs, newest first, or nothing for a
    /// plugin without history.
    #[must_use]
    pub fn runs(&self, plugin: &str) -> Vec<RunRecord> {
        let runs = self.plugins.read().get(plugin).map(Arc::clone);
        runs.map(|runs| runs.lock().iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Returns the names of the plugins with history, sorted.
    #[must_use]
    pub fn plugins(&self) -> Vec<String> {
        self.plugins.read().keys().cloned().collect()
    }

    /// Returns the plugin's runs, adding an empty entry when it has none.
    fn plugin_runs(&self, plugin: &str) -> Arc<Mutex<VecDeque<RunRecord>>> {
        if let Some(runs) = self.plugins.read().get(plugin) {
            return Arc::clone(runs);
        }
        let mut plugins = self.plugins.write();
        Arc::clone(plugins.entry(plugin.to_string()).or_default())
    }
}

/// Returns whether `plugin` can name a file in the history folder.
fn is_valid_plugin_name(plugin: &str) -> bool {
    !plugin.is_empty() && plugin != "." && plugin != ".." && !plugin.contains(['/', '\\', '\0'])
}

/// Lists the `<plugin>.json` files of the history folder.
fn history_files(folder: &Path) -> Result<Vec<(String, PathBuf)>, RecordsError> {
    let read_failed = |source| RecordsError::ReadHistory {
        path: folder.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(folder).map_err(read_failed)? {
        let entry = entry.map_err(read_failed)?;
        let path = entry.path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let Some(plugin) = path.file_stem().and_then(|stem| stem.to_str()) else {
            tracing::warn!(path = %path.display(), "skipped a run history file whose name is not UTF-8");
            continue;
        };
        if !is_valid_plugin_name(plugin) || !entry.file_type().is_ok_and(|kind| kind.is_file()) {
            continue;
        }
        files.push((plugin.to_string(), path));
    }
    Ok(files)
}

/// Reads one plugin's history file. Returns `None` when the file is not
/// valid history JSON, after moving it aside.
fn load_history_file(path: &Path) -> Result<Option<VecDeque<RunRecord>>, RecordsError> {
    let bytes = fs::read(path).map_err(|source| RecordsError::ReadHistory {
        path: path.to_path_buf(),
        source,
    })?;
    let error = match serde_json::from_slice::<VecDeque<RunRecord>>(&bytes) {
        Ok(runs) => return Ok(Some(runs)),
        Err(error) => error,
    };
    let mut aside = path.as_os_str().to_owned();
    aside.push(".corrupt");
    let aside = PathBuf::from(aside);
    match fs::rename(path, &aside) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            moved_to = %aside.display(),
            %error,
            "moved an invalid run history file aside; this plugin's history starts empty"
        ),
        Err(rename_error) => tracing::warn!(
            path = %path.display(),
            %error,
            %rename_error,
            "failed to move an invalid run history file aside; the next run of this plugin \
             overwrites it"
        ),
    }
    Ok(None)
}

/// Replaces `path` with `bytes` through a synced temporary file in the same
/// folder and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut temporary = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(folder)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_data()?;
    temporary.persist(path).map_err(|error| error.error)?;
    sync_folder(folder);
    Ok(())
}

/// Syncs a folder so that a rename in it survives a crash. Some file
/// systems reject syncing a folder, and the rename itself already took
/// effect, so a failure is only logged.
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Err(error) = File::open(folder).and_then(|handle| handle.sync_all()) {
        tracing::debug!(folder = %folder.display(), %error, "failed to sync the run history folder");
    }
    #[cfg(not(unix))]
    let _ = folder;
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::policy::Request;
    use crate::run::Summary;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn write(cluster: &str, name: Option<&str>, error: Option<&str>) -> Write {
        Write {
            cluster: cluster.to_string(),
            verb: "delete".to_string(),
            resource: "pods".to_string(),
            namespace: Some("shop".to_string()),
            name: name.map(str::to_string),
            dry_run: false,
            result: if error.is_some() { "error" } else { "ok" },
            error: error.map(str::to_string),
        }
    }

    fn run(plugin: &str, duration_ms: u64) -> RunRecord {
        RunRecord {
            plugin: plugin.to_string(),
            digest: DIGEST.to_string(),
            trigger: Trigger::Schedule,
            started: "2024-05-01T12:00:00.000Z".to_string(),
            duration_ms,
            ok: 1,
            error: 0,
            cancelled: 0,
            results: vec![ClusterOutcome {
                cluster: "sim-1".to_string(),
                status: Status::Ok,
                duration_ms,
                error: None,
                output: Some(serde_json::json!({"pods": 3})),
                writes: 0,
            }],
        }
    }

    fn durations(runs: &[RunRecord]) -> Vec<u64> {
        runs.iter().map(|run| run.duration_ms).collect()
    }

    fn read_lines(path: &Path) -> Vec<serde_json::Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"))
            })
            .collect()
    }

    #[test]
    fn audit_line_has_every_key_in_order() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("state/deep/audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(log.path(), path);
        let before = SystemTime::now() - Duration::from_millis(1);
        log.append(
            "pod_cleanup",
            Some("system:serviceaccount:ops:bot"),
            &write("sim-1", Some("web-1"), None),
        )
        .unwrap();
        log.append(
            "pod_cleanup",
            None,
            &write("sim-2", None, Some("HTTP 403: forbidden")),
        )
        .unwrap();
        let after = SystemTime::now() + Duration::from_millis(1);

        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        let keys_in_order = [
            "\"time\"",
            "\"plugin\"",
            "\"cluster\"",
            "\"verb\"",
            "\"resource\"",
            "\"namespace\"",
            "\"name\"",
            "\"dry_run\"",
            "\"identity\"",
            "\"result\"",
            "\"error\"",
        ];
        let positions: Vec<usize> = keys_in_order
            .iter()
            .map(|key| first.find(key).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{first}");

        let lines = read_lines(&path);
        assert_eq!(lines.len(), 2);
        let time = humantime::parse_rfc3339(lines[0]["time"].as_str().unwrap()).unwrap();
        assert!(time >= before, "{time:?} is before {before:?}");
        assert!(time <= after, "{time:?} is after {after:?}");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            lines[0],
            serde_json::json!({
                "time": lines[0]["time"],
                "plugin": "pod_cleanup",
                "cluster": "sim-1",
                "verb": "delete",
                "resource": "pods",
                "namespace": "shop",
                "name": "web-1",
                "dry_run": false,
                "identity": "system:serviceaccount:ops:bot",
                "result": "ok",
                "error": null,
            })
        );
        assert_eq!(lines[1]["cluster"], "sim-2");
        assert_eq!(lines[1]["name"], serde_json::Value::Null);
        assert_eq!(lines[1]["identity"], serde_json::Value::Null);
        assert_eq!(lines[1]["result"], "error");
        assert_eq!(lines[1]["error"], "HTTP 403: forbidden");
    }

    #[test]
    fn audit_appends_after_reopen() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("audit.jsonl");
        AuditLog::open(&path)
            .unwrap()
            .append("a", None, &write("c1", None, None))
            .unwrap();
        AuditLog::open(&path)
            .unwrap()
            .append("b", None, &write("c2", None, None))
            .unwrap();
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["plugin"], "a");
        assert_eq!(lines[1]["plugin"], "b");
    }

    #[test]
    fn audit_line_breaks_in_values_stay_escaped() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.append(
            "a",
            None,
            &write("c1", Some("x\n{\"forged\":true}"), Some("line\nbreak")),
        )
        .unwrap();
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["name"], "x\n{\"forged\":true}");
        assert_eq!(lines[0]["error"], "line\nbreak");
    }

    #[cfg(unix)]
    #[test]
    fn audit_new_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("audit.jsonl");
        AuditLog::open(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn audit_concurrent_lines_never_interleave() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    // Long values make each line span many pages of the
                    // file, so interleaved writes would break lines.
                    let name = format!("{thread}").repeat(20_000);
                    for index in 0..25 {
                        let plugin = format!("plugin-{thread}-{index}");
                        log.append(&plugin, None, &write("c", Some(&name), None))
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let lines = read_lines(&path);
        assert_eq!(lines.len(), 200);
        for line in &lines {
            let plugin = line["plugin"].as_str().unwrap();
            let thread = plugin.split('-').nth(1).unwrap();
            assert_eq!(line["name"].as_str().unwrap(), thread.repeat(20_000));
        }
    }

    #[test]
    fn audit_open_error_names_path_and_setting() {
        let folder = tempfile::tempdir().unwrap();
        let blocker = folder.path().join("file");
        fs::write(&blocker, "").unwrap();
        let path = blocker.join("audit.jsonl");
        let error = AuditLog::open(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("cannot create folder `{}`: ", blocker.display())),
            "{error}"
        );
        assert!(
            error.ends_with(
                "; make its parent writable by this user or set `audit_log` under [serve] in \
                 lazyhost.toml"
            ),
            "{error}"
        );
    }

    #[test]
    fn run_record_json_shape() {
        let mut record = run("pod_audit", 12);
        record.trigger = Trigger::Event;
        record.results.push(ClusterOutcome {
            cluster: "sim-2".to_string(),
            status: Status::Cancelled,
            duration_ms: 30,
            error: Some("cancelled".to_string()),
            output: None,
            writes: 2,
        });
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "plugin": "pod_audit",
                "digest": DIGEST,
                "trigger": "event",
                "started": "2024-05-01T12:00:00.000Z",
                "duration_ms": 12,
                "ok": 1,
                "error": 0,
                "cancelled": 0,
                "results": [
                    {"cluster": "sim-1", "status": "ok", "duration_ms": 12, "error": null,
                     "output": {"pods": 3}, "writes": 0},
                    {"cluster": "sim-2", "status": "cancelled", "duration_ms": 30,
                     "error": "cancelled", "output": null, "writes": 2},
                ],
            })
        );
        let back: RunRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn trigger_names() {
        for (trigger, name) in [
            (Trigger::Schedule, "schedule"),
            (Trigger::Start, "start"),
            (Trigger::Event, "event"),
        ] {
            assert_eq!(trigger.to_string(), name);
            assert_eq!(serde_json::to_value(trigger).unwrap(), name);
        }
    }

    #[test]
    fn run_record_from_report() {
        let result = |cluster: &str, status, output, error: Option<&str>, writes| ClusterResult {
            cluster: cluster.to_string(),
            status,
            duration_ms: 7,
            output,
            error: error.map(str::to_string),
            stdout: "printed".to_string(),
            stderr: String::new(),
            writes,
        };

        let report = Report {
            plugin: "pod_cleanup".to_string(),
            policy: "write".to_string(),
            dry_run: false,
            identity: None,
            manifest: None,
            requested_not_granted: Request::default(),
            results: vec![
                result(
                    "a",
                    Status::Ok,
                    Some(serde_json::json!([1])),
                    None,
                    vec![write("a", Some("x"), None), write("a", Some("y"), None)],
                ),
                result("b", Status::Error, None, Some("trapped"), vec![]),
                result("c", Status::Cancelled, None, None, vec![]),
            ],
            summary: Summary {
                total: 3,
                ok: 1,
                error: 1,
                cancelled: 1,
                duration_ms: 42,
            },
            interrupted: true,
        };

        let started = UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        let record = RunRecord::from_report(&report, DIGEST, Trigger::Start, started);

        assert_eq!(record.plugin, "pod_cleanup");
        assert_eq!(record.digest, DIGEST);
        assert_eq!(record.trigger, Trigger::Start);
        assert_eq!(record.started, "2024-05-01T12:00:00.123Z");
        assert_eq!(record.started_at(), Some(started));
        assert_eq!(record.duration_ms, 42);
        assert_eq!(record.ok, 1);
        assert_eq!(record.error, 1);
        assert_eq!(record.cancelled, 1);
        assert_eq!(record.results.len(), 3);
        assert_eq!(
            record.results[0],
            ClusterOutcome {
                cluster: "a".to_string(),
                status: Status::Ok,
                duration_ms: 7,
                error: None,
                output: Some(serde_json::json!([1])),
                writes: 2,
            }
        );
        assert_eq!(record.results[1].status, Status::Error);
        assert_eq!(record.results[1].error.as_deref(), Some("trapped"));
        assert_eq!(record.results[2].status, Status::Cancelled);
    }

    #[test]
    fn history_keeps_newest_first() {
        let folder = tempfile::tempdir().unwrap();
        let history = RunHistory::open(folder.path(), 3).unwrap();
        assert!(history.runs("a").is_empty());
        for duration in 1..=5 {
            history.record(run("a", duration)).unwrap();
        }
        history.record(run("b", 9)).unwrap();
        assert_eq!(durations(&history.runs("a")), [5, 4, 3]);
        assert_eq!(durations(&history.runs("b")), [9]);
        assert_eq!(history.plugins(), ["a", "b"]);
    }

    #[test]
    fn history_survives_reopen() {
        let folder = tempfile::tempdir().unwrap();
        {
            let history = RunHistory::open(folder.path(), 5).unwrap();
            for duration in 1..=4 {
                history.record(run("pod_audit", duration)).unwrap();
            }
            history.record(run("other", 7)).unwrap();
        }
        let history = RunHistory::open(folder.path(), 5).unwrap();
        assert_eq!(history.plugins(), ["other", "pod_audit"]);
        assert_eq!(durations(&history.runs("pod_audit")), [4, 3, 2, 1]);
        assert_eq!(history.runs("other"), [run("other", 7)]);

        let smaller = RunHistory::open(folder.path(), 2).unwrap();
        assert_eq!(durations(&smaller.runs("pod_audit")), [4, 3]);
    }

    #[test]
    fn history_file_holds_json_and_no_temporaries() {
        let folder = tempfile::tempdir().unwrap();
        let history = RunHistory::open(folder.path(), 2).unwrap();
        history.record(run("a", 1)).unwrap();
        history.record(run("a", 2)).unwrap();
        let runs_folder = folder.path().join("runs");
        let names: Vec<String> = fs::read_dir(&runs_folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.json"]);
        let stored: Vec<RunRecord> =
            serde_json::from_slice(&fs::read(runs_folder.join("a.json")).unwrap()).unwrap();
        assert_eq!(stored, history.runs("a"));
    }

    #[test]
    fn history_moves_corrupt_file_aside() {
        let folder = tempfile::tempdir().unwrap();
        let runs_folder = folder.path().join("runs");
        fs::create_dir_all(&runs_folder).unwrap();
        fs::write(runs_folder.join("broken.json"), "[{\"plugin\": ").unwrap();
        fs::write(runs_folder.join("wrong.json"), "{\"not\": \"a list\"}").unwrap();
        fs::write(runs_folder.join("notes.txt"), "ignored").unwrap();
        let good = serde_json::to_vec(&[run("good", 3)]).unwrap();
        fs::write(runs_folder.join("good.json"), good).unwrap();

        let history = RunHistory::open(folder.path(), 5).unwrap();
        assert_eq!(history.plugins(), ["good"]);
        assert!(history.runs("broken").is_empty());
        assert!(!runs_folder.join("broken.json").exists());
        assert_eq!(
            fs::read_to_string(runs_folder.join("broken.json.corrupt")).unwrap(),
            "[{\"plugin\": "
        );
        assert!(runs_folder.join("wrong.json.corrupt").exists());
        assert!(runs_folder.join("notes.txt").exists());

        history.record(run("broken", 1)).unwrap();
        assert_eq!(durations(&history.runs("broken")), [1]);
        let reopened = RunHistory::open(folder.path(), 5).unwrap();
        assert_eq!(reopened.plugins(), ["broken", "good"]);
    }

    #[test]
    fn history_zero_keep_counts_as_one() {
        let folder = tempfile::tempdir().unwrap();
        let history = RunHistory::open(folder.path(), 0).unwrap();
        history.record(run("a", 1)).unwrap();
        history.record(run("a", 2)).unwrap();
        assert_eq!(durations(&history.runs("a")), [2]);
    }

    #[test]
    fn history_rejects_unsafe_plugin_names() {
        let folder = tempfile::tempdir().unwrap();
        let history = RunHistory::open(folder.path(), 5).unwrap();
        for name in ["", ".", "..", "../escape", "a/b", "a\\b", "nul\0"] {
            let error = history.record(run(name, 1)).unwrap_err();
            assert!(
                matches!(&error, RecordsError::InvalidPluginName { plugin } if plugin == name),
                "{name:?}: {error}"
            );
        }
        assert!(history.plugins().is_empty());
        assert!(!folder.path().join("escape.json").exists());
        history.record(run(".hidden-ok", 1)).unwrap();
    }

    #[test]
    fn history_concurrent_records() {
        let folder = tempfile::tempdir().unwrap();
        let history = Arc::new(RunHistory::open(folder.path(), 10).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let history = Arc::clone(&history);
                std::thread::spawn(move || {
                    for index in 0..20 {
                        let plugin = if thread % 2 == 0 { "shared" } else { "odd" };
                        history.record(run(plugin, thread * 100 + index)).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let reopened = RunHistory::open(folder.path(), 10).unwrap();
        for plugin in ["shared", "odd"] {
            assert_eq!(history.runs(plugin).len(), 10, "{plugin}");
            assert_eq!(reopened.runs(plugin), history.runs(plugin), "{plugin}");
        }
    }

    #[test]
    fn history_open_error_names_folder() {
        let folder = tempfile::tempdir().unwrap();
        let blocker = folder.path().join("state");
        fs::write(&blocker, "").unwrap();
        let error = RunHistory::open(&blocker, 5).unwrap_err().to_string();
        let runs_folder = blocker.join("runs");
        assert!(
            error.starts_with(&format!(
                "cannot create folder `{}`: ",
                runs_folder.display()
            )),
            "{error}"
        );
        assert!(
            error.contains("set `state_dir` under [serve] in lazyhost.toml"),
            "{error}"
        );
    }

    #[test]
    fn history_recreates_removed_folder() {
        let folder = tempfile::tempdir().unwrap();
        let history = RunHistory::open(folder.path(), 5).unwrap();
        fs::remove_dir_all(folder.path().join("runs")).unwrap();
        history.record(run("a", 1)).unwrap();
        assert!(folder.path().join("runs/a.json").is_file());
    }

    #[test]
    fn history_write_error_names_file_and_fix() {
        let folder = tempfile::tempdir().unwrap();
        let history = RunHistory::open(folder.path(), 5).unwrap();
        // A folder in the file's place makes the rename fail, even for root.
        let path = folder.path().join("runs/a.json");
        fs::create_dir(&path).unwrap();
        let error = history.record(run("a", 1)).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("cannot write run history `{}`: ", path.display())),
            "{error}"
        );
        assert!(
            error.ends_with(
                "; make the state folder writable by this user or set `state_dir` under [serve] \
                 in lazyhost.toml"
            ),
            "{error}"
        );
        assert_eq!(
            durations(&history.runs("a")),
            [1],
            "the run stays in memory"
        );
        let leftovers: Vec<_> = fs::read_dir(folder.path().join("runs"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["a.json"], "no temporary file is left behind");
    }
}
