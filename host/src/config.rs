//! The configuration file, `lazyhost.toml`.
//!
//! ```toml
//! kubeconfigs = ["~/.kube/config"]          # merged the way kubectl merges them
//! kubeconfig_dirs = ["/etc/lazyhost/fleet"] # every file in the folder
//! in_cluster = true   # the cluster lazyhost's pod runs in, as `in-cluster`
//!
//! [pool]
//! max_idle = "30m"
//! max_access_count = 1000   # 0 turns recycling off
//! max_live = 200
//! init_timeout = "30s"
//! keep_alive = "60s"        # close a connection idle this long
//! idle_connections = 1      # idle connections one client keeps
//! requests_per_second = 50  # per cluster; 0 sets no limit
//! burst = 100
//!
//! [monitor]
//! interval = "30s"
//! memory_warning_mb = 500
//! evict_idle_on_pressure = true
//!
//! [plugins.label_fixer]      # a plugin's grants and limits, by its file name
//! allow = ["write"]
//! namespaces = ["shop"]
//! resources = ["deployments", "replicasets"]  # default every resource type
//! verbs = ["get", "list", "patch"]            # default every verb
//! clusters = ["prod-eu"]     # clusters it may use, by name ...
//! selector = "env=staging"   # ... or by labels; default every cluster
//! as = "system:serviceaccount:ops:label-fixer"  # impersonated by every request
//! as_groups = ["ops"]
//! dry_run = true             # writes are server-side dry runs
//! timeout = "2m"
//! memory = "1GiB"            # sizes take B, KiB, MiB or GiB
//! table_elements = 200000
//! instances = 100
//! result_bytes = "4MiB"
//! output_bytes = "1MiB"
//! request_body_bytes = "3MiB"
//! every = "10m"              # `lazyhost serve` runs it every 10 minutes,
//! # cron = "*/15 * * * 1-5"  # or at the times of a cron expression (UTC)
//! args = { label = "team" }  # the --arg pairs of each scheduled run
//! concurrency = 8
//!
//! [serve]                    # `lazyhost serve`; see `ServeSection`
//! plugins_dir = "plugins"
//! listen = "127.0.0.1:9464"
//! state_dir = "/var/lib/lazyhost"
//!
//! [[clusters]]
//! name = "prod-eu"
//! kubeconfig = "/etc/lazyhost/prod.yaml"
//! context = "eu-admin"
//! labels = { env = "prod", region = "eu" }
//! ```
//!
//! Every key is optional. An unknown key or an invalid value is an error
//! that names the file, the key and the reason. Durations take the usual
//! human forms (`90s`, `30m`, `1h 30m`), and byte sizes a whole number
//! and a binary unit (`512MiB`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::cluster::Identity;
use crate::inventory::ClusterConfig;
use crate::plugin::{Limits, parse_size};
use crate::policy::Policy;
use crate::pool::PoolConfig;
use crate::selector::LabelSelector;
use crate::transport::TransportConfig;

mod serve;

pub use serve::{DEFAULT_LISTEN, DEFAULT_STATE_DIR, ServeSection};

/// The maximum interval of `every`.
const MAX_EVERY: Duration = Duration::from_secs(366 * 24 * 3600);

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "lazyhost.toml";

/// Errors from reading the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "failed to read configuration `{path}`: {source}; pass a readable lazyhost.toml with \
         --config, or leave the option out"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or invalid value.
    #[error("invalid configuration `{path}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the key and line.
        message: String,
    },
}

