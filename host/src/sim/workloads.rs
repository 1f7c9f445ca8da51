//! Seeded workloads: Deployments, their ReplicaSets and Pods, and the standalone
//! Failed pod, with the per-variant faults that [`super::seed`] documents.

use serde_json::{Map, Value, json};

use super::digest::{hex64, name_suffix};
use super::seed::{NodeSlot, Seeder};

#[derive(Clone, Copy)]
enum Resources {
    /// Requests and limits; an empty CPU means the container sets only memory.
    Limits {
        cpu: &'static str,
        memory: &'static str,
    },
    /// Requests without limits.
    RequestsOnly,
    /// No resources at all.
    Unset,
}

struct Workload {
    namespace: &'static str,
    name: &'static str,
    image: &'static str,
    replicas: usize,
    resources: Resources,
    port: Option<u16>,
    age_hours: i64,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        namespace: "kube-system",
        name: "coredns",
        image: "registry.k8s.io/coredns/coredns:v1.11.3",
        replicas: 2,
        resources: Resources::Limits {
            cpu: "",
            memory: "170Mi",
        },
        port: Some(53),
        age_hours: 720,
    },
    Workload {
        namespace: "shop",
        name: "web",
        image: "nginx:1.27.3",
        replicas: 3,
        resources: Resources::Limits {
            cpu: "500m",
            memory: "256Mi",
        },
        port: Some(80),
        age_hours: 240,
    },
    Workload {
        namespace: "shop",
        name: "cart",
        image: "ghcr.io/example/cart",
        replicas: 2,
        resources: Resources::Unset,
        port: Some(8080),
        age_hours: 240,
    },
    Workload {
        namespace: "payments",
        name: "api",
        image: "ghcr.io/example/payments-api:latest",
        replicas: 2,
        resources: Resources::Limits {
            cpu: "1",
            memory: "512Mi",
        },
        port: Some(8080),
        age_hours: 240,
    },
    Workload {
        namespace: "payments",
        name: "worker",
        image: "ghcr.io/example/payments-worker:2.3.0",
        replicas: 1,
        resources: Resources::RequestsOnly,
        port: None,
        age_hours: 240,
    },
    Workload {
        namespace: "analytics",
        name: "ingest",
        image: "python:3.12-slim",
        replicas: 2,
        resources: Resources::Limits {
            cpu: "1",
            memory: "1Gi",
        },
        port: None,
        age_hours: 240,
    },
    Workload {
        namespace: "monitoring",
        name: "prometheus",
        image: "prom/prometheus:v2.53.0",
        replicas: 1,
        resources: Resources::Limits {
            cpu: "1",
            memory: "2Gi",
        },
        port: Some(9090),
        age_hours: 240,
    },
];

/// State of one seeded pod, including its fault.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PodState {
    Running,
    CrashLoop {
        restarts: i64,
        exit_code: i64,
        reason: &'static str,
    },
    Pending,
    Failed,
}

/// Returns the state of replica `replica` of `namespace/name` in a variant.
fn pod_state(letter: char, namespace: &str, name: &str, replica: usize) -> PodState {
    match (letter, namespace, name, replica) {
        ('A', "shop", "cart", 1) => PodState::CrashLoop {
            restarts: 7,
            exit_code: 1,
            reason: "Error",
        },
        ('B', "payments", "worker", 0) => PodState::Pending,
        ('C', "analytics", "ingest", 0) => PodState::CrashLoop {
            restarts: 12,
            exit_code: 137,
            reason: "OOMKilled",
        },
        _ => PodState::Running,
    }
}

/// Seeds every workload whose namespace exists in the cluster, then the Failed pod.
pub(crate) fn seed_workloads(seeder: &Seeder<'_>) {
    let mut pod_ip = 10;
    for workload in WORKLOADS
        .iter()
        .filter(|workload| seeder.has_namespace(workload.namespace))
    {
        seed_deployment(seeder, workload, &mut pod_ip);
    }
    if seeder.variant.letter != 'B' && seeder.has_namespace("shop") {
        seeder.put(failed_migration_pod(seeder));
    }
}

