//! The plugin manifest: a TOML file beside a plugin that states what the
//! plugin requests.
//!
//! ```toml
//! name = "label-fixer"                 # informational
//! description = "Adds missing team labels"
//!
//! [requests]
//! allow = ["write"]         # grant words, as --allow takes them
//! namespaces = ["team-a"]   # empty or absent: no namespace limit requested
//! ```
//!
//! For the plugin `DIR/NAME.wasm`, the manifest is `DIR/NAME.plugin.toml`
//! when that file exists, else `DIR/PLUGIN.toml`, so that several plugins
//! can share a folder. Without either, the plugin has no manifest. Every
//! key is optional; an unknown key or an invalid value is an error that
//! names the file and the key. The policy a plugin runs under is the
//! operator's grant narrowed to the request: see
//! [`Policy::narrow`](crate::policy::Policy::narrow).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::from_toml;
use crate::policy::Request;

/// The manifest file shared by every plugin of a folder.
pub const SHARED_MANIFEST_FILE: &str = "PLUGIN.toml";

/// The end of a manifest file name that belongs to one plugin:
/// `NAME.plugin.toml` for `NAME.wasm`.
pub const MANIFEST_SUFFIX: &str = ".plugin.toml";

/// Errors from finding or reading a plugin manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but could not be read.
    #[error("failed to read plugin manifest `{path}`: {source}")]
    Read {
        /// The manifest file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or invalid value.
    #[error("invalid plugin manifest `{path}`: {message}")]
    Invalid {
        /// The manifest file.
        path: PathBuf,
        /// The parser's message, with the key and line.
        message: String,
    },
}

/// A plugin manifest, read and checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// The plugin's name, for people; the configuration still keys the
    /// plugin by its file name.
    pub name: Option<String>,
    /// A description of the plugin, for people.
    pub description: Option<String>,
    /// The grants and namespaces the plugin requests.
    #[serde(rename = "requests")]
    pub request: Request,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ManifestFile {
    name: Option<String>,
    description: Option<String>,
    requests: RequestsSection,
}

/// The `[requests]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RequestsSection {
    allow: Vec<String>,
    namespaces: Vec<String>,
}