/// The contents of `lazyhost.toml`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Kubeconfig files merged into one set of contexts, each a cluster.
    pub kubeconfigs: Vec<PathBuf>,
    /// Folders whose files are each a kubeconfig; see the inventory for how
    /// repeated context names are qualified.
    pub kubeconfig_dirs: Vec<PathBuf>,
    /// Clusters listed one by one.
    pub clusters: Vec<ClusterEntry>,
    /// Whether to add the cluster lazyhost runs in, through the pod's
    /// service account, as the cluster `in-cluster`.
    pub in_cluster: bool,
    /// Rules of the client pool.
    pub pool: PoolSection,
    /// Memory monitor settings.
    pub monitor: MonitorSection,
    /// Settings of `lazyhost serve`.
    pub serve: ServeSection,
    /// Grants per plugin, keyed by the plugin's name: its file name
    /// without `.wasm`.
    pub plugins: BTreeMap<String, PluginSection>,
}

/// A plugin's section, `[plugins.NAME]`: what the operator grants it on
/// top of reading every resource but Secrets, and the limits of each of
/// its invocations. A limit left out keeps its default from
/// [`Limits::default`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PluginSection {
    /// Grants as `--allow` takes them: `write`, `secrets`, or a guarded
    /// subresource such as `pods/exec`.
    pub allow: Vec<String>,
    /// Namespaces the plugin may use; empty allows every namespace.
    pub namespaces: Vec<String>,
    /// Resource types the plugin may use, named as kubectl takes them: a
    /// plural, singular or short name, or `plural.group`; empty allows
    /// every type.
    pub resources: Vec<String>,
    /// Kubernetes verbs the plugin may use (`get`, `list`, `watch`,
    /// `create`, `update`, `patch`, `delete`); empty allows every verb.
    pub verbs: Vec<String>,
    /// Clusters the plugin may use, by name. With `selector` as well, a
    /// cluster named here or matching the selector may be used; without
    /// either, every cluster may.
    pub clusters: Vec<String>,
    /// Label selector of the clusters the plugin may use, such as
    /// `env=staging`.
    pub selector: Option<String>,
    /// Kubernetes user the plugin's requests impersonate, so the cluster's
    /// RBAC applies to them too.
    #[serde(rename = "as")]
    pub user: Option<String>,
    /// Groups the plugin's requests impersonate; needs `as`.
    #[serde(rename = "as_groups")]
    pub groups: Vec<String>,
    /// Sends the plugin's writes as server-side dry runs.
    pub dry_run: bool,
    /// Wall-clock limit of one invocation; `--timeout` overrides it.
    #[serde(deserialize_with = "optional_duration")]
    pub timeout: Option<Duration>,
    /// Linear memory of one instance, in bytes.
    #[serde(deserialize_with = "optional_size")]
    pub memory: Option<usize>,
    /// Table elements of one instance.
    pub table_elements: Option<usize>,
    /// Core instances, and separately tables and memories, of one instance.
    pub instances: Option<usize>,
    /// Size of the text `run` returns, in bytes.
    #[serde(deserialize_with = "optional_size")]
    pub result_bytes: Option<usize>,
    /// Captured stdout, and separately stderr, in bytes.
    #[serde(deserialize_with = "optional_size")]
    pub output_bytes: Option<usize>,
    /// Body of one create, patch or raw request, in bytes.
    #[serde(deserialize_with = "optional_size")]
    pub request_body_bytes: Option<usize>,
    /// `lazyhost serve` runs the plugin this long after its last run
    /// started.
    #[serde(deserialize_with = "optional_duration")]
    pub every: Option<Duration>,
    /// `lazyhost serve` runs the plugin at the times of this 5-field cron
    /// expression, in UTC.
    pub cron: Option<String>,
    /// Arguments each scheduled run passes, as `--arg` does.
    pub args: BTreeMap<String, String>,
    /// Invocations of one scheduled run at once; `--concurrency` of
    /// `lazyhost run` overrides it.
    pub concurrency: Option<usize>,
}

impl PluginSection {
    /// Returns whether the section limits the clusters the plugin may use.
    pub fn limits_clusters(&self) -> bool {
        !self.clusters.is_empty() || self.selector.is_some()
    }

