//! Helpers shared by the end-to-end tests: building the plugins, running
//! the real `lazyhost` binary, a `lazyhost sim` child process, and temporary
//! files.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long `lazyhost sim` may take to write its kubeconfig.
const SIM_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Returns the repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds every plugin under `plugins/` once per test binary and returns
/// the path of the named component, such as `pod_audit`.
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--manifest-path")
            .arg(root().join("plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(root().join("target/plugins"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the plugins failed");
    });
    let path = root()
        .join("target/plugins/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(path.exists(), "no component at {}", path.display());
    path
}

/// Copies the built plugin `name` into `folder`, where a test can put a
/// manifest beside it, and returns the copy's path.
pub fn plugin_in(name: &str, folder: &Path) -> PathBuf {
    let copy = folder.join(format!("{name}.wasm"));
    std::fs::copy(plugin(name), &copy).expect("copying the plugin");
    copy
}

/// Returns the compiled-component cache the tests' `lazyhost` processes
/// share, inside the build folder rather than the user's home.
pub fn component_cache() -> PathBuf {
    root().join("target/component-cache")
}

/// Runs the `lazyhost` binary with `args` and returns its output.
pub fn lazyhost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
        .env(lazyhost::plugin::CACHE_DIR_ENV, component_cache())
        .output()
        .expect("lazyhost runs")
}

/// Returns stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses stdout as one JSON document, failing with both streams shown.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error})\nstdout:\n{}\nstderr:\n{}",
            stdout(output),
            stderr(output)
        )
    })
}

/// Returns a path as `&str`, for argument lists.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A `lazyhost sim` child process and the folder of its kubeconfig and log.
/// Dropping it kills the process, so a failed assert cannot leak it.
pub struct SimChild {
    child: Child,
    folder: tempfile::TempDir,
}

impl SimChild {
    /// Starts `lazyhost sim --clusters <clusters>` and waits until it has
    /// written its kubeconfig, which it does once every cluster listens.
    pub fn start(clusters: u16) -> Self {
        let folder = tempfile::tempdir().expect("temporary folder");
        let log = std::fs::File::create(folder.path().join("sim.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_lazyhost"))
            .args([
                "sim",
                "--clusters",
                &clusters.to_string(),
                "--kubeconfig-out",
            ])
            .arg(folder.path().join("kubeconfig"))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lazyhost sim starts");
        let sim = Self { child, folder };
        sim.wait_for_kubeconfig();
        sim
    }

    /// Returns the path of the fleet's kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.folder.path().join("kubeconfig")
    }

    /// Kills the process by its id and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_for_kubeconfig(&self) {
        // The simulator writes a temporary file and renames it, so the
        // kubeconfig is complete once it exists.
        let deadline = Instant::now() + SIM_START_TIMEOUT;
        while !self.kubeconfig().exists() {
            assert!(
                Instant::now() < deadline,
                "lazyhost sim wrote no kubeconfig within {SIM_START_TIMEOUT:?}; its log:\n{}",
                std::fs::read_to_string(self.folder.path().join("sim.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SimChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts an in-process simulated fleet of `clusters` clusters.
pub async fn start_fleet(clusters: usize) -> lazyhost::sim::Fleet {
    lazyhost::sim::Fleet::start(lazyhost::sim::FleetOptions {
        clusters,
        ..lazyhost::sim::FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

/// Returns the inventory of `kubeconfig`, a monitor, and a pool of real
/// clients over them, as one host process has.
pub fn pool_over(
    kubeconfig: kube::config::Kubeconfig,
) -> (
    Arc<lazyhost::inventory::Inventory>,
    Arc<lazyhost::monitor::Monitor>,
    Arc<lazyhost::cluster::KubePool>,
) {
    let inventory = Arc::new(
        lazyhost::inventory::Inventory::from_kubeconfig(kubeconfig, "test fleet")
            .expect("the fleet's kubeconfig is valid"),
    );
    let monitor = Arc::new(lazyhost::monitor::Monitor::new());
    let pool = Arc::new(lazyhost::cluster::KubePool::new(
        Arc::clone(&inventory),
        lazyhost::cluster::KubeFactory::new(Arc::clone(&monitor)),
    ));
    (inventory, monitor, pool)
}
