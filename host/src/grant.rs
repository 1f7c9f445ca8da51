//! The operator's grant to one plugin: its section of `lazyhost.toml`,
//! grants added on the command line, and the narrowing by the plugin's own
//! manifest. `lazyhost run` and `lazyhost serve` both build a plugin's
//! policy here, so a plugin runs under the same rules either way.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::{Config, PluginSection};
use crate::inventory::ClusterConfig;
use crate::manifest::Manifest;
use crate::policy::{Namespaces, Narrowed, Policy};

/// A grant that cannot be applied, with the reason and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GrantError(String);

/// Returns the plugin's section of lazyhost.toml, or an empty one. A
/// section whose name differs from the plugin's only in case, `-` for `_`
/// or a `.wasm` ending is an error: it was surely meant for this plugin,
/// and ignoring it would run the plugin with fewer limits than intended.
///
/// # Errors
///
/// Fails on such a near-miss section name.
pub fn plugin_section(config: &Config, name: &str) -> Result<PluginSection, GrantError> {
    if let Some(section) = config.plugins.get(name) {
        return Ok(section.clone());
    }
    let normal = |text: &str| {
        text.trim_end_matches(".wasm")
            .to_ascii_lowercase()
            .replace('-', "_")
    };
    if let Some(near) = config
        .plugins
        .keys()
        .find(|key| normal(key) == normal(name))
    {
        return Err(GrantError(format!(
            "lazyhost.toml has a section [plugins.{near}], but this plugin is named `{name}` \
             (its file name without .wasm), so the section does not apply: rename it to \
             [plugins.{name}]"
        )));
    }
    Ok(PluginSection::default())
}

/// Returns the operator's grant to a plugin: its `section`, with the
/// command line's `allow` grants and `namespaces` added.
///
/// # Errors
///
/// Fails when a grant is not one of the grants lazyhost defines.
pub fn operator_policy(
    section: &PluginSection,
    allow: &[String],
    namespaces: &[String],
) -> Result<Policy, GrantError> {
    let mut policy = section.to_policy().map_err(GrantError)?;
    for namespace in namespaces {
        policy.allow_namespace(namespace);
    }
    for grant in allow {
        policy.grant(grant).map_err(GrantError)?;
    }
    Ok(policy)
}

/// Narrows the operator's grant to the manifest's request, and logs a
/// warning for each part of the request that the operator did not grant.
pub fn narrow_to_manifest(operator: &Policy, manifest: Option<&Manifest>) -> Narrowed {
    let Some(manifest) = manifest else {
        return Narrowed::unchanged(operator.clone());
    };
    let narrowed = operator.narrow(&manifest.request);
    let path = manifest.path.display();
    let not_granted = &narrowed.not_granted;
    if !not_granted.allow.is_empty() {
        let grants: Vec<&str> = not_granted.allow.iter().map(String::as_str).collect();
        tracing::warn!(
            manifest = %path,
            grants = %grants.join(", "),
            "the plugin's manifest requests grants that the operator did not give, so the plugin runs without them"
        );
    }
    if !not_granted.namespaces.is_empty() {
        let namespaces: Vec<&str> = not_granted.namespaces.iter().map(String::as_str).collect();
        tracing::warn!(
            manifest = %path,
            namespaces = %namespaces.join(", "),
            "the plugin's manifest requests namespaces that the operator did not grant, so the plugin may not use them"
        );
    }
    if narrowed.policy.namespaces == Namespaces::Only(BTreeSet::new()) {
        tracing::warn!(
            manifest = %path,
            "no namespace is both requested and granted, so every namespaced call of the plugin will be denied"
        );
    }
    narrowed
}

/// Keeps the targets that the plugin's section lets it use. When the
/// targets were `chosen_by_name` (`--context`, or the current context), a
/// cluster the section excludes is an error; clusters chosen by `--all`,
/// a selector or a schedule are just left out.
///
/// # Errors
///
/// Fails on an excluded cluster chosen by name, and when no target is
/// left.
pub fn scope_targets(
    targets: Vec<Arc<ClusterConfig>>,
    chosen_by_name: bool,
    section: &PluginSection,
    plugin: &str,
) -> Result<Vec<Arc<ClusterConfig>>, GrantError> {
    let scope = || section.cluster_scope();
    if chosen_by_name {
        if let Some(outside) = targets.iter().find(|cluster| !section.may_use(cluster)) {
            return Err(GrantError(format!(
                "plugin `{plugin}` may not use cluster `{}`: its section of lazyhost.toml allows \
                 {}; choose one of those, or add the cluster to `plugins.{plugin}.clusters`",
                outside.name,
                scope()
            )));
        }
        return Ok(targets);
    }
    let total = targets.len();
    let allowed: Vec<_> = targets
        .into_iter()
        .filter(|cluster| section.may_use(cluster))
        .collect();
    if allowed.is_empty() {
        return Err(GrantError(format!(
            "none of the {total} selected clusters is one plugin `{plugin}` may use: its section \
             of lazyhost.toml allows {}",
            scope()
        )));
    }
    if allowed.len() < total {
        tracing::warn!(
            plugin,
            skipped = total - allowed.len(),
            allowed = %scope(),
            "left out clusters the plugin may not use"
        );
    }
    Ok(allowed)
}
