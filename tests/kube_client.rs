//! The simulated fleet through kube's own client and runtime: discovery in both
//! formats, the Widget custom resource, watches, server-side apply, dry runs,
//! replace conflicts, strategic merge patches, and a `watcher` that relists after
//! the cluster's event history is compacted.
//!
//! Each test starts a fleet of four clusters in process: `sim-1` (v1.32.4, with
//! widgets), `sim-2` (v1.32.4, without) and `sim-4` (v1.31.6, with widgets).

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams, WatchEvent, WatchParams,
};
use kube::config::KubeConfigOptions;
use kube::runtime::watcher;
use kube::{Api, Client, Config, Discovery};
use lazyhost::sim::{Fleet, FleetOptions};
use serde_json::json;

async fn fleet() -> Fleet {
    Fleet::start(FleetOptions {
        clusters: 4,
        ..FleetOptions::default()
    })
    .await
    .expect("fleet starts")
}

async fn client(fleet: &Fleet, context: &str) -> Client {
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(fleet.kubeconfig(), &options)
        .await
        .expect("kubeconfig is valid");
    Client::try_from(config).expect("client builds")
}

fn widget_gvk() -> GroupVersionKind {
    GroupVersionKind::gvk("example.com", "v1", "Widget")
}

fn api_error(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other}"),
    }
}

