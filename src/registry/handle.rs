//! The [`Registry`] handle: opening a store, and reading and writing its
//! JSON metadata files.

use std::sync::Arc;

use serde::Serialize;

use super::summary::MAX_META_BYTES;
use super::{FsStore, RegistryError, RegistryStore, Result};

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
}

impl Registry {
    /// A registry in a local directory (created if missing).
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn open(dir: impl Into<std::path::PathBuf>) -> Result<Self> {
        Ok(Self::with_store(Arc::new(FsStore::open(dir)?)))
    }

    /// A registry on any store.
    #[must_use]
    pub fn with_store(store: Arc<dyn RegistryStore>) -> Self {
        Self {
            store,
            max_artifact_bytes: crate::artifact::DEFAULT_MAX_FILE_BYTES,
        }
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

    pub(super) fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| RegistryError::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.store.put(key, &bytes)
    }
}

/// Keys of the layout (see [`FsStore`]).
pub(super) mod key {
    pub(in crate::registry) fn model(name: &str) -> String {
        format!("{name}/model.json")
    }
    pub(in crate::registry) fn aliases(name: &str) -> String {
        format!("{name}/aliases.json")
    }
    /// When an alias last moved away from each version (ms since the epoch).
    pub(in crate::registry) fn released(name: &str) -> String {
        format!("{name}/released.json")
    }
    /// `dir` is `versions` or `archive`; `ext` is `json` or `mhart`.
    pub(in crate::registry) fn file(name: &str, dir: &str, version: u64, ext: &str) -> String {
        format!("{name}/{dir}/{version}.{ext}")
    }
}
