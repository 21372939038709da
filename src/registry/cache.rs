//! The local artifact cache: downloaded artifacts named by their SHA-256,
//! bounded in bytes, least recently used evicted first.

use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::store::hex;
use super::{RegistryError, Result};
use crate::artifact::{ArtifactError, read_capped, write_atomic};

/// A directory of artifacts named `SHA256.mhart`, at most `max_bytes` in
/// all. Several processes may share one: every file is written atomically
/// and checked against its name on every read.
#[derive(Debug)]
pub(super) struct ArtifactCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Serializes this process's evictions.
    evicting: std::sync::Mutex<()>,
}

impl ArtifactCache {
    pub(super) fn open(dir: PathBuf, max_bytes: u64) -> Result<Self> {
        fs::create_dir_all(&dir).map_err(|e| RegistryError::Storage(ArtifactError::io(&dir, e)))?;
        Ok(Self {
            dir,
            max_bytes,
            evicting: std::sync::Mutex::new(()),
        })
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        // The name comes from a summary: accept only a hex digest.
        (sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join(format!("{sha256}.mhart")))
    }

    /// The cached artifact with this digest, if present and intact (a
    /// damaged file is removed). Marks it recently used.
    pub(super) fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        let path = self.path(sha256)?;
        let bytes = read_capped(&path, self.max_bytes).ok()?;
        if hex(&Sha256::digest(&bytes)) != sha256 {
            emit!(
                warn,
                "registry cache: {} is damaged; removing it",
                path.display()
            );
            let _ = fs::remove_file(&path);
            return None;
        }
        if let Ok(f) = fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Keeps `bytes` (whose digest is `sha256`), then evicts the least
    /// recently used files until the cache fits. Failures only cost a
    /// later download: they are logged, not returned.
    pub(super) fn put(&self, sha256: &str, bytes: &[u8]) {
        let Some(path) = self.path(sha256) else {
            return;
        };
        if bytes.len() as u64 > self.max_bytes {
            return;
        }
        if let Err(e) = write_atomic(&path, bytes) {
            emit!(warn, "registry cache: cannot keep {}: {e}", path.display());
            return;
        }
        self.evict();
    }

    fn evict(&self) {
        let Ok(_guard) = self.evicting.lock() else {
            return;
        };
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name();
                let name = name.to_str()?;
                let digest = name.strip_suffix(".mhart")?;
                self.path(digest)?;
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_checks_and_evicts_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::open(dir.path().to_path_buf(), 250).unwrap();
        let blob = |b: u8| vec![b; 100];
        let digest = |bytes: &[u8]| hex(&Sha256::digest(bytes));
        let (a, b, c) = (blob(1), blob(2), blob(3));
        cache.put(&digest(&a), &a);
        cache.put(&digest(&b), &b);
        let past = SystemTime::now() - std::time::Duration::from_secs(60);
        for (bytes, age) in [(&a, 2), (&b, 1)] {
            let f = fs::File::options()
                .append(true)
                .open(cache.path(&digest(bytes)).unwrap())
                .unwrap();
            f.set_modified(past - std::time::Duration::from_secs(age))
                .unwrap();
        }
        // `a` is used again: `b` is now the least recently used.
        assert_eq!(cache.get(&digest(&a)).unwrap(), a);
        cache.put(&digest(&c), &c);
        assert!(cache.get(&digest(&b)).is_none());
        assert_eq!(cache.get(&digest(&c)).unwrap(), c);
        assert_eq!(cache.get(&digest(&a)).unwrap(), a);
        // A damaged file is not served, and goes.
        fs::write(cache.path(&digest(&a)).unwrap(), b"tampered").unwrap();
        assert!(cache.get(&digest(&a)).is_none());
        assert!(!cache.path(&digest(&a)).unwrap().exists());
        // Too large to keep at all; a name that is not a digest is refused.
        cache.put(&digest(&[0; 300]), &[0; 300]);
        assert!(cache.get(&digest(&[0; 300])).is_none());
        assert!(cache.get("../../etc/passwd").is_none());
    }
}