    /// Returns whether the plugin may use `cluster`: it is named in
    /// `clusters` or matches `selector`, or the section limits nothing.
    pub fn may_use(&self, cluster: &ClusterConfig) -> bool {
        if !self.limits_clusters() {
            return true;
        }
        let matches = |selector: &String| {
            LabelSelector::parse(selector).is_ok_and(|parsed| parsed.matches(&cluster.labels))
        };
        self.clusters.contains(&cluster.name) || self.selector.as_ref().is_some_and(matches)
    }

    /// Describes the clusters the plugin may use, for messages.
    pub fn cluster_scope(&self) -> String {
        let mut parts = Vec::new();
        if !self.clusters.is_empty() {
            parts.push(format!("clusters {}", self.clusters.join(", ")));
        }
        if let Some(selector) = &self.selector {
            parts.push(format!("clusters labelled {selector}"));
        }
        if parts.is_empty() {
            "every cluster".to_string()
        } else {
            parts.join(" and ")
        }
    }

    /// Returns the policy this section grants.
    ///
    /// # Errors
    ///
    /// Fails on a grant that does not exist; [`Config::load`] has
    /// checked them already.
    pub fn to_policy(&self) -> Result<Policy, String> {
        let mut policy = Policy::default();
        for namespace in &self.namespaces {
            policy.allow_namespace(namespace);
        }
        for grant in &self.allow {
            policy.grant(grant)?;
        }
        policy.resources = self.resources.iter().cloned().collect();
        policy.verbs = self.verbs.iter().cloned().collect();
        Ok(policy)
    }

    /// Returns the identity the plugin's requests impersonate, if any.
    ///
    /// # Errors
    ///
    /// Fails on groups without a user, or on a name that cannot be sent
    /// in a header.
    pub fn to_identity(&self) -> Result<Option<Identity>, (&'static str, String)> {
        identity(self.user.as_deref(), &self.groups)
    }
}

/// Checks an impersonated user and groups as `as` and `as_groups` (or
/// `--as` and `--as-group`) give them.
///
/// # Errors
///
/// Fails on groups without a user, and on an empty name or one with
/// characters other than printable ASCII. The error's first part is the
/// key at fault: `as` or `as_groups`.
pub fn identity(
    user: Option<&str>,
    groups: &[String],
) -> Result<Option<Identity>, (&'static str, String)> {
    let check = |key: &'static str, what: &str, name: &str, example: &str| {
        if name.trim().is_empty() || !name.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
            Err((
                key,
                format!(
                    "{what} `{}` must be non-empty printable ASCII text, such as {example}",
                    name.escape_debug()
                ),
            ))
        } else {
            Ok(())
        }
    };
    let Some(user) = user else {
        return match groups.first() {
            Some(group) => Err((
                "as_groups",
                format!(
                    "group `{group}` is impersonated without a user: set the user as well \
                     (`as` in lazyhost.toml, --as on the command line)"
                ),
            )),
            None => Ok(None),
        };
    };
    check("as", "user", user, "system:serviceaccount:ops:audit")?;
    for group in groups {
        check("as_groups", "group", group, "system:authenticated")?;
    }
    Ok(Some(Identity {
        user: user.to_string(),
        groups: groups.to_vec(),
    }))
}