fn seed_deployment(seeder: &Seeder<'_>, workload: &Workload, pod_ip: &mut usize) {
    let letter = seeder.variant.letter;
    let states: Vec<PodState> = (0..workload.replicas)
        .map(|replica| pod_state(letter, workload.namespace, workload.name, replica))
        .collect();
    let ready = states
        .iter()
        .filter(|state| **state == PodState::Running)
        .count();
    let hash = name_suffix(&format!("{}/{}", workload.namespace, workload.name), 10);
    let template = pod_template(seeder, workload, &hash);

    let deployment = deployment(seeder, workload, &template, ready, &hash);
    let deployment_uid = deployment["metadata"]["uid"].clone();
    seeder.put(deployment);
    let replicaset = replicaset(seeder, workload, &template, ready, &hash, deployment_uid);
    let replicaset_uid = replicaset["metadata"]["uid"].clone();
    let replicaset_name = replicaset["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    seeder.put(replicaset);

    let owner = json!([{
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": replicaset_name,
        "uid": replicaset_uid,
        "controller": true,
        "blockOwnerDeletion": true,
    }]);
    let nodes = if workload.namespace == "kube-system" {
        vec![seeder.control_plane_slot()]
    } else {
        seeder.app_nodes()
    };
    for (replica, state) in states.into_iter().enumerate() {
        let suffix = name_suffix(&format!("{replicaset_name}/{replica}"), 5);
        let name = format!("{replicaset_name}-{suffix}");
        let pod = PodBuilder {
            seeder,
            namespace: workload.namespace,
            name: &name,
            template: &template,
            state,
            node: &nodes[replica % nodes.len()],
            pod_ip: *pod_ip,
        };
        seeder.put(pod.build(owner.clone(), Some(&replicaset_name)));
        *pod_ip += 1;
    }
}

fn labels(workload: &Workload, hash: Option<&str>) -> Value {
    let mut labels = json!({"app": workload.name});
    if workload.name == "coredns" {
        labels["k8s-app"] = json!("kube-dns");
    }
    if let Some(hash) = hash {
        labels["pod-template-hash"] = json!(hash);
    }
    labels
}

fn pod_template(seeder: &Seeder<'_>, workload: &Workload, hash: &str) -> Value {
    let mut container = json!({
        "name": workload.name,
        "image": workload.image,
        "imagePullPolicy": pull_policy(workload.image),
        "resources": resources_json(workload.resources),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    });
    if let Some(port) = workload.port {
        container["ports"] = json!([{"containerPort": port, "protocol": "TCP"}]);
    }
    let mut spec = json!({
        "containers": [container],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
    });
    if seeder.variant.letter == 'B' && workload.name == "worker" {
        spec["nodeSelector"] = json!({"disktype": "ssd"});
    }
    json!({"metadata": {"labels": labels(workload, Some(hash))}, "spec": spec})
}

/// Returns the pull policy the API server defaults: `Always` for `:latest` or no tag.
fn pull_policy(image: &str) -> &'static str {
    if image_tag(image).is_none_or(|tag| tag == "latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

fn image_tag(image: &str) -> Option<&str> {
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    last_segment.split_once(':').map(|(_, tag)| tag)
}

/// Expands an image reference the way container runtimes report it:
/// `nginx:1.27.3` becomes `docker.io/library/nginx:1.27.3`, and a missing tag becomes `:latest`.
fn normalize_image(image: &str) -> String {
    let first = image.split('/').next().unwrap_or(image);
    let has_registry =
        image.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = match (has_registry, image.contains('/')) {
        (true, _) => image.to_string(),
        (false, true) => format!("docker.io/{image}"),
        (false, false) => format!("docker.io/library/{image}"),
    };
    if image_tag(image).is_none() {
        full.push_str(":latest");
    }
    full
}

fn resources_json(resources: Resources) -> Value {
    match resources {
        Resources::Limits { cpu: "", memory } => {
            json!({"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": memory}})
        }
        Resources::Limits { cpu, memory } => {
            json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}})
        }
        Resources::RequestsOnly => json!({"requests": {"cpu": "250m", "memory": "256Mi"}}),
        Resources::Unset => json!({}),
    }
}

fn qos_class(resources: &Value) -> &'static str {
    let requests = resources.get("requests");
    let limits = resources.get("limits");
    match (requests, limits) {
        (None, None) => "BestEffort",
        (Some(requests), Some(limits)) if requests == limits && limits.get("cpu").is_some() => {
            "Guaranteed"
        }
        _ => "Burstable",
    }
}

fn deployment(
    seeder: &Seeder<'_>,
    workload: &Workload,
    template: &Value,
    ready: usize,
    hash: &str,
) -> Value {
    let mut metadata = seeder.metadata(workload.namespace, workload.name, workload.age_hours);
    metadata["generation"] = json!(1);
    metadata["labels"] = labels(workload, None);
    metadata["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    let mut template = template.clone();
    template["metadata"]["labels"] = labels(workload, None);
    let mut status = replica_counts(workload.replicas, ready);
    status["updatedReplicas"] = json!(workload.replicas);
    if ready < workload.replicas {
        status["unavailableReplicas"] = json!(workload.replicas - ready);
    }
    status["conditions"] = deployment_conditions(seeder, workload, ready, hash);
    json!({
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": workload.replicas,
            "selector": {"matchLabels": labels(workload, None)},
            "template": template,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
        },
        "status": status,
    })
}

