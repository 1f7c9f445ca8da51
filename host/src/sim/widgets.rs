//! The Widget custom resource: the `widgets.example.com` CustomResourceDefinition
//! (kind Widget, short name `wg`, namespaced, version `example.com/v1`) and the
//! widgets seeded on clusters whose profile defines it.
//!
//! Widgets live in `shop`, or in `default` on clusters without `shop`. Their count
//! depends on the cluster: `1 + index % 3` of the names alpha, beta and gamma, so
//! `sim-1` has alpha and beta and `sim-3` has alpha alone. Each widget is 5 days
//! old with `spec.size` and `spec.color`, which the Table columns show.

use serde_json::{Value, json};

use super::seed::Seeder;

/// Name, size and color of the widgets a cluster may get, in seeding order.
const WIDGETS: [(&str, u32, &str); 3] = [
    ("alpha", 3, "red"),
    ("beta", 5, "blue"),
    ("gamma", 8, "green"),
];

/// Age of the definition and of every widget, in hours before the fleet started.
const AGE_HOURS: i64 = 120;

/// Stores the Widget definition and this cluster's widgets.
pub(crate) fn seed_widgets(seeder: &Seeder<'_>) {
    let mut metadata = seeder.metadata("", "widgets.example.com", AGE_HOURS);
    metadata["generation"] = json!(1);
    let mut definition = json!({
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": definition_spec(),
    });
    definition["status"] = super::crd::accepted_status(&definition);
    seeder.put(definition);

    let namespace = if seeder.has_namespace("shop") {
        "shop"
    } else {
        "default"
    };
    let count = 1 + seeder.cluster_index % WIDGETS.len();
    for (name, size, color) in WIDGETS.into_iter().take(count) {
        let mut metadata = seeder.metadata(namespace, name, AGE_HOURS);
        metadata["generation"] = json!(1);
        metadata["labels"] = json!({"tier": if size > 4 { "large" } else { "small" }});
        seeder.put(json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": metadata,
            "spec": {"size": size, "color": color},
        }));
    }
}

/// Returns the definition's spec, with the schema and printer columns that
/// `kubectl get widgets` and `kubectl explain` read.
pub(crate) fn definition_spec() -> Value {
    let schema = json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "color": {"type": "string"},
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        },
    });
    json!({
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["wg"]},
        "versions": [{
            "name": "v1",
            "served": true,
            "storage": true,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
        }],
        "conversion": {"strategy": "None"},
    })
}