impl PluginSection {
    /// Returns the limits this section sets, with the defaults for the
    /// keys it leaves out.
    pub fn to_limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            timeout: self.timeout.unwrap_or(defaults.timeout),
            memory_bytes: self.memory.unwrap_or(defaults.memory_bytes),
            table_elements: self.table_elements.unwrap_or(defaults.table_elements),
            instances: self.instances.unwrap_or(defaults.instances),
            result_bytes: self.result_bytes.unwrap_or(defaults.result_bytes),
            output_bytes: self.output_bytes.unwrap_or(defaults.output_bytes),
            request_body_bytes: self
                .request_body_bytes
                .unwrap_or(defaults.request_body_bytes),
        }
    }

    /// Checks the schedule keys: at most one of `every` and `cron`, an
    /// interval of a second or more and a concurrency above zero.
    fn check_schedule(&self, name: &str) -> Result<(), String> {
        if self.every.is_some() && self.cron.is_some() {
            return Err(format!(
                "key `plugins.{name}.cron`: the section has `every` as well; keep one schedule"
            ));
        }
        if self
            .every
            .is_some_and(|every| every < Duration::from_secs(1))
        {
            return Err(format!(
                "key `plugins.{name}.every`: must be at least one second, such as 30s or 5m"
            ));
        }
        if self.every.is_some_and(|every| every > MAX_EVERY) {
            return Err(format!(
                "key `plugins.{name}.every`: must be at most 366 days; use `cron` for a yearly \
                 schedule"
            ));
        }
        if let Some(cron) = &self.cron {
            cron.parse::<crate::serve::schedule::Cron>()
                .map_err(|error| format!("key `plugins.{name}.cron`: {error}"))?;
        }
        if self.concurrency == Some(0) {
            return Err(format!(
                "key `plugins.{name}.concurrency`: must be at least 1"
            ));
        }
        Ok(())
    }

    /// Checks the limits that TOML types alone cannot: none may be zero.
    fn check_limits(&self, name: &str) -> Result<(), String> {
        if self.timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Err(format!(
                "key `plugins.{name}.timeout`: must be longer than zero, such as 30s"
            ));
        }
        let counts = [
            ("memory", self.memory),
            ("table_elements", self.table_elements),
            ("instances", self.instances),
            ("result_bytes", self.result_bytes),
            ("output_bytes", self.output_bytes),
            ("request_body_bytes", self.request_body_bytes),
        ];
        for (key, value) in counts {
            if value == Some(0) {
                return Err(format!(
                    "key `plugins.{name}.{key}`: must be more than zero; leave it out for the default"
                ));
            }
        }
        Ok(())
    }
}

/// A cluster listed in `[[clusters]]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterEntry {
    /// Name of the cluster in lazyhost.
    pub name: String,
    /// Kubeconfig file holding its context.
    pub kubeconfig: PathBuf,
    /// Context in that file; defaults to `name`.
    pub context: Option<String>,
    /// Labels for `--selector`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The `[pool]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSection {
    /// Evict a client unused for this long.
    #[serde(deserialize_with = "duration")]
    pub max_idle: Duration,
    /// Count a live client unused for this long as idle.
    #[serde(deserialize_with = "duration")]
    pub idle_threshold: Duration,
    /// Replace a client after this many checkouts; 0 turns it off.
    pub max_access_count: u64,
    /// Most live clients; none means no cap.
    pub max_live: Option<usize>,
    /// Maximum time one client start may take.
    #[serde(deserialize_with = "duration")]
    pub init_timeout: Duration,
    /// First wait before retrying a failed cluster.
    #[serde(deserialize_with = "duration")]
    pub backoff_initial: Duration,
    /// Maximum wait between retries of a failed cluster.
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// Close a connection idle for this long.
    #[serde(deserialize_with = "duration")]
    pub keep_alive: Duration,
    /// Idle connections one client keeps open.
    pub idle_connections: usize,
    /// Average requests per second to one cluster; 0 sets no limit.
    pub requests_per_second: u32,
    /// Requests to one cluster that may go at once before the average applies.
    pub burst: u32,
    /// Longest `Retry-After` of a 429 reply that a read waits out and is
    /// sent again.
    #[serde(deserialize_with = "duration")]
    pub max_retry_wait: Duration,
}

impl Default for PoolSection {
    fn default() -> Self {
        let pool = PoolConfig::default();
        let transport = TransportConfig::default();
        Self {
            max_idle: pool.max_idle,
            idle_threshold: pool.idle_threshold,
            max_access_count: pool.max_access_count,
            max_live: pool.max_live,
            init_timeout: pool.init_timeout,
            backoff_initial: pool.backoff_initial,
            backoff_max: pool.backoff_max,
            keep_alive: transport.keep_alive,
            idle_connections: transport.idle_connections,
            requests_per_second: transport.requests_per_second,
            burst: transport.burst,
            max_retry_wait: transport.max_retry_wait,
        }
    }
}

