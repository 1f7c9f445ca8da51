//! What a plugin may do on the clusters it runs on.
//!
//! A plugin reads every resource but Secrets unless its operator grants
//! more. Writes need the `write` grant: create, patch, delete, and any raw
//! request other than GET or HEAD. Secrets need the `secrets` grant, and
//! namespaces can be limited to a list. Subresources that run commands in
//! workloads, reach into them or mint credentials are denied unless
//! granted by name: `pods/exec`, `pods/attach`, `pods/portforward`, the
//! `proxy` subresources, `serviceaccounts/token` and
//! `pods/ephemeralcontainers`.
//!
//! Every host call is checked before it reaches a cluster. A raw request
//! is checked on its path, which must be in normal form: no empty, `.` or
//! `..` segment and no percent-encoding at all, since kube-apiserver
//! decodes the path before it reads the resource from it and Kubernetes
//! names never need encoding. The path and query must be visible ASCII
//! without `#`: no whitespace or control characters that could end the
//! request line or start a header, and no fragment that the HTTP client
//! would drop after the policy read it. So a path cannot name one resource
//! to the policy and another to the server.
//!
//! A plugin's manifest can narrow the operator's grants to what the plugin
//! requests; see [`Policy::narrow`].

mod narrow;

use std::collections::BTreeSet;
use std::fmt;

pub use narrow::{Narrowed, Request};

/// Subresources denied unless granted by name, as `resource/subresource`.
const GUARDED_SUBRESOURCES: &[&str] = &[
    "pods/exec",
    "pods/attach",
    "pods/portforward",
    "pods/proxy",
    "services/proxy",
    "nodes/proxy",
    "serviceaccounts/token",
    "pods/ephemeralcontainers",
];

/// The Kubernetes verbs a policy can limit a plugin to.
pub const VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];

/// The reason of a denial when narrowing left no namespace.
const NO_COMMON_NAMESPACE: &str = "because none of the namespaces its manifest requests is \
     granted: grant one with --allow-namespace";

/// The grants of one plugin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Whether the plugin may create, patch and delete.
    pub write: bool,
    /// Whether the plugin may use Secrets.
    pub secrets: bool,
    /// Namespaces the plugin may use.
    pub namespaces: Namespaces,
    /// Guarded subresources granted by name, such as `pods/exec`.
    pub subresources: BTreeSet<String>,
    /// Resource types the plugin may use, by any name of the type (plural,
    /// singular, short name or `plural.group`); empty allows every type.
    pub resources: BTreeSet<String>,
    /// Kubernetes verbs the plugin may use, from [`VERBS`]; empty allows
    /// every verb. Writes still need the `write` grant.
    pub verbs: BTreeSet<String>,
    /// The request of the plugin's manifest that the policy was narrowed
    /// to, if any. A denial that the request causes names the manifest
    /// rather than an option the operator may already have given.
    pub manifest_request: Option<Request>,
}

/// The namespaces a policy allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Namespaces {
    /// Every namespace.
    #[default]
    Every,
    /// Only the listed namespaces. An empty list allows no namespace,
    /// which only narrowing to a manifest produces: see [`Policy::narrow`].
    Only(BTreeSet<String>),
}

/// One grant word of `--allow`, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    Write,
    Secrets,
    Subresource(&'static str),
}

impl Grant {
    /// Parses a grant word: `write`, `secrets` or a guarded subresource.
    fn parse(word: &str) -> Result<Self, String> {
        match word {
            "write" => Ok(Self::Write),
            "secrets" => Ok(Self::Secrets),
            _ => match GUARDED_SUBRESOURCES.iter().find(|name| **name == word) {
                Some(name) => Ok(Self::Subresource(name)),
                None => Err(format!(
                    "unknown grant `{word}`: use write, secrets, or one of {}",
                    GUARDED_SUBRESOURCES.join(", ")
                )),
            },
        }
    }
}

/// Whether a request reads or changes the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// get, list, watch: GET and HEAD.
    Read,
    /// create, update, patch, delete: every other method.
    Write,
}

