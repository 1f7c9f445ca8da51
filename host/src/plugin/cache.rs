//! The on-disk cache of compiled components.
//!
//! Compiling a large component (a Python or JavaScript plugin is 12 to
//! 18 MB) takes seconds, so each compiled component is kept as a file and
//! the next load maps it instead of compiling again. A file's name is a
//! SHA-256 digest over the component's bytes, lazyhost's version and
//! wasmtime's compatibility hash, which covers the wasmtime version, the
//! engine configuration and the CPU features code was compiled for. So a
//! changed plugin, a new lazyhost or an engine setting that differs gets a
//! new file, never a stale one.
//!
//! The files hold native code that lazyhost runs, so the cache folder must
//! belong to the running user alone. lazyhost creates it with mode 0700,
//! and it skips a folder or file that another user owns or that others may
//! write to. Each file ends with the SHA-256 digest of what precedes it, checked
//! before the code is loaded, so a file changed or damaged on disk is
//! compiled again and replaced rather than run. Failing to write the cache
//! only costs the next load a compilation.

use std::fmt::Write as _;
use std::hash::Hash;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Environment variable naming the cache folder.
pub const CACHE_DIR_ENV: &str = "LAZYHOST_CACHE_DIR";

/// Extension of the cache files.
const EXTENSION: &str = "cwasm";

/// A folder of compiled components.
#[derive(Debug)]
pub struct ComponentCache {
    dir: PathBuf,
    /// The user id that owns the folder and must own every file in it.
    #[cfg(unix)]
    owner: u32,
}

/// The layout of the cache files, part of every key: a change of layout
/// gives new names rather than files that fail their check.
const FORMAT: &[u8] = b"lazyhost component cache 2";

/// Length of the digest that ends every cache file.
const DIGEST_LEN: usize = 32;

impl ComponentCache {
    /// Opens the folder that [`CACHE_DIR_ENV`] names, else
    /// `$XDG_CACHE_HOME/lazyhost/components`, else
    /// `~/.cache/lazyhost/components`. Returns `None` when the variable is
    /// `off`, and, after logging why, when there is no such folder or it
    /// cannot be used.
    pub fn open_default() -> Option<Self> {
        if std::env::var_os(CACHE_DIR_ENV).is_some_and(|value| value == "off") {
            tracing::debug!("{CACHE_DIR_ENV} is off, so compiled plugins are not cached");
            return None;
        }
        let dir = std::env::var_os(CACHE_DIR_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                let base = std::env::var_os("XDG_CACHE_HOME")
                    .filter(|value| !value.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::home_dir().map(|home| home.join(".cache")))?;
                Some(base.join("lazyhost").join("components"))
            })?;
        match Self::open(&dir) {
            Ok(cache) => Some(cache),
            Err(reason) => {
                tracing::warn!(
                    dir = %dir.display(),
                    %reason,
                    "not caching compiled plugins: set {CACHE_DIR_ENV} to a folder of your own"
                );
                None
            }
        }
    }

    /// Opens `dir`, creating it with mode 0700 if it does not exist.
    ///
    /// # Errors
    ///
    /// Fails when the folder cannot be created, or when others may write
    /// to it.
    pub fn open(dir: &Path) -> Result<Self, String> {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|error| format!("cannot create it: {error}"))?;
        }
        check_private(dir)?;
        // The owner of a file created now is this process's user; the
        // folder must be that user's too.
        #[cfg(unix)]
        let owner = {
            use std::os::unix::fs::MetadataExt as _;
            let probe = tempfile::tempfile_in(dir)
                .map_err(|error| format!("cannot write to it: {error}"))?;
            let own = probe.metadata().map_err(|error| error.to_string())?.uid();
            let folder = std::fs::metadata(dir)
                .map_err(|error| error.to_string())?
                .uid();
            if folder != own {
                return Err(format!(
                    "it belongs to user id {folder}, not to this user ({own}); lazyhost uses \
                     only a cache of its own user"
                ));
            }
            own
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            #[cfg(unix)]
            owner,
        })
    }

    /// Returns the cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the cache key of `bytes` compiled by `engine`.
    pub fn key(engine: &Engine, bytes: &[u8]) -> String {
        let mut hasher = DigestHasher(Sha256::new());
        hasher.0.update(FORMAT);
        hasher.0.update(env!("CARGO_PKG_VERSION").as_bytes());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.update(bytes);
        hasher
            .0
            .finalize()
            .iter()
            .fold(String::new(), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }

    /// Returns the component compiled earlier under `key`, if the cache
    /// has a usable one.
    pub fn load(&self, engine: &Engine, key: &str) -> Option<Component> {
        let path = self.path(key);
        if !path.exists() {
            return None;
        }

        let image = match self.read_checked(&path) {
            Ok(image) => image,
            Err(reason) => {
                tracing::warn!(
                    path = %path.display(),
                    %reason,
                    "ignored a compiled plugin in the cache; it is compiled again"
                );
                return None;
            }
        };
        // SAFETY: `deserialize` runs the native code in `image`, so it must
        // come from `Component::serialize` of a compatible engine. Only
        // `store` writes files here, named after the component and the
        // engine's compatibility hash, in a folder that only this user may
        // write to. `read_checked` has confirmed that this user owns the
        // file and that its trailing digest matches, so it is what `store`
        // wrote. wasmtime also checks the image's header and engine
        // settings and fails on a mismatch.
        #[expect(
            unsafe_code,
            reason = "loading precompiled code is unsafe by nature; see the SAFETY comment"
        )]
        let loaded = unsafe { Component::deserialize(engine, image) };
        match loaded {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    error = format!("{error:#}"),
                    "a compiled plugin in the cache failed to load, so it is compiled again"
                );
                None
            }
        }
    }

    /// Reads a cache file after checking who owns it and who may write to
    /// it, and returns its image once its digest matches.
    fn read_checked(&self, path: &Path) -> Result<Vec<u8>, String> {
        check_private(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let uid = std::fs::metadata(path)
                .map_err(|error| error.to_string())?
                .uid();
            if uid != self.owner {
                return Err(format!(
                    "it belongs to user id {uid}, not to the cache's user ({})",
                    self.owner
                ));
            }
        }
        let mut bytes = std::fs::read(path).map_err(|error| error.to_string())?;
        if bytes.len() < DIGEST_LEN {
            return Err("it is too short to hold a compiled component".to_string());
        }
        let image_len = bytes.len() - DIGEST_LEN;
        if Sha256::digest(&bytes[..image_len]).as_slice() != &bytes[image_len..] {
            return Err("its digest does not match its contents".to_string());
        }
        bytes.truncate(image_len);
        Ok(bytes)
    }

    /// Stores `component` under `key`. The file appears whole or not at
    /// all: it is written beside its final name and renamed.
    pub fn store(&self, key: &str, component: &Component) {
        let path = self.path(key);
        let result = component
            .serialize()
            .map_err(|error| format!("{error:#}"))
            .and_then(|image| {
                let mut file = tempfile::NamedTempFile::new_in(&self.dir)
                    .map_err(|error| error.to_string())?;
                file.write_all(&image).map_err(|error| error.to_string())?;
                file.write_all(&Sha256::digest(&image))
                    .map_err(|error| error.to_string())?;
                file.persist(&path).map_err(|error| error.to_string())?;
                Ok(())
            });
        if let Err(reason) = result {
            tracing::warn!(path = %path.display(), %reason, "could not cache a compiled plugin");
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.{EXTENSION}"))
    }
}

