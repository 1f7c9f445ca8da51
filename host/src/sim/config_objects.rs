//! Seeded ConfigMaps, Secrets and Services. Each is created only in clusters whose
//! variant has its namespace (see [`super::seed`]).

use serde_json::{Map, Value, json};

use super::base64;
use super::seed::Seeder;

struct ConfigMapSeed {
    namespace: &'static str,
    name: &'static str,
    age_hours: i64,
    data: &'static [(&'static str, &'static str)],
}

const CONFIG_MAPS: &[ConfigMapSeed] = &[
    ConfigMapSeed {
        namespace: "kube-system",
        name: "coredns",
        age_hours: 720,
        data: &[(
            "Corefile",
            ".:53 {\n    errors\n    health\n    kubernetes cluster.local in-addr.arpa ip6.arpa\n    forward . /etc/resolv.conf\n    cache 30\n}\n",
        )],
    },
    ConfigMapSeed {
        namespace: "shop",
        name: "web-config",
        age_hours: 360,
        data: &[
            ("nginx.conf", "worker_processes auto;\n"),
            ("upstreams", "cart:8080\n"),
        ],
    },
    ConfigMapSeed {
        namespace: "payments",
        name: "api-config",
        age_hours: 360,
        data: &[
            ("LOG_LEVEL", "info"),
            ("PAYMENT_PROVIDER_URL", "https://payments.example.com/v2"),
            ("RETRY_LIMIT", "3"),
        ],
    },
    ConfigMapSeed {
        namespace: "analytics",
        name: "ingest-config",
        age_hours: 360,
        data: &[("BATCH_SIZE", "500")],
    },
    ConfigMapSeed {
        namespace: "monitoring",
        name: "prometheus-config",
        age_hours: 360,
        data: &[("prometheus.yml", "global:\n  scrape_interval: 30s\n")],
    },
];

struct SecretSeed {
    namespace: &'static str,
    name: &'static str,
    secret_type: &'static str,
    data: &'static [(&'static str, &'static str)],
}

/// Secrets with placeholder values; nothing in them is a real credential.
const SECRETS: &[SecretSeed] = &[
    SecretSeed {
        namespace: "shop",
        name: "web-tls",
        secret_type: "kubernetes.io/tls",
        data: &[
            (
                "tls.crt",
                "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n",
            ),
            (
                "tls.key",
                "-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----\n",
            ),
        ],
    },
    SecretSeed {
        namespace: "payments",
        name: "api-credentials",
        secret_type: "Opaque",
        data: &[
            ("username", "payments"),
            ("password", "not-a-real-password"),
        ],
    },
    SecretSeed {
        namespace: "analytics",
        name: "warehouse-token",
        secret_type: "Opaque",
        data: &[("token", "not-a-real-token")],
    },
];

struct ServiceSeed {
    namespace: &'static str,
    name: &'static str,
    cluster_ip: &'static str,
    /// Ports as (name, port, protocol); the target port equals the port except for
    /// `kubernetes`, which targets 6443.
    ports: &'static [(&'static str, u16, &'static str)],
    /// Selector as (label key, label value), or `None` for a service without one.
    selector: Option<(&'static str, &'static str)>,
    age_hours: i64,
}

const SERVICES: &[ServiceSeed] = &[
    ServiceSeed {
        namespace: "default",
        name: "kubernetes",
        cluster_ip: "10.96.0.1",
        ports: &[("https", 443, "TCP")],
        selector: None,
        age_hours: 720,
    },
    ServiceSeed {
        namespace: "kube-system",
        name: "kube-dns",
        cluster_ip: "10.96.0.10",
        ports: &[
            ("dns", 53, "UDP"),
            ("dns-tcp", 53, "TCP"),
            ("metrics", 9153, "TCP"),
        ],
        selector: Some(("k8s-app", "kube-dns")),
        age_hours: 720,
    },
    ServiceSeed {
        namespace: "shop",
        name: "web",
        cluster_ip: "10.96.12.40",
        ports: &[("http", 80, "TCP")],
        selector: Some(("app", "web")),
        age_hours: 480,
    },
    ServiceSeed {
        namespace: "payments",
        name: "api",
        cluster_ip: "10.96.34.7",
        ports: &[("http", 8080, "TCP")],
        selector: Some(("app", "api")),
        age_hours: 480,
    },
    ServiceSeed {
        namespace: "monitoring",
        name: "prometheus",
        cluster_ip: "10.96.56.90",
        ports: &[("web", 9090, "TCP")],
        selector: Some(("app", "prometheus")),
        age_hours: 480,
    },
];

/// Seeds the config maps whose namespace exists.
pub(crate) fn seed_config_maps(seeder: &Seeder<'_>) {
    for seed in CONFIG_MAPS
        .iter()
        .filter(|seed| seeder.has_namespace(seed.namespace))
    {
        let data: Map<String, Value> = seed
            .data
            .iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect();
        let metadata = seeder.metadata(seed.namespace, seed.name, seed.age_hours);
        seeder.put(json!({"kind": "ConfigMap", "metadata": metadata, "data": data}));
    }
}

/// Seeds the secrets whose namespace exists, with base64-encoded data as the API stores it.
pub(crate) fn seed_secrets(seeder: &Seeder<'_>) {
    for seed in SECRETS
        .iter()
        .filter(|seed| seeder.has_namespace(seed.namespace))
    {
        let data: Map<String, Value> = seed
            .data
            .iter()
            .map(|(key, value)| (key.to_string(), json!(base64::encode(value.as_bytes()))))
            .collect();
        let metadata = seeder.metadata(seed.namespace, seed.name, 360);
        seeder.put(
            json!({"kind": "Secret", "metadata": metadata, "type": seed.secret_type, "data": data}),
        );
    }
}

/// Seeds the ClusterIP services whose namespace exists.
pub(crate) fn seed_services(seeder: &Seeder<'_>) {
    for seed in SERVICES
        .iter()
        .filter(|seed| seeder.has_namespace(seed.namespace))
    {
        let ports: Vec<Value> = seed
            .ports
            .iter()
            .map(|(name, port, protocol)| {
                let target = if seed.name == "kubernetes" {
                    6443
                } else {
                    *port
                };
                json!({"name": name, "port": port, "protocol": protocol, "targetPort": target})
            })
            .collect();
        let mut spec = json!({
            "type": "ClusterIP",
            "clusterIP": seed.cluster_ip,
            "clusterIPs": [seed.cluster_ip],
            "ports": ports,
            "sessionAffinity": "None",
        });
        if let Some((key, value)) = seed.selector {
            spec["selector"] = json!({key: value});
        }
        let metadata = seeder.metadata(seed.namespace, seed.name, seed.age_hours);
        seeder.put(json!({"kind": "Service", "metadata": metadata, "spec": spec, "status": {"loadBalancer": {}}}));
    }
}
