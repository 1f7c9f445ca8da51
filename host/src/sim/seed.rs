//! Seeded objects of each simulated cluster: deterministic for a cluster index,
//! varied across clusters, and dated relative to the fleet's start time so that
//! `kubectl get` AGE columns are stable while a test runs.
//!
//! Each cluster's profile (see the `profile` module) picks its variant, version
//! and custom resources. Ages are whole hours of at least 8 before the fleet started.
//!
//! | cluster | variant | version | widgets |
//! |---|---|---|---|
//! | sim-1 | A | v1.32.4 | alpha, beta |
//! | sim-2 | B | v1.32.4 | no Widget kind |
//! | sim-3 | C | v1.32.4 | alpha |
//! | sim-4, sim-10, … | A | v1.31.6 | alpha, beta |
//! | sim-5, sim-11, … | B | v1.30.10 | no Widget kind |
//! | sim-6, sim-12, … | D | v1.33.1 | `1 + N % 3` widgets in `default` |
//! | sim-7, sim-13, … | C | v1.31.6 | no Widget kind |
//! | sim-8, sim-14, … | A | v1.30.10 | `1 + N % 3` widgets |
//! | sim-9, sim-15, … | D | v1.32.4 | no Widget kind |
//!
//! Variant D has no workloads at all: namespaces default, kube-system and an empty
//! `sandbox`, one control plane and one Ready worker, the services
//! default/kubernetes and kube-system/kube-dns, and no deployments, pods, config
//! maps or secrets. The Widget definition and widgets are described in the
//! `widgets` module.
//!
//! | object | variant A | variant B | variant C |
//! |---|---|---|---|
//! | namespaces (Active) | default, kube-system, shop, payments | default, kube-system, shop, payments, analytics | default, kube-system, shop, analytics, monitoring |
//! | nodes | `sim-N-control-plane` (role control-plane, tainted), `sim-N-worker-1` | control plane, `sim-N-worker-1`, `sim-N-worker-2` (NotReady, no pods) | `sim-N-control-plane` alone (untainted, runs every pod) |
//! | kube-system | deployment coredns 2/2, `registry.k8s.io/coredns/coredns:v1.11.3`, memory limit | same | same |
//! | shop | web 3/3 `nginx:1.27.3` (limits); cart 1/2 `ghcr.io/example/cart` (no tag, no resources) with its 2nd pod in CrashLoopBackOff (7 restarts, last exit 1 Error); pod db-migrate Failed (`ghcr.io/example/migrate:1.4.0`, exit 1) | web 3/3; cart 2/2 | web 3/3; cart 2/2; pod db-migrate Failed |
//! | payments | api 2/2 `ghcr.io/example/payments-api:latest` (limits); worker 1/1 `ghcr.io/example/payments-worker:2.3.0` (requests only) | api 2/2; worker 0/1 with its pod Pending (Unschedulable, nodeSelector `disktype=ssd`) | absent |
//! | analytics | absent | ingest 2/2 `python:3.12-slim` (limits) | ingest 1/2 with its 1st pod in CrashLoopBackOff (12 restarts, last exit 137 OOMKilled) |
//! | monitoring | absent | absent | prometheus 1/1 `prom/prometheus:v2.53.0` (limits) |
//! | config maps | kube-system/coredns, shop/web-config, payments/api-config | + analytics/ingest-config | kube-system/coredns, shop/web-config, analytics/ingest-config, monitoring/prometheus-config |
//! | secrets | shop/web-tls (`kubernetes.io/tls`), payments/api-credentials (Opaque) | + analytics/warehouse-token | shop/web-tls, analytics/warehouse-token |
//! | services | default/kubernetes, kube-system/kube-dns, shop/web, payments/api | same | default/kubernetes, kube-system/kube-dns, shop/web, monitoring/prometheus |
//!
//! Every deployment has one ReplicaSet `<deployment>-<hash>` and pods
//! `<deployment>-<hash>-<suffix>` labeled `app=<deployment>` and
//! `pod-template-hash=<hash>`. These names are the same in every cluster, because
//! the hashes depend only on namespace, deployment name and replica index:
//!
//! | deployment | pods, replica 0 first |
//! |---|---|
//! | kube-system/coredns | coredns-fc8v47xxxt-6qq7n, coredns-fc8v47xxxt-g7s4s |
//! | shop/web | web-fsh4hgss44-7qvlb, web-fsh4hgss44-h7xhg, web-fsh4hgss44-lwpsz |
//! | shop/cart | cart-qznrrdsvs8-schdl, cart-qznrrdsvs8-jwdhg (CrashLoopBackOff in A) |
//! | payments/api | api-vgc7gtp57v-5wscw, api-vgc7gtp57v-fdw82 |
//! | payments/worker | worker-bgzvhgnsb4-hkjfm (Pending in B) |
//! | analytics/ingest | ingest-jjjlfzsvb6-qfwg8 (CrashLoopBackOff in C), ingest-jjjlfzsvb6-gzsk4 |
//! | monitoring/prometheus | prometheus-7dxxv6vdhg-xshzx |
//!
//! coredns runs on the control plane. Application pods run on the Ready workers in
//! turn, or on the control plane in variant C.
//!
//! Ages, in whole hours before the fleet started:
//!
//! - 30d: namespaces default and kube-system, nodes, kube-system objects other
//!   than pods, and the services default/kubernetes and kube-system/kube-dns.
//! - 20d: application namespaces and their services.
//! - 15d: application config maps and all secrets.
//! - 10d: application deployments and ReplicaSets.
//! - 9d: healthy pods. 26h: CrashLoopBackOff pods, whose last restart was 10h ago.
//!   12h: the Pending pod. 2d: the Failed pod.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::catalog::Catalog;
use super::config_objects;
use super::digest::fnv1a;
use super::resources::{self, ResourceType};
use super::store::Store;
use super::{profile, time, widgets, workloads};

