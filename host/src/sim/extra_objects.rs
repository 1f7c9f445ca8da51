//! Extra seeded objects that size a cluster for scale tests: `FleetOptions::objects`
//! objects on top of the seed that the `seed` module describes.
//!
//! Object `i` (from 0) lives in application namespace `i % n` of the cluster's
//! `n` application namespaces, or in `default` for a layout without any. Even
//! `i` is a config map `extra-config-<i>` with one key. Odd `i` is a healthy
//! Running pod `extra-pod-<i>` with one container, image `nginx:1.27.3` and CPU
//! and memory limits, so it adds no findings to a pod audit. All are 1 day old
//! and labeled `lazyhost.dev/extra=true`.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::seed::{self, Seeder};
use super::store::Store;

/// Age of every extra object, in hours before the fleet started.
const AGE_HOURS: i64 = 24;

/// Adds `count` extra objects to the store of the cluster with 1-based `cluster_index`.
pub(crate) fn seed_extra(store: &Store, cluster_index: usize, start: Timestamp, count: usize) {
    let seeder = Seeder {
        store,
        cluster_index,
        start,
        variant: seed::variant(cluster_index),
    };
    let namespaces = match seeder.variant.app_namespaces {
        [] => &["default"][..],
        namespaces => namespaces,
    };
    for index in 0..count {
        let namespace = namespaces[index % namespaces.len()];
        let object = if index % 2 == 0 {
            config_map(&seeder, namespace, index)
        } else {
            pod(&seeder, namespace, index)
        };
        seeder.put(object);
    }
}

fn metadata(seeder: &Seeder<'_>, namespace: &str, name: &str) -> Value {
    let mut metadata = seeder.metadata(namespace, name, AGE_HOURS);
    metadata["labels"] = json!({"lazyhost.dev/extra": "true"});
    metadata
}

fn config_map(seeder: &Seeder<'_>, namespace: &str, index: usize) -> Value {
    let name = format!("extra-config-{index}");
    json!({
        "kind": "ConfigMap",
        "metadata": metadata(seeder, namespace, &name),
        "data": {"index": index.to_string()},
    })
}

fn pod(seeder: &Seeder<'_>, namespace: &str, index: usize) -> Value {
    let name = format!("extra-pod-{index}");
    let nodes = seeder.app_nodes();
    let node = &nodes[index % nodes.len()];
    let resources = json!({
        "limits": {"cpu": "100m", "memory": "64Mi"},
        "requests": {"cpu": "100m", "memory": "64Mi"},
    });
    let container = json!({
        "name": "app",
        "image": "nginx:1.27.3",
        "imagePullPolicy": "IfNotPresent",
        "resources": resources,
    });
    let spec = json!({
        "containers": [container],
        "nodeName": node.name,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
    });
    json!({
        "kind": "Pod",
        "metadata": metadata(seeder, namespace, &name),
        "spec": spec,
        "status": pod_status(seeder, node.position, index),
    })
}

fn pod_status(seeder: &Seeder<'_>, position: usize, index: usize) -> Value {
    let started = seeder.hours_ago(AGE_HOURS);
    // Extra pods take host addresses from .100 up, after the seeded pods.
    let ip = format!("10.244.{position}.{}", 100 + index % 150);
    let conditions = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .map(|kind| json!({"type": kind, "status": "True", "lastTransitionTime": started}));
    json!({
        "phase": "Running",
        "qosClass": "Guaranteed",
        "hostIP": seeder.node_ip(position),
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "conditions": conditions,
        "containerStatuses": [{
            "name": "app",
            "image": "docker.io/library/nginx:1.27.3",
            "imageID": "",
            "ready": true,
            "started": true,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}},
        }],
    })
}