fn config_map(name: &str, color: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
        "data": {"color": color},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_both_formats() {
    let fleet = fleet().await;
    for (context, has_widgets) in [("sim-1", true), ("sim-2", false), ("sim-4", true)] {
        let client = client(&fleet, context).await;
        let legacy = Discovery::new(client.clone()).run().await.unwrap();
        let aggregated = Discovery::new(client).run_aggregated().await.unwrap();
        for discovery in [&legacy, &aggregated] {
            assert!(discovery.has_group("apps"), "{context}");
            assert!(discovery.has_group("apiextensions.k8s.io"), "{context}");
            assert_eq!(discovery.has_group("example.com"), has_widgets, "{context}");
            let resolved = discovery.resolve_gvk(&widget_gvk());
            assert_eq!(resolved.is_some(), has_widgets, "{context}");
            if let Some((resource, capabilities)) = resolved {
                assert_eq!(resource.plural, "widgets");
                assert!(capabilities.supports_operation("watch"));
            }
        }
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_versions_differ() {
    let fleet = fleet().await;
    let expected = [
        ("sim-1", "v1.32.4"),
        ("sim-2", "v1.32.4"),
        ("sim-4", "v1.31.6"),
    ];
    for (context, version) in expected {
        let info = client(&fleet, context)
            .await
            .apiserver_version()
            .await
            .unwrap();
        assert_eq!(info.git_version, version, "{context}");
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widgets_through_dynamic_api() {
    let fleet = fleet().await;
    let client = client(&fleet, "sim-4").await;
    let resource = ApiResource::from_gvk_with_plural(&widget_gvk(), "widgets");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, "shop", &resource);

    let names: Vec<String> = widgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|widget| widget.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let delta: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "delta"}, "spec": {"size": 2, "color": "black"},
    }))
    .unwrap();
    let created = widgets
        .create(&PostParams::default(), &delta)
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let patch = Patch::Merge(json!({"spec": {"size": 4}}));
    let patched = widgets
        .patch("delta", &PatchParams::default(), &patch)
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["size"], 4);
    assert_eq!(patched.metadata.generation, Some(2));
    let relabeled = widgets
        .patch(
            "delta",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(relabeled.metadata.generation, Some(2));
    widgets
        .delete("delta", &DeleteParams::default())
        .await
        .unwrap();
    let missing = api_error(widgets.get("delta").await.unwrap_err());
    assert_eq!(missing.message, "widgets.example.com \"delta\" not found");

    let other = Api::<DynamicObject>::namespaced_with(
        self::client(&fleet, "sim-2").await,
        "shop",
        &resource,
    );
    let absent = api_error(other.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(absent.code, 404);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_each_write() {
    let fleet = fleet().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client(&fleet, "sim-1").await, "shop");
    let list = config_maps.list(&ListParams::default()).await.unwrap();
    let version = list.metadata.resource_version.unwrap();
    let params = WatchParams::default().timeout(5);
    let mut events = config_maps.watch(&params, &version).await.unwrap().boxed();

    let settings: ConfigMap = serde_json::from_value(config_map("settings", "blue")).unwrap();
    config_maps
        .create(&PostParams::default(), &settings)
        .await
        .unwrap();
    let patch = Patch::Merge(json!({"data": {"color": "red"}}));
    config_maps
        .patch("settings", &PatchParams::default(), &patch)
        .await
        .unwrap();
    config_maps
        .delete("settings", &DeleteParams::default())
        .await
        .unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        match events
            .try_next()
            .await
            .unwrap()
            .expect("the stream stays open")
        {
            WatchEvent::Added(object) => {
                seen.push(("ADDED", object.data.unwrap()["color"].clone()))
            }
            WatchEvent::Modified(object) => {
                seen.push(("MODIFIED", object.data.unwrap()["color"].clone()))
            }
            WatchEvent::Deleted(object) => {
                seen.push(("DELETED", object.data.unwrap()["color"].clone()))
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(error) => panic!("watch failed: {error:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            ("ADDED", "blue".to_string()),
            ("MODIFIED", "red".to_string()),
            ("DELETED", "red".to_string())
        ]
    );
    assert_eq!(fleet.counts("sim-1").unwrap().watches_open, 1);
    drop(events);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_from_compacted_version_expires() {
    let fleet = fleet().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client(&fleet, "sim-2").await, "shop");
    let settings: ConfigMap = serde_json::from_value(config_map("settings", "blue")).unwrap();
    let created = config_maps
        .create(&PostParams::default(), &settings)
        .await
        .unwrap();
    let old_version = created.metadata.resource_version.unwrap();
    config_maps
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "b"}})),
        )
        .await
        .unwrap();
    let compacted = fleet.compact("sim-2").unwrap();

    let mut events = config_maps
        .watch(&WatchParams::default().timeout(5), &old_version)
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Error(error)) => {
            assert_eq!(error.code, 410);
            assert_eq!(error.reason, "Expired");
            assert_eq!(
                error.message,
                format!("too old resource version: {old_version} ({compacted})")
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    assert!(events.try_next().await.unwrap().is_none());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_compaction() {
    let fleet = fleet().await;
    let client = client(&fleet, "sim-1").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let config = watcher::Config::default().timeout(1).disable_bookmarks();
    let mut events = watcher(config_maps, config).boxed();
    let mut relists = 0;
    let mut expired = 0;
    let mut compacted = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while relists < 2 {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the watcher relists within 20 seconds")
            .expect("the watcher stream never ends");
        match event {
            Ok(watcher::Event::Init) => relists += 1,
            Ok(watcher::Event::InitDone) if !compacted => {
                // A write the watcher does not see, then compaction: its next watch
                // starts from a resourceVersion that the history no longer has.
                let secrets: Api<Secret> = Api::namespaced(client.clone(), "shop");
                let secret: Secret =
                    serde_json::from_value(json!({"metadata": {"name": "unseen"}})).unwrap();
                secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap();
                fleet.compact("sim-1").unwrap();
                compacted = true;
            }
            Ok(_) => {}
            Err(error) => {
                assert!(
                    error.to_string().contains("too old resource version"),
                    "{error}"
                );
                expired += 1;
            }
        }
    }
    assert_eq!(relists, 2);
    assert_eq!(expired, 1);
    assert!(fleet.counts("sim-1").unwrap().watches_started >= 1);
    drop(events);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts() {
    let fleet = fleet().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client(&fleet, "sim-4").await, "shop");
    let first = PatchParams::apply("first");
    let applied = config_maps
        .patch(
            "settings",
            &first,
            &Patch::Apply(config_map("settings", "blue")),
        )
        .await
        .unwrap();
    let version = applied.metadata.resource_version.clone();
    let again = config_maps
        .patch(
            "settings",
            &first,
            &Patch::Apply(config_map("settings", "blue")),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version, version,
        "a repeated apply changes nothing"
    );
    let managers = again.metadata.managed_fields.unwrap();
    assert_eq!(managers.len(), 1);
    assert_eq!(managers[0].manager.as_deref(), Some("first"));
    assert_eq!(managers[0].operation.as_deref(), Some("Apply"));

    let second = PatchParams::apply("second");
    let conflict = api_error(
        config_maps
            .patch(
                "settings",
                &second,
                &Patch::Apply(config_map("settings", "red")),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    assert_eq!(conflict.reason, "Conflict");
    assert_eq!(
        conflict.message,
        "Apply failed with 1 conflict: conflict with \"first\": .data.color"
    );

    let forced = config_maps
        .patch(
            "settings",
            &second.clone().force(),
            &Patch::Apply(config_map("settings", "red")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["color"], "red");
    let missing_manager = api_error(
        config_maps
            .patch(
                "settings",
                &PatchParams::default(),
                &Patch::Apply(config_map("settings", "red")),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(missing_manager.code, 422);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_stores_nothing() {
    let fleet = fleet().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client(&fleet, "sim-1").await, "shop");
    let before = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version;
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let settings: ConfigMap = serde_json::from_value(config_map("settings", "blue")).unwrap();
    let returned = config_maps.create(&dry, &settings).await.unwrap();
    assert_eq!(returned.data.unwrap()["color"], "blue");
    assert_eq!(
        api_error(config_maps.get("settings").await.unwrap_err()).code,
        404
    );

    let dry_patch = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let patch = Patch::Merge(json!({"data": {"extra": "1"}}));
    let patched = config_maps
        .patch("web-config", &dry_patch, &patch)
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap()["extra"], "1");
    let applied = config_maps
        .patch(
            "settings",
            &PatchParams::apply("me").dry_run(),
            &Patch::Apply(config_map("settings", "blue")),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.name.as_deref(), Some("settings"));
    let dry_delete = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    config_maps.delete("web-config", &dry_delete).await.unwrap();

    let stored = config_maps.get("web-config").await.unwrap();
    assert!(!stored.data.unwrap().contains_key("extra"));
    assert_eq!(
        api_error(config_maps.get("settings").await.unwrap_err()).code,
        404
    );
    let after = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_eq!(before, after);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_with_stale_version_conflicts() {
    let fleet = fleet().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client(&fleet, "sim-2").await, "shop");
    let stale = config_maps.get("web-config").await.unwrap();
    config_maps
        .patch(
            "web-config",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "b"}})),
        )
        .await
        .unwrap();
    let conflict = api_error(
        config_maps
            .replace("web-config", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    assert_eq!(
        conflict.message,
        "Operation cannot be fulfilled on configmaps \"web-config\": the object has been modified; please apply your changes to the latest version and try again"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategic_patch_directives() {
    let fleet = fleet().await;
    let deployments: Api<Deployment> = Api::namespaced(client(&fleet, "sim-1").await, "shop");
    let before = deployments.get("web").await.unwrap();
    let generation = before.metadata.generation.unwrap();
    let patch = Patch::Strategic(json!({"spec": {"template": {"spec": {
        "containers": [{"name": "web", "image": "nginx:1.28.0", "env": [{"name": "MODE", "value": "prod"}]}],
        "$setElementOrder/containers": [{"name": "web"}],
    }}}}));
    let patched = deployments
        .patch("web", &PatchParams::default(), &patch)
        .await
        .unwrap();
    let spec = patched.spec.unwrap().template.spec.unwrap();
    assert_eq!(spec.containers.len(), 1);
    assert_eq!(spec.containers[0].image.as_deref(), Some("nginx:1.28.0"));
    assert!(
        spec.containers[0].resources.is_some(),
        "the merge keeps unpatched fields"
    );
    assert_eq!(patched.metadata.generation, Some(generation + 1));

    let remove_env = Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "MODE", "$patch": "delete"}]}
    ]}}}}));
    let patched = deployments
        .patch("web", &PatchParams::default(), &remove_env)
        .await
        .unwrap();
    let container = &patched.spec.unwrap().template.spec.unwrap().containers[0];
    assert!(
        container.env.as_ref().is_none_or(Vec::is_empty),
        "{container:?}"
    );
    fleet.shutdown().await;
}

