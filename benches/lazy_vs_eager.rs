//! Lazy against eager client pools, side by side, over a simulated fleet.
//!
//! Run with `cargo bench --bench lazy_vs_eager`. For each fleet size it
//! starts `lazyhost sim` in a separate process, then measures each design
//! in a fresh child process of this benchmark, so the figures of one run
//! do not leak into the next:
//!
//! - lazy: build the inventory and the pool, then check out 10% of the
//!   clusters and list pods through each;
//! - eager: the old design done well, every client started concurrently
//!   with the same builder before the first request.
//!
//! It prints time to ready, resident memory at ready, resident memory
//! after touching 10% of the clusters, and the memory each live client
//! adds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lazyhost::cluster::{KubeFactory, KubePool, ListOptions};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;

const SIZES: [usize; 3] = [10, 100, 1000];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--measure" {
        let clusters: usize = args[3].parse().expect("cluster count");
        measure(&args[2], clusters, Path::new(&args[4]));
        return;
    }

    println!("lazy against eager client pools (resident memory in MiB, per client in KiB)");
    println!(
        "{:>8}  {:>6}  {:>12}  {:>12}  {:>16}  {:>16}",
        "clusters", "design", "ready", "rss ready", "rss 10% touched", "per live client"
    );
    for clusters in SIZES {
        let dir = tempfile::tempdir().expect("temporary folder");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut sim = start_sim(clusters, &kubeconfig);
        for design in ["lazy", "eager"] {
            let output = Command::new(std::env::current_exe().expect("own path"))
                .args(["--measure", design, &clusters.to_string()])
                .arg(&kubeconfig)
                .output()
                .expect("measuring child runs");
            print!("{}", String::from_utf8_lossy(&output.stdout));
            if !output.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&output.stderr));
            }
        }
        let _ = sim.kill();
        let _ = sim.wait();
    }
}

fn start_sim(clusters: usize, kubeconfig: &Path) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_lazyhost"))
        .args([
            "sim",
            "--clusters",
            &clusters.to_string(),
            "--kubeconfig-out",
        ])
        .arg(kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lazyhost sim starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !kubeconfig.exists() {
        assert!(
            Instant::now() < deadline,
            "the simulated fleet did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Runs one design in this process and prints one row of figures.
fn measure(design: &str, clusters: usize, kubeconfig: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let baseline = resident_mib();
        let started = Instant::now();
        let inventory =
            Arc::new(Inventory::from_kubeconfig_files(&[kubeconfig.to_path_buf()]).unwrap());
        let factory = KubeFactory::new(Arc::new(Monitor::new()));
        let pool = Arc::new(KubePool::new(Arc::clone(&inventory), factory));
        let names: Vec<String> = inventory
            .clusters()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        if design == "eager" {
            let starts = names.iter().map(|name| pool.checkout(name));
            for result in futures::future::join_all(starts).await {
                result.expect("eager start succeeds");
            }
        }
        let ready = started.elapsed();
        let at_ready = resident_mib();

        let touched = (clusters / 10).max(1);
        for name in &names[..touched] {
            let client = pool.checkout(name).await.expect("client starts");
            client
                .list("pods", &ListOptions::default())
                .await
                .expect("list succeeds");
        }
        let after_touch = resident_mib();
        let live = pool.stats().initialized.max(1) as f64;
        let per_client_kib = (after_touch - baseline) * 1024.0 / live;

        println!(
            "{clusters:>8}  {design:>6}  {:>10.1}ms  {:>12.1}  {:>16.1}  {:>16.0}",
            ready.as_secs_f64() * 1000.0,
            at_ready,
            after_touch,
            per_client_kib,
        );
    });
}

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}
