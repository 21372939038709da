//! A model's index: the one value that changes when versions come and go
//! or aliases move, written only with conditional writes.
//!
//! Every other registry value is written once under a key of its own (a
//! version's artifact and summary), so the index is where concurrent
//! writers meet: each reads it with its revision, changes its copy, and
//! writes it back on condition that nobody wrote in between
//! ([`PutMode::Update`]), reading again and redoing its change when
//! somebody did. Nobody holds a lock, so nobody can leave one behind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::handle::key;
use super::summary::MAX_META_BYTES;
use super::{Fetched, PutMode, Registry, RegistryError, Result, Revision};

/// Most attempts of one change to the index before
/// [`RegistryError::Conflict`] is returned: other writers won every race
/// for this long.
const MAX_ATTEMPTS: u32 = 200;

/// What a model's index records about a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(super) enum Entry {
    /// The number is taken; the writer is uploading its files. Not
    /// visible. Removed by a garbage collection after the registry's
    /// pending grace (the writer died).
    Pending {
        /// When the number was taken (ms since the epoch).
        since_ms: u64,
    },
    /// Visible: resolves, lists, loads.
    Active,
    /// Kept on storage, not resolvable until restored.
    Archived,
}

/// `NAME/index.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Index {
    /// The next version number; numbers below it are never given again.
    pub(super) next_version: u64,
    /// Every version that has files on storage, by number.
    #[serde(default)]
    pub(super) versions: BTreeMap<u64, Entry>,
    /// Alias → version (always an active version).
    #[serde(default)]
    pub(super) aliases: BTreeMap<String, u64>,
    /// When an alias last moved away from each version (ms since the epoch).
    #[serde(default)]
    pub(super) released: BTreeMap<u64, u64>,
}

impl Index {
    /// Active version numbers, ascending.
    pub(super) fn active(&self) -> Vec<u64> {
        self.with_state(|e| *e == Entry::Active)
    }

    fn with_state(&self, f: impl Fn(&Entry) -> bool) -> Vec<u64> {
        self.versions
            .iter()
            .filter(|(_, e)| f(e))
            .map(|(v, _)| *v)
            .collect()
    }

    pub(super) fn is_active(&self, version: u64) -> bool {
        self.versions.get(&version) == Some(&Entry::Active)
    }
}

/// The last index read of each model with its revision, so that reading it
/// again is a conditional GET that usually answers "unchanged".
pub(super) type IndexCache = std::sync::Mutex<BTreeMap<String, (Revision, Arc<Index>)>>;

impl Registry {
    /// The index of `name` as it is now, or `None` when the model does
    /// not exist. One conditional request to the store.
    pub(super) fn index(&self, name: &str) -> Result<Option<(Arc<Index>, Revision)>> {
        let key = key::index(name);
        let known = self.cached_index(name);
        match self
            .store
            .get_if_changed(&key, MAX_META_BYTES, known.as_ref().map(|k| &k.1))?
        {
            Fetched::Unchanged => Ok(known),
            Fetched::Absent => {
                self.forget_index(name);
                if self.migrate_legacy(name)? {
                    return self.index(name);
                }
                Ok(None)
            }
            Fetched::Changed(bytes, revision) => {
                let index: Index =
                    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                        key: key.clone(),
                        reason: e.to_string(),
                    })?;
                let index = Arc::new(index);
                if let Ok(mut cache) = self.indexes.lock() {
                    cache.insert(name.to_owned(), (revision.clone(), index.clone()));
                }
                Ok(Some((index, revision)))
            }
        }
    }

    /// The index of `name`, or [`RegistryError::ModelNotFound`].
    pub(super) fn existing_index(&self, name: &str) -> Result<Arc<Index>> {
        self.index(name)?
            .map(|(i, _)| i)
            .ok_or_else(|| RegistryError::ModelNotFound {
                name: name.to_owned(),
            })
    }

    fn cached_index(&self, name: &str) -> Option<(Arc<Index>, Revision)> {
        let cache = self.indexes.lock().ok()?;
        cache.get(name).map(|(r, i)| (i.clone(), r.clone()))
    }

    fn forget_index(&self, name: &str) {
        if let Ok(mut cache) = self.indexes.lock() {
            cache.remove(name);
        }
    }

    /// Applies `change` to the index of `name` (a new, empty one when the
    /// model does not exist yet and `create` is set) and writes it back on
    /// condition that nobody else wrote it in between; on a lost race,
    /// reads the index again and re-applies `change`. `change` may run
    /// several times and must depend only on the index it is given.
    pub(super) fn update_index<T>(
        &self,
        name: &str,
        create: bool,
        mut change: impl FnMut(&mut Index) -> Result<T>,
    ) -> Result<T> {
        let key = key::index(name);
        retry_on_conflict(&key, || {
            let (mut index, mode) = match self.index(name)? {
                Some((index, revision)) => ((*index).clone(), PutMode::Update(revision)),
                None if create => (Index::default(), PutMode::Create),
                None => {
                    return Err(RegistryError::ModelNotFound {
                        name: name.to_owned(),
                    });
                }
            };
            let out = change(&mut index)?;
            let bytes = serde_json::to_vec(&index).map_err(|e| RegistryError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
            if bytes.len() as u64 > MAX_META_BYTES {
                return Err(RegistryError::IndexFull {
                    name: name.to_owned(),
                    bytes: bytes.len() as u64,
                    max: MAX_META_BYTES,
                });
            }
            self.store.put(&key, &bytes, mode)?;
            Ok(out)
        })
    }
}

