//! Aliases, registry tags and promotion by metric.

use std::collections::BTreeMap;

use super::gc::now_ms;
use super::handle::key;
use super::index::{Entry, Index, retry_on_conflict};
use super::reference::{check_alias, check_name};
use super::summary::MAX_META_BYTES;
use super::{Fetched, PutMode, Registry, RegistryError, Result, VersionInfo};

/// Most aliases one model may have: 1,024. Keeps the model's index far below
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
    /// [`RegistryError::ModelNotFound`]; storage failures or a corrupt index.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u64>> {
        check_name(name)?;
        Ok(self.existing_index(name)?.aliases.clone())
    }

    /// Points `alias` of `name` at `version` (creating or moving it) and
    /// returns the version it pointed to before. One conditional write of
    /// the model's index: the version is checked, and the alias moved, in
    /// the same value, so a concurrent [`Registry::retain`] cannot remove
    /// the version in between.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidAlias`], [`RegistryError::VersionNotFound`],
    /// [`RegistryError::TooManyAliases`]; storage failures.
    pub fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<Option<u64>> {
        check_name(name)?;
        check_alias(alias)?;
        self.update_index(name, false, |index| point(index, name, alias, version))
    }

    /// Removes `alias` of `name`, returning the version it pointed to.
    ///
    /// # Errors
    ///
    /// [`RegistryError::AliasNotFound`]; storage failures.
    pub fn remove_alias(&self, name: &str, alias: &str) -> Result<u64> {
        check_name(name)?;
        check_alias(alias)?;
        self.update_index(name, false, |index| {
            let v = index
                .aliases
                .remove(alias)
                .ok_or_else(|| RegistryError::AliasNotFound {
                    name: name.to_owned(),
                    alias: alias.to_owned(),
                })?;
            index.released.insert(v, now_ms());
            Ok(v)
        })
    }

    /// Sets a registry tag on a version (a conditional write of its
    /// summary, retried when another tag landed first).
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`]; [`RegistryError::SummaryTooLarge`]
    /// when the tags would pass [`MAX_TAGS_BYTES`](super::MAX_TAGS_BYTES);
    /// storage failures.
    pub fn set_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<()> {
        check_name(name)?;
        let key_path = key::file(name, version, "json");
        let not_found = || RegistryError::VersionNotFound {
            name: name.to_owned(),
            version,
        };
        retry_on_conflict(&key_path, || {
            let index = self.existing_index(name)?;
            if !matches!(
                index.versions.get(&version),
                Some(Entry::Active | Entry::Archived)
            ) {
                return Err(not_found());
            }
            let (bytes, revision) =
                match self.store.get_if_changed(&key_path, MAX_META_BYTES, None)? {
                    Fetched::Changed(bytes, revision) => (bytes, revision),
                    _ => return Err(not_found()),
                };
            let mut info: VersionInfo =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                    key: key_path.clone(),
                    reason: e.to_string(),
                })?;
            info.tags.insert(key.to_owned(), value.to_owned());
            info.check_size()?;
            self.put_json(&key_path, &info, PutMode::Update(revision))
        })
    }

    /// Points `alias` at the version with the best value of `metric` (ties go
    /// to the newer version) and returns that version. The choice and the
    /// alias move are one conditional write of the index, so a concurrent
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
        // Summaries never change their metrics: read each once, whatever
        // the number of attempts.
        let mut metrics: BTreeMap<u64, Option<f64>> = BTreeMap::new();
        self.update_index(name, false, |index| {
            let mut best: Option<(f64, u64)> = None;
            for v in index.active() {
                let value = match metrics.get(&v) {
                    Some(m) => *m,
                    None => {
                        let m = self
                            .get_json::<VersionInfo>(&key::file(name, v, "json"))?
                            .and_then(|i| i.metrics.get(metric).copied());
                        metrics.insert(v, m);
                        m
                    }
                };
                let Some(m) = value.filter(|m| m.is_finite()) else {
                    continue;
                };
                let wins = best.is_none_or(|(b, _)| {
                    let ord = m.total_cmp(&b);
                    let ord = if better == Better::Lower {
                        ord.reverse()
                    } else {
                        ord
                    };
                    // Ties go to the newer version, and `v` ascends.
                    ord.is_ge()
                });
                if wins {
                    best = Some((m, v));
                }
            }
            let (_, v) = best.ok_or_else(|| RegistryError::NoMetric {
                name: name.to_owned(),
                metric: metric.to_owned(),
            })?;
            point(index, name, alias, v)?;
            Ok(v)
        })
    }
}

/// Points `alias` at active `version` in `index`; returns where it pointed.
fn point(index: &mut Index, name: &str, alias: &str, version: u64) -> Result<Option<u64>> {
    if !index.is_active(version) {
        return Err(RegistryError::VersionNotFound {
            name: name.to_owned(),
            version,
        });
    }
    if index.aliases.len() >= MAX_ALIASES && !index.aliases.contains_key(alias) {
        return Err(RegistryError::TooManyAliases {
            name: name.to_owned(),
            max: MAX_ALIASES,
        });
    }
    let before = index.aliases.insert(alias.to_owned(), version);
    if let Some(b) = before
        && b != version
    {
        index.released.insert(b, now_ms());
    }
    Ok(before)
}
