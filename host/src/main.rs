//! The `lazyhost` command line: parses arguments and calls the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use lazyhost::cluster::{Identity, KubeFactory, KubePool, RequestMode};
use lazyhost::config::{self, Config, PluginSection};
use lazyhost::grant;
use lazyhost::inventory::{ClusterConfig, Inventory, Sources, in_cluster};
use lazyhost::manifest::Manifest;
use lazyhost::monitor::{ConfigStats, Monitor};
use lazyhost::output::{self, ClusterRow, Format};
use lazyhost::plugin::{ComponentCache, HostContext, PluginRuntime, plugin_name};
use lazyhost::policy::Policy;
use lazyhost::remote::Remote;
use lazyhost::run::{RunOptions, run_plugin};
use lazyhost::sim::{Fleet, FleetFile, FleetOptions, Listen, UserAuth};

/// Largest simulated fleet: each cluster listens on its own port.
const MAX_SIM_CLUSTERS: i64 = lazyhost::sim::MAX_CLUSTERS as i64;

/// Exit code when some cluster failed or was cancelled.
const EXIT_CLUSTER_FAILED: u8 = 1;
/// Exit code for invalid input: arguments, configuration or plugin.
const EXIT_INVALID_INPUT: u8 = 2;
/// Exit code when the run was interrupted with Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// Runs sandboxed WebAssembly plugins across a fleet of Kubernetes clusters.
#[derive(Parser)]
#[command(name = "lazyhost", version, about)]
struct Cli {
    /// Log more: -v for lifecycle events, -vv for every host call. RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a plugin once per selected cluster and print the results.
    Run(RunArgs),
    /// Show what a plugin file is without running it.
    ///
    /// Prints the file's SHA-256 digest, its imports and exports, whether it
    /// fits the plugin world, what its PLUGIN.toml requests and the policy
    /// it would run under. Exits with 2 when `lazyhost run` would reject it.
    Inspect(InspectArgs),
    /// Start a simulated fleet of Kubernetes clusters on 127.0.0.1.
    Sim(SimArgs),
    /// List the configured clusters and their pool state.
    Clusters(ClustersArgs),
    /// Show the statistics of this process: memory, requests and the cluster pool.
    Stats(StatsArgs),
    /// Run as a daemon: load every plugin of a folder, run them on their
    /// schedules and serve health, statistics and metrics over HTTP.
    ///
    /// A .wasm file dropped into the folder is loaded, a changed one is
    /// reloaded and a removed one unloaded, without a restart. SIGTERM or
    /// Ctrl-C lets running invocations finish within `grace_period`, then
    /// exits; SIGHUP reads lazyhost.toml again.
    Serve(ServeArgs),
    /// Write the skeleton of a new plugin: sources, build.sh and a copy of
    /// the WIT contract this lazyhost serves.
    New(NewArgs),
}

