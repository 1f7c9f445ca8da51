//! Inspection of a plugin file and of the policy it would run under,
//! without running it: `lazyhost inspect`.
//!
//! An inspection reads the file, hashes it, lists the imports and exports
//! of its component (or core module), runs the plugin-world check of
//! [`PluginRuntime::load`], and narrows the operator's grant to the
//! plugin's manifest as `lazyhost run` does.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use wasmtime::component::types::ComponentItem;

use crate::cluster::Identity;
use crate::manifest::{Manifest, ManifestError};
use crate::plugin::{Limits, LoadError, PluginRuntime, is_core_module, plugin_name, read_wasm};
use crate::policy::{Narrowed, Policy, Request};

/// Errors that stop an inspection before it has a result.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file cannot be read, is not WebAssembly, or does not compile.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The plugin's manifest cannot be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// The kind of WebAssembly binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A component, the only kind lazyhost runs.
    Component,
    /// A core module, which lazyhost rejects.
    CoreModule,
}

/// One import or export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The name, such as `lazyhost:plugin/kube-client@1.1.0` or `run`.
    /// A core module's import is named `module::name`.
    pub name: String,
    /// The item's kind. In a component it is `instance`, `function`,
    /// `type`, `resource`, `module`, `component` or `core function`. In a
    /// core module it is `function`, `global`, `table`, `memory` or `tag`.
    pub kind: &'static str,
}

/// The result of inspecting a plugin file.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// The plugin's name: its file name without `.wasm`, which keys its
    /// section of `lazyhost.toml`.
    pub plugin: String,
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 digest of the file, in lowercase hex.
    pub sha256: String,
    /// Component or core module.
    pub kind: Kind,
    /// Imports, sorted by name.
    pub imports: Vec<Item>,
    /// Exports, sorted by name.
    pub exports: Vec<Item>,
    /// Whether `lazyhost run` would load the plugin.
    pub fits_plugin_world: bool,
    /// Why `lazyhost run` would reject the plugin: the message of its
    /// error. `None` when the plugin fits.
    pub rejection: Option<String>,
    /// The plugin's manifest, if it has one.
    pub manifest: Option<Manifest>,
    /// The operator's grant from `lazyhost.toml` and the command line,
    /// in one line.
    pub operator_policy: String,
    /// The policy the plugin would run under, in one line.
    pub policy: String,
    /// Grants and namespaces the manifest requests that the operator did
    /// not grant.
    pub requested_not_granted: Request,
    /// The clusters the plugin's section lets it use, in one line.
    pub clusters: String,
    /// The identity its requests would impersonate.
    pub identity: Option<Identity>,
    /// Whether its writes would be server-side dry runs.
    pub dry_run: bool,
    /// The limits of each invocation, in one line.
    pub limits: String,
}

/// Inspects the plugin at `path`, as it would run under the operator's
/// grant `operator`.
///
/// # Errors
///
/// Fails as [`PluginRuntime::load`] does when the file cannot be read, is
/// not WebAssembly or does not compile. A core module that does not
/// compile fails with [`LoadError::CoreModule`], the error `run` gives for
/// any core module. A file that compiles but does not fit the plugin world
/// is not an error: the inspection records the reason. An invalid
/// manifest is an error.
pub fn inspect(
    runtime: &PluginRuntime,
    path: &Path,
    operator: &Policy,
) -> Result<Inspection, InspectError> {
    let bytes = read_wasm(path)?;
    let (kind, imports, exports, rejection) = if is_core_module(&bytes) {
        let (imports, exports) = core_module_items(runtime, path, &bytes)?;
        let rejection = LoadError::CoreModule {
            path: path.to_path_buf(),
        };
        (Kind::CoreModule, imports, exports, Some(rejection))
    } else {
        let component = runtime.compile(path, &bytes)?;
        let (imports, exports) = component_items(runtime, &component);
        let rejection = runtime.fits_world(path, &component).err();
        (Kind::Component, imports, exports, rejection)
    };

    let manifest = Manifest::find(path)?;
    let narrowed = match &manifest {
        Some(manifest) => operator.narrow(&manifest.request),
        None => Narrowed::unchanged(operator.clone()),
    };
    Ok(Inspection {
        plugin: plugin_name(path),
        path: path.to_path_buf(),
        size: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
        kind,
        imports,
        exports,
        fits_plugin_world: rejection.is_none(),
        rejection: rejection.map(|error| error.to_string()),
        manifest,
        operator_policy: operator.summary(),
        policy: narrowed.policy.summary(),
        requested_not_granted: narrowed.not_granted,
        clusters: "every cluster".to_string(),
        identity: None,
        dry_run: false,
        limits: Limits::default().summary(),
    })
}

