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
//! It prints time to ready, resident memory at ready and after touching
//! 10% of the clusters, and the heap each live client uses: with its
//! connection open, and after the pool's keep-alive has closed it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lazyhost::cluster::{KubeFactory, KubePool, ListOptions};
use lazyhost::inventory::Inventory;
use lazyhost::monitor::Monitor;
use lazyhost::transport::TransportConfig;

const SIZES: [usize; 3] = [10, 100, 1000];

/// Keep-alive of the measured pools: short, so the run can wait it out.
const KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Heap accounting: the benchmark's own allocator counts the bytes live,
/// so the memory each client uses is measured exactly, apart from the
/// allocator's own overhead and the resident memory figure's noise.
#[allow(unsafe_code, reason = "a counting global allocator needs GlobalAlloc")]
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub static LIVE: AtomicUsize = AtomicUsize::new(0);

    pub struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged;
    // the counter is only arithmetic beside it.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            // SAFETY: the caller upholds `alloc`'s contract, which `System` shares.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            // SAFETY: `ptr` came from `alloc` above with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            // SAFETY: as for `dealloc`, and `new_size` is the caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;
}

/// Returns the bytes of heap live now.
fn allocated() -> usize {
    heap::LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 5 && args[1] == "--measure" {
        let clusters: usize = args[3].parse().expect("cluster count");
        measure(&args[2], clusters, Path::new(&args[4]));
        return;
    }

    println!("lazy against eager client pools (resident memory in MiB, heap per client in KiB)");
    println!(
        "{:>8}  {:>6}  {:>12}  {:>10}  {:>14}  {:>16}  {:>16}",
        "clusters",
        "design",
        "ready",
        "rss ready",
        "rss touched",
        "per client open",
        "per client idle"
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
        let started = Instant::now();
        let inventory =
            Arc::new(Inventory::from_kubeconfig_files(&[kubeconfig.to_path_buf()]).unwrap());
        let transport = TransportConfig {
            keep_alive: KEEP_ALIVE,
            ..TransportConfig::default()
        };
        let factory = KubeFactory::with_transport(Arc::new(Monitor::new()), transport);
        let pool = Arc::new(KubePool::new(Arc::clone(&inventory), factory));
        let heap_configured = allocated();
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
        let per_client =
            |heap: usize| (heap.saturating_sub(heap_configured)) as f64 / 1024.0 / live;
        let connected = per_client(allocated());

        // The connection pool checks for idle connections once per
        // keep-alive, so one may stay open up to twice as long.
        tokio::time::sleep(2 * KEEP_ALIVE + Duration::from_secs(1)).await;
        let idle = per_client(allocated());

        println!(
            "{clusters:>8}  {design:>6}  {:>10.1}ms  {:>10.1}  {:>14.1}  {:>16.1}  {:>16.1}",
            ready.as_secs_f64() * 1000.0,
            at_ready,
            after_touch,
            connected,
            idle,
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
