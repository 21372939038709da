//! The [`Registry`] handle: opening a store, and reading and writing its
//! JSON metadata files.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::cache::ArtifactCache;
use super::index::IndexCache;
use super::summary::MAX_META_BYTES;
use super::{FsStore, PutMode, RegistryError, RegistryStore, Result};

/// How long a version number may stay taken by a writer that has not
/// finished uploading its files before a garbage collection decides the
/// writer died and frees the storage: 1 hour.
pub const DEFAULT_PENDING_GRACE: Duration = Duration::from_secs(3600);

/// Named models, their versions and aliases, on a [`RegistryStore`].
///
/// # Examples
///
/// ```no_run
/// use modelhost::registry::{Better, Registry};
/// use modelhost::artifact::ReadOptions;
///
/// let registry = Registry::open("/var/lib/models")?;
/// let best = registry.promote_best("recommender", "auc", Better::Higher, "production")?;
/// let loaded = registry.load(&"recommender@production".parse()?, ReadOptions::new())?;
/// assert_eq!(loaded.header.version, best);
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Registry {
    pub(super) store: Arc<dyn RegistryStore>,
    pub(super) max_artifact_bytes: u64,
    pub(super) indexes: Arc<IndexCache>,
    pub(super) cache: Option<Arc<ArtifactCache>>,
    pub(super) pending_grace: Duration,
}

impl Registry {
    /// A registry at `location`: a directory (created if missing), or a URL
    /// as [`Registry::open_url`] takes (`s3://…`, `az://…`, `gs://…`,
    /// `file://…`).
    ///
    /// # Errors
    ///
    /// When the directory cannot be created; as [`Registry::open_url`].
    pub fn open(location: impl Into<std::path::PathBuf>) -> Result<Self> {
        let location = location.into();
        if let Some(url) = location.to_str().filter(|s| super::url::is_url(s)) {
            return Self::open_url(url);
        }
        Ok(Self::with_store(Arc::new(FsStore::open(location)?)))
    }

    /// A registry on any store.
    #[must_use]
    pub fn with_store(store: Arc<dyn RegistryStore>) -> Self {
        Self {
            store,
            max_artifact_bytes: crate::artifact::DEFAULT_MAX_FILE_BYTES,
            indexes: Arc::default(),
            cache: None,
            pending_grace: DEFAULT_PENDING_GRACE,
        }
    }

    /// Keeps downloaded artifacts in `dir`, named by their SHA-256, using
    /// at most `max_bytes` there (least recently used go first). A load
    /// reads a cached artifact instead of the store when its checksum is
    /// the one the registry records, and checks it again on every read.
    /// Worth it for stores across a network; a directory store gains
    /// nothing.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn with_cache(
        mut self,
        dir: impl Into<std::path::PathBuf>,
        max_bytes: u64,
    ) -> Result<Self> {
        self.cache = Some(Arc::new(ArtifactCache::open(dir.into(), max_bytes)?));
        Ok(self)
    }

    /// How long a writer may take between taking a version number and
    /// finishing its upload before [`Registry::retain`] frees the number's
    /// storage as abandoned (default [`DEFAULT_PENDING_GRACE`]). A writer
    /// slower than that gets [`RegistryError::Abandoned`].
    #[must_use]
    pub fn with_pending_grace(mut self, grace: Duration) -> Self {
        self.pending_grace = grace;
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn RegistryStore> {
        &self.store
    }

    pub(super) fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.store.get(key, MAX_META_BYTES)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| RegistryError::Corrupt {
                        key: key.to_owned(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    pub(super) fn put_json<T: Serialize>(&self, key: &str, value: &T, mode: PutMode) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| RegistryError::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.store.put(key, &bytes, mode)
    }
}

/// Keys of the layout (see [`FsStore`]).
pub(super) mod key {
    pub(in crate::registry) fn index(name: &str) -> String {
        format!("{name}/index.json")
    }
    /// A file of the layout before the index.
    pub(in crate::registry) fn legacy(name: &str, file: &str) -> String {
        format!("{name}/{file}")
    }
    /// `ext` is `json` (the summary) or `mhart` (the artifact).
    pub(in crate::registry) fn file(name: &str, version: u64, ext: &str) -> String {
        format!("{name}/versions/{version}.{ext}")
    }
}
