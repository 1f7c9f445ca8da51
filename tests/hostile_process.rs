//! Every hostile case of the misbehave plugin in one host process, through
//! the library: in turn and at once, round after round. The process must
//! stay healthy and its resident memory must come back to where it was.
//!
//! This file contains one test on purpose: the test reads the resident memory
//! of its own process, which other tests running beside it would change.

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::plugin;
use futures::future::join_all;
use lazyhost::plugin::{HostContext, InvocationError, Limit, Limits, Plugin, PluginRuntime};
use lazyhost::sim::Faults;
use serde_json::{Value, json};

/// How far resident memory may rise over the rounds after the warm-up.
///
/// Every store is dropped after its invocation, and wasmtime unmaps its
/// linear memory with it, so what remains is allocator caching: glibc
/// keeps freed heap pages in per-thread arenas. 16 MiB leaves room for
/// that while a leak of one 64 MiB instance, or of the 1 MiB a round's
/// results take, per round would show.
const RESIDENT_MEMORY_SLACK: u64 = 16 << 20;

/// Rounds of the whole suite after the warm-up round.
const ROUNDS: usize = 3;

/// What one case must end in.
enum Expected {
    /// `run` returns this JSON.
    Output(Value),
    /// The invocation fails with exactly this error.
    Error(InvocationError),
    /// The invocation exceeds this limit.
    Limit(Limit),
}

struct Case {
    mode: &'static str,
    args: Vec<(String, String)>,
    expected: Expected,
}

fn case(mode: &'static str, args: &[(&str, &str)], expected: Expected) -> Case {
    let mut all = vec![("mode".to_string(), mode.to_string())];
    all.extend(
        args.iter()
            .map(|(key, value)| (key.to_string(), value.to_string())),
    );
    Case {
        mode,
        args: all,
        expected,
    }
}

fn denied(message: &str) -> Expected {
    Expected::Error(InvocationError::Failed(format!("denied: {message}")))
}

/// Returns the hostile cases, all run on sim-1.
fn hostile_cases(limits: &Limits, port: u16) -> Vec<Case> {
    let timed_out = || Expected::Error(InvocationError::TimedOut(limits.timeout));
    let port = port.to_string();
    vec![
        case("loop", &[], timed_out()),
        case("call-loop", &[], timed_out()),
        case("print-forever", &[], timed_out()),
        case("allocate", &[], Expected::Limit(Limit::Memory)),
        case("big-result", &[], Expected::Limit(Limit::Result)),
        case(
            "recurse",
            &[],
            Expected::Error(InvocationError::Trapped(
                "wasm trap: call stack exhausted".to_string(),
            )),
        ),
        case(
            "panic",
            &[],
            Expected::Error(InvocationError::Trapped(
                "wasm trap: wasm `unreachable` instruction executed".to_string(),
            )),
        ),
        case(
            "read-file",
            &[("path", "/etc/hostname")],
            Expected::Output(json!({
                "read": "Err(Os { code: 44, kind: NotFound, message: \"No such file or directory\" })"
            })),
        ),
        case(
            "connect",
            &[("port", &port)],
            Expected::Output(json!({
                "connect": "Err(Os { code: 2, kind: PermissionDenied, message: \"Permission denied\" })"
            })),
        ),
        case(
            "env",
            &[("var", "HOME")],
            Expected::Output(json!({ "vars": 0, "args": 0, "var": "Err(NotPresent)" })),
        ),
        case(
            "list-secrets",
            &[],
            denied("list secrets: Secrets need an explicit grant: run with --allow secrets"),
        ),
        case(
            "write",
            &[],
            denied(
                "create configmaps in namespace default: the plugin is read-only: \
                 run with --allow write",
            ),
        ),
        case(
            "other-cluster",
            &[("target", "prod-9")],
            Expected::Output(json!({
                "error": "Err(Error::Denied(\"cluster `prod-9` is not one this plugin may use: \
                          call client.clusters for the allowed ones\"))"
            })),
        ),
        case(
            "raw",
            &[(
                "path",
                "/api/v1/namespaces\r\nImpersonate-User: system:admin",
            )],
            Expected::Output(json!([{
                "path": "/api/v1/namespaces\r\nImpersonate-User: system:admin",
                "result": "denied: get `/api/v1/namespaces\\r\\nImpersonate-User: system:admin`: \
                           the character '\\r' is not allowed in a path or query: only visible \
                           ASCII is, so percent-encode whitespace, control and non-ASCII \
                           characters in the query",
            }])),
        ),
        case(
            "big-body",
            &[("bytes", "4194304")],
            Expected::Error(InvocationError::Failed(format!(
                "invalid: the plugin exceeded its request body limit of 3 MiB \
                 (request_body_bytes): create configmaps has a body of {} bytes; no request \
                 was sent: send less per request, or raise `request_body_bytes` in the \
                 plugin's section of lazyhost.toml",
                big_body_bytes(4 << 20)
            ))),
        ),
    ]
}

/// Returns the size of the config map that misbehave's `big-body` mode
/// sends around `filler` bytes.
fn big_body_bytes(filler: usize) -> usize {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": "misbehave-big", "namespace": "default" },
        "data": { "filler": "z".repeat(filler) },
    })
    .to_string()
    .len()
}

