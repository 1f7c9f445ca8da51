//! End-to-end checks of the fleet with kube's own client: TLS through the
//! generated kubeconfig, discovery, list paging, writes, and traffic counters.

use http::{HeaderName, HeaderValue};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, Discovery};
use serde_json::json;

use super::{CLIENT_HEADER, Fleet, FleetOptions, Listen, UserAuth};

async fn client(kubeconfig: Kubeconfig, context: &str, client_id: &str) -> Client {
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap();
    config.headers.push((
        HeaderName::from_static(CLIENT_HEADER),
        HeaderValue::from_str(client_id).unwrap(),
    ));
    Client::try_from(config).unwrap()
}

async fn two_clusters() -> Fleet {
    Fleet::start(FleetOptions {
        clusters: 2,
        ..FleetOptions::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn zero_clusters_rejected() {
    let result = Fleet::start(FleetOptions {
        clusters: 0,
        ..FleetOptions::default()
    })
    .await;
    assert!(matches!(
        result,
        Err(super::SimError::NoClusters { clusters: 0 })
    ));
}

#[tokio::test]
async fn kubeconfig_contexts() {
    let fleet = two_clusters().await;
    let kubeconfig = fleet.kubeconfig();
    assert_eq!(fleet.cluster_names(), ["sim-1", "sim-2"]);
    assert_eq!(kubeconfig.current_context.as_deref(), Some("sim-1"));
    let contexts: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|context| context.name.as_str())
        .collect();
    assert_eq!(contexts, ["sim-1", "sim-2"]);
    let server = kubeconfig.clusters[1]
        .cluster
        .as_ref()
        .unwrap()
        .server
        .clone()
        .unwrap();
    assert_eq!(Some(server), fleet.cluster_url("sim-2"));
    fleet.shutdown().await;
}

#[tokio::test]
async fn kubeconfig_file_mode() {
    let fleet = two_clusters().await;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("kubeconfig");
    fleet.write_kubeconfig(&path).unwrap();
    let parsed = Kubeconfig::read_from(&path).unwrap();
    assert_eq!(parsed.contexts.len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let leftovers = std::fs::read_dir(folder.path()).unwrap().count();
    assert_eq!(leftovers, 1);
    fleet.shutdown().await;
}

#[tokio::test]
async fn kube_client_lists_and_counts() {
    let fleet = two_clusters().await;
    let kube = client(fleet.kubeconfig(), "sim-2", "sim-2/1").await;
    let namespaces: Api<Namespace> = Api::all(kube.clone());
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|namespace| namespace.metadata.name)
        .collect();
    assert_eq!(
        names,
        ["analytics", "default", "kube-system", "payments", "shop"]
    );

    let other = client(fleet.kubeconfig(), "sim-2", "sim-2/2").await;
    let pods: Api<Pod> = Api::all(other);
    let pending = pods
        .list(&ListParams::default().fields("status.phase=Pending"))
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 1);

    let counts = fleet.counts("sim-2").unwrap();
    assert_eq!(counts.requests, 2);
    assert_eq!(counts.clients, 2);
    assert!(counts.connections >= 2);
    assert_eq!(fleet.counts("sim-1").unwrap().requests, 0);
    assert_eq!(fleet.counts("sim-9"), None);
    fleet.shutdown().await;
}

#[tokio::test]
async fn kube_client_pages() {
    let fleet = two_clusters().await;
    let pods: Api<Pod> = Api::all(client(fleet.kubeconfig(), "sim-1", "sim-1/1").await);
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(4);
    loop {
        let page = pods.list(&params).await.unwrap();
        assert!(page.items.len() <= 4);
        names.extend(page.items.into_iter().filter_map(|pod| pod.metadata.name));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(names.len(), 11);
    fleet.shutdown().await;
}

#[tokio::test]
async fn kube_client_discovery() {
    let fleet = two_clusters().await;
    let kube = client(fleet.kubeconfig(), "sim-1", "sim-1/1").await;
    let discovery = Discovery::new(kube).run().await.unwrap();
    let apps = discovery.get("apps").unwrap();
    let kinds: Vec<String> = apps
        .recommended_resources()
        .into_iter()
        .map(|(resource, _)| resource.kind)
        .collect();
    assert_eq!(kinds, ["Deployment", "ReplicaSet"]);
    fleet.shutdown().await;
}

#[tokio::test]
async fn kube_client_writes() {
    let fleet = two_clusters().await;
    let kube = client(fleet.kubeconfig(), "sim-1", "sim-1/1").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(kube.clone(), "shop");
    let mut config_map: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "flags-"}, "data": {"a": "1"}}))
            .unwrap();
    let created = config_maps
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let name = created.metadata.name.clone().unwrap();
    assert!(
        name.starts_with("flags-") && name.len() == "flags-".len() + 5,
        "{name}"
    );
    assert_eq!(created.metadata.namespace.as_deref(), Some("shop"));

    let patch = Patch::Merge(json!({"data": {"b": "2"}}));
    let patched = config_maps
        .patch(&name, &PatchParams::default(), &patch)
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap().len(), 2);

    config_map.metadata = created.metadata.clone();
    let error = config_maps
        .replace(&name, &PostParams::default(), &config_map)
        .await
        .unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref status) if status.code == 409),
        "{error}"
    );

    config_maps
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let error = config_maps.get(&name).await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref status) if status.code == 404),
        "{error}"
    );
    fleet.shutdown().await;
}

