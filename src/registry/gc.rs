//! Retiring old versions, and recovering from writers that died part-way.

use std::collections::HashSet;

use super::handle::key;
use super::reference::check_name;
use super::{Registry, Result};

/// What [`Registry::retain`] does with versions it does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retire {
    /// Move them to `archive/` (no longer resolvable, still on storage).
    Archive,
    /// Delete them.
    Delete,
}

impl Registry {
    /// Keeps the `keep` newest versions and every aliased one; archives or
    /// deletes the rest. Returns the versions retired.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn retain(&self, name: &str, keep: usize, retire: Retire) -> Result<Vec<u64>> {
        check_name(name)?;
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        let versions = self.version_numbers(name, "versions")?;
        let aliased: Vec<u64> = self.aliases(name)?.into_values().collect();
        let cut = versions.len().saturating_sub(keep);
        let retired: Vec<u64> = versions[..cut]
            .iter()
            .copied()
            .filter(|v| !aliased.contains(v))
            .collect();
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
