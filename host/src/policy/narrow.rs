//! Narrowing the operator's grants to what a plugin requests.
//!
//! A plugin's manifest lists the grants and namespaces it needs. The
//! policy it runs under is the intersection of that request and the
//! operator's grant: a grant the plugin does not request is dropped, and
//! a grant it requests that the operator did not give is not added but
//! reported.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Grant, Namespaces, Policy, join};

/// The grants and namespaces a plugin requests, in the words of `--allow`
/// and `--allow-namespace`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Request {
    /// Grants such as `write`, `secrets` or `pods/exec`.
    pub allow: BTreeSet<String>,
    /// Namespaces the plugin needs; empty requests no namespace limit.
    pub namespaces: BTreeSet<String>,
}

/// The policy narrowed to a request, and the part of the request beyond
/// the operator's grant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Narrowed {
    /// The policy the plugin runs under.
    pub policy: Policy,
    /// Grants and namespaces requested but not granted.
    pub not_granted: Request,
}

impl Request {
    /// Adds a grant word as `--allow` takes it.
    ///
    /// # Errors
    ///
    /// Returns a message that lists the known grants when `grant` is not
    /// one of them.
    pub fn add_grant(&mut self, grant: &str) -> Result<(), String> {
        Grant::parse(grant)?;
        self.allow.insert(grant.to_string());
        Ok(())
    }

    /// Returns whether the request names nothing beyond the default of
    /// reading every resource but Secrets in every namespace.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.namespaces.is_empty()
    }

    /// Describes the request in one line, such as `secrets, write;
    /// namespaces shop`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.allow.is_empty() {
            parts.push(join(&self.allow));
        }
        if !self.namespaces.is_empty() {
            parts.push(format!("namespaces {}", join(&self.namespaces)));
        }
        if parts.is_empty() {
            return "no grant and no namespace limit".to_string();
        }
        parts.join("; ")
    }
}

impl Policy {
    /// Narrows the policy to the grants and namespaces of `request`.
    ///
    /// Each grant of the result is one that the policy contains and the
    /// request names, and the result keeps the request for its denial
    /// messages. Namespaces follow whichever side limits them, or
    /// their intersection when both do. An empty intersection allows no
    /// namespace. Every request that names a namespace or spans all of
    /// them is then denied, and so is every write, while cluster-scoped
    /// reads (nodes, the list of namespaces) stay allowed, as under any
    /// namespace limit. What the request names
    /// beyond the policy goes to [`Narrowed::not_granted`]. A request
    /// with no namespaces requests no limit, so an operator's limit on
    /// such a plugin is not reported there.
    pub fn narrow(&self, request: &Request) -> Narrowed {
        // A manifest requests grants and namespaces; the operator's limits
        // on resource types and verbs carry over unchanged.
        let mut policy = Policy {
            resources: self.resources.clone(),
            verbs: self.verbs.clone(),
            ..Policy::default()
        };
        let mut not_granted = Request::default();
        for word in &request.allow {
            match Grant::parse(word) {
                Ok(grant) if self.includes(grant) => policy.add(grant),
                _ => {
                    not_granted.allow.insert(word.clone());
                }
            }
        }

        policy.namespaces = match &self.namespaces {
            _ if request.namespaces.is_empty() => self.namespaces.clone(),
            Namespaces::Every => Namespaces::Only(request.namespaces.clone()),
            Namespaces::Only(granted) => {
                not_granted.namespaces = request.namespaces.difference(granted).cloned().collect();
                Namespaces::Only(request.namespaces.intersection(granted).cloned().collect())
            }
        };
        policy.manifest_request = Some(request.clone());
        Narrowed {
            policy,
            not_granted,
        }
    }
}