/// Runs `attempt` (read, change, conditional write) until it does not
/// lose a race: on [`RegistryError::Conflict`] it backs off a little (more
/// with every lost race, with jitter so racing writers spread out) and
/// runs again, at most [`MAX_ATTEMPTS`] times; then the conflict on `key`
/// is returned.
pub(super) fn retry_on_conflict<T>(key: &str, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    for n in 0..MAX_ATTEMPTS {
        match attempt() {
            Err(RegistryError::Conflict { .. }) => {
                let cap = 1u64 << n.min(6);
                std::thread::sleep(Duration::from_millis(jitter(cap)));
            }
            other => return other,
        }
    }
    Err(RegistryError::Conflict {
        key: key.to_owned(),
    })
}

/// A pseudo-random number in `0..=max`, for spreading retries and polls
/// (no dependency for a back-off).
pub(crate) fn jitter(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into()),
    );
    h.finish() % (max + 1)
}

impl Registry {
    /// Moves a model written in the layout before the index (`model.json`,
    /// `aliases.json`, `released.json`, `archive/`) to the index layout;
    /// `false` when there is no such model. Safe to run by several
    /// processes at once: archived files are copied with create-if-absent,
    /// the index is created only once, and the old files are removed only
    /// after it exists.
    fn migrate_legacy(&self, name: &str) -> Result<bool> {
        let Some(model) = self.get_json::<LegacyModelFile>(&key::legacy(name, "model.json"))?
        else {
            return Ok(false);
        };
        let numbers = |dir: &str| -> Result<Vec<u64>> {
            Ok(self
                .store
                .list(&format!("{name}/{dir}"))?
                .iter()
                .filter_map(|f| f.strip_suffix(".json")?.parse().ok())
                .collect())
        };
        let mut index = Index {
            next_version: model.next_version,
            aliases: self
                .get_json(&key::legacy(name, "aliases.json"))?
                .unwrap_or_default(),
            released: self
                .get_json(&key::legacy(name, "released.json"))?
                .unwrap_or_default(),
            ..Index::default()
        };
        for v in numbers("versions")? {
            index.versions.insert(v, Entry::Active);
        }
        for v in numbers("archive")? {
            for ext in ["mhart", "json"] {
                let from = format!("{name}/archive/{v}.{ext}");
                let Some(bytes) = self.store.get(&from, self.max_artifact_bytes)? else {
                    continue; // a crashed archive move left it in versions/
                };
                match self
                    .store
                    .put(&key::file(name, v, ext), &bytes, PutMode::Create)
                {
                    Ok(()) | Err(RegistryError::Conflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            index.versions.insert(v, Entry::Archived);
        }
        let top = index.versions.keys().next_back().copied().unwrap_or(0);
        index.next_version = index.next_version.max(top.saturating_add(1)).max(1);
        index
            .aliases
            .retain(|_, v| index.versions.get(v) == Some(&Entry::Active));
        let bytes = serde_json::to_vec(&index).map_err(|e| RegistryError::Corrupt {
            key: key::index(name),
            reason: e.to_string(),
        })?;
        match self.store.put(&key::index(name), &bytes, PutMode::Create) {
            Ok(()) => emit!(info, "registry: moved `{name}` to the index layout"),
            Err(RegistryError::Conflict { .. }) => {} // another process did
            Err(e) => return Err(e),
        }
        for file in ["model.json", "aliases.json", "released.json"] {
            self.store.delete(&key::legacy(name, file))?;
        }
        for f in self.store.list(&format!("{name}/archive"))? {
            self.store.delete(&format!("{name}/archive/{f}"))?;
        }
        Ok(true)
    }
}

/// `model.json` of the layout before the index.
#[derive(Debug, Deserialize)]
struct LegacyModelFile {
    next_version: u64,
}