/// Builds the counts that Deployment and ReplicaSet status share; zero counts are
/// omitted, as the API server omits them.
fn replica_counts(replicas: usize, ready: usize) -> Value {
    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(1));
    status.insert("replicas".into(), json!(replicas));
    if ready > 0 {
        status.insert("readyReplicas".into(), json!(ready));
        status.insert("availableReplicas".into(), json!(ready));
    }
    Value::Object(status)
}

fn deployment_conditions(
    seeder: &Seeder<'_>,
    workload: &Workload,
    ready: usize,
    hash: &str,
) -> Value {
    let created = seeder.hours_ago(workload.age_hours);
    let replicaset = format!("{}-{hash}", workload.name);
    let condition = |kind: &str, status: &str, reason: &str, message: String| json!({"type": kind, "status": status, "lastUpdateTime": created, "lastTransitionTime": created, "reason": reason, "message": message});
    if ready == workload.replicas {
        json!([
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into()
            ),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                format!("ReplicaSet \"{replicaset}\" has successfully progressed.")
            ),
        ])
    } else {
        json!([
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into()
            ),
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                format!("ReplicaSet \"{replicaset}\" has timed out progressing.")
            ),
        ])
    }
}

fn replicaset(
    seeder: &Seeder<'_>,
    workload: &Workload,
    template: &Value,
    ready: usize,
    hash: &str,
    owner_uid: Value,
) -> Value {
    let name = format!("{}-{hash}", workload.name);
    let mut metadata = seeder.metadata(workload.namespace, &name, workload.age_hours);
    metadata["generation"] = json!(1);
    metadata["labels"] = labels(workload, Some(hash));
    metadata["annotations"] = json!({
        "deployment.kubernetes.io/desired-replicas": workload.replicas.to_string(),
        "deployment.kubernetes.io/max-replicas": (workload.replicas + workload.replicas.div_ceil(4)).to_string(),
        "deployment.kubernetes.io/revision": "1",
    });
    metadata["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": workload.name, "uid": owner_uid, "controller": true, "blockOwnerDeletion": true}]);
    let mut status = replica_counts(workload.replicas, ready);
    status["fullyLabeledReplicas"] = json!(workload.replicas);
    json!({
        "kind": "ReplicaSet",
        "metadata": metadata,
        "spec": {"replicas": workload.replicas, "selector": {"matchLabels": labels(workload, Some(hash))}, "template": template},
        "status": status,
    })
}

fn failed_migration_pod(seeder: &Seeder<'_>) -> Value {
    let template = json!({
        "metadata": {"labels": {"app": "db-migrate"}},
        "spec": {
            "containers": [{"name": "migrate", "image": "ghcr.io/example/migrate:1.4.0", "imagePullPolicy": "IfNotPresent", "resources": {}, "args": ["--apply"]}],
            "restartPolicy": "Never",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
        },
    });
    let nodes = seeder.app_nodes();
    let pod = PodBuilder {
        seeder,
        namespace: "shop",
        name: "db-migrate",
        template: &template,
        state: PodState::Failed,
        node: &nodes[0],
        pod_ip: 200,
    };
    pod.build(json!([]), None)
}

struct PodBuilder<'a> {
    seeder: &'a Seeder<'a>,
    namespace: &'a str,
    name: &'a str,
    template: &'a Value,
    state: PodState,
    node: &'a NodeSlot,
    pod_ip: usize,
}

