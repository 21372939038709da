//! Retiring old versions, and recovering from writers that died part-way.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::handle::key;
use super::reference::check_name;
use super::{Registry, RegistryError, Result};

/// What [`Registry::retain`] does with versions it does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retire {
    /// Move them to `archive/` (no longer resolvable, still on storage).
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
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        let retired = self.to_retire(name, keep, alias_grace)?;
        for &v in &retired {
            // Summary first: once it is gone the version no longer resolves,
            // so a crash leaves at worst an orphan artifact, which
            // `recover` deletes or finishes moving.
            for ext in ["json", "mhart"] {
                let from = key::file(name, "versions", v, ext);
                match retire {
                    Retire::Archive => self
                        .store
                        .rename(&from, &key::file(name, "archive", v, ext))?,
                    Retire::Delete => self.store.delete(&from)?,
                }
            }
        }
        Ok(retired)
    }

    /// The versions [`retain_with`](Self::retain_with) would retire now,
    /// changing nothing (a dry run).
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn retain_plan(&self, name: &str, keep: usize, alias_grace: Duration) -> Result<Vec<u64>> {
        check_name(name)?;
        self.to_retire(name, keep, alias_grace)
    }

    fn to_retire(&self, name: &str, keep: usize, alias_grace: Duration) -> Result<Vec<u64>> {
        let versions = self.version_numbers(name, "versions")?;
        let aliased: Vec<u64> = self.aliases(name)?.into_values().collect();
        let released = self.released(name)?;
        let grace_ms = u64::try_from(alias_grace.as_millis()).unwrap_or(u64::MAX);
        let recently = |v: &u64| {
            released
                .get(v)
                .is_some_and(|&at| now_ms().saturating_sub(at) < grace_ms)
        };
        let cut = versions.len().saturating_sub(keep);
        Ok(versions[..cut]
            .iter()
            .copied()
            .filter(|v| !aliased.contains(v) && !recently(v))
            .collect())
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
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        let archived = self.version_numbers(name, "archive")?;
        if archived.binary_search(&version).is_err() {
            return Err(RegistryError::VersionNotFound {
                name: name.to_owned(),
                version,
            });
        }
        // Artifact first: until the summary is back the version does not
        // resolve, and a crash in between leaves an orphan that `recover`
        // moves back to the archive.
        for ext in ["mhart", "json"] {
            self.store.rename(
                &key::file(name, "archive", version, ext),
                &key::file(name, "versions", version, ext),
            )?;
        }
        Ok(())
    }

    /// When an alias last moved away from each version.
    fn released(&self, name: &str) -> Result<BTreeMap<u64, u64>> {
        Ok(self.get_json(&key::released(name))?.unwrap_or_default())
    }

    /// Records that an alias just moved away from `version` (model lock
    /// held). Entries of versions no longer present are dropped, so the
    /// record stays as small as the model's version list.
    pub(super) fn mark_released(&self, name: &str, version: u64) -> Result<()> {
        let mut released = self.released(name)?;
        let present = self.version_numbers(name, "versions")?;
        released.retain(|v, _| present.binary_search(v).is_ok());
        released.insert(version, now_ms());
        self.put_json(&key::released(name), &released)
    }

    /// Removes what a writer that died part-way left behind: an artifact in
    /// `versions/` without its summary (a crashed register or delete) is
    /// deleted, or moved to `archive/` when its summary is already there (a
    /// crashed archive move). Call only with the model's lock held: then no
    /// other writer is running, so nothing removed can be in progress. The
    /// store cleans its own temporary files when the lock is taken.
    pub(super) fn recover(&self, name: &str) -> Result<()> {
        let files: HashSet<String> = self
            .store
            .list(&format!("{name}/versions"))?
            .into_iter()
            .collect();
        let archive: HashSet<String> = self
            .store
            .list(&format!("{name}/archive"))?
            .into_iter()
            .collect();
        for f in &files {
            let Some(v) = f.strip_suffix(".mhart").and_then(|v| v.parse::<u64>().ok()) else {
                continue;
            };
            if files.contains(&format!("{v}.json")) {
                continue;
            }
            let orphan = key::file(name, "versions", v, "mhart");
            if archive.contains(&format!("{v}.json")) && !archive.contains(&format!("{v}.mhart")) {
                log::debug!("registry: finishing the archive move of {name}/{v}");
                self.store
                    .rename(&orphan, &key::file(name, "archive", v, "mhart"))?;
            } else {
                log::debug!("registry: removing {orphan}, an artifact without a summary");
                self.store.delete(&orphan)?;
            }
        }
        Ok(())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
