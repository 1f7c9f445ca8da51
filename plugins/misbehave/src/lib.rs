//! misbehave: a plugin that misbehaves in the way `--arg mode=...` names,
//! for tests of the host's error handling.
//!
//! Modes: `ok` (the default) returns `{"mode":"ok"}`; `panic` panics, which
//! traps; `loop` spins without host calls; `error` returns an error;
//! `invalid-json` returns text that is not JSON; `other-cluster` calls the
//! cluster named by `--arg target=NAME` and returns the error it gets;
//! `read-file` tries to open `/etc/hostname`; `env` returns how many
//! environment variables and arguments it gets; `missing-object` gets a config map that does not exist;
//! `print-a-lot` prints 2 MiB; `allocate` allocates until it fails. With
//! `--arg only=NAME` every cluster but NAME behaves as `ok`.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

use lazyhost::plugin::{client, kube_client};

struct Misbehave;

impl Guest for Misbehave {
    fn run(cluster: String, args: Vec<(String, String)>) -> Result<String, String> {
        let arg = |name: &str| {
            args.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        if arg("only").is_some_and(|only| only != cluster) {
            return Ok(r#"{"mode":"ok"}"#.to_string());
        }
        match arg("mode").as_deref().unwrap_or("ok") {
            "ok" => Ok(r#"{"mode":"ok"}"#.to_string()),
            "panic" => panic!("misbehave was asked to panic on {cluster}"),
            "loop" => spin(),
            "error" => Err(format!("misbehave failed on {cluster} as asked")),
            "invalid-json" => Ok("this is not JSON".to_string()),
            "other-cluster" => {
                let target = arg("target").unwrap_or_default();
                let result = client::server_version(&target);
                Ok(format!(r#"{{"error":{:?}}}"#, format!("{result:?}")))
            }
            "read-file" => {
                let result = std::fs::read_to_string("/etc/hostname");
                Ok(format!(r#"{{"read":{:?}}}"#, format!("{result:?}")))
            }
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(key, _)| key).collect();
                let argv: Vec<String> = std::env::args().collect();
                Ok(format!(
                    r#"{{"vars":{},"args":{}}}"#,
                    vars.len(),
                    argv.len()
                ))
            }
            "print-a-lot" => {
                let line = "x".repeat(1023);
                for _ in 0..2048 {
                    println!("{line}");
                }
                Ok(r#"{"printed":2097152}"#.to_string())
            }
            "allocate" => {
                let mut blocks: Vec<Vec<u8>> = Vec::new();
                loop {
                    blocks.push(vec![1; 16 << 20]);
                }
            }
            "missing-object" => {
                let result =
                    kube_client::get(&cluster, "cm", Some("default"), "no-such-config-map");
                Ok(format!(r#"{{"error":{:?}}}"#, format!("{result:?}")))
            }
            other => Err(format!("unknown mode {other:?}")),
        }
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

export!(Misbehave);