impl PoolSection {
    /// Returns the pool rules this section sets.
    pub fn to_pool_config(&self) -> PoolConfig {
        PoolConfig {
            max_idle: self.max_idle,
            idle_threshold: self.idle_threshold,
            max_access_count: self.max_access_count,
            max_live: self.max_live,
            init_timeout: self.init_timeout,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
        }
    }

    /// Returns the HTTP settings this section sets.
    pub fn to_transport_config(&self) -> TransportConfig {
        TransportConfig {
            keep_alive: self.keep_alive,
            idle_connections: self.idle_connections,
            requests_per_second: self.requests_per_second,
            burst: self.burst,
            max_retry_wait: self.max_retry_wait,
        }
    }
}

/// The `[monitor]` section.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSection {
    /// How often memory is sampled.
    #[serde(deserialize_with = "duration")]
    pub interval: Duration,
    /// Resident memory, in MiB, above which a warning is logged.
    pub memory_warning_mb: u64,
    /// Whether idle clients are evicted when memory passes the threshold.
    pub evict_idle_on_pressure: bool,
}

impl Default for MonitorSection {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            memory_warning_mb: 500,
            evict_idle_on_pressure: false,
        }
    }
}

impl Config {
    /// Reads and checks a configuration file.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read, is not valid TOML, has an
    /// unknown key, or has an invalid value.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        if let Some(folder) = path.parent() {
            config.resolve_paths(folder);
        }
        Ok(config)
    }

    /// Makes relative source paths relative to the configuration file's
    /// folder, as kubectl does for paths inside a kubeconfig.
    fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = folder.join(&*path);
            }
        };
        self.kubeconfigs.iter_mut().for_each(resolve);
        self.kubeconfig_dirs.iter_mut().for_each(resolve);
        self.clusters
            .iter_mut()
            .for_each(|entry| resolve(&mut entry.kubeconfig));
        self.serve.resolve_paths(folder);
    }

    /// Reads `path` when given, else `./lazyhost.toml` when it exists, else
    /// returns the defaults.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::load(path),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Self::load(Path::new(DEFAULT_CONFIG_FILE))
            }
            None => Ok(Self::default()),
        }
    }

    /// Parses configuration text and checks values that TOML types alone
    /// cannot.
    fn parse(text: &str) -> Result<Self, String> {
        let config: Config = from_toml(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let pool = &self.pool;
        if pool.max_live == Some(0) {
            return Err(
                "key `pool.max_live`: must be at least 1, or left out for no cap".to_string(),
            );
        }
        if pool.init_timeout.is_zero() {
            return Err("key `pool.init_timeout`: must be longer than zero".to_string());
        }
        if pool.backoff_initial > pool.backoff_max {
            return Err(
                "key `pool.backoff_initial`: must not be longer than `pool.backoff_max`"
                    .to_string(),
            );
        }
        if pool.max_idle.is_zero() {
            return Err("key `pool.max_idle`: must be longer than zero, such as 30m".to_string());
        }
        if pool.keep_alive.is_zero() {
            return Err("key `pool.keep_alive`: must be longer than zero, such as 60s".to_string());
        }
        if pool.burst == 0 {
            return Err("key `pool.burst`: must be at least 1".to_string());
        }
        for (name, section) in &self.plugins {
            section
                .to_policy()
                .map_err(|reason| format!("key `plugins.{name}.allow`: {reason}"))?;
            section
                .to_identity()
                .map_err(|(key, reason)| format!("key `plugins.{name}.{key}`: {reason}"))?;
            if let Some(verb) = section
                .verbs
                .iter()
                .find(|verb| !crate::policy::VERBS.contains(&verb.as_str()))
            {
                return Err(format!(
                    "key `plugins.{name}.verbs`: unknown verb `{verb}`: use {}",
                    crate::policy::VERBS.join(", ")
                ));
            }
            for resource in &section.resources {
                resource
                    .split('.')
                    .try_for_each(crate::policy::check_dns_label)
                    .map_err(|reason| {
                        format!(
                            "key `plugins.{name}.resources`: {reason}; name a resource type as \
                             kubectl does, such as `configmaps`, `deploy` or `deployments.apps`"
                        )
                    })?;
            }
            if let Some(selector) = &section.selector {
                if selector.trim().is_empty() {
                    return Err(format!(
                        "key `plugins.{name}.selector`: the selector is empty; remove the key \
                         to let the plugin use every cluster"
                    ));
                }
                LabelSelector::parse(selector)
                    .map_err(|error| format!("key `plugins.{name}.selector`: {error}"))?;
            }
            section.check_limits(name)?;
            section.check_schedule(name)?;
            for namespace in &section.namespaces {
                crate::policy::check_dns_label(namespace)
                    .map_err(|reason| format!("key `plugins.{name}.namespaces`: {reason}"))?;
            }
        }
        self.serve.check()?;
        if self.monitor.interval.is_zero() {
            return Err("key `monitor.interval`: must be longer than zero".to_string());
        }
        let mut names = std::collections::HashSet::new();
        for entry in &self.clusters {
            if entry.name.trim().is_empty() {
                return Err("key `clusters.name`: must not be empty".to_string());
            }
            if !names.insert(entry.name.as_str()) {
                return Err(format!(
                    "key `clusters.name`: `{}` is listed twice",
                    entry.name
                ));
            }
        }
        Ok(())
    }

    /// Returns whether the file names any cluster source.
    pub fn has_sources(&self) -> bool {
        !self.kubeconfigs.is_empty()
            || !self.kubeconfig_dirs.is_empty()
            || !self.clusters.is_empty()
            || self.in_cluster
    }
}