/// The seeded layout of one cluster.
pub(crate) struct Variant {
    /// Application namespaces besides `default` and `kube-system`.
    pub(crate) app_namespaces: &'static [&'static str],
    /// Number of worker nodes besides the control plane.
    pub(crate) workers: usize,
    /// Whether the last worker is NotReady.
    pub(crate) last_worker_not_ready: bool,
    /// Letter used in tables and docs.
    pub(crate) letter: char,
    /// Whether the cluster runs workloads (deployments, pods) and stores config
    /// maps and secrets.
    pub(crate) workloads: bool,
}

const VARIANTS: [Variant; 4] = [
    Variant {
        app_namespaces: &["shop", "payments"],
        workers: 1,
        last_worker_not_ready: false,
        letter: 'A',
        workloads: true,
    },
    Variant {
        app_namespaces: &["shop", "payments", "analytics"],
        workers: 2,
        last_worker_not_ready: true,
        letter: 'B',
        workloads: true,
    },
    Variant {
        app_namespaces: &["shop", "analytics", "monitoring"],
        workers: 0,
        last_worker_not_ready: false,
        letter: 'C',
        workloads: true,
    },
    Variant {
        app_namespaces: &["sandbox"],
        workers: 1,
        last_worker_not_ready: false,
        letter: 'D',
        workloads: false,
    },
];

/// Returns the variant of the cluster with 1-based `cluster_index`, as its profile names it.
pub(crate) fn variant(cluster_index: usize) -> &'static Variant {
    &VARIANTS[profile::of(cluster_index).variant]
}

/// Seeding context shared by the seed functions.
pub(crate) struct Seeder<'a> {
    /// Store being filled.
    pub(crate) store: &'a Store,
    /// 1-based cluster index.
    pub(crate) cluster_index: usize,
    /// Fleet start time that every creationTimestamp is relative to.
    pub(crate) start: Timestamp,
    /// Layout of this cluster.
    pub(crate) variant: &'static Variant,
}