/// Feeds what [`Hash`] writes into a SHA-256 digest, so that the key does
/// not depend on the standard library's hasher.
struct DigestHasher(Sha256);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        unreachable!("the digest is read with finalize, never through Hasher::finish")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Checks that no one but the owner may write to `path`.
fn check_private(path: &Path) -> Result<(), String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "its mode is {:o}, so others may write to it; lazyhost uses only a cache \
                 that no one else can write to",
                mode & 0o777
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the magic number, the component version
    /// and layer, and no sections.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    #[test]
    fn stored_component_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::open(&dir.path().join("components")).unwrap();
        let engine = engine();
        let key = ComponentCache::key(&engine, EMPTY_COMPONENT);
        assert_eq!(key.len(), 64);
        assert!(cache.load(&engine, &key).is_none());

        let component = Component::new(&engine, EMPTY_COMPONENT).unwrap();
        cache.store(&key, &component);
        assert!(cache.load(&engine, &key).is_some());
        let files = std::fs::read_dir(cache.dir()).unwrap().count();
        assert_eq!(files, 1, "no temporary file is left");
    }

    #[test]
    fn key_depends_on_bytes_and_engine() {
        let engine = engine();
        let key = ComponentCache::key(&engine, EMPTY_COMPONENT);
        assert_eq!(key, ComponentCache::key(&engine, EMPTY_COMPONENT));
        assert_ne!(
            key,
            ComponentCache::key(&engine, b"\0asm\x0d\x00\x01\x00\x00")
        );

        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        assert_ne!(key, ComponentCache::key(&other, EMPTY_COMPONENT));
    }

    #[cfg(unix)]
    #[test]
    fn file_of_another_user_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = ComponentCache::open(dir.path()).unwrap();
        let engine = engine();
        let key = ComponentCache::key(&engine, EMPTY_COMPONENT);
        cache.store(&key, &Component::new(&engine, EMPTY_COMPONENT).unwrap());
        let own = cache.owner;
        cache.owner = own + 1;
        assert_eq!(
            cache.read_checked(&cache.path(&key)).unwrap_err(),
            format!(
                "it belongs to user id {own}, not to the cache's user ({})",
                own + 1
            )
        );
        assert!(cache.load(&engine, &key).is_none());
    }

    #[test]
    fn changed_file_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::open(dir.path()).unwrap();
        let engine = engine();
        let key = ComponentCache::key(&engine, EMPTY_COMPONENT);
        let component = Component::new(&engine, EMPTY_COMPONENT).unwrap();
        cache.store(&key, &component);
        let path = cache.path(&key);
        let mut image = std::fs::read(&path).unwrap();
        let middle = image.len() / 2;
        image[middle] ^= 0xff;
        std::fs::write(&path, &image).unwrap();
        assert_eq!(
            cache.read_checked(&path).unwrap_err(),
            "its digest does not match its contents"
        );
        assert!(cache.load(&engine, &key).is_none());
    }

    #[test]
    fn cut_short_file_is_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ComponentCache::open(dir.path()).unwrap();
        let engine = engine();
        let key = ComponentCache::key(&engine, EMPTY_COMPONENT);
        let component = Component::new(&engine, EMPTY_COMPONENT).unwrap();
        cache.store(&key, &component);
        let path = cache.path(&key);
        let image = std::fs::read(&path).unwrap();
        std::fs::write(&path, &image[..image.len() / 2]).unwrap();
        assert!(cache.load(&engine, &key).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn folder_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = ComponentCache::open(dir.path()).unwrap_err();
        assert_eq!(
            error,
            "its mode is 777, so others may write to it; lazyhost uses only a cache that no one \
             else can write to"
        );
    }
}
