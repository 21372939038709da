//! Where a registry keeps its files: the [`RegistryStore`] trait and the
//! local-filesystem [`FsStore`].

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::RegistryError;
use crate::artifact::{ArtifactError, read_capped, write_atomic};

/// Storage behind a [`Registry`](super::Registry).
///
/// Keys are `/`-separated relative paths made only of validated model names,
/// version numbers and fixed words. An implementation must make
/// [`put`](RegistryStore::put) atomic (readers see the old value or the new
/// one) and [`lock`](RegistryStore::lock) exclusive across processes, so an
/// object store can back a registry with conditional writes.
pub trait RegistryStore: Send + Sync + fmt::Debug {
    /// The value at `key`, if present, refusing values over `max_bytes`.
    ///
    /// # Errors
    ///
    /// I/O failures or an oversized value.
    fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, RegistryError>;

    /// Replaces the value at `key` atomically.
    ///
    /// # Errors
    ///
    /// I/O failures.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), RegistryError>;

    /// Removes `key` (absent keys are fine).
    ///
    /// # Errors
    ///
    /// I/O failures.
    fn delete(&self, key: &str) -> Result<(), RegistryError>;

    /// Moves `from` to `to` atomically.
    ///
    /// # Errors
    ///
    /// I/O failures.
    fn rename(&self, from: &str, to: &str) -> Result<(), RegistryError>;

    /// Names directly under `prefix` (file or directory names, not paths).
    ///
    /// # Errors
    ///
    /// I/O failures.
    fn list(&self, prefix: &str) -> Result<Vec<String>, RegistryError>;

    /// Takes the exclusive writer lock for `scope`, blocking until it is
    /// free; released when the returned guard drops.
    ///
    /// # Errors
    ///
    /// I/O failures.
    fn lock(&self, scope: &str) -> Result<Box<dyn fmt::Debug + Send>, RegistryError>;

    /// A local path for `key`, where the store has one (for display).
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let _ = key;
        None
    }
}

/// A registry on the local filesystem.
///
/// # Layout
///
/// ```text
/// ROOT/
///   NAME/
///     .lock                 writer lock (flock), per model
///     model.json            next version number
///     aliases.json          {"production": 3, "staging": 4}
///     released.json         when an alias last left each version (ms), for gc
///     versions/N.mhart      the artifact of version N
///     versions/N.json       its summary (kind, metrics, tags, size, checksum)
///     archive/N.mhart       archived versions, and their summaries
///     archive/N.json
/// ```
///
/// Every file is replaced by writing a temporary file in the same directory
/// (`.NAME.tmp-PID-N`), fsyncing it and renaming it over the old one, so a
/// concurrent reader or a crash mid-write never sees half a file. Writers of
/// one model serialize on `.lock`, which works across processes; taking the
/// lock removes the temporary files of writers that died, since no live
/// writer of the model can exist while it is held.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// A store rooted at `root` (created if missing).
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
        Ok(Self { root })
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        key.split('/')
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    fn ensure_parent(&self, path: &Path) -> Result<(), RegistryError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        Ok(())
    }
}

impl FsStore {
    /// Removes the temporary files (`.NAME.tmp-PID-N`) that writers killed
    /// mid-write left in `scope`, `scope/versions` and `scope/archive`.
    /// Called with the scope's lock held.
    fn sweep_temp_files(&self, scope: &str) -> Result<(), RegistryError> {
        for sub in ["", "/versions", "/archive"] {
            let dir = format!("{scope}{sub}");
            for f in self.list(&dir)? {
                if is_temp_file(&f) {
                    log::debug!("registry: removing {dir}/{f}, left by a writer that died");
                    self.delete(&format!("{dir}/{f}"))?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `file` is named like `write_atomic`'s temporary files:
/// `.NAME.tmp-PID-N`.
fn is_temp_file(file: &str) -> bool {
    let Some(rest) = file.strip_prefix('.') else {
        return false;
    };
    let Some((_, tail)) = rest.rsplit_once(".tmp-") else {
        return false;
    };
    let mut parts = tail.split('-');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

fn io(path: &Path, e: std::io::Error) -> RegistryError {
    RegistryError::Storage(ArtifactError::io(path, e))
}

impl RegistryStore for FsStore {
    fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, RegistryError> {
        let path = self.path(key);
        match read_capped(&path, max_bytes) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ArtifactError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(RegistryError::Storage(e)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), RegistryError> {
        let path = self.path(key);
        self.ensure_parent(&path)?;
        write_atomic(&path, bytes).map_err(RegistryError::Storage)
    }

    fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(&path, e)),
            _ => Ok(()),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), RegistryError> {
        let (from, to) = (self.path(from), self.path(to));
        self.ensure_parent(&to)?;
        fs::rename(&from, &to).map_err(|e| io(&from, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, RegistryError> {
        let dir = if prefix.is_empty() {
            self.root.clone()
        } else {
            self.path(prefix)
        };
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io(&dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn lock(&self, scope: &str) -> Result<Box<dyn fmt::Debug + Send>, RegistryError> {
        let path = self.path(&format!("{scope}/.lock"));
        self.ensure_parent(&path)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        file.lock().map_err(|e| io(&path, e))?;
        // Every write under `scope` holds this lock, so a temporary file
        // found now belongs to a writer that died: nobody can be writing it.
        self.sweep_temp_files(scope)?;
        // The lock is released when the file is closed.
        Ok(Box::new(file))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }
}

#[cfg(test)]
mod tests {
    use super::is_temp_file;

    #[test]
    fn temp_file_names() {
        assert!(is_temp_file(".3.mhart.tmp-1234-0"));
        assert!(is_temp_file(".aliases.json.tmp-1-99"));
        assert!(!is_temp_file(".lock"));
        assert!(!is_temp_file("3.mhart"));
        assert!(!is_temp_file(".x.tmp-12"));
        assert!(!is_temp_file(".x.tmp-12-a"));
        assert!(!is_temp_file(".x.tmp-1-2-3"));
    }
}
