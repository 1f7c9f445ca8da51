//! Embeds the plugin skeletons of `templates/<language>/` and the WIT files
//! of `wit/` for `lazyhost new`. Every folder under `templates/` becomes a
//! language, so a new template needs no code change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folders that a build leaves inside a template and that are not part of it.
const SKIPPED: [&str; 4] = ["node_modules", "__pycache__", "target", ".git"];

fn main() {
    let root = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let templates = root.join("templates");
    let wit = root.join("wit");
    // A folder path makes cargo rerun the script when anything inside changes.
    println!("cargo:rerun-if-changed={}", templates.display());
    println!("cargo:rerun-if-changed={}", wit.display());

    let mut code = String::from("/// Skeletons per language folder: (language, files).\n");
    code.push_str("pub(crate) static TEMPLATES: &[(&str, &[EmbeddedFile])] = &[\n");
    let mut languages = sorted_entries(&templates);
    languages.retain(|path| path.is_dir());
    for language in languages {
        let name = file_name(&language);
        let mut files = Vec::new();
        collect_files(&language, &mut files);
        writeln!(code, "    ({name:?}, &[").unwrap();
        for file in files {
            push_file(&mut code, &language, &file);
        }
        code.push_str("    ]),\n");
    }
    code.push_str(
        "];\n\n/// The WIT files of the contract, written to `wit/` beside a skeleton.\n",
    );
    code.push_str("pub(crate) static WIT_FILES: &[EmbeddedFile] = &[\n");
    for file in sorted_entries(&wit) {
        if file.extension().is_some_and(|extension| extension == "wit") {
            push_file(&mut code, &wit, &file);
        }
    }
    code.push_str("];\n");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("templates.rs"), code).expect("writing templates.rs");
}

fn push_file(code: &mut String, base: &Path, file: &Path) {
    let relative = file.strip_prefix(base).expect("file is under its base");
    let relative = relative
        .to_str()
        .expect("template paths are UTF-8")
        .replace('\\', "/");
    let absolute = file.to_str().expect("template paths are UTF-8");
    writeln!(
        code,
        "        EmbeddedFile {{ path: {relative:?}, contents: include_bytes!({absolute:?}), executable: {} }},",
        is_executable(file)
    )
    .unwrap();
}

fn collect_files(folder: &Path, files: &mut Vec<PathBuf>) {
    for entry in sorted_entries(folder) {
        if entry.is_dir() {
            if !SKIPPED.contains(&file_name(&entry).as_str()) {
                collect_files(&entry, files);
            }
        } else {
            files.push(entry);
        }
    }
}

fn sorted_entries(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading a template folder").path())
        .collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("entry has a name")
        .to_string_lossy()
        .into_owned()
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "sh")
}
