//! Modes that run away with time, memory, stack or output, so that only
//! the host's limits can stop them.

use crate::Args;
use crate::lazyhost::plugin::kube_client;

pub(crate) fn run(mode: &str, cluster: &str, args: &Args) -> Result<String, String> {
    match mode {
        "loop" => spin(),
        "call-loop" => call_forever(cluster),
        "allocate" => allocate(),
        "recurse" => {
            let depth = args.number("depth", u64::MAX)?;
            Ok(format!(r#"{{"depth":{}}}"#, descend(depth)))
        }
        "big-result" => {
            let bytes = args.number("bytes", 2 << 20)?;
            let filler = "x".repeat(usize::try_from(bytes).map_err(|e| e.to_string())?);
            Ok(format!(r#"{{"filler":"{filler}"}}"#))
        }
        "print-a-lot" => {
            let line = "x".repeat(1023);
            for _ in 0..2048 {
                println!("{line}");
            }
            Ok(r#"{"printed":2097152}"#.to_string())
        }
        "print-forever" => {
            let line = "y".repeat(1023);
            loop {
                println!("{line}");
            }
        }
        other => Err(format!("unknown mode {other:?}")),
    }
}

/// Spins forever without calling the host, so only the host's epoch
/// deadline can stop it.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Lists namespaces without end; every call reaches the cluster.
fn call_forever(cluster: &str) -> ! {
    let options = kube_client::ListOptions {
        namespace: None,
        label_selector: None,
        field_selector: None,
        limit: None,
        continue_token: None,
    };
    loop {
        let _ = kube_client::list(cluster, "namespaces", &options);
    }
}

/// Allocates 16 MiB blocks and keeps them until an allocation fails.
fn allocate() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![1; 16 << 20]);
    }
}

/// Recurses `depth` times. The result depends on every frame, so the
/// compiler cannot turn the recursion into a loop.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let below = descend(depth - 1);
    below.wrapping_mul(31).wrapping_add(depth)
}