#[derive(Args)]
struct NewArgs {
    /// Language of the plugin.
    #[arg(long, value_name = "LANG", value_parser = clap::builder::PossibleValuesParser::new(lazyhost::new::LANGUAGES))]
    lang: String,
    /// Plugin name: lowercase letters, digits and `-`, starting with a
    /// letter; also the name of the folder written.
    name: String,
    /// Folder to create the plugin's folder in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Folder of plugin components (.wasm) [default: `plugins_dir` under
    /// [serve] in lazyhost.toml, else ./plugins]
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// Address of the HTTP endpoints; an address other than loopback needs
    /// a bearer token [default: `listen` under [serve], else 127.0.0.1:9464]
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Folder of the run history and the audit file [default: `state_dir`
    /// under [serve], else ./lazyhost-state]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Args)]
struct SourceArgs {
    /// Configuration file [default: ./lazyhost.toml when it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Kubeconfig file; repeat to merge several. Replaces the configuration's
    /// cluster sources [default: $KUBECONFIG or ~/.kube/config]
    #[arg(long, value_name = "PATH")]
    kubeconfig: Vec<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// The plugin component (.wasm) to run.
    plugin: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
    /// Cluster (kubeconfig context) to run on; repeatable [default: the current context]
    #[arg(long = "context", value_name = "NAME", conflicts_with = "all")]
    contexts: Vec<String>,
    /// Run on every configured cluster.
    #[arg(long)]
    all: bool,
    /// Run on the clusters whose labels match, such as env=prod,region!=us.
    #[arg(short = 'l', long, value_name = "SELECTOR", conflicts_with_all = ["contexts", "all"])]
    selector: Option<String>,
    /// Invocations running at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Wall-clock limit of one invocation, such as 30s or 2m; overrides the
    /// plugin's `timeout` in lazyhost.toml [default: 60s]
    #[arg(long, value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Argument passed to the plugin; repeatable.
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    args: Vec<(String, String)>,
    #[command(flatten)]
    grants: GrantArgs,
    /// Send every write as a server-side dry run: the clusters check it and
    /// store nothing.
    #[arg(long)]
    dry_run: bool,
    /// Kubernetes user every request of the plugin impersonates, so the
    /// cluster's RBAC applies too.
    #[arg(long = "as", value_name = "USER")]
    user: Option<String>,
    /// Group to impersonate along with --as; repeatable.
    #[arg(long = "as-group", value_name = "GROUP")]
    groups: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
    /// Start an embedded simulated fleet of N clusters, with no faults injected, and run on all of them.
    #[arg(long, value_name = "N", conflicts_with_all = ["kubeconfig", "contexts", "all", "selector"],
          value_parser = clap::value_parser!(u16).range(1..=MAX_SIM_CLUSTERS))]
    sim: Option<u16>,
}

/// The operator's grants on the command line, added to the plugin's
/// section of lazyhost.toml.
#[derive(Args)]
struct GrantArgs {
    /// Grant the plugin more than reading every resource but Secrets:
    /// write, secrets, or a subresource such as pods/exec; repeatable. A
    /// manifest beside the plugin (NAME.plugin.toml, else PLUGIN.toml)
    /// narrows the grants to what it requests.
    #[arg(long = "allow", value_name = "GRANT", value_parser = parse_grant)]
    allow: Vec<String>,
    /// Limit the plugin to this namespace; repeatable [default: every namespace]
    #[arg(long = "allow-namespace", value_name = "NAMESPACE", value_parser = parse_namespace)]
    allow_namespaces: Vec<String>,
}

#[derive(Args)]
struct InspectArgs {
    /// The plugin file (.wasm) to inspect.
    plugin: PathBuf,
    /// Configuration file whose [plugins.NAME] section grants the plugin
    /// [default: ./lazyhost.toml when it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(flatten)]
    grants: GrantArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Args)]
struct SimArgs {
    /// Number of clusters, named sim-1 to sim-N [default: 10, or the fleet file's]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=MAX_SIM_CLUSTERS))]
    clusters: Option<u16>,
    /// Output path of the kubeconfig with one context per cluster.
    #[arg(long, value_name = "PATH")]
    kubeconfig_out: PathBuf,
    /// Fleet file (TOML) with the cluster count, listen mode, extra objects and
    /// faults per cluster; the options below override it.
    #[arg(long, value_name = "PATH")]
    fleet: Option<PathBuf>,
    /// Give the last K clusters faults in turn: down, 500 errors, expired token,
    /// wrong CA, 429 throttling, slow replies.
    #[arg(long, value_name = "K")]
    faulty: Option<u16>,
    /// Extra config maps and pods per cluster, spread over its namespaces.
    #[arg(long, value_name = "N")]
    objects: Option<u32>,
    /// Serve all clusters on one port, each under the path /clusters/<name>.
    #[arg(long)]
    shared_port: bool,
    /// Credential kind of the kubeconfig's users: each cluster's bearer token, or
    /// a client certificate that the fleet's CA signed.
    #[arg(long, value_enum, default_value = "token")]
    auth: SimAuth,
}

