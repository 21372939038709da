//! Where a registry keeps its files: the [`RegistryStore`] trait and the
//! local-filesystem [`FsStore`].

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::RegistryError;
use crate::artifact::{ArtifactError, read_capped, write_atomic_with};

/// The version of a stored value, as its store reports it: an object
/// store's ETag, or a digest of a file's content. Opaque: only compared,
/// and handed back in [`PutMode::Update`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revision(String);

impl Revision {
    /// A revision from the store's own tag.
    #[must_use]
    pub fn new(tag: impl Into<String>) -> Self {
        Self(tag.into())
    }

    /// The store's tag.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The condition of a [`RegistryStore::put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Write only if nothing is there (`If-None-Match: *`).
    Create,
    /// Write only if the value is still at this revision (`If-Match`).
    Update(Revision),
}

/// What [`RegistryStore::get_if_changed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Still at the revision the caller knows.
    Unchanged,
    /// Nothing at the key.
    Absent,
    /// A value other than the one the caller knows.
    Changed(Vec<u8>, Revision),
}

/// Storage behind a [`Registry`](super::Registry).
///
/// Keys are `/`-separated relative paths made only of validated model names,
/// version numbers and fixed words. A store needs no locks: the registry
/// writes every value that changes with a conditional [`put`](Self::put)
/// and retries when another writer got there first, and writes every other
/// value once, under a key nobody else writes. A store must make each
/// `put` atomic (readers see the old value or the new one, never part of
/// one) and its conditions exact, across processes and machines.
pub trait RegistryStore: Send + Sync + fmt::Debug {
    /// The value at `key`, if present, refusing values over `max_bytes`.
    ///
    /// # Errors
    ///
    /// Storage failures or an oversized value.
    fn get(&self, key: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, RegistryError>;

    /// The value at `key` with its revision, unless it is still at `known`
    /// (an object store answers that with a conditional GET, `304 Not
    /// Modified`, without sending the value).
    ///
    /// # Errors
    ///
    /// Storage failures or an oversized value.
    fn get_if_changed(
        &self,
        key: &str,
        max_bytes: u64,
        known: Option<&Revision>,
    ) -> Result<Fetched, RegistryError>;

    /// Writes `bytes` at `key` if `mode` allows it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Conflict`] when the condition does not hold (the
    /// key exists for [`PutMode::Create`]; it is absent or at another
    /// revision for [`PutMode::Update`]); storage failures.
    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<(), RegistryError>;

    /// Removes `key` (absent keys are fine).
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn delete(&self, key: &str) -> Result<(), RegistryError>;

    /// Names directly under `prefix` (file or directory names, not paths),
    /// sorted.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn list(&self, prefix: &str) -> Result<Vec<String>, RegistryError>;

    /// Removes what writers killed part-way through a [`put`](Self::put)
    /// left under `prefix` at the storage level (temporary files). Object
    /// stores have nothing to remove: their writes are single requests.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn sweep(&self, prefix: &str) -> Result<(), RegistryError> {
        let _ = prefix;
        Ok(())
    }

    /// A local path for `key`, where the store has one (for display).
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let _ = key;
        None
    }

    /// Where the store is, for messages (`/var/lib/models`,
    /// `s3://bucket/prefix`).
    fn location(&self) -> String;
}

/// A registry on the local filesystem.
///
/// # Layout
///
/// ```text
/// ROOT/
///   NAME/
///     index.json            next version number, each version's state,
///                           aliases, when aliases left versions
///     versions/N.mhart      the artifact of version N (written once)
///     versions/N.json       its summary (kind, metrics, tags, size, checksum)
///     .lock                 held for the instant of a conditional write
/// ```
///
/// Every file is written to a temporary file in the same directory
/// (`.NAME.tmp-PID-N`), fsynced, and renamed into place, so a concurrent
/// reader or a crash mid-write never sees half a file. A conditional write
/// checks its condition and renames while it holds an advisory lock
/// (`flock`) on the directory's `.lock`, for the instant of the check: the
/// kernel releases it when its holder dies, so a crashed writer never
/// leaves a lock behind. A revision is a digest of the file's content.
///
/// Registries written before the index existed (`model.json`,
/// `aliases.json`, `released.json`, `archive/`) are read as they are and
/// moved to this layout by the first access.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

/// Temporary files of a process that is still alive are left alone until
/// they are this old (a writer on another machine sharing the directory,
/// or a pid reused).
const STALE_TEMP_FILE: Duration = Duration::from_secs(24 * 3600);

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
            .filter(|p| !p.is_empty())
            .fold(self.root.clone(), |p, part| p.join(part))
    }

    fn ensure_parent(&self, path: &Path) -> Result<(), RegistryError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        Ok(())
    }
}

/// The revision of a file's content.
fn digest(bytes: &[u8]) -> Revision {
    Revision(hex(&Sha256::digest(bytes)[..16]))
}

/// Lowercase hex of `bytes` (checksums, revisions, cache file names).
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Whether `file` is named like `write_atomic`'s temporary files:
/// `.NAME.tmp-PID-N`; returns the pid.
fn temp_file_pid(file: &str) -> Option<u32> {
    let rest = file.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let mut parts = tail.split('-');
    fn digits(p: Option<&str>) -> Option<&str> {
        p.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }
    let pid = digits(parts.next())?;
    digits(parts.next())?;
    if parts.next().is_some() {
        return None;
    }
    pid.parse().ok()
}