impl Seeder<'_> {
    /// Returns the RFC 3339 time `hours` before the fleet started.
    pub(crate) fn hours_ago(&self, hours: i64) -> String {
        time::format(time::hours_before(self.start, hours))
    }

    /// Builds standard metadata: name, namespace, uid and creationTimestamp.
    pub(crate) fn metadata(&self, namespace: &str, name: &str, age_hours: i64) -> Value {
        let mut metadata = json!({
            "name": name,
            "uid": self.store.next_uid(),
            "creationTimestamp": self.hours_ago(age_hours),
        });
        if !namespace.is_empty() {
            metadata["namespace"] = json!(namespace);
        }
        metadata
    }

    /// Stores `object` under the resource of its `kind`: a built-in kind, or a
    /// custom kind (with `apiVersion`) whose definition is already stored.
    pub(crate) fn put(&self, object: Value) {
        let kind = object["kind"].as_str().unwrap_or_default();
        let resource: &ResourceType = resources::by_kind(kind)
            .or_else(|| Catalog::of(self.store).of_object(&object))
            .expect("seeded kinds are in the catalog");
        let mut object = object;
        if let Some(root) = object.as_object_mut() {
            root.remove("kind");
            root.remove("apiVersion");
        }
        self.store.insert_seed(resource, object);
    }

    /// Returns whether this cluster has the namespace.
    pub(crate) fn has_namespace(&self, namespace: &str) -> bool {
        matches!(namespace, "default" | "kube-system")
            || self.variant.app_namespaces.contains(&namespace)
    }

    /// Returns the name of the control-plane node.
    pub(crate) fn control_plane(&self) -> String {
        format!("sim-{}-control-plane", self.cluster_index)
    }

    /// Returns the nodes that run application pods: the Ready workers, or the
    /// control plane when there are none.
    pub(crate) fn app_nodes(&self) -> Vec<NodeSlot> {
        let ready_workers = self.variant.workers - usize::from(self.variant.last_worker_not_ready);
        match ready_workers {
            0 => vec![self.control_plane_slot()],
            count => (1..=count)
                .map(|index| NodeSlot {
                    name: format!("sim-{}-worker-{index}", self.cluster_index),
                    position: index + 1,
                })
                .collect(),
        }
    }

    /// Returns the control-plane node.
    pub(crate) fn control_plane_slot(&self) -> NodeSlot {
        NodeSlot {
            name: self.control_plane(),
            position: 1,
        }
    }

    /// Returns the InternalIP of the node at `position`.
    pub(crate) fn node_ip(&self, position: usize) -> String {
        format!("10.0.{}.{}", self.cluster_index % 250, 10 + position)
    }
}

/// A node that pods are placed on.
pub(crate) struct NodeSlot {
    /// Node name.
    pub(crate) name: String,
    /// 1-based position: the control plane is 1, worker `n` is `n + 1`. The node's
    /// pod CIDR is `10.244.<position>.0/24`.
    pub(crate) position: usize,
}

/// Fills `store` with the objects of the cluster with 1-based `cluster_index`.
pub(crate) fn seed(store: &Store, cluster_index: usize, start: Timestamp) {
    let seeder = Seeder {
        store,
        cluster_index,
        start,
        variant: variant(cluster_index),
    };
    seed_namespaces(&seeder);
    seed_nodes(&seeder);
    if seeder.variant.workloads {
        workloads::seed_workloads(&seeder);
        config_objects::seed_config_maps(&seeder);
        config_objects::seed_secrets(&seeder);
    }
    config_objects::seed_services(&seeder);
    if profile::of(cluster_index).widgets {
        widgets::seed_widgets(&seeder);
    }
}

fn seed_namespaces(seeder: &Seeder<'_>) {
    let system = ["default", "kube-system"].map(|name| (name, 720));
    let apps = seeder
        .variant
        .app_namespaces
        .iter()
        .map(|name| (*name, 480));
    for (name, age) in system.into_iter().chain(apps) {
        let mut metadata = seeder.metadata("", name, age);
        metadata["labels"] = json!({"kubernetes.io/metadata.name": name});
        seeder.put(json!({
            "kind": "Namespace",
            "metadata": metadata,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }));
    }
}

fn seed_nodes(seeder: &Seeder<'_>) {
    let control_plane = NodeRole {
        control_plane: true,
        tainted: seeder.variant.workers > 0,
        ready: true,
    };
    seeder.put(node(seeder, &seeder.control_plane(), 1, control_plane));
    for index in 1..=seeder.variant.workers {
        let name = format!("sim-{}-worker-{index}", seeder.cluster_index);
        let worker = NodeRole {
            control_plane: false,
            tainted: false,
            ready: !(seeder.variant.last_worker_not_ready && index == seeder.variant.workers),
        };
        seeder.put(node(seeder, &name, index + 1, worker));
    }
}

/// Role and health of one seeded node.
struct NodeRole {
    control_plane: bool,
    tainted: bool,
    ready: bool,
}