/// A request in the terms the policy checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// The request's verb as a user would name it, such as `list`.
    pub action: String,
    /// Whether it reads or writes.
    pub verb: Verb,
    /// The resource's plural name, such as `pods`; empty for discovery.
    pub resource: String,
    /// The subresource, such as `exec`.
    pub subresource: Option<String>,
    /// The namespace, or `None` for cluster-scoped objects and requests
    /// across every namespace.
    pub namespace: Option<String>,
    /// Whether the resource lives in namespaces.
    pub namespaced: bool,
    /// Other names of the resource type that a policy's `resources` may
    /// list: its singular, its short names and `plural.group`. Empty when
    /// the type is not resolved.
    pub aliases: Vec<String>,
}

/// A request the policy refused: the rule and what would allow it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denial {
    /// The rule that refused it: `write`, `secrets`, `namespace`,
    /// `subresource`, `method` or `path`.
    pub rule: &'static str,
    /// The message for the plugin and the log.
    pub message: String,
}

impl Policy {
    /// Adds one grant as `--allow` takes it: `write`, `secrets`, or a
    /// guarded subresource such as `pods/exec`.
    ///
    /// # Errors
    ///
    /// Returns a message that lists the known grants when `grant` is not
    /// one of them.
    pub fn grant(&mut self, grant: &str) -> Result<(), String> {
        self.add(Grant::parse(grant)?);
        Ok(())
    }

    /// Adds a namespace the plugin may use, as `--allow-namespace` does.
    /// The first one limits a policy that allowed every namespace.
    pub fn allow_namespace(&mut self, namespace: &str) {
        match &mut self.namespaces {
            Namespaces::Every => {
                self.namespaces = Namespaces::Only(BTreeSet::from([namespace.to_string()]));
            }
            Namespaces::Only(namespaces) => {
                namespaces.insert(namespace.to_string());
            }
        }
    }

    fn add(&mut self, grant: Grant) {
        match grant {
            Grant::Write => self.write = true,
            Grant::Secrets => self.secrets = true,
            Grant::Subresource(name) => {
                self.subresources.insert(name.to_string());
            }
        }
    }

    fn includes(&self, grant: Grant) -> bool {
        match grant {
            Grant::Write => self.write,
            Grant::Secrets => self.secrets,
            Grant::Subresource(name) => self.subresources.contains(name),
        }
    }

    /// Returns whether `access` is allowed, or the rule that denies it.
    ///
    /// # Errors
    ///
    /// Returns a [`Denial`] naming the rule and the grant that would
    /// allow the request.
    pub fn check(&self, access: &Access) -> Result<(), Denial> {
        let request = access.describe();
        if let Some(subresource) = &access.subresource {
            let name = format!("{}/{subresource}", access.resource);
            if GUARDED_SUBRESOURCES.contains(&name.as_str()) && !self.subresources.contains(&name) {
                let message = if self.unrequested(&name) {
                    format!(
                        "{request}: {name} is denied, because the plugin's manifest does not \
                         request it"
                    )
                } else {
                    format!(
                        "{request}: {name} is denied unless granted by name: run with --allow {name}"
                    )
                };
                return Err(Denial {
                    rule: "subresource",
                    message,
                });
            }
        }
        if !self.verbs.is_empty() && !self.verbs.contains(access.kube_verb()) {
            return Err(Denial {
                rule: "verb",
                message: format!(
                    "{request}: the plugin may use only the verbs {}: add `{}` to `verbs` in its \
                     section of lazyhost.toml",
                    join(&self.verbs),
                    access.kube_verb()
                ),
            });
        }
        if !self.resources.is_empty()
            && !access.resource.is_empty()
            && !self.resources.contains(&access.resource)
            && !access
                .aliases
                .iter()
                .any(|alias| self.resources.contains(alias))
        {
            return Err(Denial {
                rule: "resource",
                message: format!(
                    "{request}: the plugin may use only the resources {}: add `{}` to \
                     `resources` in its section of lazyhost.toml",
                    join(&self.resources),
                    access.resource
                ),
            });
        }
        if access.resource == "secrets" && !self.secrets {
            let message = if self.unrequested("secrets") {
                format!(
                    "{request}: Secrets need an explicit grant, and the plugin's manifest does \
                     not request secrets"
                )
            } else {
                format!("{request}: Secrets need an explicit grant: run with --allow secrets")
            };
            return Err(Denial {
                rule: "secrets",
                message,
            });
        }
        if access.verb == Verb::Write && !self.write {
            let message = if self.unrequested("write") {
                format!(
                    "{request}: the plugin is read-only, because its manifest does not request \
                     write"
                )
            } else {
                format!("{request}: the plugin is read-only: run with --allow write")
            };
            return Err(Denial {
                rule: "write",
                message,
            });
        }
        self.check_namespace(access, &request)
    }

