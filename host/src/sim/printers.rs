//! Table printers for the kinds with their own columns: pods, deployments,
//! replicasets, nodes and services, following kube-apiserver 1.32's printers.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

use super::object::{array_at, int_at, labels, meta_str, str_at, string_map};
use super::table::{AGE, Column, NAME, age, column, or_none};
use super::time;

pub(crate) fn pod_columns() -> Vec<Column> {
    vec![
        NAME,
        column(
            "Ready",
            "string",
            0,
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        column(
            "Status",
            "string",
            0,
            "The aggregate status of the containers in this pod.",
        ),
        column(
            "Restarts",
            "string",
            0,
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        column(
            "IP",
            "string",
            1,
            "podIP is the IP address allocated to the pod.",
        ),
        column("Node", "string", 1, "Name of the Node this pod runs on."),
        column(
            "Nominated Node",
            "string",
            1,
            "nominatedNodeName is set when this pod preempts other pods on the node.",
        ),
        column(
            "Readiness Gates",
            "string",
            1,
            "If specified, all readiness gates will be evaluated for pod readiness.",
        ),
    ]
}

/// Prints a pod row. STATUS starts from the phase (or `status.reason`) and is
/// replaced by the reason of a waiting or terminated container, scanning the
/// containers from last to first, so the first container's state wins.
pub(crate) fn print_pod(pod: &Value, now: Timestamp) -> Vec<Value> {
    let summary = PodSummary::of(pod);
    let restarts = match summary.last_restart {
        Some(time) if summary.restarts > 0 => {
            let since = time::human_duration(now.as_second() - time.as_second());
            format!("{} ({since} ago)", summary.restarts)
        }
        _ => summary.restarts.to_string(),
    };
    let total = array_at(pod, "/spec/containers").len();
    vec![
        json!(meta_str(pod, "name")),
        json!(format!("{}/{total}", summary.ready)),
        json!(summary.reason),
        json!(restarts),
        age(pod, now),
        or_none(str_at(pod, "/status/podIP")),
        or_none(str_at(pod, "/spec/nodeName")),
        or_none(str_at(pod, "/status/nominatedNodeName")),
        or_none(""),
    ]
}

/// Container totals behind a pod row's READY, STATUS and RESTARTS cells.
struct PodSummary {
    reason: String,
    ready: usize,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

impl PodSummary {
    fn of(pod: &Value) -> Self {
        let mut summary = PodSummary {
            reason: match str_at(pod, "/status/reason") {
                "" => str_at(pod, "/status/phase").to_string(),
                reason => reason.to_string(),
            },
            ready: 0,
            restarts: 0,
            last_restart: None,
        };
        for container in array_at(pod, "/status/containerStatuses").iter().rev() {
            summary.add(container);
        }
        if !meta_str(pod, "deletionTimestamp").is_empty() {
            summary.reason = "Terminating".to_string();
        }
        summary
    }

    fn add(&mut self, container: &Value) {
        self.restarts += int_at(container, "/restartCount");
        let finished = str_at(container, "/lastState/terminated/finishedAt");
        self.last_restart = self.last_restart.max(finished.parse::<Timestamp>().ok());
        let running = container.pointer("/state/running").is_some();
        if let Some(reason) = container_reason(container) {
            self.reason = reason;
        } else if container.get("ready") == Some(&json!(true)) && running {
            self.ready += 1;
        }
    }
}

fn container_reason(container: &Value) -> Option<String> {
    let waiting = str_at(container, "/state/waiting/reason");
    if !waiting.is_empty() {
        return Some(waiting.to_string());
    }
    let terminated = container.pointer("/state/terminated")?;
    let reason = str_at(terminated, "/reason");
    if !reason.is_empty() {
        return Some(reason.to_string());
    }
    match int_at(terminated, "/signal") {
        0 => Some(format!("ExitCode:{}", int_at(terminated, "/exitCode"))),
        signal => Some(format!("Signal:{signal}")),
    }
}

pub(crate) fn deployment_columns() -> Vec<Column> {
    vec![
        NAME,
        column("Ready", "string", 0, "Number of the pod with ready state"),
        column(
            "Up-to-date",
            "string",
            0,
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
        ),
        column(
            "Available",
            "string",
            0,
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
        ),
        AGE,
        column(
            "Containers",
            "string",
            1,
            "Names of each container in the template.",
        ),
        column(
            "Images",
            "string",
            1,
            "Images referenced by each container in the template.",
        ),
        column(
            "Selector",
            "string",
            1,
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        ),
    ]
}

pub(crate) fn print_deployment(deployment: &Value, now: Timestamp) -> Vec<Value> {
    let desired = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let (containers, images) = template_containers(deployment);
    vec![
        json!(meta_str(deployment, "name")),
        json!(format!(
            "{}/{desired}",
            int_at(deployment, "/status/readyReplicas")
        )),
        json!(int_at(deployment, "/status/updatedReplicas")),
        json!(int_at(deployment, "/status/availableReplicas")),
        age(deployment, now),
        json!(containers),
        json!(images),
        json!(match_labels(deployment)),
    ]
}

pub(crate) fn replicaset_columns() -> Vec<Column> {
    vec![
        NAME,
        column(
            "Desired",
            "integer",
            0,
            "Replicas is the number of desired pods.",
        ),
        column(
            "Current",
            "integer",
            0,
            "Replicas is the most recently observed number of replicas.",
        ),
        column(
            "Ready",
            "integer",
            0,
            "The number of ready replicas for this replica set.",
        ),
        AGE,
        column(
            "Containers",
            "string",
            1,
            "Names of each container in the template.",
        ),
        column(
            "Images",
            "string",
            1,
            "Images referenced by each container in the template.",
        ),
        column(
            "Selector",
            "string",
            1,
            "Selector is a label query over pods that should match the replica count.",
        ),
    ]
}

pub(crate) fn print_replicaset(replicaset: &Value, now: Timestamp) -> Vec<Value> {
    let (containers, images) = template_containers(replicaset);
    vec![
        json!(meta_str(replicaset, "name")),
        json!(int_at(replicaset, "/spec/replicas")),
        json!(int_at(replicaset, "/status/replicas")),
        json!(int_at(replicaset, "/status/readyReplicas")),
        age(replicaset, now),
        json!(containers),
        json!(images),
        json!(match_labels(replicaset)),
    ]
}

fn template_containers(object: &Value) -> (String, String) {
    let containers = array_at(object, "/spec/template/spec/containers");
    let names: Vec<&str> = containers
        .iter()
        .map(|container| str_at(container, "/name"))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|container| str_at(container, "/image"))
        .collect();
    (names.join(","), images.join(","))
}

fn match_labels(object: &Value) -> String {
    let selector = string_map(object.pointer("/spec/selector/matchLabels"));
    let terms: Vec<String> = selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    terms.join(",")
}

pub(crate) fn node_columns() -> Vec<Column> {
    vec![
        NAME,
        column("Status", "string", 0, "The status of the node"),
        column("Roles", "string", 0, "The roles of the node"),
        AGE,
        column(
            "Version",
            "string",
            0,
            "Kubelet Version reported by the node.",
        ),
        column(
            "Internal-IP",
            "string",
            1,
            "List of addresses reachable to the node.",
        ),
        column(
            "External-IP",
            "string",
            1,
            "List of addresses reachable to the node.",
        ),
        column(
            "OS-Image",
            "string",
            1,
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        ),
        column(
            "Kernel-Version",
            "string",
            1,
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        ),
        column(
            "Container-Runtime",
            "string",
            1,
            "Container runtime version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        ),
    ]
}

pub(crate) fn print_node(node: &Value, now: Timestamp) -> Vec<Value> {
    let ready = array_at(node, "/status/conditions")
        .iter()
        .find(|condition| str_at(condition, "/type") == "Ready")
        .map(|condition| str_at(condition, "/status"));
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    vec![
        json!(meta_str(node, "name")),
        json!(status),
        json!(node_roles(node)),
        age(node, now),
        json!(str_at(node, "/status/nodeInfo/kubeletVersion")),
        or_none(&node_address(node, "InternalIP")),
        or_none(&node_address(node, "ExternalIP")),
        json!(str_at(node, "/status/nodeInfo/osImage")),
        json!(str_at(node, "/status/nodeInfo/kernelVersion")),
        json!(str_at(node, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

/// Lists roles from `node-role.kubernetes.io/<role>` labels and the older
/// `kubernetes.io/role` label, sorted and comma-joined, or `<none>`.
fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = labels(node)
        .into_iter()
        .filter_map(
            |(key, value)| match key.strip_prefix("node-role.kubernetes.io/") {
                Some(role) if !role.is_empty() => Some(role.to_string()),
                _ if key == "kubernetes.io/role" && !value.is_empty() => Some(value),
                _ => None,
            },
        )
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    }
}

fn node_address(node: &Value, kind: &str) -> String {
    array_at(node, "/status/addresses")
        .iter()
        .filter(|address| str_at(address, "/type") == kind)
        .map(|address| str_at(address, "/address"))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn service_columns() -> Vec<Column> {
    vec![
        NAME,
        column(
            "Type",
            "string",
            0,
            "type determines how the Service is exposed.",
        ),
        column(
            "Cluster-IP",
            "string",
            0,
            "clusterIP is the IP address of the service.",
        ),
        column(
            "External-IP",
            "string",
            0,
            "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        ),
        column(
            "Port(s)",
            "string",
            0,
            "The list of ports that are exposed by this service.",
        ),
        AGE,
        column(
            "Selector",
            "string",
            1,
            "Route service traffic to pods with label keys and values matching this selector.",
        ),
    ]
}

pub(crate) fn print_service(service: &Value, now: Timestamp) -> Vec<Value> {
    let ports: Vec<String> = array_at(service, "/spec/ports")
        .iter()
        .map(|port| {
            let protocol = match str_at(port, "/protocol") {
                "" => "TCP",
                protocol => protocol,
            };
            match int_at(port, "/nodePort") {
                0 => format!("{}/{protocol}", int_at(port, "/port")),
                node_port => format!("{}:{node_port}/{protocol}", int_at(port, "/port")),
            }
        })
        .collect();
    let selector = string_map(service.pointer("/spec/selector"));
    let selector: Vec<String> = selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let ports = if ports.is_empty() {
        String::new()
    } else {
        ports.join(",")
    };
    let external: Vec<&str> = array_at(service, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    vec![
        json!(meta_str(service, "name")),
        json!(str_at(service, "/spec/type")),
        or_none(str_at(service, "/spec/clusterIP")),
        or_none(&external.join(",")),
        or_none(&ports),
        age(service, now),
        or_none(&selector.join(",")),
    ]
}
