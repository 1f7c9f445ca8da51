//! misbehave: a plugin that misbehaves in the way `--arg mode=...` names,
//! for tests of how the host copes with a hostile plugin.
//!
//! With `--arg only=NAME` every cluster but NAME behaves as `ok`. The modes:
//!
//! - `ok` (the default) returns `{"mode":"ok"}`; `error` returns an error;
//!   `invalid-json` returns text that is not JSON; `panic` panics, which
//!   traps.
//! - Runaway work, see [`runaway`]:
//!   - `loop` spins without host calls, and `call-loop` lists namespaces
//!     without end;
//!   - `allocate` allocates until it fails, and `recurse` recurses until
//!     the call stack is exhausted;
//!   - `big-result` returns `--arg bytes=N` bytes (default 2 MiB);
//!   - `print-a-lot` prints 2 MiB, and `print-forever` prints without end.
//! - The sandbox, see [`sandbox`]: `read-file` opens `--arg path=PATH`
//!   (default `/etc/hostname`); `connect` opens a TCP connection to
//!   127.0.0.1 on `--arg port=N`; `env` counts the environment variables
//!   and arguments it sees, and reads `--arg var=NAME` when given.
//! - Host calls, see [`calls`]: `clusters` lists the clusters the plugin
//!   may use; `other-cluster` calls the cluster `--arg target=NAME`;
//!   `missing-object` gets a config map that does not exist; `list-pods`
//!   counts the pods of every namespace; `list-secrets` lists Secrets;
//!   `write` creates a config map; `big-body` sends a body of
//!   `--arg bytes=N` through `--arg call=create|patch|request`; `raw`
//!   sends `--arg method=M` (default GET) to each `--arg path=P`.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

mod calls;
mod runaway;
mod sandbox;

/// The `--arg` pairs of one invocation.
pub(crate) struct Args(Vec<(String, String)>);

impl Args {
    /// Returns the first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Returns every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// Returns `name` parsed as a number, or `default` when it is absent.
    pub(crate) fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("--arg {name}={text} is not a whole number")),
        }
    }
}

struct Misbehave;

impl Guest for Misbehave {
    fn run(cluster: String, args: Vec<(String, String)>) -> Result<String, String> {
        let args = Args(args);
        if args.get("only").is_some_and(|only| only != cluster) {
            return Ok(r#"{"mode":"ok"}"#.to_string());
        }
        let mode = args.get("mode").unwrap_or("ok");
        match mode {
            "ok" => Ok(r#"{"mode":"ok"}"#.to_string()),
            "panic" => panic!("misbehave was asked to panic on {cluster}"),
            "error" => Err(format!("misbehave failed on {cluster} as asked")),
            "invalid-json" => Ok("this is not JSON".to_string()),
            "loop" | "call-loop" | "allocate" | "recurse" | "big-result" | "print-a-lot"
            | "print-forever" => runaway::run(mode, &cluster, &args),
            "read-file" | "connect" | "env" => sandbox::run(mode, &args),
            "clusters" | "other-cluster" | "missing-object" | "list-pods" | "list-secrets"
            | "write" | "big-body" | "raw" => calls::run(mode, &cluster, &args),
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

export!(Misbehave);