impl Narrowed {
    /// Returns `policy` unchanged, for a plugin without a manifest.
    pub fn unchanged(policy: Policy) -> Self {
        Self {
            policy,
            not_granted: Request::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Access, Verb};

    /// A list of grant words or namespaces in a table of cases.
    type Words = &'static [&'static str];

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|name| (*name).to_string()).collect()
    }

    fn request(allow: &[&str], namespaces: &[&str]) -> Request {
        let mut request = Request {
            namespaces: names(namespaces),
            ..Request::default()
        };
        for grant in allow {
            request.add_grant(grant).unwrap();
        }
        request
    }

    fn operator(allow: &[&str], namespaces: &[&str]) -> Policy {
        let mut policy = Policy::default();
        for grant in allow {
            policy.grant(grant).unwrap();
        }
        for namespace in namespaces {
            policy.allow_namespace(namespace);
        }
        policy
    }

    fn access(verb: Verb, resource: &str, namespace: Option<&str>, namespaced: bool) -> Access {
        Access {
            action: if verb == Verb::Read { "list" } else { "create" }.to_string(),
            verb,
            resource: resource.to_string(),
            subresource: None,
            namespace: namespace.map(str::to_string),
            namespaced,
            aliases: Vec::new(),
        }
    }

    #[test]
    fn resource_and_verb_limits_carry_over() {
        let mut limited = operator(&["write"], &[]);
        limited.resources = names(&["configmaps"]);
        limited.verbs = names(&["get", "patch"]);
        let narrowed = limited.narrow(&request(&["write"], &[]));
        assert_eq!(narrowed.policy.resources, limited.resources);
        assert_eq!(narrowed.policy.verbs, limited.verbs);
        assert!(narrowed.policy.write);
    }

    #[test]
    fn grants_keep_only_both_sides() {
        // (operator grants, requested grants, effective grants, not granted)
        let cases: [(Words, Words, Words, Words); 7] = [
            (&[], &[], &[], &[]),
            (&["write"], &[], &[], &[]),
            (&[], &["write"], &[], &["write"]),
            (&["write"], &["write"], &["write"], &[]),
            (&["write", "secrets"], &["write"], &["write"], &[]),
            (&["write"], &["write", "secrets"], &["write"], &["secrets"]),
            (
                &["pods/exec", "secrets"],
                &["pods/exec", "pods/attach"],
                &["pods/exec"],
                &["pods/attach"],
            ),
        ];
        for (granted, requested, effective, refused) in cases {
            let plugin_request = request(requested, &[]);
            let narrowed = operator(granted, &[]).narrow(&plugin_request);
            let expected = Policy {
                manifest_request: Some(plugin_request),
                ..operator(effective, &[])
            };
            assert_eq!(
                narrowed.policy, expected,
                "{granted:?} narrowed to {requested:?}"
            );
            assert_eq!(
                narrowed.not_granted.allow,
                names(refused),
                "{granted:?} narrowed to {requested:?}"
            );
            assert!(narrowed.not_granted.namespaces.is_empty());
        }
    }

    #[test]
    fn namespaces_follow_the_side_that_limits() {
        let every = Namespaces::Every;
        let only = |list: &[&str]| Namespaces::Only(names(list));
        // (operator namespaces, requested namespaces, effective, not granted)
        let cases: [(Words, Words, Namespaces, Words); 6] = [
            (&[], &[], every, &[]),
            (&["a"], &[], only(&["a"]), &[]),
            (&[], &["a"], only(&["a"]), &[]),
            (&["a", "b"], &["b", "c"], only(&["b"]), &["c"]),
            (&["a", "b"], &["a", "b"], only(&["a", "b"]), &[]),
            (&["a"], &["b"], only(&[]), &["b"]),
        ];
        for (granted, requested, effective, refused) in cases {
            let narrowed = operator(&[], granted).narrow(&request(&[], requested));
            assert_eq!(
                narrowed.policy.namespaces, effective,
                "{granted:?} narrowed to {requested:?}"
            );
            assert_eq!(
                narrowed.not_granted.namespaces,
                names(refused),
                "{granted:?} narrowed to {requested:?}"
            );
            assert!(narrowed.not_granted.allow.is_empty());
        }
    }

    #[test]
    fn unknown_requested_grant_is_not_granted() {
        let narrowed = operator(&["write"], &[]).narrow(&Request {
            allow: names(&["everything"]),
            namespaces: BTreeSet::new(),
        });
        assert!(!narrowed.policy.write);
        assert_eq!(narrowed.policy.summary(), Policy::default().summary());
        assert_eq!(narrowed.not_granted.allow, names(&["everything"]));
    }

    #[test]
    fn no_common_namespace_denies_namespaced_calls() {
        let narrowed = operator(&["write"], &["a"]).narrow(&request(&["write"], &["b"]));
        let policy = narrowed.policy;
        assert_eq!(
            policy.summary(),
            "read-write; no namespace; no Secrets",
            "{policy:?}"
        );

        for (verb, namespace) in [
            (Verb::Read, Some("a")),
            (Verb::Read, Some("b")),
            (Verb::Read, None),
            (Verb::Write, Some("b")),
        ] {
            let denial = policy
                .check(&access(verb, "pods", namespace, true))
                .unwrap_err();
            assert_eq!(denial.rule, "namespace", "{verb:?} in {namespace:?}");
        }
        let list = policy
            .check(&access(Verb::Read, "pods", None, true))
            .unwrap_err();
        assert_eq!(
            list.message,
            "list pods: the plugin may use no namespace, because none of the namespaces \
             its manifest requests is granted: grant one with --allow-namespace"
        );

        // Cluster-scoped reads stay allowed, as under any namespace limit.
        assert!(
            policy
                .check(&access(Verb::Read, "nodes", None, false))
                .is_ok()
        );
        assert!(
            policy
                .check(&access(Verb::Read, "namespaces", None, false))
                .is_ok()
        );
        let node_write = policy
            .check(&access(Verb::Write, "nodes", None, false))
            .unwrap_err();
        assert_eq!(node_write.rule, "namespace");
        assert_eq!(
            node_write.message,
            "create nodes: the plugin may use no namespace and so may not write \
             cluster-scoped objects, because none of the namespaces its manifest requests \
             is granted: grant one with --allow-namespace"
        );
        // The namespace object itself names a namespace, so it is denied.
        let namespace_object = Access::of_raw("GET", "/api/v1/namespaces/b").unwrap();
        assert_eq!(
            policy.check(&namespace_object).unwrap_err().rule,
            "namespace"
        );
    }

    #[test]
    fn grants_and_namespaces_narrow_together() {
        let granted = operator(&["write", "secrets", "pods/exec"], &["shop", "web"]);
        let plugin_request = request(&["write", "pods/attach"], &["shop", "db"]);
        let narrowed = granted.narrow(&plugin_request);
        let expected = Policy {
            manifest_request: Some(plugin_request),
            ..operator(&["write"], &["shop"])
        };
        assert_eq!(narrowed.policy, expected);
        assert_eq!(
            narrowed.not_granted,
            request(&["pods/attach"], &["db"]),
            "{narrowed:?}"
        );
        assert_eq!(narrowed.not_granted.summary(), "pods/attach; namespaces db");
    }

    #[test]
    fn denial_names_manifest_cause() {
        let granted = operator(&["write", "secrets", "pods/exec"], &["shop", "web"]);
        let policy = granted.narrow(&request(&[], &["shop"])).policy;

        let write = policy
            .check(&access(Verb::Write, "configmaps", Some("shop"), true))
            .unwrap_err();
        assert_eq!(write.rule, "write");
        assert_eq!(
            write.message,
            "create configmaps in namespace shop: the plugin is read-only, because its \
             manifest does not request write"
        );

        let secrets = policy
            .check(&access(Verb::Read, "secrets", Some("shop"), true))
            .unwrap_err();
        assert_eq!(secrets.rule, "secrets");
        assert_eq!(
            secrets.message,
            "list secrets in namespace shop: Secrets need an explicit grant, and the \
             plugin's manifest does not request secrets"
        );

        let exec = Access::of_raw("POST", "/api/v1/namespaces/shop/pods/web/exec").unwrap();
        let exec = policy.check(&exec).unwrap_err();
        assert_eq!(exec.rule, "subresource");
        assert_eq!(
            exec.message,
            "post pods/exec in namespace shop: pods/exec is denied, because the plugin's \
             manifest does not request it"
        );

        let web = policy
            .check(&access(Verb::Read, "pods", Some("web"), true))
            .unwrap_err();
        assert_eq!(web.rule, "namespace");
        assert_eq!(
            web.message,
            "list pods in namespace web: namespace `web` is not granted: the plugin's \
             manifest does not request it"
        );
    }

    #[test]
    fn denial_names_operator_option() {
        let policy = operator(&[], &["shop"])
            .narrow(&request(&["write", "secrets"], &["shop", "db"]))
            .policy;
        let write = policy
            .check(&access(Verb::Write, "configmaps", Some("shop"), true))
            .unwrap_err();
        assert_eq!(
            write.message,
            "create configmaps in namespace shop: the plugin is read-only: run with --allow write"
        );
        let secrets = policy
            .check(&access(Verb::Read, "secrets", Some("shop"), true))
            .unwrap_err();
        assert_eq!(
            secrets.message,
            "list secrets in namespace shop: Secrets need an explicit grant: \
             run with --allow secrets"
        );
        let db = policy
            .check(&access(Verb::Read, "pods", Some("db"), true))
            .unwrap_err();
        assert_eq!(
            db.message,
            "list pods in namespace db: namespace `db` is not granted; the plugin may use shop \
             (grant more with --allow-namespace)"
        );
    }

    #[test]
    fn unchanged_keeps_the_policy() {
        let policy = operator(&["write"], &["shop"]);
        let narrowed = Narrowed::unchanged(policy.clone());
        assert_eq!(narrowed.policy, policy);
        assert!(narrowed.not_granted.is_empty());
    }

    #[test]
    fn request_rejects_unknown_grants() {
        let mut request = Request::default();
        let error = request.add_grant("root").unwrap_err();
        assert!(
            error.starts_with("unknown grant `root`: use write, secrets"),
            "{error}"
        );
        assert!(request.is_empty());
    }

    #[test]
    fn request_summary_lists_both_parts() {
        assert_eq!(
            Request::default().summary(),
            "no grant and no namespace limit"
        );
        assert_eq!(
            request(&["write", "secrets"], &[]).summary(),
            "secrets, write"
        );
        assert_eq!(request(&[], &["a", "b"]).summary(), "namespaces a, b");
    }
}