/// Credential kind of the users in `lazyhost sim`'s kubeconfig.
#[derive(Clone, Copy, ValueEnum)]
enum SimAuth {
    /// The cluster's bearer token, in the user's `token`.
    Token,
    /// A client certificate and key, in `client-certificate-data` and `client-key-data`.
    Cert,
}

impl From<SimAuth> for UserAuth {
    fn from(auth: SimAuth) -> Self {
        match auth {
            SimAuth::Token => UserAuth::BearerToken,
            SimAuth::Cert => UserAuth::ClientCertificate,
        }
    }
}

#[derive(Args)]
struct ClustersArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Start each cluster's client (discovery included) and show the result.
    #[arg(long)]
    check: bool,
    /// Read from a running `lazyhost serve` at this URL, such as
    /// http://127.0.0.1:9464, instead of the local cluster sources.
    #[arg(long, value_name = "URL", conflicts_with_all = ["config", "kubeconfig", "check"])]
    server: Option<String>,
    /// Bearer token of the daemon at --server.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LAZYHOST_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
}

#[derive(Args)]
struct StatsArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Start the selected clusters' clients first (discovery included), so
    /// that their requests appear in the figures.
    #[arg(long)]
    check: bool,
    /// Cluster (kubeconfig context) to check; repeatable [default: every cluster]
    #[arg(long = "context", value_name = "NAME", requires = "check")]
    contexts: Vec<String>,
    /// Check the clusters whose labels match, such as env=prod,region!=us.
    #[arg(
        short = 'l',
        long,
        value_name = "SELECTOR",
        requires = "check",
        conflicts_with = "contexts"
    )]
    selector: Option<String>,
    /// Read from a running `lazyhost serve` at this URL, such as
    /// http://127.0.0.1:9464, instead of the local cluster sources.
    #[arg(long, value_name = "URL", conflicts_with_all = ["config", "kubeconfig", "check"])]
    server: Option<String>,
    /// Bearer token of the daemon at --server.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "LAZYHOST_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Format,
}

/// Writes to stdout; a reader that has gone away, as `| head` does, ends
/// the output quietly rather than with a panic.
fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = result
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: failed to write the output: {error}");
    }
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| {
        format!("invalid duration `{text}`: {error}; use a form such as 30s or 2m")
    })?;
    if duration.is_zero() {
        return Err("the timeout must be longer than zero, such as 30s".to_string());
    }
    Ok(duration)
}

/// Returns the identity the plugin's requests impersonate. `--as` replaces
/// the whole identity of the plugin's section, groups included, so a user
/// picked on the command line never inherits the section's groups.
fn request_identity(args: &RunArgs, section: &PluginSection) -> anyhow::Result<Option<Identity>> {
    let identity = if args.user.is_some() || !args.groups.is_empty() {
        config::identity(args.user.as_deref(), &args.groups)
    } else {
        section.to_identity()
    };
    identity.map_err(|(key, reason)| {
        let option = if key == "as" { "--as" } else { "--as-group" };
        anyhow::anyhow!("{option}: {reason}")
    })
}

fn parse_grant(text: &str) -> Result<String, String> {
    Policy::default().grant(text)?;
    Ok(text.to_string())
}

fn parse_namespace(text: &str) -> Result<String, String> {
    lazyhost::policy::check_dns_label(text)?;
    Ok(text.to_string())
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!(
            "invalid argument `{text}`: expected KEY=VALUE, such as restarts=5"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::from(EXIT_INVALID_INPUT);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Inspect(args) => inspect(args),
            Command::Sim(args) => sim(args).await,
            Command::Clusters(args) => clusters(args).await,
            Command::Stats(args) => stats(args).await,
            Command::Serve(args) => serve(args).await,
            Command::New(args) => new_plugin(&args),
        }
    });
    // A blocking thread may still wait on an exec credential plugin that
    // hangs; the command has its result, so exit without waiting for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            let message = lazyhost::cluster::error_chain(error.as_ref());
            eprintln!("error: {message}");
            ExitCode::from(EXIT_INVALID_INPUT)
        }
    }
}

