//! The catalog of API resources that every simulated cluster serves.
//!
//! Discovery, OpenAPI, routing, tables and selectors all read this one list, so
//! adding a resource here makes it appear everywhere at once.

/// Verbs every served resource supports. `deletecollection` is absent because the
/// simulator does not implement it, and clients read this list.
pub(crate) const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// One API resource: its group, version, names and scope.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ResourceType {
    /// API group, empty for the core group.
    pub(crate) group: &'static str,
    /// API version within the group.
    pub(crate) version: &'static str,
    /// Plural resource name used in paths, such as `pods`.
    pub(crate) plural: &'static str,
    /// Singular resource name, such as `pod`.
    pub(crate) singular: &'static str,
    /// Kind of the objects, such as `Pod`.
    pub(crate) kind: &'static str,
    /// Whether objects live in a namespace.
    pub(crate) namespaced: bool,
    /// Short names that kubectl accepts, such as `po`.
    pub(crate) short_names: &'static [&'static str],
    /// Categories, such as `all`.
    pub(crate) categories: &'static [&'static str],
    /// Whether `status` is a subresource, so writes to the main resource keep the stored status.
    pub(crate) has_status: bool,
    /// Rule that object names must follow.
    pub(crate) name_rule: NameRule,
    /// Extra Table columns of a custom resource (`additionalPrinterColumns`); empty
    /// for built-in kinds, whose columns the `table` module defines.
    pub(crate) printer_columns: &'static [PrinterColumn],
}

/// One `additionalPrinterColumns` entry of a CustomResourceDefinition version.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PrinterColumn {
    /// Column name, such as `Size`.
    pub(crate) name: &'static str,
    /// OpenAPI type of the cells, such as `string` or `integer`.
    pub(crate) kind: &'static str,
    /// Simple JSON path of the value, such as `.spec.size`.
    pub(crate) json_path: &'static str,
    /// Column description.
    pub(crate) description: &'static str,
    /// Priority; kubectl shows priority 0 columns by default and the others with `-o wide`.
    pub(crate) priority: u8,
}

/// Naming rule for object names, as kube-apiserver validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// RFC 1123 subdomain: lowercase alphanumerics, `-` and `.`, at most 253 characters.
    Subdomain,
    /// RFC 1123 label: lowercase alphanumerics and `-`, at most 63 characters.
    Label,
    /// RFC 1035 label: an RFC 1123 label that starts with a letter.
    Rfc1035Label,
}

/// Identity of a resource within a cluster: its group and plural name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ResourceId {
    /// API group, empty for the core group.
    pub(crate) group: &'static str,
    /// Plural resource name.
    pub(crate) plural: &'static str,
}

impl ResourceType {
    /// Returns whether the resource is one of the built-in [`RESOURCES`], not one a
    /// CustomResourceDefinition defines.
    pub(crate) fn is_builtin(&self) -> bool {
        RESOURCES.iter().any(|known| std::ptr::eq(known, self))
    }

    /// Returns the group and plural name that identify the resource.
    pub(crate) fn id(&self) -> ResourceId {
        ResourceId {
            group: self.group,
            plural: self.plural,
        }
    }

    /// Returns `group/version`, or `version` for the core group.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Returns the plural name qualified by its group, as error messages spell it
    /// (`pods`, `deployments.apps`).
    pub(crate) fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Returns the path prefix of the group version, such as `/api/v1` or `/apis/apps/v1`.
    pub(crate) fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

const CORE: &str = "";
const APPS: &str = "apps";
const API_EXTENSIONS: &str = "apiextensions.k8s.io";

/// Every resource the simulator serves, in discovery order.
pub(crate) static RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: CORE,
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        has_status: false,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
    ResourceType {
        group: CORE,
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        has_status: true,
        name_rule: NameRule::Label,
        printer_columns: &[],
    },
    ResourceType {
        group: CORE,
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: &[],
        has_status: true,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
    ResourceType {
        group: CORE,
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        has_status: true,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
    ResourceType {
        group: CORE,
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        has_status: false,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
    ResourceType {
        group: CORE,
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        has_status: true,
        name_rule: NameRule::Rfc1035Label,
        printer_columns: &[],
    },
    ResourceType {
        group: APPS,
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        has_status: true,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
    ResourceType {
        group: APPS,
        version: "v1",
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        has_status: true,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
    ResourceType {
        group: API_EXTENSIONS,
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        has_status: true,
        name_rule: NameRule::Subdomain,
        printer_columns: &[],
    },
];

/// Finds the built-in resource served at `group`/`version` under the plural name `plural`.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|resource| {
        resource.group == group && resource.version == version && resource.plural == plural
    })
}

/// Finds the built-in resource of `kind`.
pub(crate) fn by_kind(kind: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|resource| resource.kind == kind)
}

/// Returns the CustomResourceDefinition resource.
pub(crate) fn custom_resource_definitions() -> &'static ResourceType {
    find(API_EXTENSIONS, "v1", "customresourcedefinitions").expect("CRDs are in the catalog")
}

/// Returns the Namespace resource.
pub(crate) fn namespaces() -> &'static ResourceType {
    find(CORE, "v1", "namespaces").expect("namespaces are in the catalog")
}

/// Lists the group versions of `resources` as `(group, version)` in their order,
/// without repeats.
pub(crate) fn group_versions(
    resources: &[&'static ResourceType],
) -> Vec<(&'static str, &'static str)> {
    let mut versions: Vec<(&'static str, &'static str)> = Vec::new();
    for resource in resources {
        let pair = (resource.group, resource.version);
        if !versions.contains(&pair) {
            versions.push(pair);
        }
    }
    versions
}
