//! Versions and aliases of named models.
//!
//! A [`Registry`] holds every version of each named model, numbered from 1
//! and never reused, with MLflow-style aliases (`production`, `staging`,
//! `champion`, any `[A-Za-z0-9_-]+`) and tags. Versions are looked up by
//! [`ModelRef`]: `name/3`, `name@production`, or `name` for the latest.
//! "Promote version 7 to production" is one call:
//! [`Registry::set_alias`]`("recommender", "production", 7)`.
//!
//! Storage sits behind [`RegistryStore`]; [`FsStore`] (the default) keeps a
//! documented directory layout where every change is an atomic rename and
//! writers serialize on a per-model lock file, across processes.

mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifact::{Artifact, ArtifactError, LoadedArtifact, ModelKind, ReadOptions};

type Result<T, E = RegistryError> = std::result::Result<T, E>;

pub use store::{FsStore, RegistryStore};

/// Largest registry metadata file read (aliases, summaries): 1 MiB.
const MAX_META_BYTES: u64 = 1 << 20;

/// Why a registry operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The storage failed.
    #[error(transparent)]
    Storage(ArtifactError),
    /// A version's artifact failed a check while it was read or loaded
    /// (checksum, decoding, warm-up). The crate [`Error`](crate::Error)
    /// folds it into `Error::Artifact` (or the model's own variant).
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A model name is not `[A-Za-z0-9][A-Za-z0-9_.-]*` (at most 128 characters).
    #[error(
        "invalid model name {name:?}: use letters, digits, `_`, `-` and `.`, starting with a letter or digit"
    )]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// An alias is not `[A-Za-z0-9_-]+` (at most 64 characters).
    #[error("invalid alias {alias:?}: use letters, digits, `_` and `-`")]
    InvalidAlias {
        /// The alias given.
        alias: String,
    },
    /// A reference is not `name`, `name/N` or `name@alias`.
    #[error("invalid model reference {reference:?}: use `name`, `name/VERSION` or `name@ALIAS`")]
    InvalidReference {
        /// The reference given.
        reference: String,
    },
    /// No such model.
    #[error("model `{name}` is not in the registry")]
    ModelNotFound {
        /// The name.
        name: String,
    },
    /// No such version (or it is archived).
    #[error("model `{name}` has no version {version}")]
    VersionNotFound {
        /// The name.
        name: String,
        /// The version.
        version: u64,
    },
    /// No such alias.
    #[error("model `{name}` has no alias `{alias}`")]
    AliasNotFound {
        /// The name.
        name: String,
        /// The alias.
        alias: String,
    },
    /// No version records the metric.
    #[error("no version of `{name}` records metric `{metric}`")]
    NoMetric {
        /// The name.
        name: String,
        /// The metric.
        metric: String,
    },
    /// A registry file does not decode.
    #[error("registry file {key} is corrupt: {reason}")]
    Corrupt {
        /// The file's key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// A reference to one version of a model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelRef {
    /// The newest (non-archived) version: `name`.
    Latest(String),
    /// An exact version: `name/3`.
    Version(String, u64),
    /// The version an alias points to: `name@production`.
    Alias(String, String),
}

impl ModelRef {
    /// The model name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Latest(n) | Self::Version(n, _) | Self::Alias(n, _) => n,
        }
    }
}

impl FromStr for ModelRef {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, RegistryError> {
        let bad = || RegistryError::InvalidReference {
            reference: s.to_owned(),
        };
        let r = if let Some((name, alias)) = s.split_once('@') {
            check_alias(alias).map_err(|_| bad())?;
            Self::Alias(name.to_owned(), alias.to_owned())
        } else if let Some((name, v)) = s.split_once('/') {
            let v: u64 = v.parse().map_err(|_| bad())?;
            Self::Version(name.to_owned(), v)
        } else {
            Self::Latest(s.to_owned())
        };
        check_name(r.name()).map_err(|_| bad())?;
        Ok(r)
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest(n) => f.write_str(n),
            Self::Version(n, v) => write!(f, "{n}/{v}"),
            Self::Alias(n, a) => write!(f, "{n}@{a}"),
        }
    }
}

fn check_name(name: &str) -> Result<(), RegistryError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn check_alias(alias: &str) -> Result<(), RegistryError> {
    let ok = !alias.is_empty()
        && alias.len() <= 64
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidAlias {
            alias: alias.to_owned(),
        })
    }
}

/// What the registry records about one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VersionInfo {
    /// The model's name.
    pub name: String,
    /// The version.
    pub version: u64,
    /// The model kind.
    pub model_kind: ModelKind,
    /// Training metrics from the artifact.
    pub metrics: BTreeMap<String, f64>,
    /// Tags: the artifact's, then those set in the registry.
    pub tags: BTreeMap<String, String>,
    /// Creation time of the artifact (seconds since the Unix epoch).
    pub created_at: u64,
    /// Artifact size in bytes.
    pub size: u64,
    /// SHA-256 of the artifact file, hex.
    pub sha256: String,
    /// Aliases pointing at this version (filled in by listings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Whether the version is archived (not resolvable, kept on storage).
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ModelFile {
    next_version: u64,
}