fn init_logging(cli: &Cli) {
    let default = match (&cli.command, cli.verbose) {
        (_, 2..) => "lazyhost=trace",
        (_, 1) => "lazyhost=debug",
        (Command::Sim(_) | Command::Serve(_), 0) => "lazyhost=info",
        // Audit lines of writes are always shown.
        (_, 0) => "lazyhost=warn,lazyhost::audit=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn new_plugin(args: &NewArgs) -> anyhow::Result<u8> {
    let skeleton = lazyhost::new::create(&args.lang, &args.name, &args.dir)?;
    let folder = skeleton.folder.display();
    println!("created {folder} ({} plugin):", args.lang);
    for file in &skeleton.files {
        println!("  {file}");
    }
    println!("build it into OUT_DIR/{} with:", skeleton.component);
    println!("  {folder}/build.sh OUT_DIR");
    println!("then run it on a simulated fleet with:");
    println!("  lazyhost run OUT_DIR/{} --sim 3", skeleton.component);
    Ok(0)
}

async fn run(args: RunArgs) -> anyhow::Result<u8> {
    let plugin_runtime = PluginRuntime::new()?.with_cache(ComponentCache::open_default());
    let plugin = Arc::new(plugin_runtime.load(&args.plugin)?);
    let manifest = Manifest::find(&args.plugin)?;

    let fleet = match args.sim {
        Some(clusters) => Some(start_fleet(clusters).await?),
        None => None,
    };
    let (config, inventory) = match &fleet {
        Some(fleet) => {
            let config = Config::load_or_default(args.source.config.as_deref())?;
            let inventory = Inventory::from_kubeconfig(fleet.kubeconfig(), "the simulated fleet")?;
            (config, inventory)
        }
        None => load_inventory(&args.source)?,
    };
    let inventory = Arc::new(inventory);
    let section = grant::plugin_section(&config, plugin.name())?;
    let chosen_by_name = !(args.all || args.selector.is_some() || args.sim.is_some());
    let targets = grant::scope_targets(
        select_targets(&inventory, &args)?,
        chosen_by_name,
        &section,
        plugin.name(),
    )?;

    let monitor = Arc::new(Monitor::new());
    let factory =
        KubeFactory::with_transport(Arc::clone(&monitor), config.pool.to_transport_config());
    let pool_config = config.pool.to_pool_config();
    let pool = Arc::new(KubePool::with_config(
        Arc::clone(&inventory),
        factory,
        pool_config,
    ));
    lazyhost::cluster::watch_memory(&monitor, &pool, &config.monitor);
    let operator =
        grant::operator_policy(&section, &args.grants.allow, &args.grants.allow_namespaces)?;
    let narrowed = grant::narrow_to_manifest(&operator, manifest.as_ref());
    let mut limits = section.to_limits();
    if let Some(timeout) = args.timeout {
        limits.timeout = timeout;
    }
    let mode = RequestMode {
        dry_run: args.dry_run || section.dry_run,
        identity: request_identity(&args, &section)?,
    };
    let context = Arc::new(
        HostContext::new(pool, monitor, targets.clone())
            .with_policy(narrowed.policy)
            .with_mode(mode),
    );
    let options = RunOptions {
        concurrency: usize::from(args.concurrency),
        limits,
        args: args.args,
    };

    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let mut report = run_plugin(plugin, context, &targets, &options, interrupt).await;
    report.manifest = manifest.map(|manifest| manifest.path);
    report.requested_not_granted = narrowed.not_granted;
    if let Some(fleet) = fleet {
        fleet.shutdown().await;
    }

    match args.output {
        Format::Table => write_stdout(&output::report_table(&report)),
        Format::Json => write_stdout(&format!("{}\n", output::report_json(&report))),
    }
    Ok(if report.interrupted {
        EXIT_INTERRUPTED
    } else if report.all_ok() {
        0
    } else {
        EXIT_CLUSTER_FAILED
    })
}

async fn start_fleet(clusters: u16) -> anyhow::Result<Fleet> {
    let options = FleetOptions {
        clusters: usize::from(clusters),
        ..FleetOptions::default()
    };
    Fleet::start(options)
        .await
        .context("failed to start the simulated fleet")
}

/// Reads the configuration file and the cluster sources: `--kubeconfig`
/// when given, else the configuration's sources, else the default
/// kubeconfig.
fn load_inventory(source: &SourceArgs) -> anyhow::Result<(Config, Inventory)> {
    let config = Config::load_or_default(source.config.as_deref())?;
    if source.kubeconfig.is_empty() && config.has_sources() {
        let sources = Sources {
            kubeconfigs: config.kubeconfigs.clone(),
            kubeconfig_dirs: config.kubeconfig_dirs.clone(),
            clusters: config.clusters.clone(),
            in_cluster: config.in_cluster,
        };
        let inventory = Inventory::from_sources(&sources)?;
        return Ok((config, inventory));
    }

    let paths = if source.kubeconfig.is_empty() {
        Inventory::default_kubeconfig_paths()
    } else {
        source.kubeconfig.clone()
    };
    if paths.is_empty() {
        if in_cluster::detected() {
            let sources = Sources {
                in_cluster: true,
                ..Sources::default()
            };
            return Ok((config, Inventory::from_sources(&sources)?));
        }
        bail!(lazyhost::inventory::InventoryError::NoKubeconfig);
    }
    Ok((config, Inventory::from_kubeconfig_files(&paths)?))
}

fn select_targets(
    inventory: &Inventory,
    args: &RunArgs,
) -> anyhow::Result<Vec<Arc<ClusterConfig>>> {
    if args.all || args.sim.is_some() {
        return Ok(inventory.clusters().to_vec());
    }
    let selector = args.selector.as_deref();
    if let Some(selected) = select_named(inventory, &args.contexts, selector, "pass --all")? {
        return Ok(selected);
    }
    match inventory.current_context() {
        Some(current) => Ok(inventory.select(&[current.to_string()])?),
        None => bail!(
            "no usable current context in the kubeconfig: choose clusters with --context NAME, --selector or --all"
        ),
    }
}

/// Returns the clusters named with `--context` or matched by `--selector`,
/// or `None` when neither option was given. `select_all_hint` is the way to
/// choose every cluster, which the error of an empty selector suggests.
fn select_named(
    inventory: &Inventory,
    contexts: &[String],
    selector: Option<&str>,
    select_all_hint: &str,
) -> anyhow::Result<Option<Vec<Arc<ClusterConfig>>>> {
    if !contexts.is_empty() {
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<String> = contexts
            .iter()
            .filter(|name| seen.insert(name.as_str()))
            .cloned()
            .collect();
        return Ok(Some(inventory.select(&unique)?));
    }
    if let Some(selector) = selector {
        if selector.trim().is_empty() {
            bail!(
                "the selector is empty and would match every cluster: {select_all_hint} to mean that"
            );
        }
        let selected = inventory.select_by_labels(selector)?;
        if selected.is_empty() {
            bail!(
                "no cluster has labels matching `{selector}`: run `lazyhost clusters` to see the labels"
            );
        }
        return Ok(Some(selected));
    }
    Ok(None)
}

fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    let runtime = PluginRuntime::new()?;
    let config = Config::load_or_default(args.config.as_deref())?;
    let name = plugin_name(&args.plugin);
    let section = grant::plugin_section(&config, &name)?;
    let operator =
        grant::operator_policy(&section, &args.grants.allow, &args.grants.allow_namespaces)?;
    let mut inspection = lazyhost::inspect::inspect(&runtime, &args.plugin, &operator)?;
    inspection.clusters = section.cluster_scope();
    inspection.identity = section
        .to_identity()
        .map_err(|(key, reason)| anyhow::anyhow!("key `plugins.{name}.{key}`: {reason}"))?;
    inspection.dry_run = section.dry_run;
    inspection.limits = section.to_limits().summary();
    match args.output {
        Format::Table => write_stdout(&output::inspect_table(&inspection)),
        Format::Json => write_stdout(&format!("{}\n", output::inspect_json(&inspection))),
    }
    // The same error and exit code as `lazyhost run` on this plugin.
    match &inspection.rejection {
        Some(rejection) => {
            eprintln!("error: {rejection}");
            Ok(EXIT_INVALID_INPUT)
        }
        None => Ok(0),
    }
}