    /// Returns whether the policy was narrowed to a manifest request that
    /// does not name the grant word `grant`.
    fn unrequested(&self, grant: &str) -> bool {
        self.manifest_request
            .as_ref()
            .is_some_and(|request| !request.allow.contains(grant))
    }

    fn check_namespace(&self, access: &Access, request: &str) -> Result<(), Denial> {
        let Namespaces::Only(namespaces) = &self.namespaces else {
            return Ok(());
        };
        let denied = |reason: String| Denial {
            rule: "namespace",
            message: format!("{request}: {reason}"),
        };
        let unrequested = |namespace: &String| {
            self.manifest_request.as_ref().is_some_and(|request| {
                !request.namespaces.is_empty() && !request.namespaces.contains(namespace)
            })
        };
        if let Some(namespace) = &access.namespace
            && !namespaces.contains(namespace)
            && unrequested(namespace)
        {
            return Err(denied(format!(
                "namespace `{namespace}` is not granted: the plugin's manifest does not request it"
            )));
        }
        if namespaces.is_empty() {
            // Narrowing left no namespace: every namespaced request and
            // every write is denied, and cluster-scoped reads stay allowed
            // as under any namespace limit.
            return match (&access.namespace, access.namespaced) {
                (None, false) if access.verb == Verb::Read => Ok(()),
                (None, false) => Err(denied(format!(
                    "the plugin may use no namespace and so may not write cluster-scoped \
                     objects, {NO_COMMON_NAMESPACE}"
                ))),
                _ => Err(denied(format!(
                    "the plugin may use no namespace, {NO_COMMON_NAMESPACE}"
                ))),
            };
        }
        let allowed = join(namespaces);
        match (&access.namespace, access.namespaced) {
            (Some(namespace), _) if namespaces.contains(namespace) => Ok(()),
            (Some(namespace), _) => Err(denied(format!(
                "namespace `{namespace}` is not granted; the plugin may use {allowed} \
                 (grant more with --allow-namespace)"
            ))),
            (None, true) => Err(denied(format!(
                "the plugin may use only the namespaces {allowed}: pass one of them"
            ))),
            // Namespaces themselves, nodes and other cluster-scoped
            // objects: reads only, since they span every namespace.
            (None, false) if access.verb == Verb::Read => Ok(()),
            (None, false) => Err(denied(format!(
                "the plugin may use only the namespaces {allowed}, so it may not write \
                 cluster-scoped objects"
            ))),
        }
    }

    /// Describes the grants in one line, for the run's header.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            if self.write {
                "read-write"
            } else {
                "read-only"
            }
            .to_string(),
        ];
        parts.push(match &self.namespaces {
            Namespaces::Every => "every namespace".to_string(),
            Namespaces::Only(namespaces) if namespaces.is_empty() => "no namespace".to_string(),
            Namespaces::Only(namespaces) => format!("namespaces {}", join(namespaces)),
        });
        parts.push(if self.secrets {
            "Secrets granted".to_string()
        } else {
            "no Secrets".to_string()
        });
        if !self.subresources.is_empty() {
            parts.push(join(&self.subresources));
        }
        if !self.resources.is_empty() {
            parts.push(format!("resources {}", join(&self.resources)));
        }
        if !self.verbs.is_empty() {
            parts.push(format!("verbs {}", join(&self.verbs)));
        }
        parts.join("; ")
    }
}

/// Joins names with commas, in the set's order.
fn join(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Policy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.summary())
    }
}

impl Access {
    /// Describes the request for a message, such as `list secrets in
    /// namespace shop`.
    /// Returns the Kubernetes verb of the access: a raw request's method
    /// maps as the API server maps it (POST is `create`, PUT is `update`,
    /// HEAD is `get`), and a raw GET counts as `get` even on a collection.
    pub fn kube_verb(&self) -> &str {
        match self.action.as_str() {
            "post" => "create",
            "put" => "update",
            "head" => "get",
            other => other,
        }
    }