/// Deserializes TOML text into `T`. An error names the key it is about,
/// as `key `plugins.fixer.memory`: ...`, and fits on one line.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let deserializer =
        toml::Deserializer::parse(text).map_err(|error| one_line(&error.to_string()))?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = one_line(&error.inner().to_string());
        if path.is_empty() || path == "." {
            message
        } else {
            format!("key `{path}`: {message}")
        }
    })
}

/// Turns the TOML parser's multi-line report into one line, leaving out
/// the quoted source lines and carets.
pub(crate) fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_source_excerpt(line))
        .collect();
    match lines.split_first() {
        // "TOML parse error at line 2, column 10" then the reason.
        Some((place, reason))
            if place.starts_with("TOML parse error at ") && !reason.is_empty() =>
        {
            let place = place.trim_start_matches("TOML parse error at ");
            format!("{place}: {}", reason.join(" "))
        }
        _ => lines.join(" "),
    }
}

fn is_source_excerpt(line: &str) -> bool {
    let after_number = line
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_start();
    after_number.starts_with('|') || line.starts_with('^')
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct Text;

    impl serde::de::Visitor<'_> for Text {
        type Value = Duration;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a duration in quotes, such as \"30s\" or \"5m\"")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
            humantime::parse_duration(text).map_err(|error| {
                E::custom(format!(
                    "invalid duration `{text}`: {error}; use a form such as 30s or 5m"
                ))
            })
        }
    }

    deserializer.deserialize_str(Text)
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

