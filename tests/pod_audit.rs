//! The pod-audit example plugin against the seeded simulated fleet. The
//! expected findings are written out by hand from the fleet's documented
//! seed, not recomputed from the seed code.

mod common;

use common::{arg, json, lazyhost, plugin, stderr};
use serde_json::{Value, json};

fn audit(restarts: &str) -> Value {
    let component = plugin("pod_audit");
    let restarts = format!("restarts={restarts}");
    let output = lazyhost(&[
        "run",
        arg(&component),
        "--sim",
        "3",
        "-o",
        "json",
        "--arg",
        &restarts,
    ]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    json(&output)
}

fn findings(document: &Value, index: usize) -> &Value {
    &document["results"][index]["output"]
}

#[test]
fn pod_audit_findings_on_sim_1() {
    let document = audit("3");
    let sim_1 = findings(&document, 0);
    assert_eq!(sim_1["cluster"], "sim-1");
    assert_eq!(sim_1["pods"], 11);
    assert_eq!(
        sim_1["unhealthy"],
        json!([
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-jwdhg", "reason": "CrashLoopBackOff"},
            {"namespace": "shop", "pod": "db-migrate", "reason": "Error"},
        ])
    );
    assert_eq!(
        sim_1["missing_limits"],
        json!([
            {"namespace": "payments", "pod": "worker-bgzvhgnsb4-hkjfm", "container": "worker"},
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-jwdhg", "container": "cart"},
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-schdl", "container": "cart"},
            {"namespace": "shop", "pod": "db-migrate", "container": "migrate"},
        ])
    );
    assert_eq!(
        sim_1["untagged_images"],
        json!([
            {"namespace": "payments", "pod": "api-vgc7gtp57v-5wscw", "container": "api",
             "image": "ghcr.io/example/payments-api:latest"},
            {"namespace": "payments", "pod": "api-vgc7gtp57v-fdw82", "container": "api",
             "image": "ghcr.io/example/payments-api:latest"},
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-jwdhg", "container": "cart",
             "image": "ghcr.io/example/cart"},
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-schdl", "container": "cart",
             "image": "ghcr.io/example/cart"},
        ])
    );
    assert_eq!(
        sim_1["restarts"],
        json!([{"namespace": "shop", "pod": "cart-qznrrdsvs8-jwdhg", "container": "cart", "restarts": 7}])
    );
}

#[test]
fn pod_audit_findings_on_sim_2_3() {
    let document = audit("3");
    let sim_2 = findings(&document, 1);
    assert_eq!(sim_2["pods"], 12);
    assert_eq!(
        sim_2["unhealthy"],
        json!([{"namespace": "payments", "pod": "worker-bgzvhgnsb4-hkjfm", "reason": "Pending"}])
    );
    assert_eq!(sim_2["missing_limits"].as_array().unwrap().len(), 3);
    assert_eq!(sim_2["restarts"], json!([]));

    let sim_3 = findings(&document, 2);
    assert_eq!(sim_3["pods"], 11);
    assert_eq!(
        sim_3["unhealthy"],
        json!([
            {"namespace": "analytics", "pod": "ingest-jjjlfzsvb6-qfwg8", "reason": "CrashLoopBackOff"},
            {"namespace": "shop", "pod": "db-migrate", "reason": "Error"},
        ])
    );
    assert_eq!(
        sim_3["untagged_images"],
        json!([
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-jwdhg", "container": "cart",
             "image": "ghcr.io/example/cart"},
            {"namespace": "shop", "pod": "cart-qznrrdsvs8-schdl", "container": "cart",
             "image": "ghcr.io/example/cart"},
        ])
    );
    assert_eq!(
        sim_3["restarts"],
        json!([{"namespace": "analytics", "pod": "ingest-jjjlfzsvb6-qfwg8", "container": "ingest", "restarts": 12}])
    );
}

#[test]
fn pod_audit_restart_threshold() {
    let document = audit("10");
    assert_eq!(findings(&document, 0)["restart_threshold"], 10);
    assert_eq!(findings(&document, 0)["restarts"], json!([]));
    assert_eq!(
        findings(&document, 2)["restarts"],
        json!([{"namespace": "analytics", "pod": "ingest-jjjlfzsvb6-qfwg8", "container": "ingest", "restarts": 12}])
    );
    let stdout = document["results"][2]["stdout"].as_str().unwrap();
    assert_eq!(
        stdout,
        "sim-3 (v1.32.4): 11 pods, 2 unhealthy, 3 containers without limits, 2 untagged images, \
         1 containers over 10 restarts\n"
    );
}