fn node(seeder: &Seeder<'_>, name: &str, position: usize, role: NodeRole) -> Value {
    let mut metadata = seeder.metadata("", name, 720);
    metadata["labels"] = node_labels(name, role.control_plane);
    let cidr = format!("10.244.{position}.0/24");
    let mut spec = json!({"podCIDR": cidr, "podCIDRs": [cidr]});
    if role.tainted {
        spec["taints"] =
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    let (cpu, memory, allocatable_memory) = if role.control_plane {
        ("4", "16393220Ki", "16290820Ki")
    } else {
        ("8", "32856072Ki", "32753672Ki")
    };
    let status = json!({
        "capacity": {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "102626232Ki"},
        "allocatable": {"cpu": cpu, "memory": allocatable_memory, "pods": "110", "ephemeral-storage": "94580335255"},
        "conditions": node_conditions(seeder, role.ready),
        "addresses": [
            {"type": "InternalIP", "address": seeder.node_ip(position)},
            {"type": "Hostname", "address": name},
        ],
        "nodeInfo": node_info(name, &profile::of(seeder.cluster_index).version.git_version()),
    });
    json!({"kind": "Node", "metadata": metadata, "spec": spec, "status": status})
}

fn node_labels(name: &str, control_plane: bool) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    });
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    labels
}

fn node_info(name: &str, version: &str) -> Value {
    let id = |suffix: &str| format!("{:032x}", u128::from(fnv1a(&format!("{name}{suffix}"))));
    json!({
        "kubeletVersion": version,
        "kubeProxyVersion": version,
        "osImage": "Debian GNU/Linux 12 (bookworm)",
        "kernelVersion": "6.1.0-31-amd64",
        "containerRuntimeVersion": "containerd://1.7.24",
        "operatingSystem": "linux",
        "architecture": "amd64",
        "machineID": id(""),
        "systemUUID": id("/system"),
        "bootID": id("/boot"),
    })
}

fn node_conditions(seeder: &Seeder<'_>, ready: bool) -> Value {
    let since = seeder.hours_ago(720);
    let heartbeat = time::format(seeder.start);
    let pressure = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "False", "reason": reason, "message": message, "lastHeartbeatTime": heartbeat, "lastTransitionTime": since});
    let ready_condition = if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": heartbeat, "lastTransitionTime": since})
    } else {
        json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": seeder.hours_ago(30), "lastTransitionTime": seeder.hours_ago(30)})
    };
    json!([
        pressure(
            "MemoryPressure",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        pressure(
            "DiskPressure",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        pressure(
            "PIDPressure",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        ready_condition,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::object;
    use crate::sim::resources::find;

    fn seeded(cluster_index: usize) -> Store {
        let store = Store::new(cluster_index);
        seed(&store, cluster_index, time::now());
        store
    }

    fn names(store: &Store, plural: &str, namespace: Option<&str>) -> Vec<String> {
        let resource = find(
            if plural == "deployments" { "apps" } else { "" },
            "v1",
            plural,
        )
        .unwrap();
        let snapshot = store.list(resource, namespace);
        snapshot
            .items
            .into_iter()
            .map(|(key, _)| key.name)
            .collect()
    }

    #[test]
    fn variant_c_layout() {
        let store = seeded(3);
        assert_eq!(
            names(&store, "namespaces", None),
            ["analytics", "default", "kube-system", "monitoring", "shop"]
        );
        assert_eq!(names(&store, "nodes", None), ["sim-3-control-plane"]);
        assert_eq!(
            names(&store, "deployments", Some("monitoring")),
            ["prometheus"]
        );
        assert_eq!(names(&store, "pods", None).len(), 11);

        let pods = find("", "v1", "pods").unwrap();
        let ingest = store.list(pods, Some("analytics"));
        let reasons: Vec<&str> = ingest
            .items
            .iter()
            .map(|(_, pod)| {
                object::str_at(
                    pod,
                    "/status/containerStatuses/0/lastState/terminated/reason",
                )
            })
            .collect();
        assert!(reasons.contains(&"OOMKilled"), "{reasons:?}");
    }

    #[test]
    fn variant_b_not_ready_worker() {
        let store = seeded(5);
        let nodes = find("", "v1", "nodes").unwrap();
        let snapshot = store.list(nodes, None);
        let ready: Vec<&str> = snapshot
            .items
            .iter()
            .map(|(_, node)| object::str_at(node, "/status/conditions/3/status"))
            .collect();
        assert_eq!(ready, ["True", "True", "Unknown"]);
    }

    #[test]
    fn seed_is_deterministic() {
        assert_eq!(
            names(&seeded(4), "pods", None),
            names(&seeded(1), "pods", None)
        );
    }
}