fn component_items(
    runtime: &PluginRuntime,
    component: &wasmtime::component::Component,
) -> (Vec<Item>, Vec<Item>) {
    let engine = runtime.engine();
    let ty = component.component_type();
    let item = |(name, item): (&str, wasmtime::component::types::ComponentExtern<'_>)| Item {
        name: name.to_string(),
        kind: component_kind(&item.ty),
    };
    let imports = sorted(ty.imports(engine).map(item).collect());
    let exports = sorted(ty.exports(engine).map(item).collect());
    (imports, exports)
}

fn component_kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::ComponentFunc(_) => "function",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
        ComponentItem::Module(_) => "module",
        ComponentItem::Component(_) => "component",
        ComponentItem::CoreFunc(_) => "core function",
    }
}

fn core_module_items(
    runtime: &PluginRuntime,
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<Item>, Vec<Item>), LoadError> {
    let module = wasmtime::Module::new(runtime.engine(), bytes).map_err(|error| {
        tracing::debug!(
            error = format!("{error:#}"),
            "core module failed to compile"
        );
        LoadError::CoreModule {
            path: path.to_path_buf(),
        }
    })?;
    let imports = module
        .imports()
        .map(|import| Item {
            name: format!("{}::{}", import.module(), import.name()),
            kind: core_kind(&import.ty()),
        })
        .collect();
    let exports = module
        .exports()
        .map(|export| Item {
            name: export.name().to_string(),
            kind: core_kind(&export.ty()),
        })
        .collect();
    Ok((sorted(imports), sorted(exports)))
}

fn core_kind(ty: &wasmtime::ExternType) -> &'static str {
    match ty {
        wasmtime::ExternType::Func(_) => "function",
        wasmtime::ExternType::Global(_) => "global",
        wasmtime::ExternType::Table(_) => "table",
        wasmtime::ExternType::Memory(_) => "memory",
        wasmtime::ExternType::Tag(_) => "tag",
    }
}

fn sorted(mut items: Vec<Item>) -> Vec<Item> {
    items.sort_by(|a, b| a.name.cmp(&b.name));
    items
}

/// Formats bytes as lowercase hex.
/// Returns the SHA-256 digest of `bytes` in lower-case hex, as `lazyhost
/// inspect` prints it and `serve.allowed_digests` lists it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_input() {
        // The SHA-256 test vector of the empty message (FIPS 180-4).
        assert_eq!(
            hex(&Sha256::digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn empty_core_module_has_no_items() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("core.wasm");
        std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
        let runtime = PluginRuntime::new().unwrap();
        let inspection = inspect(&runtime, &path, &Policy::default()).unwrap();
        assert_eq!(inspection.kind, Kind::CoreModule);
        assert_eq!(inspection.size, 8);
        assert!(inspection.imports.is_empty());
        assert!(inspection.exports.is_empty());
        assert!(!inspection.fits_plugin_world);
        let rejection = inspection.rejection.unwrap();
        assert!(
            rejection.contains("is a core WebAssembly module, not a component"),
            "{rejection}"
        );
        assert_eq!(inspection.plugin, "core");
        assert!(inspection.manifest.is_none());
        assert_eq!(inspection.policy, inspection.operator_policy);
    }

    #[test]
    fn truncated_core_module_fails_like_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wasm");
        // A type section that announces 10 bytes and ends after 1.
        std::fs::write(&path, b"\0asm\x01\0\0\0\x01\x0a\x01").unwrap();
        let runtime = PluginRuntime::new().unwrap();
        let error = inspect(&runtime, &path, &Policy::default()).unwrap_err();
        assert!(
            matches!(error, InspectError::Load(LoadError::CoreModule { .. })),
            "{error:?}"
        );
    }
}
