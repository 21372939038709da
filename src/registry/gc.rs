//! Retiring old versions, and freeing what writers that died left behind.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::index::{Entry, Index};
use super::reference::check_name;
use super::{Registry, RegistryError, Result};

/// What [`Registry::retain`] does with versions it does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retire {
    /// Archive them (no longer resolvable, still on storage).
    Archive,
    /// Delete them.
    Delete,
}

/// How long a version an alias pointed at stays safe from
/// [`Registry::retain`] after the alias moved away: 7 days. It is the
/// version a running server keeps for rollback, and the one an operator
/// goes back to.
pub const DEFAULT_ALIAS_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

impl Registry {
    /// Keeps the `keep` newest versions, every aliased one, and every one an
    /// alias pointed at within [`DEFAULT_ALIAS_GRACE`]; archives or deletes
    /// the rest. Returns the versions retired.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn retain(&self, name: &str, keep: usize, retire: Retire) -> Result<Vec<u64>> {
        self.retain_with(name, keep, DEFAULT_ALIAS_GRACE, retire)
    }

    /// As [`retain`](Self::retain), keeping versions an alias left within
    /// `alias_grace` (zero keeps only those aliased now).
    ///
    /// Also frees what writers that died left: version numbers pending for
    /// longer than the pending grace (see
    /// [`Registry::with_pending_grace`]), files of versions the index no
    /// longer lists (a delete that died between the index and the files),
    /// and the store's temporary files.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn retain_with(
        &self,
        name: &str,
        keep: usize,
        alias_grace: Duration,
        retire: Retire,
    ) -> Result<Vec<u64>> {
        check_name(name)?;
        self.store.sweep(name)?;
        let grace_ms = u64::try_from(self.pending_grace.as_millis()).unwrap_or(u64::MAX);
        // The index changes first: once a version is out of it, nothing
        // resolves it, so a crash before its files go leaves only files
        // that the next collection deletes.
        let (retired, index) = self.update_index(name, false, |index| {
            let retired = to_retire(index, keep, alias_grace);
            let now = now_ms();
            index.versions.retain(|_, e| match e {
                Entry::Pending { since_ms } => now.saturating_sub(*since_ms) < grace_ms,
                _ => true,
            });
            for &v in &retired {
                match retire {
                    Retire::Archive => {
                        index.versions.insert(v, Entry::Archived);
                    }
                    Retire::Delete => {
                        index.versions.remove(&v);
                    }
                }
            }
            let present = index.versions.clone();
            index.released.retain(|v, _| present.contains_key(v));
            Ok((retired, index.clone()))
        })?;
        self.delete_unlisted(name, &index)?;
        Ok(retired)
    }

    /// Deletes the files of every version below the index's next number
    /// that the index does not list (numbers at or above it belong to
    /// nobody yet, and a writer's files always follow its number).
    fn delete_unlisted(&self, name: &str, index: &Index) -> Result<()> {
        let mut orphans: Vec<u64> = self
            .store
            .list(&format!("{name}/versions"))?
            .iter()
            .filter_map(|f| {
                let (v, ext) = f.split_once('.')?;
                (ext == "json" || ext == "mhart").then_some(())?;
                v.parse().ok()
            })
            .filter(|v| *v < index.next_version && !index.versions.contains_key(v))
            .collect();
        orphans.dedup();
        for v in orphans {
            emit!(
                debug,
                "registry: deleting the files of {name}/{v}, no longer listed"
            );
            self.delete_files(name, v)?;
        }
        Ok(())
    }

    /// The versions [`retain_with`](Self::retain_with) would retire now,
    /// changing nothing (a dry run).
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn retain_plan(&self, name: &str, keep: usize, alias_grace: Duration) -> Result<Vec<u64>> {
        check_name(name)?;
        Ok(to_retire(&*self.existing_index(name)?, keep, alias_grace))
    }

    /// Brings an archived version back: it resolves again, under its old
    /// number.
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`] when `version` is not archived;
    /// storage failures.
    pub fn restore(&self, name: &str, version: u64) -> Result<()> {
        check_name(name)?;
        self.update_index(name, false, |index| {
            if index.versions.get(&version) != Some(&Entry::Archived) {
                return Err(RegistryError::VersionNotFound {
                    name: name.to_owned(),
                    version,
                });
            }
            index.versions.insert(version, Entry::Active);
            Ok(())
        })
    }
}

/// The active versions to retire: all but the `keep` newest, the aliased
/// ones and those an alias left within `alias_grace`.
fn to_retire(index: &Index, keep: usize, alias_grace: Duration) -> Vec<u64> {
    let versions = index.active();
    let grace_ms = u64::try_from(alias_grace.as_millis()).unwrap_or(u64::MAX);
    let now = now_ms();
    let recently = |v: &u64| {
        index
            .released
            .get(v)
            .is_some_and(|&at| now.saturating_sub(at) < grace_ms)
    };
    let cut = versions.len().saturating_sub(keep);
    versions[..cut]
        .iter()
        .copied()
        .filter(|v| !index.aliases.values().any(|a| a == v) && !recently(v))
        .collect()
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