/// What [`Registry::retain`] does with versions it does not keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retire {
    /// Move them to `archive/` (no longer resolvable, still on storage).
    Archive,
    /// Delete them.
    Delete,
}

/// Which way a metric is better, for [`Registry::promote_best`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Larger is better (accuracy, AUC).
    Higher,
    /// Smaller is better (log loss, RMSE).
    Lower,
}

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
    store: Arc<dyn RegistryStore>,
    max_artifact_bytes: u64,
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

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
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

    fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| RegistryError::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.store.put(key, &bytes)
    }

    /// Adds `artifact` as the next version of its model and returns the
    /// version number. The artifact's header records the number.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for a bad model name; storage failures.
    pub fn register(&self, mut artifact: Artifact) -> Result<u64> {
        let name = artifact.header().name.clone();
        check_name(&name)?;
        let _lock = self.store.lock(&name)?;
        let model_key = format!("{name}/model.json");
        let recorded = self.get_json::<ModelFile>(&model_key)?.unwrap_or_default();
        let existing = self
            .version_numbers(&name, "versions")?
            .into_iter()
            .chain(self.version_numbers(&name, "archive")?)
            .max();
        let version = recorded
            .next_version
            .max(existing.map_or(1, |v| v + 1))
            .max(1);
        artifact.header_mut().version = version;
        let bytes = artifact.to_bytes()?;
        let h = artifact.header();
        let info = VersionInfo {
            name: name.clone(),
            version,
            model_kind: h.model_kind,
            metrics: h.metrics.clone(),
            tags: h.tags.clone(),
            created_at: h.created_at,
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
            aliases: Vec::new(),
            archived: false,
        };
        // Artifact first, summary second: listings only show versions whose
        // summary exists, so a crash in between leaves no half version.
        self.store
            .put(&format!("{name}/versions/{version}.mhart"), &bytes)?;
        self.put_json(&format!("{name}/versions/{version}.json"), &info)?;
        self.put_json(
            &model_key,
            &ModelFile {
                next_version: version + 1,
            },
        )?;
        Ok(version)
    }

    /// Reads the artifact at `path` (checking it fully, warm-up included)
    /// and registers it.
    ///
    /// # Errors
    ///
    /// As [`Artifact::load`] and [`Registry::register`].
    pub fn register_file(&self, path: impl AsRef<std::path::Path>) -> Result<u64> {
        let options = ReadOptions::new();
        let artifact = Artifact::read(path, options)?;
        artifact.clone().into_loaded(options)?;
        self.register(artifact)
    }

    fn version_numbers(&self, name: &str, dir: &str) -> Result<Vec<u64>> {
        let mut v: Vec<u64> = self
            .store
            .list(&format!("{name}/{dir}"))?
            .iter()
            .filter_map(|f| f.strip_suffix(".json")?.parse().ok())
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// Every model name.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn models(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for n in self.store.list("")? {
            if check_name(&n).is_ok()
                && self
                    .get_json::<ModelFile>(&format!("{n}/model.json"))?
                    .is_some()
            {
                names.push(n);
            }
        }
        Ok(names)
    }

    /// Every version of `name`, oldest first, with metrics, tags and aliases;
    /// archived versions too when `include_archived`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::ModelNotFound`]; storage failures.
    pub fn versions(&self, name: &str, include_archived: bool) -> Result<Vec<VersionInfo>> {
        check_name(name)?;
        if self
            .get_json::<ModelFile>(&format!("{name}/model.json"))?
            .is_none()
        {
            return Err(RegistryError::ModelNotFound {
                name: name.to_owned(),
            });
        }
        let aliases = self.aliases(name)?;
        let mut out = Vec::new();
        let dirs: &[&str] = if include_archived {
            &["versions", "archive"]
        } else {
            &["versions"]
        };
        for dir in dirs {
            for v in self.version_numbers(name, dir)? {
                if let Some(mut info) =
                    self.get_json::<VersionInfo>(&format!("{name}/{dir}/{v}.json"))?
                {
                    info.archived = *dir == "archive";
                    info.aliases = aliases
                        .iter()
                        .filter(|(_, t)| **t == v)
                        .map(|(a, _)| a.clone())
                        .collect();
                    out.push(info);
                }
            }
        }
        out.sort_by_key(|i| i.version);
        Ok(out)
    }

    /// The aliases of `name`.
    ///
    /// # Errors
    ///
    /// Storage failures or a corrupt alias file.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u64>> {
        check_name(name)?;
        Ok(self
            .get_json(&format!("{name}/aliases.json"))?
            .unwrap_or_default())
    }

    /// Resolves a reference to a version number.
    ///
    /// # Errors
    ///
    /// [`RegistryError::ModelNotFound`], [`RegistryError::VersionNotFound`] or
    /// [`RegistryError::AliasNotFound`].
    pub fn resolve(&self, reference: &ModelRef) -> Result<u64> {
        let name = reference.name();
        check_name(name)?;
        let versions = self.version_numbers(name, "versions")?;
        let v = match reference {
            ModelRef::Latest(_) => {
                versions
                    .last()
                    .copied()
                    .ok_or_else(|| RegistryError::ModelNotFound {
                        name: name.to_owned(),
                    })?
            }
            ModelRef::Version(_, v) => *v,
            ModelRef::Alias(_, a) => {
                *self
                    .aliases(name)?
                    .get(a)
                    .ok_or_else(|| RegistryError::AliasNotFound {
                        name: name.to_owned(),
                        alias: a.clone(),
                    })?
            }
        };
        if versions.binary_search(&v).is_err() {
            return Err(RegistryError::VersionNotFound {
                name: name.to_owned(),
                version: v,
            });
        }
        Ok(v)
    }

    /// The raw artifact of `name` version `version`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`]; storage failures.
    pub fn artifact_bytes(&self, name: &str, version: u64) -> Result<Vec<u8>> {
        check_name(name)?;
        self.store
            .get(
                &format!("{name}/versions/{version}.mhart"),
                self.max_artifact_bytes,
            )?
            .ok_or_else(|| RegistryError::VersionNotFound {
                name: name.to_owned(),
                version,
            })
    }

    /// Where the artifact of a version lives, for stores with local files.
    #[must_use]
    pub fn artifact_path(&self, name: &str, version: u64) -> Option<std::path::PathBuf> {
        check_name(name).ok()?;
        self.store
            .local_path(&format!("{name}/versions/{version}.mhart"))
    }

    /// Resolves `reference` and loads that version with every check of
    /// [`Artifact::load`]. The header must name the resolved model and version.
    ///
    /// # Errors
    ///
    /// As [`Registry::resolve`] and [`Artifact::load`].
    pub fn load(&self, reference: &ModelRef, options: ReadOptions) -> Result<LoadedArtifact> {
        let version = self.resolve(reference)?;
        let bytes = self.artifact_bytes(reference.name(), version)?;
        let artifact = Artifact::from_bytes(&bytes, options)?;
        let h = artifact.header();
        if h.name != reference.name() || h.version != version {
            return Err(ArtifactError::InvalidModel {
                reason: format!(
                    "registry entry {}/{version} holds an artifact of {}/{}",
                    reference.name(),
                    h.name,
                    h.version
                ),
            }
            .into());
        }
        Ok(artifact.into_loaded(options)?)
    }

    /// Points `alias` of `name` at `version` (creating or moving it) and
    /// returns the version it pointed to before.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidAlias`], [`RegistryError::VersionNotFound`];
    /// storage failures.
    pub fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<Option<u64>> {
        check_name(name)?;
        check_alias(alias)?;
        let _lock = self.store.lock(name)?;
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
        let before = aliases.insert(alias.to_owned(), version);
        self.put_json(&format!("{name}/aliases.json"), &aliases)?;
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
        let mut aliases = self.aliases(name)?;
        let v = aliases
            .remove(alias)
            .ok_or_else(|| RegistryError::AliasNotFound {
                name: name.to_owned(),
                alias: alias.to_owned(),
            })?;
        self.put_json(&format!("{name}/aliases.json"), &aliases)?;
        Ok(v)
    }

    /// Sets a registry tag on a version.
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`]; storage failures.
    pub fn set_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<()> {
        check_name(name)?;
        let _lock = self.store.lock(name)?;
        let key_path = format!("{name}/versions/{version}.json");
        let mut info: VersionInfo =
            self.get_json(&key_path)?
                .ok_or_else(|| RegistryError::VersionNotFound {
                    name: name.to_owned(),
                    version,
                })?;
        info.tags.insert(key.to_owned(), value.to_owned());
        self.put_json(&key_path, &info)
    }

    /// Points `alias` at the version with the best value of `metric` (ties go
    /// to the newer version) and returns that version.
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
        self.set_alias(name, alias, best)?;
        Ok(best)
    }

    /// Keeps the `keep` newest versions and every aliased one; archives or
    /// deletes the rest. Returns the versions retired.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn retain(&self, name: &str, keep: usize, retire: Retire) -> Result<Vec<u64>> {
        check_name(name)?;
        let _lock = self.store.lock(name)?;
        let versions = self.version_numbers(name, "versions")?;
        let aliased: Vec<u64> = self.aliases(name)?.into_values().collect();
        let cut = versions.len().saturating_sub(keep);
        let retired: Vec<u64> = versions[..cut]
            .iter()
            .copied()
            .filter(|v| !aliased.contains(v))
            .collect();
        for v in &retired {
            // Summary first: once it is gone the version no longer resolves,
            // so a crash leaves at worst an orphan artifact file.
            for ext in ["json", "mhart"] {
                let key = format!("{name}/versions/{v}.{ext}");
                match retire {
                    Retire::Archive => self
                        .store
                        .rename(&key, &format!("{name}/archive/{v}.{ext}"))?,
                    Retire::Delete => self.store.delete(&key)?,
                }
            }
        }
        Ok(retired)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