/// Collects the type and name of the next `count` events, skipping bookmarks.
async fn next_events<K: kube::Resource>(
    events: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<K>>> + Unpin),
    count: usize,
) -> Vec<(&'static str, String)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .expect("an event arrives within 5 seconds")
            .unwrap()
            .expect("the stream stays open");
        let (kind, object) = match event {
            WatchEvent::Added(object) => ("ADDED", object),
            WatchEvent::Modified(object) => ("MODIFIED", object),
            WatchEvent::Deleted(object) => ("DELETED", object),
            WatchEvent::Bookmark(_) => continue,
            WatchEvent::Error(error) => panic!("watch failed: {error:?}"),
        };
        seen.push((kind, object.meta().name.clone().unwrap_or_default()));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_selector_and_namespace_cascade() {
    let fleet = fleet().await;
    let client = client(&fleet, "sim-1").await;
    let all_config_maps: Api<ConfigMap> = Api::all(client.clone());
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let version = all_config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let front = WatchParams::default().labels("tier=front").timeout(10);
    let mut selected = all_config_maps
        .watch(&front, &version)
        .await
        .unwrap()
        .boxed();
    let mut every = all_config_maps
        .watch(&WatchParams::default().timeout(10), &version)
        .await
        .unwrap()
        .boxed();
    let mut namespace_events = namespaces
        .watch(&WatchParams::default().timeout(10), &version)
        .await
        .unwrap()
        .boxed();

    let shop: Api<ConfigMap> = Api::namespaced(client, "shop");
    let mut labeled = config_map("labeled", "blue");
    labeled["metadata"]["labels"] = json!({"tier": "front"});
    shop.create(
        &PostParams::default(),
        &serde_json::from_value(labeled).unwrap(),
    )
    .await
    .unwrap();
    for tier in ["back", "front"] {
        let patch = Patch::Merge(json!({"metadata": {"labels": {"tier": tier}}}));
        shop.patch("labeled", &PatchParams::default(), &patch)
            .await
            .unwrap();
    }
    let selected_events = next_events(&mut selected, 3).await;
    let expected = [
        ("ADDED", "labeled"),
        ("DELETED", "labeled"),
        ("ADDED", "labeled"),
    ];
    assert_eq!(
        selected_events,
        expected.map(|(kind, name)| (kind, name.to_string()))
    );

    namespaces
        .delete("payments", &DeleteParams::default())
        .await
        .unwrap();
    let namespace_deleted = next_events(&mut namespace_events, 1).await;
    assert_eq!(namespace_deleted, [("DELETED", "payments".to_string())]);
    let config_map_events = next_events(&mut every, 4).await;
    assert_eq!(config_map_events[3], ("DELETED", "api-config".to_string()));
    assert_eq!(fleet.counts("sim-1").unwrap().watches_open, 3);
    fleet.shutdown().await;
}
