//! Helpers shared by the end-to-end tests: building the plugins, running
//! the real `lazyhost` binary, and temporary files.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

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

/// Runs the `lazyhost` binary with `args` and returns its output.
pub fn lazyhost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("RUST_LOG")
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