/// Checks one invocation against its case.
fn check(case: &Case, result: &Result<String, InvocationError>) {
    let mode = case.mode;
    match (&case.expected, result) {
        (Expected::Output(expected), Ok(text)) => {
            let output: Value = serde_json::from_str(text).unwrap();
            assert_eq!(&output, expected, "{mode}");
        }
        (Expected::Error(expected), Err(got)) => assert_eq!(got, expected, "{mode}"),
        (Expected::Limit(limit), Err(InvocationError::LimitExceeded { error, plugin })) => {
            assert_eq!(error.limit, *limit, "{mode}");
            assert_eq!(plugin, "misbehave", "{mode}");
        }
        (_, other) => panic!("{mode} ended in {other:?}"),
    }
}

/// Runs every case on sim-1, first one at a time and then all at once.
async fn round(plugin: &Plugin, context: &Arc<HostContext>, cases: &[Case], limits: &Limits) {
    for case in cases {
        let invocation = plugin
            .invoke(Arc::clone(context), "sim-1", &case.args, limits)
            .await;
        check(case, &invocation.result);
    }
    let at_once = cases.iter().map(|case| async move {
        let invocation = plugin
            .invoke(Arc::clone(context), "sim-1", &case.args, limits)
            .await;
        (case, invocation)
    });
    for (case, invocation) in join_all(at_once).await {
        check(case, &invocation.result);
    }
}

/// Returns the resident memory of this process, from /proc/self/status.
fn resident_memory_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("/proc/self/status has VmRSS");
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Lists the pods of `cluster` and returns how many there are.
async fn list_pods(plugin: &Plugin, context: &Arc<HostContext>, cluster: &str) -> Value {
    let args = [("mode".to_string(), "list-pods".to_string())];
    let invocation = plugin
        .invoke(Arc::clone(context), cluster, &args, &Limits::default())
        .await;
    let text = invocation.result.unwrap_or_else(|error| {
        panic!("listing pods on {cluster} failed: {error}");
    });
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_survives_every_hostile_case() {
    let fleet = common::start_fleet(2).await;
    let (inventory, monitor, pool) = common::pool_over(fleet.kubeconfig());
    let context = Arc::new(HostContext::new(
        pool,
        monitor,
        inventory.clusters().to_vec(),
    ));
    let runtime = PluginRuntime::new().unwrap();
    let misbehave = runtime.load(&plugin("misbehave")).unwrap();
    let limits = Limits {
        timeout: Duration::from_millis(500),
        memory_bytes: 64 << 20,
        output_bytes: 64 << 10,
        ..Limits::default()
    };
    // Nothing may connect to it: the sandbox grants no network.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let cases = hostile_cases(&limits, listener.local_addr().unwrap().port());

    let pods_on_first = list_pods(&misbehave, &context, "sim-1").await;
    let pods_on_second = list_pods(&misbehave, &context, "sim-2").await;
    let started = Instant::now();
    round(&misbehave, &context, &cases, &limits).await;
    let warm = resident_memory_bytes();
    eprintln!(
        "warm-up round took {:?}; resident memory after it: {:.1} MiB",
        started.elapsed(),
        mib(warm)
    );

    // A host call left waiting on a slow cluster is cancelled by the
    // timeout, and the cluster serves the next call.
    let slow = Faults {
        latency: Duration::from_secs(600),
        ..Faults::default()
    };
    fleet.set_faults("sim-2", slow).unwrap();
    let args = [("mode".to_string(), "list-pods".to_string())];
    let hung = misbehave
        .invoke(Arc::clone(&context), "sim-2", &args, &limits)
        .await;
    assert_eq!(hung.result, Err(InvocationError::TimedOut(limits.timeout)));
    fleet.clear_faults("sim-2").unwrap();
    assert_eq!(
        list_pods(&misbehave, &context, "sim-2").await,
        pods_on_second
    );

    for number in 1..=ROUNDS {
        let started = Instant::now();
        round(&misbehave, &context, &cases, &limits).await;
        eprintln!(
            "round {number} took {:?}; resident memory: {:.1} MiB",
            started.elapsed(),
            mib(resident_memory_bytes())
        );
    }

    // The process is healthy: a plain invocation works and the pool
    // still serves both clusters.
    let ok = misbehave
        .invoke(Arc::clone(&context), "sim-1", &[], &limits)
        .await;
    assert_eq!(ok.result, Ok(r#"{"mode":"ok"}"#.to_string()));
    assert_eq!(
        list_pods(&misbehave, &context, "sim-1").await,
        pods_on_first
    );
    assert_eq!(
        list_pods(&misbehave, &context, "sim-2").await,
        pods_on_second
    );
    let accepted = listener.accept().map(|(_, peer)| peer);
    assert_eq!(
        accepted.map_err(|error| error.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "a plugin connected to the listener"
    );

    let after = resident_memory_bytes();
    eprintln!(
        "resident memory after {ROUNDS} rounds: {:.1} MiB ({:+.1} MiB since the warm-up)",
        mib(after),
        mib(after) - mib(warm)
    );
    assert!(
        after <= warm + RESIDENT_MEMORY_SLACK,
        "resident memory grew from {:.1} MiB to {:.1} MiB over {ROUNDS} rounds",
        mib(warm),
        mib(after)
    );
}
