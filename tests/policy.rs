//! The policy a plugin runs under, set on the command line and checked on
//! every host call before it reaches a cluster.

mod common;

use common::{arg, json, lazyhost, plugin, stderr, stdout};

#[test]
fn writes_are_denied_without_the_grant() {
    let component = plugin("api_tour");
    let output = lazyhost(&["run", arg(&component), "--sim", "1", "-o", "json"]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    let document = json(&output);
    assert_eq!(document["policy"], "read-only; every namespace; no Secrets");
    let result = &document["results"][0];
    assert_eq!(result["status"], "error", "{document}");
    assert_eq!(
        result["error"],
        "denied: create configmaps in namespace default: the plugin is read-only: \
         run with --allow write",
        "{document}"
    );
}

#[test]
fn namespace_grant_limits_lists() {
    let component = plugin("pod_audit");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "1",
        "--allow-namespace",
        "shop",
    ]);
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(&output));

    let text = stdout(&output);
    assert!(
        text.contains(
            "denied: list pods: the plugin may use only the namespaces shop: pass one of them"
        ),
        "{text}"
    );
    assert!(
        text.contains("\ngranted: read-only; namespaces shop; no Secrets\n"),
        "{text}"
    );
}

#[test]
fn unknown_grant_is_rejected() {
    let component = plugin("pod_audit");
    let output = lazyhost(&["run", arg(&component), "--sim", "1", "--allow", "root"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "unknown grant `root`: use write, secrets, or one of pods/exec, pods/attach, \
             pods/portforward, pods/proxy, services/proxy, nodes/proxy, serviceaccounts/token"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn plugin_section_of_the_configuration_grants() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lazyhost.toml");
    std::fs::write(
        &config,
        "[plugins.api_tour]\nallow = [\"write\"]\nnamespaces = [\"default\"]\n",
    )
    .unwrap();
    let component = plugin("api_tour");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--config",
        arg(&config),
        "--sim",
        "1",
        "--allow-namespace",
        "shop",
        "-o",
        "json",
    ]);

    let document = json(&output);
    assert_eq!(
        document["policy"],
        "read-write; namespaces default, shop; no Secrets"
    );
    // The tour writes in `default`, then lists pods across namespaces,
    // which a namespace limit denies.
    let result = &document["results"][0];
    assert_eq!(
        result["error"],
        "denied: list pods: the plugin may use only the namespaces default, shop: \
         pass one of them",
        "{document}"
    );
}
