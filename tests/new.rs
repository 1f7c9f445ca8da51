//! `lazyhost new`: every skeleton builds with its own build.sh outside the
//! repository and runs unchanged on a simulated fleet.
//!
//! The Python and JavaScript skeletons need the toolchains that
//! `scripts/toolchains/python.sh` and `scripts/toolchains/javascript.sh`
//! install; without them the tests fail with build.sh's message.

mod common;

use std::path::Path;
use std::process::Command;

use common::{arg, json, lazyhost, stderr, stdout};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::json;

/// Clusters of the fleet the skeletons run on.
const CLUSTERS: usize = 2;

/// Returns the number of pods of each cluster of a fresh simulated fleet,
/// which `lazyhost run --sim` seeds the same way.
async fn pod_counts() -> Vec<usize> {
    let fleet = common::start_fleet(CLUSTERS).await;
    let mut counts = Vec::new();
    for cluster in fleet.cluster_names() {
        let options = kube::config::KubeConfigOptions {
            context: Some(cluster),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
            .await
            .unwrap();
        let api: Api<Pod> = Api::all(kube::Client::try_from(config).unwrap());
        counts.push(api.list(&Default::default()).await.unwrap().items.len());
    }
    fleet.shutdown().await;
    counts
}

/// Writes the `language` skeleton `name` into a temporary folder, builds it
/// with its build.sh, runs it with `--sim 2` and checks each cluster's result.
async fn skeleton_builds_and_runs(language: &str, name: &str) {
    let folder = tempfile::tempdir().unwrap();
    let output = lazyhost(&["new", "--lang", language, name, "--dir", arg(folder.path())]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let plugin = folder.path().join(name);
    let build = plugin.join("build.sh");
    assert!(
        stdout(&output).contains(&format!("{}/build.sh OUT_DIR", plugin.display())),
        "{}",
        stdout(&output)
    );
    assert!(plugin.join("wit/plugin.wit").exists());

    let out = folder.path().join("out");
    let built = build_skeleton(&build, &out);
    assert_ne!(
        built.status.code(),
        Some(3),
        "the {language} toolchain is missing; run scripts/toolchains/*.sh first: {}",
        stderr(&built)
    );
    assert!(
        built.status.success(),
        "{} failed:\n{}",
        build.display(),
        stderr(&built)
    );

    let component = out.join(format!("{}.wasm", name.replace('-', "_")));
    let output = lazyhost(&["run", arg(&component), "--sim", "2", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    let counts = pod_counts().await;
    for (index, count) in counts.into_iter().enumerate() {
        let cluster = format!("sim-{}", index + 1);
        let result = &document["results"][index];
        assert_eq!(
            result["output"],
            json!({"cluster": cluster, "pods": count}),
            "{result}"
        );
        let line = result["stdout"].as_str().unwrap();
        assert!(line.starts_with(&cluster), "{line}");
        assert!(
            line.trim_end().ends_with(&format!("{count} pods")),
            "{line}"
        );
    }
}

/// Runs a skeleton's build.sh. npm may read only its cache, so a build
/// sends no request to a registry; the Rust build shares one target folder
/// across runs.
fn build_skeleton(build: &Path, out: &Path) -> std::process::Output {
    Command::new(build)
        .arg(out)
        .env("npm_config_offline", "true")
        .env(
            "CARGO_TARGET_DIR",
            common::root().join("target/new-skeletons"),
        )
        .output()
        .expect("build.sh runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_skeleton_builds_and_runs() {
    skeleton_builds_and_runs("rust", "pod-count-rs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_skeleton_builds_and_runs() {
    skeleton_builds_and_runs("python", "pod-count-py").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_skeleton_builds_and_runs() {
    skeleton_builds_and_runs("js", "pod-count-js").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_skeleton_builds_and_runs() {
    skeleton_builds_and_runs("c", "pod-count-c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_skeleton_builds_and_runs() {
    skeleton_builds_and_runs("go", "pod-count-go").await;
}

#[test]
fn invalid_name_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    for name in ["Pods", "1pods", "pods-", "pod_count"] {
        let output = lazyhost(&["new", "--lang", "rust", name, "--dir", arg(folder.path())]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert!(
            stderr(&output).contains(&format!("invalid plugin name `{name}`")),
            "{}",
            stderr(&output)
        );
        assert!(!folder.path().join(name).exists(), "{name}");
    }
}

#[test]
fn existing_folder_is_kept() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir(folder.path().join("taken")).unwrap();
    std::fs::write(folder.path().join("taken/keep.txt"), "mine").unwrap();
    let output = lazyhost(&[
        "new",
        "--lang",
        "python",
        "taken",
        "--dir",
        arg(folder.path()),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    let kept = std::fs::read_to_string(folder.path().join("taken/keep.txt")).unwrap();
    assert_eq!(kept, "mine");
}

#[test]
fn unknown_language_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let output = lazyhost(&[
        "new",
        "--lang",
        "cobol",
        "pods",
        "--dir",
        arg(folder.path()),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cobol"), "{}", stderr(&output));
    assert!(!folder.path().join("pods").exists());
}

#[test]
fn every_language_has_a_template() {
    let mut available = lazyhost::new::available_languages();
    available.sort_unstable();
    let mut languages = lazyhost::new::LANGUAGES.to_vec();
    languages.sort_unstable();
    assert_eq!(available, languages);
}
