//! The compatibility promise of the WIT package: a plugin built against an
//! older 1.x version keeps loading and running in this host.

mod common;

use common::{arg, json, lazyhost, plugin};

/// Returns the version of the WIT package in `wit/plugin.wit`.
fn current_version() -> String {
    let text = std::fs::read_to_string(common::root().join("wit/plugin.wit")).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("package lazyhost:plugin@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .expect("a package line")
        .to_string()
}

#[test]
fn package_is_newer_than_frozen_copy() {
    let current = current_version();
    let parts: Vec<u64> = current
        .split('.')
        .map(|part| part.parse().unwrap())
        .collect();
    assert_eq!(parts[0], 1, "the promise covers 1.x: {current}");
    assert!(
        parts[1] >= 1,
        "the frozen 1.0.0 copy would test nothing: {current}"
    );
    let frozen =
        std::fs::read_to_string(common::root().join("plugins/compat-1-0/wit/plugin.wit")).unwrap();
    assert!(frozen.contains("package lazyhost:plugin@1.0.0;"));
}

#[test]
fn plugin_built_against_1_0_0_runs() {
    let component = plugin("compat_1_0");
    let inspected = lazyhost(&["inspect", arg(&component), "-o", "json"]);
    assert_eq!(
        inspected.status.code(),
        Some(0),
        "{}",
        common::stderr(&inspected)
    );
    let imports: Vec<String> = json(&inspected)["imports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|import| import["name"].as_str())
        .filter(|name| name.starts_with("lazyhost:plugin/"))
        .map(str::to_string)
        .collect();
    assert_eq!(
        imports,
        [
            "lazyhost:plugin/client@1.0.0",
            "lazyhost:plugin/kube-client@1.0.0",
            "lazyhost:plugin/stats@1.0.0",
            "lazyhost:plugin/types@1.0.0",
        ]
    );

    let output = lazyhost(&["run", arg(&component), "--sim", "2", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stderr(&output));
    let report = json(&output);
    for result in report["results"].as_array().unwrap() {
        assert_eq!(result["status"], "ok", "{result:#}");
        assert!(result["output"]["pods"].as_u64().unwrap() > 0, "{result:#}");
    }
}