async fn sim(args: SimArgs) -> anyhow::Result<u8> {
    let mut options = FleetOptions {
        clusters: 10,
        ..FleetOptions::default()
    };
    if let Some(path) = &args.fleet {
        FleetFile::load(path)?.apply_to(&mut options);
    }
    if let Some(clusters) = args.clusters {
        options.clusters = usize::from(clusters);
    }
    if let Some(faulty) = args.faulty {
        options.faulty = usize::from(faulty);
    }
    if let Some(objects) = args.objects {
        options.objects = objects as usize;
    }
    if args.shared_port {
        options.listen = Listen::SharedPort;
    }
    lazyhost::sim::serve_until_interrupted(options, &args.kubeconfig_out, args.auth.into()).await?;
    Ok(0)
}

/// Environment variable holding the daemon's bearer token; it takes
/// precedence over `token_file`.
const TOKEN_ENV: &str = "LAZYHOST_TOKEN";

async fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let config = Config::load_or_default(args.source.config.as_deref())?;
    let section = &config.serve;
    let state_dir = args
        .state_dir
        .or_else(|| section.state_dir.clone())
        .unwrap_or_else(|| PathBuf::from(lazyhost::config::DEFAULT_STATE_DIR));
    let token = match std::env::var(TOKEN_ENV) {
        Ok(token) if !token.trim().is_empty() => Some(token.trim().to_string()),
        _ => match &section.token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        },
    };
    let options = lazyhost::serve::ServeOptions {
        plugins_dir: args
            .plugins
            .or_else(|| section.plugins_dir.clone())
            .unwrap_or_else(|| PathBuf::from("plugins")),
        listen: args.listen.unwrap_or(section.listen),
        token,
        audit_log: section
            .audit_log
            .clone()
            .unwrap_or_else(|| state_dir.join("audit.jsonl")),
        state_dir,
    };
    let source = args.source;
    let loader: lazyhost::serve::Loader = Box::new(move || {
        load_inventory(&source).map_err(|error| lazyhost::cluster::error_chain(error.as_ref()))
    });
    lazyhost::serve::serve(options, loader).await?;
    Ok(0)
}