impl Manifest {
    /// Returns the manifest file of the plugin at `plugin`:
    /// `NAME.plugin.toml` beside it, else `PLUGIN.toml` beside it, else
    /// `None`.
    ///
    /// # Errors
    ///
    /// Fails when whether a candidate exists cannot be found out, such as
    /// for a folder without search permission.
    pub fn path_for(plugin: &Path) -> Result<Option<PathBuf>, ManifestError> {
        let folder = plugin.parent().unwrap_or(Path::new(""));
        let own = plugin.file_stem().map(|stem| {
            let mut name = stem.to_os_string();
            name.push(MANIFEST_SUFFIX);
            folder.join(name)
        });
        let candidates = own
            .into_iter()
            .chain(std::iter::once(folder.join(SHARED_MANIFEST_FILE)));
        for candidate in candidates {
            let exists = candidate
                .try_exists()
                .map_err(|source| ManifestError::Read {
                    path: candidate.clone(),
                    source,
                })?;
            if exists {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Finds and reads the manifest of the plugin at `plugin`, if it has
    /// one.
    ///
    /// # Errors
    ///
    /// As [`Manifest::path_for`] and [`Manifest::load`].
    pub fn find(plugin: &Path) -> Result<Option<Self>, ManifestError> {
        match Self::path_for(plugin)? {
            Some(path) => Self::load(&path).map(Some),
            None => Ok(None),
        }
    }

    /// Reads and checks a manifest file.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read, is not valid TOML, has an
    /// unknown key, or names an unknown grant or an empty namespace.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut manifest = Self::parse(&text).map_err(|message| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        manifest.path = path.to_path_buf();
        Ok(manifest)
    }

    /// Parses manifest text; the result has an empty path.
    fn parse(text: &str) -> Result<Self, String> {
        let file: ManifestFile = from_toml(text)?;
        let mut request = Request::default();
        for grant in &file.requests.allow {
            request
                .add_grant(grant)
                .map_err(|reason| format!("key `requests.allow`: {reason}"))?;
        }
        for namespace in &file.requests.namespaces {
            crate::policy::check_dns_label(namespace)
                .map_err(|reason| format!("key `requests.namespaces`: {reason}"))?;
            request.namespaces.insert(namespace.clone());
        }
        Ok(Self {
            path: PathBuf::new(),
            name: file.name,
            description: file.description,
            request,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_manifest_is_read() {
        let text = r#"
            name = "label-fixer"
            description = "Adds missing team labels"
            [requests]
            allow = ["write", "pods/exec"]
            namespaces = ["team-a", "team-b"]
        "#;
        let manifest = Manifest::parse(text).unwrap();
        assert_eq!(manifest.name.as_deref(), Some("label-fixer"));
        assert_eq!(
            manifest.description.as_deref(),
            Some("Adds missing team labels")
        );
        assert_eq!(
            manifest.request.allow.iter().collect::<Vec<_>>(),
            ["pods/exec", "write"]
        );
        assert_eq!(
            manifest.request.namespaces.iter().collect::<Vec<_>>(),
            ["team-a", "team-b"]
        );
    }

    #[test]
    fn empty_manifest_requests_nothing() {
        let manifest = Manifest::parse("").unwrap();
        assert_eq!(manifest.name, None);
        assert_eq!(manifest.description, None);
        assert!(manifest.request.is_empty());

        let only_table = Manifest::parse("[requests]\n").unwrap();
        assert!(only_table.request.is_empty());
    }

    #[test]
    fn invalid_manifests_name_the_key() {
        let cases = [
            ("color = \"blue\"", "unknown field `color`"),
            ("[requests]\nallows = [\"write\"]", "unknown field `allows`"),
            ("[request]\nallow = [\"write\"]", "unknown field `request`"),
            (
                "[requests]\nallow = [\"root\"]",
                "key `requests.allow`: unknown grant `root`: use write, secrets, or one of \
                 pods/exec, pods/attach, pods/portforward, pods/proxy, services/proxy, \
                 nodes/proxy, serviceaccounts/token, pods/ephemeralcontainers",
            ),
            (
                "[requests]\nnamespaces = [\"a\", \" \"]",
                "key `requests.namespaces`: ` ` is not a valid name",
            ),
            (
                "[requests]\nallow = \"write\"",
                "invalid type: string \"write\", expected a sequence",
            ),
            ("name = 3", "invalid type: integer `3`, expected a string"),
            ("[requests", "unclosed table, expected `]`"),
        ];
        for (text, expected) in cases {
            let error = Manifest::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?} gave {error:?}");
            assert!(!error.contains('\n'), "{error:?}");
        }
    }

    #[test]
    fn own_manifest_comes_before_the_shared_one() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("fixer.wasm");
        assert_eq!(Manifest::path_for(&plugin).unwrap(), None);
        assert_eq!(Manifest::find(&plugin).unwrap(), None);

        let shared = dir.path().join("PLUGIN.toml");
        std::fs::write(&shared, "[requests]\nallow = [\"secrets\"]\n").unwrap();
        assert_eq!(Manifest::path_for(&plugin).unwrap(), Some(shared.clone()));

        let own = dir.path().join("fixer.plugin.toml");
        std::fs::write(&own, "[requests]\nallow = [\"write\"]\n").unwrap();
        assert_eq!(Manifest::path_for(&plugin).unwrap(), Some(own.clone()));
        let manifest = Manifest::find(&plugin).unwrap().unwrap();
        assert_eq!(manifest.path, own);
        assert_eq!(manifest.request.allow.iter().collect::<Vec<_>>(), ["write"]);

        // Another plugin of the folder falls back to the shared file.
        let other = Manifest::find(&dir.path().join("audit.wasm"))
            .unwrap()
            .unwrap();
        assert_eq!(other.path, shared);
    }

    #[test]
    fn invalid_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("PLUGIN.toml");
        std::fs::write(&path, "[requests]\nallow = [\"root\"]\n").unwrap();
        let error = Manifest::find(&dir.path().join("fixer.wasm")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "invalid plugin manifest `{}`: key `requests.allow`: unknown grant `root`",
                path.display()
            )),
            "{message}"
        );
    }

    #[test]
    fn unreadable_manifest_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should be exists but cannot be read.
        std::fs::create_dir(dir.path().join("fixer.plugin.toml")).unwrap();
        let error = Manifest::find(&dir.path().join("fixer.wasm")).unwrap_err();
        assert!(matches!(error, ManifestError::Read { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("failed to read plugin manifest `"),
            "{error}"
        );
    }
}