impl PodBuilder<'_> {
    fn age_hours(&self) -> i64 {
        match self.state {
            PodState::Running => 216,
            PodState::CrashLoop { .. } => 26,
            PodState::Pending => 12,
            PodState::Failed => 48,
        }
    }

    fn build(&self, owners: Value, replicaset: Option<&str>) -> Value {
        let mut metadata = self
            .seeder
            .metadata(self.namespace, self.name, self.age_hours());
        metadata["labels"] = self.template["metadata"]["labels"].clone();
        if let Some(replicaset) = replicaset {
            metadata["generateName"] = json!(format!("{replicaset}-"));
            metadata["ownerReferences"] = owners;
        }
        let mut spec = self.template["spec"].clone();
        if self.state != PodState::Pending {
            spec["nodeName"] = json!(self.node.name);
        }
        let status = self.status(&metadata);
        json!({"kind": "Pod", "metadata": metadata, "spec": spec, "status": status})
    }

    fn status(&self, metadata: &Value) -> Value {
        let container = &self.template["spec"]["containers"][0];
        let started = self.seeder.hours_ago(self.age_hours());
        let mut status =
            json!({"phase": "Running", "qosClass": qos_class(&container["resources"])});
        if self.state == PodState::Pending {
            status["phase"] = json!("Pending");
            status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "lastTransitionTime": started, "reason": "Unschedulable",
                "message": format!("0/{count} nodes are available: {count} node(s) didn't match Pod's node affinity/selector. preemption: 0/{count} nodes are available: {count} Preemption is not helpful for scheduling.", count = self.seeder.variant.workers + 1)}]);
            return status;
        }
        let ready = self.state == PodState::Running;
        let ip = format!("10.244.{}.{}", self.node.position, self.pod_ip % 250);
        status["hostIP"] = json!(self.seeder.node_ip(self.node.position));
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
        status["startTime"] = json!(started);
        status["conditions"] = self.conditions(container, &started, ready);
        status["containerStatuses"] =
            json!([self.container_status(container, metadata, &started, ready)]);
        if self.state == PodState::Failed {
            status["phase"] = json!("Failed");
        }
        status
    }

    fn conditions(&self, container: &Value, started: &str, ready: bool) -> Value {
        let truth = |value: bool| if value { "True" } else { "False" };
        let not_ready = |kind: &str| {
            let reason = if self.state == PodState::Failed {
                "PodFailed"
            } else {
                "ContainersNotReady"
            };
            let message = format!(
                "containers with unready status: [{}]",
                container["name"].as_str().unwrap_or_default()
            );
            json!({"type": kind, "status": "False", "lastTransitionTime": started, "reason": reason, "message": message})
        };
        let ok =
            |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": started});
        json!([
            json!({"type": "PodReadyToStartContainers", "status": truth(self.state != PodState::Failed), "lastTransitionTime": started}),
            ok("Initialized"),
            if ready {
                ok("Ready")
            } else {
                not_ready("Ready")
            },
            if ready {
                ok("ContainersReady")
            } else {
                not_ready("ContainersReady")
            },
            ok("PodScheduled"),
        ])
    }

    fn container_status(
        &self,
        container: &Value,
        metadata: &Value,
        started: &str,
        ready: bool,
    ) -> Value {
        let image = container["image"].as_str().unwrap_or_default();
        let name = container["name"].as_str().unwrap_or_default();
        let container_id = format!(
            "containerd://{}",
            hex64(&format!("{}/{}", self.name, self.seeder.cluster_index))
        );
        let full_image = normalize_image(image);
        let repository = full_image
            .rsplit_once(':')
            .map_or(image, |(repository, _)| repository);
        let mut status = json!({
            "name": name,
            "image": full_image,
            "imageID": format!("{repository}@sha256:{}", hex64(image)),
            "containerID": container_id,
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "lastState": {},
            "state": {"running": {"startedAt": started}},
        });
        self.set_fault_state(&mut status, metadata, started);
        status
    }

    /// Replaces the running state with the waiting or terminated state of a faulty pod.
    fn set_fault_state(&self, status: &mut Value, metadata: &Value, started: &str) {
        let container_id = status["containerID"].clone();
        match self.state {
            PodState::CrashLoop {
                restarts,
                exit_code,
                reason,
            } => {
                let uid = metadata["uid"].as_str().unwrap_or_default();
                let pod = format!("{}_{}({uid})", self.name, self.namespace);
                let container = status["name"].as_str().unwrap_or_default().to_string();
                let message =
                    format!("back-off 5m0s restarting failed container={container} pod={pod}");
                status["restartCount"] = json!(restarts);
                status["state"] =
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": message}});
                status["lastState"] = json!({"terminated": {
                    "exitCode": exit_code,
                    "reason": reason,
                    "startedAt": self.seeder.hours_ago(11),
                    "finishedAt": self.seeder.hours_ago(10),
                    "containerID": container_id,
                }});
            }
            PodState::Failed => {
                status["state"] = json!({"terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": started,
                    "finishedAt": self.seeder.hours_ago(self.age_hours() - 1),
                    "containerID": container_id,
                }});
            }
            PodState::Running | PodState::Pending => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_normalization() {
        assert_eq!(
            normalize_image("nginx:1.27.3"),
            "docker.io/library/nginx:1.27.3"
        );
        assert_eq!(
            normalize_image("prom/prometheus:v2.53.0"),
            "docker.io/prom/prometheus:v2.53.0"
        );
        assert_eq!(
            normalize_image("ghcr.io/example/cart"),
            "ghcr.io/example/cart:latest"
        );
        assert_eq!(
            normalize_image("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
    }

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(pull_policy("nginx:1.27.3"), "IfNotPresent");
        assert_eq!(pull_policy("ghcr.io/example/cart"), "Always");
        assert_eq!(pull_policy("api:latest"), "Always");
        assert_eq!(pull_policy("localhost:5000/app"), "Always");
    }
}