    fn describe(&self) -> String {
        let mut target = self.resource.clone();
        if let Some(subresource) = &self.subresource {
            target = format!("{target}/{subresource}");
        }
        match &self.namespace {
            Some(namespace) => format!("{} {target} in namespace {namespace}", self.action),
            None => format!("{} {target}", self.action),
        }
    }

    /// Reads a raw request: its method and API path, which must be in
    /// normal form.
    ///
    /// # Errors
    ///
    /// Returns a [`Denial`] with the rule `method` for a method that is
    /// not an HTTP method of the API, and with the rule `path` for a path
    /// that is not in normal form or not an API path.
    pub fn of_raw(method: &str, path: &str) -> Result<Self, Denial> {
        let verb = match method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" => Verb::Read,
            "POST" | "PUT" | "PATCH" | "DELETE" => Verb::Write,
            _ => {
                return Err(Denial {
                    rule: "method",
                    message: format!(
                        "method `{}` is not allowed: use GET, HEAD, POST, PUT, PATCH or DELETE",
                        printable(method)
                    ),
                });
            }
        };
        let action = method.to_ascii_lowercase();
        let path_only = path.split('?').next().unwrap_or_default();
        let shown_path = printable(path);
        let invalid_path = |reason: &str| Denial {
            rule: "path",
            message: format!("{action} `{shown_path}`: {reason}"),
        };
        if let Some(bad) = path.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(invalid_path(&format!(
                "the character {bad:?} is not allowed in a path or query: only visible ASCII \
                 is, so percent-encode whitespace, control and non-ASCII characters in the query"
            )));
        }
        if path.contains('#') {
            return Err(invalid_path(
                "`#` is not allowed: a fragment is never sent to the server, so leave it out",
            ));
        }
        if path_only.contains(['%', '\\']) {
            return Err(invalid_path(
                "percent-encoding and `\\` are not allowed in a path, because the server \
                 decodes the path before reading it; write the path plainly",
            ));
        }
        let Some(rest) = path_only.strip_prefix('/') else {
            return Err(invalid_path("the path must start with /"));
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments
            .iter()
            .any(|segment| segment.is_empty() || *segment == "." || *segment == "..")
        {
            return Err(invalid_path(
                "empty, `.` and `..` segments are not allowed; write the path in normal form",
            ));
        }
        let discovery = Self {
            action: action.clone(),
            verb,
            resource: String::new(),
            subresource: None,
            namespace: None,
            namespaced: false,
            aliases: Vec::new(),
        };
        // After /api/v1 or /apis/GROUP/VERSION comes the resource part.
        let resource_part: &[&str] = match segments.as_slice() {
            ["version"] | ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] => {
                return Ok(discovery);
            }
            ["api", _, rest @ ..] => rest,
            ["apis", _, _, rest @ ..] => rest,
            _ => {
                return Err(invalid_path(
                    "not an API path: use /version, /api/... or /apis/...",
                ));
            }
        };
        // The deprecated watch paths put `watch` before the resource part,
        // as in /api/v1/watch/namespaces/shop/pods. The server still serves
        // them, so they are read as watches.
        let (watch_path, resource_part) = match resource_part {
            ["watch", rest @ ..] if !rest.is_empty() => (true, rest),
            other => (false, other),
        };
        // As the API server reads it: after `namespaces/NAME` comes a
        // resource, unless it is the namespace's own `status` or `finalize`.
        let (namespace, parts) = match resource_part {
            ["namespaces", namespace, next, rest @ ..]
                if !matches!(*next, "status" | "finalize") =>
            {
                let mut parts = vec![*next];
                parts.extend_from_slice(rest);
                (Some((*namespace).to_string()), parts)
            }
            other => (None, other.to_vec()),
        };
        let (resource, subresource) = match parts.as_slice() {
            [resource] | [resource, _] => ((*resource).to_string(), None),
            [resource, _, subresource] => {
                ((*resource).to_string(), Some((*subresource).to_string()))
            }
            _ => return Err(invalid_path("too many path segments for an API object")),
        };
        // A read is a get of one object, or a list or watch of many, as
        // RBAC names them.
        let action = match (verb, parts.len(), watch_path || watch_query(path)) {
            (Verb::Read, 1 | 2, true) => "watch".to_string(),
            (Verb::Read, 1, false) => "list".to_string(),
            (Verb::Read, 2, false) => "get".to_string(),
            _ => action,
        };
        // `/api/v1/namespaces/NAME` names the namespace object itself.
        let namespace = namespace.or_else(|| match resource_part {
            ["namespaces", name] | ["namespaces", name, _] => Some((*name).to_string()),
            _ => None,
        });
        Ok(Self {
            action,
            verb,
            namespaced: namespace.is_some() && resource != "namespaces",
            resource,
            subresource,
            namespace,
            aliases: Vec::new(),
        })
    }
}