fn optional_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    struct Text;

    impl serde::de::Visitor<'_> for Text {
        type Value = usize;

        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a size in quotes, such as \"512MiB\"")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<usize, E> {
            parse_size(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_str(Text).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config = Config::parse("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.pool.max_idle, Duration::from_secs(1800));
        assert_eq!(config.pool.max_access_count, 1000);
        assert_eq!(config.monitor.interval, Duration::from_secs(30));
        assert_eq!(config.monitor.memory_warning_mb, 500);
        assert!(!config.has_sources());
    }

    #[test]
    fn full_file_is_read() {
        let text = r#"
            kubeconfigs = ["/a", "/b"]
            kubeconfig_dirs = ["/fleet"]
            [pool]
            max_idle = "10m"
            max_access_count = 0
            max_live = 50
            init_timeout = "5s"
            keep_alive = "15s"
            idle_connections = 4
            requests_per_second = 0
            burst = 20
            max_retry_wait = "1m"
            [monitor]
            interval = "1m"
            memory_warning_mb = 200
            evict_idle_on_pressure = true
            [[clusters]]
            name = "prod-eu"
            kubeconfig = "/etc/prod.yaml"
            context = "eu-admin"
            labels = { env = "prod" }
        "#;
        let config = Config::parse(text).unwrap();
        assert_eq!(
            config.kubeconfigs,
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(config.pool.max_idle, Duration::from_secs(600));
        assert_eq!(config.pool.max_live, Some(50));
        assert!(!config.pool.to_pool_config().recycle_due(u64::MAX));
        assert_eq!(
            config.pool.to_transport_config(),
            TransportConfig {
                keep_alive: Duration::from_secs(15),
                idle_connections: 4,
                requests_per_second: 0,
                burst: 20,
                max_retry_wait: Duration::from_secs(60),
            }
        );
        assert_eq!(config.monitor.interval, Duration::from_secs(60));
        assert!(config.monitor.evict_idle_on_pressure);
        assert_eq!(config.clusters[0].context.as_deref(), Some("eu-admin"));
        assert_eq!(config.clusters[0].labels["env"], "prod");
        assert!(config.has_sources());
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            ("[pool]\nmax_idel = \"1m\"", "unknown field `max_idel`"),
            (
                "[pool]\nmax_idle = \"5 parsecs\"",
                "invalid duration `5 parsecs`",
            ),
            (
                "[pool]\nmax_idle = 30",
                "invalid type: integer `30`, expected a duration in quotes, such as \"30s\"",
            ),
            (
                "[pool]\nmax_live = 0",
                "key `pool.max_live`: must be at least 1",
            ),
            (
                "[pool]\nkeep_alive = \"0s\"",
                "key `pool.keep_alive`: must be longer than zero",
            ),
            ("[pool]\nburst = 0", "key `pool.burst`: must be at least 1"),
            (
                "[plugins.fixer]\nallow = [\"root\"]",
                "key `plugins.fixer.allow`: unknown grant `root`",
            ),
            (
                "[plugins.fixer]\nallow_all = true",
                "unknown field `allow_all`",
            ),
            (
                "[plugins.fixer]\nverbs = [\"escalate\"]",
                "key `plugins.fixer.verbs`: unknown verb `escalate`: use get, list, watch, create, update, patch, delete",
            ),
            (
                "[plugins.fixer]\nresources = [\"Deployments\"]",
                "key `plugins.fixer.resources`: `Deployments` is not a valid name",
            ),
            (
                "[plugins.fixer]\nselector = \" \"",
                "key `plugins.fixer.selector`: the selector is empty",
            ),
            (
                "[plugins.fixer]\nselector = \"env in (a\"",
                "key `plugins.fixer.selector`: ",
            ),
            (
                "[plugins.fixer]\nas_groups = [\"ops\"]",
                "key `plugins.fixer.as_groups`: group `ops` is impersonated without a user",
            ),
            (
                "[plugins.fixer]\nas = \"bot\\nImpersonate-User: admin\"",
                "key `plugins.fixer.as`: user `bot\\nImpersonate-User: admin` must be non-empty printable ASCII text",
            ),
            (
                "[plugins.fixer]\nmemory = \"512MB\"",
                "invalid size `512MB`: the unit is unknown",
            ),
            (
                "[plugins.fixer]\nmemory = 536870912",
                "invalid type: integer `536870912`, expected a size in quotes, such as \"512MiB\"",
            ),
            (
                "[plugins.fixer]\ninstances = 0",
                "key `plugins.fixer.instances`: must be more than zero",
            ),
            (
                "[plugins.fixer]\nresult_bytes = \"0B\"",
                "key `plugins.fixer.result_bytes`: must be more than zero",
            ),
            (
                "[plugins.fixer]\ntimeout = \"0s\"",
                "key `plugins.fixer.timeout`: must be longer than zero",
            ),
            ("[plugins.fixer]\nfuel = 1000", "unknown field `fuel`"),
            (
                "[pool]\nmax_idle = \"0s\"",
                "key `pool.max_idle`: must be longer than zero",
            ),
            (
                "[pool]\nrequests_per_second = 2.5",
                "invalid type: floating point `2.5`, expected u32",
            ),
            (
                "[pool]\nmax_access_count = -1",
                "invalid value: integer `-1`",
            ),
            (
                "[monitor]\ninterval = \"0s\"",
                "key `monitor.interval`: must be longer than zero",
            ),
            ("color = \"blue\"", "unknown field `color`"),
            (
                "[[clusters]]\nname = \"a\"\nkubeconfig = \"/k\"\n[[clusters]]\nname = \"a\"\nkubeconfig = \"/k\"",
                "`a` is listed twice",
            ),
            ("[[clusters]]\nname = \"a\"", "missing field `kubeconfig`"),
            (
                "[plugins.fixer]\nallow = \"write\"",
                "key `plugins.fixer.allow`: line 2, column 9: invalid type: string \"write\", \
                 expected a sequence",
            ),
            (
                "[plugins.fixer]\nallows = [\"write\"]",
                "key `plugins.fixer.allows`: line 2, column 1: unknown field `allows`",
            ),
            ("[pool", "line 1, column 6: unclosed table, expected `]`"),
        ];
        for (text, expected) in cases {
            let error = Config::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?} gave {error:?}");
            assert!(!error.contains('\n'), "{error:?}");
        }
    }

    #[test]
    fn plugin_limits_are_read() {
        let text = r#"
            [plugins.audit]
            timeout = "2m"
            memory = "1GiB"
            table_elements = 200000
            instances = 40
            result_bytes = "4MiB"
            output_bytes = "64KiB"
            request_body_bytes = "512KiB"
            [plugins.fixer]
            memory = "256MiB"
        "#;
        let config = Config::parse(text).unwrap();
        assert_eq!(
            config.plugins["audit"].to_limits(),
            Limits {
                timeout: Duration::from_secs(120),
                memory_bytes: 1 << 30,
                table_elements: 200_000,
                instances: 40,
                result_bytes: 4 << 20,
                output_bytes: 64 << 10,
                request_body_bytes: 512 << 10,
            }
        );
        assert_eq!(
            config.plugins["fixer"].to_limits(),
            Limits {
                memory_bytes: 256 << 20,
                ..Limits::default()
            }
        );
        assert_eq!(PluginSection::default().to_limits(), Limits::default());
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lazyhost.toml");
        let text = "kubeconfigs = [\"fleet/a.yaml\", \"/abs/b.yaml\"]\n\
                    [[clusters]]\nname = \"x\"\nkubeconfig = \"x.yaml\"\n";
        std::fs::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.kubeconfigs[0], dir.path().join("fleet/a.yaml"));
        assert_eq!(config.kubeconfigs[1], PathBuf::from("/abs/b.yaml"));
        assert_eq!(config.clusters[0].kubeconfig, dir.path().join("x.yaml"));
    }

    #[test]
    fn missing_file_is_an_error() {
        let error = Config::load(Path::new("/nonexistent/lazyhost.toml")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to read configuration `/nonexistent/lazyhost.toml`: No such file or directory \
             (os error 2); pass a readable lazyhost.toml with --config, or leave the option out"
        );
    }
}
