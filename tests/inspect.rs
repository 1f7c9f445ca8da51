//! `lazyhost inspect`: what a plugin file is and the policy it would run
//! under, from the real binary on real plugins.

mod common;

use common::{arg, json, lazyhost, plugin, plugin_in, stderr, stdout};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// A component that imports the instance `example:missing/thing@1.0.0`
/// with one function `f: func()`, which the host does not provide, and
/// exports nothing. In the component binary format: the preamble (layer 1,
/// version 0xd), a type section with one instance type, and an import
/// section that imports an instance of that type.
const MISSING_IMPORT: &[u8] = b"\0asm\x0d\x00\x01\x00\
    \x07\x0e\x01\x42\x02\x01\x40\x00\x01\x00\x04\x00\x01f\x01\x00\
    \x0a\x20\x01\x00\x1bexample:missing/thing@1.0.0\x05\x00";

fn names(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .expect("a list of items")
        .iter()
        .map(|item| item["name"].as_str().expect("a name"))
        .collect()
}

#[test]
fn pod_audit_fits_the_plugin_world() {
    let component = plugin("pod_audit");
    let output = lazyhost(&["inspect", arg(&component), "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    let document = json(&output);
    let bytes = std::fs::read(&component).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(document["plugin"], "pod_audit");
    assert_eq!(document["path"], arg(&component));
    assert_eq!(document["size"], bytes.len());
    assert_eq!(document["sha256"], digest);
    assert_eq!(document["kind"], "component");
    assert_eq!(document["fits_plugin_world"], true);
    assert_eq!(document["rejection"], Value::Null);
    assert_eq!(document["manifest"], Value::Null);

    let imports = names(&document["imports"]);
    for interface in [
        "lazyhost:plugin/client@1.1.0",
        "lazyhost:plugin/kube-client@1.1.0",
        "lazyhost:plugin/stats@1.1.0",
    ] {
        assert!(imports.contains(&interface), "{imports:?}");
    }
    assert!(
        imports
            .iter()
            .any(|name| name.starts_with("wasi:cli/stdout@0.2.")),
        "{imports:?}"
    );
    assert!(
        document["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["kind"] == "instance"),
        "{document}"
    );
    assert_eq!(
        document["exports"],
        json!([{"name": "run", "kind": "function"}])
    );
    assert_eq!(
        document["operator_policy"],
        "read-only; every namespace; no Secrets"
    );
    assert_eq!(document["policy"], "read-only; every namespace; no Secrets");
}

#[test]
fn table_lists_digest_and_items() {
    let component = plugin("pod_audit");
    let output = lazyhost(&["inspect", arg(&component)]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));

    let text = stdout(&output);
    let bytes = std::fs::read(&component).unwrap();
    for line in [
        format!("size:            {} bytes\n", bytes.len()),
        "kind:            component\n".to_string(),
        "plugin world:    fits\n".to_string(),
        "manifest:        none\n".to_string(),
        "granted:         read-only; every namespace; no Secrets\n".to_string(),
        "lazyhost:plugin/kube-client@1.1.0  instance\n".to_string(),
        "\nEXPORT  KIND\nrun     function\n".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("\nIMPORT "), "{text}");
    assert!(!text.contains("requested but not granted"), "{text}");
}

#[test]
fn other_world_does_not_fit() {
    let component = plugin("other_world");
    let output = lazyhost(&["inspect", arg(&component), "-o", "json"]);
    assert_eq!(output.status.code(), Some(2));

    let expected = format!(
        "`{}` does not fit the lazyhost plugin world: no export `run` found; build it \
         against world `plugin` of the WIT package lazyhost:plugin",
        component.display()
    );
    // The same error as `lazyhost run` gives on stderr.
    assert_eq!(stderr(&output), format!("error: {expected}\n"));
    let document = json(&output);
    assert_eq!(document["fits_plugin_world"], false);
    assert_eq!(document["rejection"], expected);
    assert_eq!(document["kind"], "component");
    assert_eq!(
        document["exports"],
        json!([{"name": "greet", "kind": "function"}])
    );
    let imports = names(&document["imports"]);
    assert!(
        !imports.iter().any(|name| name.starts_with("lazyhost:")),
        "{imports:?}"
    );

    let table = lazyhost(&["inspect", arg(&component)]);
    assert_eq!(table.status.code(), Some(2));
    let text = stdout(&table);
    assert!(text.contains("plugin world:    does not fit\n"), "{text}");
    assert!(
        text.contains(&format!("reason:          {expected}\n")),
        "{text}"
    );
}

#[test]
fn missing_import_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.wasm");
    std::fs::write(&path, MISSING_IMPORT).unwrap();
    let output = lazyhost(&["inspect", arg(&path), "-o", "json"]);
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));

    let document = json(&output);
    assert_eq!(document["kind"], "component");
    assert_eq!(
        document["imports"],
        json!([{"name": "example:missing/thing@1.0.0", "kind": "instance"}])
    );
    assert_eq!(document["exports"], json!([]));
    let rejection = document["rejection"].as_str().unwrap();
    assert!(
        rejection.contains(
            "component imports instance `example:missing/thing@1.0.0`, but a matching \
             implementation was not found in the linker"
        ),
        "{rejection}"
    );

    // `run` rejects it with the same message.
    let run = lazyhost(&["run", arg(&path), "--sim", "1"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(stderr(&run), format!("error: {rejection}\n"));
}

#[test]
fn core_module_is_shown_and_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let output = lazyhost(&["inspect", arg(&path), "-o", "json"]);
    assert_eq!(output.status.code(), Some(2));

    let document = json(&output);
    assert_eq!(document["kind"], "core-module");
    assert_eq!(document["size"], 8);
    assert_eq!(document["fits_plugin_world"], false);
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "error: `{}` is a core WebAssembly module, not a component",
            path.display()
        )),
        "{message}"
    );
    assert!(message.contains("wasm-tools component new"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    assert_eq!(
        format!("error: {}\n", document["rejection"].as_str().unwrap()),
        message
    );
}

#[test]
fn file_that_is_not_webassembly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, "just some text\n").unwrap();
    let output = lazyhost(&["inspect", arg(&path)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "error: `{}` is not a WebAssembly file: pass a component built for the wasm32-wasip2 target\n",
            path.display()
        )
    );

    let missing = lazyhost(&["inspect", "/nonexistent/audit.wasm"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_eq!(
        stderr(&missing),
        "error: failed to read plugin `/nonexistent/audit.wasm`: No such file or directory (os error 2); \
         pass the path of a .wasm component\n"
    );
}

#[test]
fn truncated_component_fails_to_compile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wasm");
    let bytes = std::fs::read(plugin("pod_audit")).unwrap();
    std::fs::write(&path, &bytes[..1000]).unwrap();
    let output = lazyhost(&["inspect", arg(&path)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "error: failed to compile component `{}`: ",
            path.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with("the file may be truncated or corrupt, so rebuild the plugin\n"),
        "{message}"
    );
}

#[test]
fn manifest_and_grants_give_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("pod_audit", dir.path());
    let manifest = dir.path().join("pod_audit.plugin.toml");
    std::fs::write(
        &manifest,
        "name = \"pod-audit\"\ndescription = \"Finds unhealthy pods\"\n\
         [requests]\nallow = [\"write\", \"secrets\"]\nnamespaces = [\"shop\", \"db\"]\n",
    )
    .unwrap();
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(&config, "[plugins.pod_audit]\nallow = [\"write\"]\n").unwrap();
    let args = [
        "inspect",
        arg(&component),
        "--config",
        arg(&config),
        "--allow-namespace",
        "shop",
        "--allow-namespace",
        "web",
    ];

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let output = lazyhost(&json_args);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let document = json(&output);
    assert_eq!(
        document["manifest"],
        json!({
            "path": arg(&manifest),
            "name": "pod-audit",
            "description": "Finds unhealthy pods",
            "requests": {"allow": ["secrets", "write"], "namespaces": ["db", "shop"]},
        })
    );
    assert_eq!(
        document["operator_policy"],
        "read-write; namespaces shop, web; no Secrets"
    );
    assert_eq!(
        document["policy"],
        "read-write; namespaces shop; no Secrets"
    );
    assert_eq!(
        document["requested_not_granted"],
        json!({"allow": ["secrets"], "namespaces": ["db"]})
    );

    let table = lazyhost(&args);
    assert_eq!(table.status.code(), Some(0), "stderr: {}", stderr(&table));
    let text = stdout(&table);
    let expected = format!(
        "manifest:                   {}\n\
         name:                       pod-audit\n\
         description:                Finds unhealthy pods\n\
         requests:                   secrets, write; namespaces db, shop\n\
         operator grant:             read-write; namespaces shop, web; no Secrets\n\
         granted:                    read-write; namespaces shop; no Secrets\n\
         requested but not granted:  secrets; namespaces db\n",
        manifest.display()
    );
    assert!(text.contains(&expected), "{text}");
}

#[test]
fn broken_manifest_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let component = plugin_in("pod_audit", dir.path());
    let manifest = dir.path().join("PLUGIN.toml");
    std::fs::write(&manifest, "[requests]\nnamespaces = [\"\"]\n").unwrap();
    let output = lazyhost(&["inspect", arg(&component)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert_eq!(
        stderr(&output),
        format!(
            "error: invalid plugin manifest `{}`: key `requests.namespaces`: `` is not a \
             valid name: use at most 63 lowercase letters, digits and `-`, starting and ending \
             with a letter or digit\n",
            manifest.display()
        )
    );
}

#[test]
fn help_lists_inspect() {
    let output = lazyhost(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.contains("inspect   Show what a plugin file is without running it"),
        "{text}"
    );
}