/// Reads the bearer token from `path`: its first line that is not blank,
/// trimmed.
fn read_token(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "failed to read the token file `{}` named by `token_file` under [serve]",
            path.display()
        )
    })?;
    let Some(token) = text.lines().map(str::trim).find(|line| !line.is_empty()) else {
        bail!(
            "the token file `{}` is empty: write the bearer token in it, on one line",
            path.display()
        );
    };
    Ok(token.to_string())
}

/// The cluster pool of `clusters` and `stats`, with the inventory it
/// reads and the monitor that records its requests.
struct LocalPool {
    inventory: Arc<Inventory>,
    monitor: Arc<Monitor>,
    pool: KubePool,
}

impl LocalPool {
    /// Reads the configuration and cluster sources and builds the pool,
    /// with no client started.
    fn open(source: &SourceArgs) -> anyhow::Result<Self> {
        let (config, inventory) = load_inventory(source)?;
        let inventory = Arc::new(inventory);
        let monitor = Arc::new(Monitor::new());
        let factory =
            KubeFactory::with_transport(Arc::clone(&monitor), config.pool.to_transport_config());
        let pool = KubePool::with_config(
            Arc::clone(&inventory),
            factory,
            config.pool.to_pool_config(),
        );
        Ok(Self {
            inventory,
            monitor,
            pool,
        })
    }