/// Whether the temporary file at `path`, written by `pid`, can be removed:
/// its process is gone (where `/proc` tells), or it is a day old.
fn temp_file_is_dead(path: &Path, pid: u32) -> bool {
    let proc = Path::new("/proc");
    if proc.join("self").exists()
        && pid != std::process::id()
        && !proc.join(pid.to_string()).exists()
    {
        return true;
    }
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > STALE_TEMP_FILE)
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

    fn get_if_changed(
        &self,
        key: &str,
        max_bytes: u64,
        known: Option<&Revision>,
    ) -> Result<Fetched, RegistryError> {
        Ok(match self.get(key, max_bytes)? {
            None => Fetched::Absent,
            Some(bytes) => {
                let revision = digest(&bytes);
                if known == Some(&revision) {
                    Fetched::Unchanged
                } else {
                    Fetched::Changed(bytes, revision)
                }
            }
        })
    }

    fn put(&self, key: &str, bytes: &[u8], mode: PutMode) -> Result<(), RegistryError> {
        let path = self.path(key);
        self.ensure_parent(&path)?;
        let lock_path = path.parent().unwrap_or(&self.root).join(".lock");
        let mut conflict = false;
        let result = write_atomic_with(&path, bytes, |tmp, path| {
            // The lock is held from the check to the rename, an instant;
            // closing the file (or the holder's death) releases it.
            let lock = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            lock.lock()?;
            let holds = match &mode {
                PutMode::Overwrite => true,
                PutMode::Create => !path.exists(),
                PutMode::Update(revision) => match fs::read(path) {
                    Ok(current) => digest(&current) == *revision,
                    Err(e) if e.kind() == ErrorKind::NotFound => false,
                    Err(e) => return Err(e),
                },
            };
            if !holds {
                conflict = true;
                return Err(std::io::Error::other("write condition failed"));
            }
            fs::rename(tmp, path)
        });
        match result {
            Err(_) if conflict => Err(RegistryError::Conflict {
                key: key.to_owned(),
            }),
            r => r.map_err(RegistryError::Storage),
        }
    }

    fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(&path, e)),
            _ => Ok(()),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, RegistryError> {
        let dir = self.path(prefix);
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

    fn sweep(&self, prefix: &str) -> Result<(), RegistryError> {
        for sub in ["", "/versions"] {
            let dir = format!("{prefix}{sub}");
            for f in self.list(&dir)? {
                let Some(pid) = temp_file_pid(&f) else {
                    continue;
                };
                let key = format!("{dir}/{f}");
                if temp_file_is_dead(&self.path(&key), pid) {
                    emit!(
                        debug,
                        "registry: removing {key}, left by a writer that died"
                    );
                    self.delete(&key)?;
                }
            }
        }
        Ok(())
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        Some(self.path(key))
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_names() {
        assert_eq!(temp_file_pid(".3.mhart.tmp-1234-0"), Some(1234));
        assert_eq!(temp_file_pid(".aliases.json.tmp-1-99"), Some(1));
        assert_eq!(temp_file_pid(".lock"), None);
        assert_eq!(temp_file_pid("3.mhart"), None);
        assert_eq!(temp_file_pid(".x.tmp-12"), None);
        assert_eq!(temp_file_pid(".x.tmp-12-a"), None);
        assert_eq!(temp_file_pid(".x.tmp-1-2-3"), None);
    }

    #[test]
    fn conditional_writes_hold_their_conditions() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        store.put("m/a.json", b"one", PutMode::Create).unwrap();
        let conflict = store.put("m/a.json", b"two", PutMode::Create);
        assert!(
            matches!(conflict, Err(RegistryError::Conflict { .. })),
            "{conflict:?}"
        );
        let Fetched::Changed(bytes, rev) = store.get_if_changed("m/a.json", 10, None).unwrap()
        else {
            panic!("present");
        };
        assert_eq!(bytes, b"one");
        assert_eq!(
            store.get_if_changed("m/a.json", 10, Some(&rev)).unwrap(),
            Fetched::Unchanged
        );
        store
            .put("m/a.json", b"two", PutMode::Update(rev.clone()))
            .unwrap();
        let stale = store.put("m/a.json", b"three", PutMode::Update(rev));
        assert!(
            matches!(stale, Err(RegistryError::Conflict { .. })),
            "{stale:?}"
        );
        let missing = store.put("m/b.json", b"x", PutMode::Update(digest(b"x")));
        assert!(
            matches!(missing, Err(RegistryError::Conflict { .. })),
            "{missing:?}"
        );
        assert_eq!(store.get("m/a.json", 10).unwrap().unwrap(), b"two");
        // A refused write leaves no temporary file behind.
        assert_eq!(store.list("m").unwrap(), [".lock", "a.json"]);
        assert_eq!(
            store.get_if_changed("m/b.json", 10, None).unwrap(),
            Fetched::Absent
        );
    }
}