/// Returns whether a request's query requests a watch (`watch=true` or
/// `watch=1`).
fn watch_query(path: &str) -> bool {
    let Some((_, query)) = path.split_once('?') else {
        return false;
    };
    query
        .split('&')
        .any(|pair| matches!(pair, "watch=true" | "watch=1" | "watch"))
}

/// Checks that `name` is a DNS label, as namespace names and resource
/// plurals are: at most 63 lowercase letters, digits and `-`, starting and
/// ending with a letter or digit.
///
/// # Errors
///
/// Returns the reason `name` is not one, for a message that names the
/// option or key.
pub fn check_dns_label(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid name: use at most 63 lowercase letters, digits and `-`, \
             starting and ending with a letter or digit",
            printable(name)
        ))
    }
}

/// Returns `text` as it is when it is all visible ASCII, else with Rust's
/// escapes, so that a message or log line never carries a control
/// character from a plugin.
fn printable(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_graphic()) {
        text.to_string()
    } else {
        text.escape_debug().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(action: &str, verb: Verb, resource: &str, namespace: Option<&str>) -> Access {
        Access {
            action: action.to_string(),
            verb,
            resource: resource.to_string(),
            subresource: None,
            namespace: namespace.map(str::to_string),
            namespaced: resource != "nodes" && resource != "namespaces",
            aliases: Vec::new(),
        }
    }

    #[test]
    fn default_reads_everything_but_secrets() {
        let policy = Policy::default();
        assert!(
            policy
                .check(&typed("list", Verb::Read, "pods", None))
                .is_ok()
        );
        assert!(
            policy
                .check(&typed("get", Verb::Read, "nodes", None))
                .is_ok()
        );

        let secrets = policy
            .check(&typed("list", Verb::Read, "secrets", Some("shop")))
            .unwrap_err();
        assert_eq!(secrets.rule, "secrets");
        assert_eq!(
            secrets.message,
            "list secrets in namespace shop: Secrets need an explicit grant: \
             run with --allow secrets"
        );

        let write = policy
            .check(&typed("create", Verb::Write, "configmaps", Some("default")))
            .unwrap_err();
        assert_eq!(write.rule, "write");
        assert_eq!(
            write.message,
            "create configmaps in namespace default: the plugin is read-only: \
             run with --allow write"
        );
    }

    #[test]
    fn grants_allow_what_they_name() {
        let policy = Policy {
            write: true,
            secrets: true,
            ..Policy::default()
        };
        assert!(
            policy
                .check(&typed("delete", Verb::Write, "secrets", Some("a")))
                .is_ok()
        );
        let exec = Access::of_raw("POST", "/api/v1/namespaces/a/pods/web/exec").unwrap();
        assert_eq!(policy.check(&exec).unwrap_err().rule, "subresource");

        let granted = Policy {
            write: true,
            subresources: BTreeSet::from(["pods/exec".to_string()]),
            ..Policy::default()
        };
        assert!(granted.check(&exec).is_ok());
    }

    #[test]
    fn dns_labels() {
        for good in ["shop", "kube-system", "a1", "configmaps"] {
            assert!(check_dns_label(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Bad Name",
            "Pods",
            "-a",
            "a-",
            "deployments.apps",
            &"a".repeat(64),
        ] {
            assert!(check_dns_label(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_dns_label("Bad Name").unwrap_err(),
            "`Bad Name` is not a valid name: use at most 63 lowercase letters, digits and `-`, \
             starting and ending with a letter or digit"
        );
    }

    #[test]
    fn raw_reads_map_to_rbac_verbs() {
        let read = |path: &str| {
            let access = Access::of_raw("GET", path).unwrap();
            (
                access.action,
                access.resource,
                access.namespace,
                access.subresource,
            )
        };

        let shop = Some("shop".to_string());
        assert_eq!(
            read("/api/v1/namespaces/shop/pods/web"),
            ("get".into(), "pods".into(), shop.clone(), None)
        );
        assert_eq!(
            read("/api/v1/pods"),
            ("list".into(), "pods".into(), None, None)
        );
        assert_eq!(
            read("/api/v1/namespaces/shop/pods?watch=true"),
            ("watch".into(), "pods".into(), shop.clone(), None)
        );
        // The older watch paths name the resource after `watch`.
        assert_eq!(
            read("/api/v1/watch/secrets"),
            ("watch".into(), "secrets".into(), None, None)
        );
        assert_eq!(
            read("/apis/apps/v1/watch/namespaces/shop/deployments/web"),
            ("watch".into(), "deployments".into(), shop, None)
        );

        let policy = Policy::default();
        let secrets = policy
            .check(&Access::of_raw("GET", "/api/v1/watch/secrets").unwrap())
            .unwrap_err();
        assert_eq!(secrets.rule, "secrets");

        assert_eq!(
            Access::of_raw("HEAD", "/api/v1/pods").unwrap().kube_verb(),
            "list"
        );
    }

    #[test]
    fn resource_and_verb_lists_limit_requests() {
        let policy = Policy {
            write: true,
            resources: BTreeSet::from(["configmaps".to_string(), "pods".to_string()]),
            verbs: BTreeSet::from(["get".to_string(), "list".to_string(), "update".to_string()]),
            ..Policy::default()
        };
        assert!(
            policy
                .check(&typed("list", Verb::Read, "pods", None))
                .is_ok()
        );
        let put = Access::of_raw("PUT", "/api/v1/namespaces/a/configmaps/b").unwrap();
        assert_eq!(put.kube_verb(), "update");
        assert!(policy.check(&put).is_ok());
        assert!(
            policy
                .check(&Access::of_raw("GET", "/apis/apps/v1").unwrap())
                .is_ok(),
            "discovery names no resource"
        );

        let mut cm = typed("get", Verb::Read, "cms", Some("a"));
        cm.aliases = vec!["configmaps".to_string()];
        assert!(
            policy.check(&cm).is_ok(),
            "an alias in the list allows the type"
        );

        let nodes = policy
            .check(&typed("get", Verb::Read, "nodes", None))
            .unwrap_err();
        assert_eq!(nodes.rule, "resource");
        assert_eq!(
            nodes.message,
            "get nodes: the plugin may use only the resources configmaps, pods: add `nodes` to \
             `resources` in its section of lazyhost.toml"
        );
        let post = Access::of_raw("POST", "/api/v1/namespaces/a/configmaps").unwrap();
        let create = policy.check(&post).unwrap_err();
        assert_eq!(create.rule, "verb");
        assert_eq!(
            create.message,
            "post configmaps in namespace a: the plugin may use only the verbs get, list, update: \
             add `create` to `verbs` in its section of lazyhost.toml"
        );
        assert_eq!(
            policy.summary(),
            "read-write; every namespace; no Secrets; resources configmaps, pods; \
             verbs get, list, update"
        );
    }

    #[test]
    fn namespaces_limit_every_request() {
        let policy = Policy {
            write: true,
            namespaces: Namespaces::Only(BTreeSet::from(["shop".to_string()])),
            ..Policy::default()
        };
        assert!(
            policy
                .check(&typed("list", Verb::Read, "pods", Some("shop")))
                .is_ok()
        );
        let other = policy
            .check(&typed("list", Verb::Read, "pods", Some("kube-system")))
            .unwrap_err();
        assert_eq!(other.rule, "namespace");
        assert_eq!(
            other.message,
            "list pods in namespace kube-system: namespace `kube-system` is not \
             granted; the plugin may use shop (grant more with --allow-namespace)"
        );
        let everywhere = policy
            .check(&typed("list", Verb::Read, "pods", None))
            .unwrap_err();
        assert_eq!(everywhere.rule, "namespace");
        assert!(
            policy
                .check(&typed("list", Verb::Read, "nodes", None))
                .is_ok()
        );
        let node_write = policy
            .check(&typed("delete", Verb::Write, "nodes", None))
            .unwrap_err();
        assert_eq!(node_write.rule, "namespace");
    }

    #[test]
    fn raw_paths_parse_like_the_server() {
        let cases = [
            ("GET", "/version", "", None, None),
            ("GET", "/apis/apps/v1", "", None, None),
            ("GET", "/api/v1/pods?limit=1", "pods", None, None),
            (
                "GET",
                "/api/v1/namespaces/shop/pods",
                "pods",
                Some("shop"),
                None,
            ),
            (
                "GET",
                "/api/v1/namespaces/shop/pods/web/log",
                "pods",
                Some("shop"),
                Some("log"),
            ),
            (
                "GET",
                "/api/v1/namespaces/shop",
                "namespaces",
                Some("shop"),
                None,
            ),
            (
                "PUT",
                "/api/v1/namespaces/shop/finalize",
                "namespaces",
                Some("shop"),
                Some("finalize"),
            ),
            (
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments/web",
                "deployments",
                Some("shop"),
                None,
            ),
            (
                "POST",
                "/api/v1/namespaces/a/serviceaccounts/b/token",
                "serviceaccounts",
                Some("a"),
                Some("token"),
            ),
        ];
        for (method, path, resource, namespace, subresource) in cases {
            let access = Access::of_raw(method, path).unwrap();
            assert_eq!(access.resource, resource, "{path}");
            assert_eq!(access.namespace.as_deref(), namespace, "{path}");
            assert_eq!(access.subresource.as_deref(), subresource, "{path}");
        }
        assert_eq!(
            Access::of_raw("DELETE", "/api/v1/nodes/a").unwrap().verb,
            Verb::Write
        );
    }

    #[test]
    fn path_tricks_are_denied() {
        for path in [
            "/api/v1/namespaces/shop/../kube-system/secrets",
            "/api/v1/namespaces/shop/./pods",
            "/api//v1/secrets",
            "/api/v1/namespaces/shop%2Fsecrets",
            "/api/v1/namespaces/a/pods/web%2fexec",
            "/api/v1/%2e%2e/secrets",
            "/api/v1\\secrets",
            "/metrics",
            "api/v1/pods",
            "/api/v1/namespaces/a/pods/web/exec/extra",
        ] {
            let denial = Access::of_raw("GET", path).unwrap_err();
            assert_eq!(denial.rule, "path", "{path}");
            assert!(
                denial.message.starts_with(&format!("get `{path}`: ")),
                "{path}"
            );
        }
    }

    #[test]
    fn encoded_names_are_denied() {
        // kube-apiserver decodes `%73` to `s` before it reads the resource,
        // so this path lists Secrets on a real server.
        for path in [
            "/api/v1/namespaces/shop/%73ecrets",
            "/api/v1/namespaces/shop/pods/web/%65xec",
            "/api/v1/%2E%2E/secrets",
        ] {
            let denial = Access::of_raw("GET", path).unwrap_err();
            assert_eq!(denial.rule, "path", "{path}");
            assert_eq!(
                denial.message,
                format!(
                    "get `{path}`: percent-encoding and `\\` are not allowed in a path, \
                     because the server decodes the path before reading it; write the path plainly"
                )
            );
        }
        let query = Access::of_raw("GET", "/api/v1/pods?labelSelector=app%3Dweb").unwrap();
        assert_eq!(query.resource, "pods");
    }

    #[test]
    fn control_characters_and_whitespace_are_denied() {
        let cases = [
            (
                "/api/v1/pods\r\nImpersonate-User: admin",
                "get `/api/v1/pods\\r\\nImpersonate-User: admin`: the character '\\r' is not allowed",
            ),
            (
                "/api/v1/pods?limit=1\nImpersonate-User:admin",
                "get `/api/v1/pods?limit=1\\nImpersonate-User:admin`: the character '\\n' is not allowed",
            ),
            (
                "/api/v1/pods HTTP/1.1",
                "get `/api/v1/pods HTTP/1.1`: the character ' ' is not allowed",
            ),
            (
                "/api/v1/pods\t",
                "get `/api/v1/pods\\t`: the character '\\t' is not allowed",
            ),
            (
                "/api/v1/pods\u{0}",
                "get `/api/v1/pods\\0`: the character '\\0' is not allowed",
            ),
            (
                "/api/v1/namespaces/shop/pods/caf\u{e9}",
                "get `/api/v1/namespaces/shop/pods/caf\u{e9}`: the character '\u{e9}' is not allowed",
            ),
        ];
        for (path, expected_start) in cases {
            let denial = Access::of_raw("GET", path).unwrap_err();
            assert_eq!(denial.rule, "path", "{path:?}");
            assert!(
                denial.message.starts_with(expected_start),
                "{path:?}: {}",
                denial.message
            );
            assert!(
                !denial.message.contains(['\r', '\n', '\t', '\0']),
                "{path:?}"
            );
        }
    }

    #[test]
    fn fragments_are_denied() {
        // The HTTP client drops `#...`, so the server would see
        // /api/v1/namespaces/shop/secrets while the policy read `secrets#`.
        let denial = Access::of_raw("GET", "/api/v1/namespaces/shop/secrets#").unwrap_err();
        assert_eq!(denial.rule, "path");
        assert_eq!(
            denial.message,
            "get `/api/v1/namespaces/shop/secrets#`: `#` is not allowed: a fragment is never \
             sent to the server, so leave it out"
        );
    }

    #[test]
    fn unknown_methods_are_denied() {
        for method in [
            "CONNECT",
            "GET /api/v1/secrets",
            "GET\r\nImpersonate-User: admin",
        ] {
            let denial = Access::of_raw(method, "/api/v1/pods").unwrap_err();
            assert_eq!(denial.rule, "method", "{method:?}");
            assert!(!denial.message.contains(['\r', '\n']), "{method:?}");
        }
        assert_eq!(
            Access::of_raw("CONNECT", "/api/v1/pods")
                .unwrap_err()
                .message,
            "method `CONNECT` is not allowed: use GET, HEAD, POST, PUT, PATCH or DELETE"
        );
        assert_eq!(Access::of_raw("head", "/api").unwrap().verb, Verb::Read);
    }

    #[test]
    fn raw_secret_reads_need_the_grant() {
        let access = Access::of_raw("GET", "/api/v1/namespaces/shop/secrets/db").unwrap();
        assert_eq!(
            Policy::default().check(&access).unwrap_err().rule,
            "secrets"
        );
    }

    #[test]
    fn grants_are_parsed_by_name() {
        let mut policy = Policy::default();
        for grant in ["write", "secrets", "pods/exec"] {
            policy.grant(grant).unwrap();
        }
        assert!(policy.write);
        assert!(policy.secrets);
        assert!(policy.subresources.contains("pods/exec"));
        assert_eq!(
            policy.grant("everything").unwrap_err(),
            "unknown grant `everything`: use write, secrets, or one of pods/exec, pods/attach, \
             pods/portforward, pods/proxy, services/proxy, nodes/proxy, serviceaccounts/token, \
             pods/ephemeralcontainers"
        );
    }

    #[test]
    fn summary_lists_the_grants() {
        assert_eq!(
            Policy::default().summary(),
            "read-only; every namespace; no Secrets"
        );
        let policy = Policy {
            write: true,
            secrets: true,
            namespaces: Namespaces::Only(BTreeSet::from(["a".to_string(), "b".to_string()])),
            subresources: BTreeSet::from(["pods/exec".to_string()]),
            manifest_request: None,
            ..Policy::default()
        };
        assert_eq!(
            policy.summary(),
            "read-write; namespaces a, b; Secrets granted; pods/exec"
        );
        let nowhere = Policy {
            namespaces: Namespaces::Only(BTreeSet::new()),
            ..Policy::default()
        };
        assert_eq!(nowhere.summary(), "read-only; no namespace; no Secrets");
    }

    #[test]
    fn namespace_grants_accumulate() {
        let mut policy = Policy::default();
        policy.allow_namespace("shop");
        policy.allow_namespace("web");
        policy.allow_namespace("shop");
        assert_eq!(
            policy.namespaces,
            Namespaces::Only(BTreeSet::from(["shop".to_string(), "web".to_string()]))
        );
    }
}
