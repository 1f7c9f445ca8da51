//! Modes that reach for what the sandbox does not grant: files, the
//! network and the environment. Each returns the error it got, in Rust's
//! debug form.

use serde_json::json;

use crate::Args;

pub(crate) fn run(mode: &str, args: &Args) -> Result<String, String> {
    match mode {
        "read-file" => {
            let path = args.get("path").unwrap_or("/etc/hostname");
            let result = std::fs::read_to_string(path);
            Ok(json!({ "read": format!("{result:?}") }).to_string())
        }
        "connect" => {
            let port = args.number("port", 0)?;
            let port = u16::try_from(port).map_err(|e| e.to_string())?;
            // Only ever loopback: the test that runs this mode listens there.
            let result = std::net::TcpStream::connect(("127.0.0.1", port));
            Ok(json!({ "connect": format!("{:?}", result.map(|_| "connected")) }).to_string())
        }
        "env" => {
            let vars = std::env::vars().count();
            let argv = std::env::args().count();
            let mut report = json!({ "vars": vars, "args": argv });
            if let Some(name) = args.get("var") {
                report["var"] = json!(format!("{:?}", std::env::var(name)));
            }
            Ok(report.to_string())
        }
        other => Err(format!("unknown mode {other:?}")),
    }
}