/// Sends a JSON patch (kube's typed `Patch::Json` needs a feature this crate does not enable).
async fn json_patch(
    kube: &Client,
    path: &str,
    operations: serde_json::Value,
) -> Result<Deployment, kube::Error> {
    let request = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(serde_json::to_vec(&operations).unwrap())
        .unwrap();
    kube.request(request).await
}

#[tokio::test]
async fn json_patch_and_dry_run() {
    let fleet = two_clusters().await;
    let kube = client(fleet.kubeconfig(), "sim-1", "sim-1/1").await;
    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), "shop");
    let path = "/apis/apps/v1/namespaces/shop/deployments/web";
    let operations = json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]);

    let preview = json_patch(&kube, &format!("{path}?dryRun=All"), operations.clone())
        .await
        .unwrap();
    assert_eq!(preview.spec.unwrap().replicas, Some(5));
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );

    let applied = json_patch(&kube, path, operations).await.unwrap();
    assert_eq!(applied.metadata.generation, Some(2));

    let failing = json!([{"op": "test", "path": "/spec/replicas", "value": 9}]);
    let error = json_patch(&kube, path, failing).await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref status) if status.code == 422),
        "{error}"
    );
    fleet.shutdown().await;
}

#[tokio::test]
async fn control_endpoint_counts() {
    let fleet = two_clusters().await;
    let response = plain_get(fleet.control_addr(), "/clusters").await;
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    let counts: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        counts["sim-1"],
        json!({
            "connections": 0,
            "tls_handshakes": 0,
            "requests": 0,
            "unauthorized": 0,
            "clients": 0,
            "requests_by_verb": {},
            "requests_by_verb_path": {},
            "requests_by_impersonated_user": {},
            "watches_open": 0,
            "watches_started": 0,
        })
    );
    assert!(counts["sim-2"].is_object());
    fleet.shutdown().await;
}

async fn plain_get(address: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn request_latency_delays_replies() {
    let options = FleetOptions {
        clusters: 1,
        request_latency: std::time::Duration::from_millis(150),
        ..FleetOptions::default()
    };
    let fleet = Fleet::start(options).await.unwrap();
    let kube = client(fleet.kubeconfig(), "sim-1", "sim-1/1").await;
    let started = std::time::Instant::now();
    kube.apiserver_version().await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    fleet.shutdown().await;
}

#[tokio::test]
async fn client_certificate_on_shared_port() {
    let fleet = Fleet::start(FleetOptions {
        clusters: 2,
        listen: Listen::SharedPort,
        ..FleetOptions::default()
    })
    .await
    .unwrap();
    let kubeconfig = fleet
        .kubeconfig_with_auth(UserAuth::ClientCertificate)
        .unwrap();
    let kube = client(kubeconfig, "sim-2", "sim-2/1").await;
    let pods: Api<Pod> = Api::all(kube);
    let listed = pods.list(&ListParams::default()).await.unwrap();
    assert!(!listed.items.is_empty());
    let counts = fleet.counts("sim-2").unwrap();
    assert_eq!(counts.unauthorized, 0);
    assert_eq!(counts.requests_by_verb_path["list /api/v1/pods"], 1);
    fleet.shutdown().await;
}

#[tokio::test]
async fn certificate_of_other_authority_fails_handshake() {
    let fleet = two_clusters().await;
    let other = two_clusters().await;
    let mut kubeconfig = fleet
        .kubeconfig_with_auth(UserAuth::ClientCertificate)
        .unwrap();
    kubeconfig.auth_infos = other
        .kubeconfig_with_auth(UserAuth::ClientCertificate)
        .unwrap()
        .auth_infos;
    let kube = client(kubeconfig, "sim-1", "sim-1/1").await;
    let error = kube.apiserver_version().await.unwrap_err();
    assert!(!matches!(error, kube::Error::Api(_)), "{error}");
    let counts = fleet.counts("sim-1").unwrap();
    assert!(counts.connections >= 1, "{counts:?}");
    assert_eq!(counts.tls_handshakes, 0, "{counts:?}");
    assert_eq!(counts.requests, 0, "{counts:?}");
    other.shutdown().await;
    fleet.shutdown().await;
}

#[tokio::test]
async fn missing_credentials_counted_unauthorized() {
    let fleet = two_clusters().await;
    let mut kubeconfig = fleet.kubeconfig();
    kubeconfig.auth_infos[0].auth_info = Some(Default::default());
    let kube = client(kubeconfig, "sim-1", "sim-1/1").await;
    let error = kube.apiserver_version().await.unwrap_err();
    assert!(
        matches!(error, kube::Error::Api(ref status) if status.code == 401),
        "{error}"
    );
    let counts = fleet.counts("sim-1").unwrap();
    assert_eq!(counts.unauthorized, 1, "{counts:?}");
    assert_eq!(counts.requests, 1, "{counts:?}");
    fleet.shutdown().await;
}