    /// Starts the clients of `clusters` at once, waits for every start to
    /// finish, and returns how many failed.
    async fn start_clients(&self, clusters: &[Arc<ClusterConfig>]) -> usize {
        let checks = clusters
            .iter()
            .map(|cluster| self.pool.checkout(&cluster.name));
        let results = futures::future::join_all(checks).await;
        results.iter().filter(|result| result.is_err()).count()
    }
}

async fn clusters(args: ClustersArgs) -> anyhow::Result<u8> {
    if let Some(url) = &args.server {
        return remote_clusters(url, args.token, args.output).await;
    }
    let local = LocalPool::open(&args.source)?;
    if args.check {
        local.start_clients(local.inventory.clusters()).await;
    }

    let rows = ClusterRow::of_pool(&local.pool);
    match args.output {
        Format::Table => write_stdout(&output::clusters_table(&rows)),
        Format::Json => write_stdout(&format!("{}\n", output::clusters_json(&rows))),
    }

    let failed = rows.iter().any(|row| row.state == "failed");
    Ok(if failed { EXIT_CLUSTER_FAILED } else { 0 })
}

async fn stats(args: StatsArgs) -> anyhow::Result<u8> {
    if let Some(url) = &args.server {
        return remote_stats(url, args.token, args.output).await;
    }
    let local = LocalPool::open(&args.source)?;
    let mut failed = 0;
    if args.check {
        let selector = args.selector.as_deref();
        let selected = select_named(
            &local.inventory,
            &args.contexts,
            selector,
            "leave out --selector",
        )?
        .unwrap_or_else(|| local.inventory.clusters().to_vec());
        failed = local.start_clients(&selected).await;
    }

    let config = ConfigStats::from_inventory(&local.pool.inventory());
    // No plugin runtime runs here, so its figures stay 0 and unknown.
    let snapshot = local
        .monitor
        .snapshot(local.pool.stats(), config)
        .with_runtime(0, 0, "");
    match args.output {
        Format::Table => write_stdout(&output::stats_table(&snapshot)),
        Format::Json => write_stdout(&format!("{}\n", output::stats_json(&snapshot))),
    }
    Ok(if failed > 0 { EXIT_CLUSTER_FAILED } else { 0 })
}

/// Prints the clusters of the daemon at `url`; exits with 1 when a
/// cluster's client failed to start, as the local command does.
async fn remote_clusters(url: &str, token: Option<String>, format: Format) -> anyhow::Result<u8> {
    let remote = Remote::new(url, token)?;
    let rows = match format {
        Format::Table => {
            let rows = remote.clusters().await?;
            write_stdout(&output::clusters_table(&rows));
            rows
        }
        Format::Json => {
            let body = remote.get("/clusters").await?;
            write_stdout(&with_newline(body.clone()));
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|value| serde_json::from_value(value["clusters"].clone()).ok())
                .unwrap_or_default()
        }
    };
    let failed = rows.iter().any(|row: &ClusterRow| row.state == "failed");
    Ok(if failed { EXIT_CLUSTER_FAILED } else { 0 })
}

/// Prints the statistics of the daemon at `url`.
async fn remote_stats(url: &str, token: Option<String>, format: Format) -> anyhow::Result<u8> {
    let remote = Remote::new(url, token)?;
    match format {
        Format::Table => write_stdout(&output::stats_table(&remote.stats().await?)),
        Format::Json => write_stdout(&with_newline(remote.get("/stats").await?)),
    }
    Ok(0)
}

/// Ends `text` with a line feed, as every document on stdout is.
fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
