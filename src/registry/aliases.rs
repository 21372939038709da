//! Aliases, registry tags and promotion by metric.

use std::collections::BTreeMap;

use super::handle::key;
use super::reference::{check_alias, check_name};
use super::{Registry, RegistryError, Result, VersionInfo};

/// Most aliases one model may have: 1,024. Keeps `aliases.json` far below
/// the 1 MiB that readers accept.
pub const MAX_ALIASES: usize = 1024;

/// Which way a metric is better, for [`Registry::promote_best`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Larger is better (accuracy, AUC).
    Higher,
    /// Smaller is better (log loss, RMSE).
    Lower,
}

impl Registry {
    /// The aliases of `name`.
    ///
    /// # Errors
    ///
    /// Storage failures or a corrupt alias file.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u64>> {
        check_name(name)?;
        Ok(self.get_json(&key::aliases(name))?.unwrap_or_default())
    }

    /// Points `alias` of `name` at `version` (creating or moving it) and
    /// returns the version it pointed to before.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidAlias`], [`RegistryError::VersionNotFound`],
    /// [`RegistryError::TooManyAliases`]; storage failures.
    pub fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<Option<u64>> {
        check_name(name)?;
        check_alias(alias)?;
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        self.set_alias_locked(name, alias, version)
    }

    /// As [`Registry::set_alias`], with the model's lock already held.
    fn set_alias_locked(&self, name: &str, alias: &str, version: u64) -> Result<Option<u64>> {
        if self
            .version_numbers(name, "versions")?
            .binary_search(&version)
            .is_err()
        {
            return Err(RegistryError::VersionNotFound {
                name: name.to_owned(),
                version,
            });
        }
        let mut aliases = self.aliases(name)?;
        if aliases.len() >= MAX_ALIASES && !aliases.contains_key(alias) {
            return Err(RegistryError::TooManyAliases {
                name: name.to_owned(),
                max: MAX_ALIASES,
            });
        }
        let before = aliases.insert(alias.to_owned(), version);
        self.put_json(&key::aliases(name), &aliases)?;
        if let Some(b) = before
            && b != version
        {
            self.mark_released(name, b)?;
        }
        Ok(before)
    }

    /// Removes `alias` of `name`, returning the version it pointed to.
    ///
    /// # Errors
    ///
    /// [`RegistryError::AliasNotFound`]; storage failures.
    pub fn remove_alias(&self, name: &str, alias: &str) -> Result<u64> {
        check_name(name)?;
        check_alias(alias)?;
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        let mut aliases = self.aliases(name)?;
        let v = aliases
            .remove(alias)
            .ok_or_else(|| RegistryError::AliasNotFound {
                name: name.to_owned(),
                alias: alias.to_owned(),
            })?;
        self.put_json(&key::aliases(name), &aliases)?;
        self.mark_released(name, v)?;
        Ok(v)
    }

    /// Sets a registry tag on a version.
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`]; [`RegistryError::SummaryTooLarge`]
    /// when the tags would pass [`MAX_TAGS_BYTES`](super::MAX_TAGS_BYTES);
    /// storage failures.
    pub fn set_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<()> {
        check_name(name)?;
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        let key_path = key::file(name, "versions", version, "json");
        let mut info: VersionInfo =
            self.get_json(&key_path)?
                .ok_or_else(|| RegistryError::VersionNotFound {
                    name: name.to_owned(),
                    version,
                })?;
        info.tags.insert(key.to_owned(), value.to_owned());
        info.check_size()?;
        self.put_json(&key_path, &info)
    }

    /// Points `alias` at the version with the best value of `metric` (ties go
    /// to the newer version) and returns that version. The versions are read
    /// and the alias moved under the model's lock, so a concurrent
    /// [`Registry::retain`] cannot remove the chosen version in between.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NoMetric`] when no version records `metric`; as
    /// [`Registry::set_alias`].
    pub fn promote_best(
        &self,
        name: &str,
        metric: &str,
        better: Better,
        alias: &str,
    ) -> Result<u64> {
        check_name(name)?;
        check_alias(alias)?;
        let _lock = self.store.lock(name)?;
        self.recover(name)?;
        let best = self
            .versions(name, false)?
            .into_iter()
            .filter_map(|i| Some((*i.metrics.get(metric)?, i.version)))
            .filter(|(m, _)| m.is_finite())
            .max_by(|a, b| {
                let ord = a.0.total_cmp(&b.0);
                let ord = if better == Better::Lower {
                    ord.reverse()
                } else {
                    ord
                };
                ord.then(a.1.cmp(&b.1))
            })
            .map(|(_, v)| v)
            .ok_or_else(|| RegistryError::NoMetric {
                name: name.to_owned(),
                metric: metric.to_owned(),
            })?;
        self.set_alias_locked(name, alias, best)?;
        Ok(best)
    }
}
