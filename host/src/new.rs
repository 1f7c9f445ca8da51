//! `lazyhost new`: writes a plugin skeleton from the templates embedded at
//! build time.
//!
//! Each folder `templates/<language>/` of the repository is one language.
//! Its files are copied with the placeholders `{{name}}` (the plugin name)
//! and `{{name_underscored}}` (the name with `_` for `-`) replaced. The WIT
//! files of the contract are written to `wit/` beside them, so a skeleton
//! builds outside this repository too. Every skeleton has a
//! `build.sh OUT_DIR` that writes `OUT_DIR/<name_underscored>.wasm`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A file embedded in the binary.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// Path relative to the template folder, with `/` separators.
    pub path: &'static str,
    /// The file's bytes.
    pub contents: &'static [u8],
    /// Whether the file is written with the executable bits set.
    pub executable: bool,
}

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The languages `lazyhost new` accepts. A language whose template folder is
/// missing from the build is rejected with [`NewError::MissingTemplate`].
pub const LANGUAGES: [&str; 5] = ["rust", "python", "js", "c", "go"];

/// Maximum length of a plugin name, the limit of a DNS label.
const MAX_NAME_LENGTH: usize = 63;

/// Errors of `lazyhost new`.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name is not a valid plugin name.
    #[error(
        "invalid plugin name `{name}`: {reason}; use 1 to 63 lowercase letters, digits and `-`, starting with a letter and ending with a letter or digit, such as `pod-report`"
    )]
    InvalidName {
        /// The name given.
        name: String,
        /// The rule the name breaks.
        reason: &'static str,
    },
    /// The language is not one of [`LANGUAGES`].
    #[error("unknown language `{0}`: use one of rust, python, js, c or go")]
    UnknownLanguage(String),
    /// The binary was built without a template for the language.
    #[error(
        "no template for {0}: this lazyhost was built without templates/{0}/; add that folder and rebuild lazyhost"
    )]
    MissingTemplate(String),
    /// The destination folder exists already.
    #[error("folder {} already exists: choose another name or --dir", .0.display())]
    Exists(PathBuf),
    /// Writing the skeleton failed.
    #[error("failed to write {}: {source}", path.display())]
    Write {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// A skeleton written by [`create`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skeleton {
    /// The plugin's folder.
    pub folder: PathBuf,
    /// The files written, relative to `folder`.
    pub files: Vec<String>,
    /// The component file name that `build.sh` writes into its OUT_DIR.
    pub component: String,
}

/// Returns the languages that this binary has templates for, sorted.
pub fn available_languages() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(language, _)| *language).collect()
}

/// Checks that `name` is a plugin name: a DNS label (RFC 1123) that starts
/// with a letter, so that it is also a valid crate, package and module name
/// once `-` becomes `_`.
pub fn validate_name(name: &str) -> Result<(), NewError> {
    let invalid = |reason| {
        Err(NewError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LENGTH {
        return invalid("it is longer than 63 characters");
    }
    if !name
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    {
        return invalid("it contains a character other than a-z, 0-9 and `-`");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("it does not start with a letter");
    }
    if name.ends_with('-') {
        return invalid("it ends with `-`");
    }
    Ok(())
}

/// Writes the skeleton of a `language` plugin named `name` into
/// `parent/name` and returns what it wrote. The folder must not exist; on
/// a failure, the partly written folder is removed.
pub fn create(language: &str, name: &str, parent: &Path) -> Result<Skeleton, NewError> {
    validate_name(name)?;
    if !LANGUAGES.contains(&language) {
        return Err(NewError::UnknownLanguage(language.to_string()));
    }
    let files = TEMPLATES
        .iter()
        .find(|(template, _)| *template == language)
        .map(|(_, files)| *files)
        .ok_or_else(|| NewError::MissingTemplate(language.to_string()))?;

    let folder = parent.join(name);
    if folder.exists() {
        return Err(NewError::Exists(folder));
    }
    std::fs::create_dir_all(parent).map_err(|source| NewError::Write {
        path: parent.to_path_buf(),
        source,
    })?;
    // create_dir fails when another process made the folder in the meantime.
    std::fs::create_dir(&folder).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => NewError::Exists(folder.clone()),
        _ => NewError::Write {
            path: folder.clone(),
            source,
        },
    })?;
    match write_files(&folder, name, files) {
        Ok(written) => Ok(Skeleton {
            folder,
            files: written,
            component: format!("{}.wasm", underscored(name)),
        }),
        Err(error) => {
            let _ = std::fs::remove_dir_all(&folder);
            Err(error)
        }
    }
}

/// Returns `name` with `_` in place of `-`.
pub fn underscored(name: &str) -> String {
    name.replace('-', "_")
}

fn write_files(folder: &Path, name: &str, files: &[EmbeddedFile]) -> Result<Vec<String>, NewError> {
    let mut written = Vec::new();
    for file in files {
        write_file(
            folder,
            file.path,
            &fill(file.contents, name),
            file.executable,
        )?;
        written.push(file.path.to_string());
    }
    for file in WIT_FILES {
        let path = format!("wit/{}", file.path);
        write_file(folder, &path, file.contents, false)?;
        written.push(path);
    }
    Ok(written)
}

/// Replaces the placeholders of a text file; other files are kept as they are.
fn fill(contents: &[u8], name: &str) -> Vec<u8> {
    match std::str::from_utf8(contents) {
        Ok(text) => text
            .replace("{{name_underscored}}", &underscored(name))
            .replace("{{name}}", name)
            .into_bytes(),
        Err(_) => contents.to_vec(),
    }
}

fn write_file(
    folder: &Path,
    relative: &str,
    contents: &[u8],
    executable: bool,
) -> Result<(), NewError> {
    let path = folder.join(relative);
    let error = |source| NewError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    let mut file = std::fs::File::create(&path).map_err(error)?;
    file.write_all(contents).map_err(error)?;
    if executable {
        set_executable(&file).map_err(error)?;
    }
    Ok(())
}

#[cfg(unix)]
fn set_executable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_labels() {
        for name in ["a", "pod-report", "x1", &"a".repeat(63)] {
            assert!(validate_name(name).is_ok(), "{name}");
        }
        for name in [
            "",
            "Pod",
            "1pod",
            "-pod",
            "pod-",
            "pod_report",
            "pod.report",
            &"a".repeat(64),
        ] {
            assert!(validate_name(name).is_err(), "{name}");
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let filled = fill(b"{{name}} {{name_underscored}}", "pod-report");
        assert_eq!(filled, b"pod-report pod_report");
    }

    #[test]
    fn every_template_has_build_script() {
        for (language, files) in TEMPLATES {
            let build = files.iter().find(|file| file.path == "build.sh");
            assert!(
                build.is_some_and(|file| file.executable),
                "templates/{language}/build.sh"
            );
        }
        assert!(WIT_FILES.iter().any(|file| file.path == "plugin.wit"));
    }
}
