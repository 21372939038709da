//! Registering versions, listing them, resolving references and loading.

use sha2::{Digest, Sha256};

use super::handle::key;
use super::reference::check_name;
use super::summary::ModelFile;
use super::{ModelRef, Registry, RegistryError, Result, VersionInfo};
use crate::artifact::{Artifact, ArtifactError, LoadedArtifact, ReadOptions};

impl Registry {
    /// Adds `artifact` as the next version of its model and returns the
    /// version number. The artifact's header records the number.
    ///
    /// The number is committed before the version's files are written, so
    /// a crash part-way leaves at worst a gap in the numbering (and
    /// leftovers the next writer removes), never a number used twice.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for a bad model name;
    /// [`RegistryError::SummaryTooLarge`] when the artifact's tags or
    /// metrics are over their limits; storage failures.
    pub fn register(&self, mut artifact: Artifact) -> Result<u64> {
        let name = artifact.header().name.clone();
        check_name(&name)?;
        let _lock = self.store.lock(&name)?;
        self.recover(&name)?;
        let model_key = key::model(&name);
        let recorded = self.get_json::<ModelFile>(&model_key)?.unwrap_or_default();
        let existing = self
            .version_numbers(&name, "versions")?
            .into_iter()
            .chain(self.version_numbers(&name, "archive")?)
            .max();
        let version = recorded
            .next_version
            .max(existing.map_or(1, |v| v.saturating_add(1)))
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
        info.check_size()?;
        // Counter first: once a file of `version` exists, the counter is
        // past it. Artifact next, summary last: listings only show versions
        // whose summary exists, so a crash in between leaves no half
        // version, only an orphan artifact that the next writer removes.
        self.put_json(
            &model_key,
            &ModelFile {
                next_version: version.saturating_add(1),
            },
        )?;
        self.store
            .put(&key::file(&name, "versions", version, "mhart"), &bytes)?;
        self.put_json(&key::file(&name, "versions", version, "json"), &info)?;
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

    /// Versions with a summary in `dir` (`versions` or `archive`), sorted.
    pub(super) fn version_numbers(&self, name: &str, dir: &str) -> Result<Vec<u64>> {
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
            if check_name(&n).is_ok() && self.get_json::<ModelFile>(&key::model(&n))?.is_some() {
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
        if self.get_json::<ModelFile>(&key::model(name))?.is_none() {
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
                    self.get_json::<VersionInfo>(&key::file(name, dir, v, "json"))?
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

    /// Resolves a reference to a version number.
    ///
    /// # Errors
    ///
    /// [`RegistryError::ModelNotFound`], [`RegistryError::VersionNotFound`],
    /// [`RegistryError::VersionArchived`] or [`RegistryError::AliasNotFound`].
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
            return Err(self.missing(name, v));
        }
        Ok(v)
    }

    /// The error for a version that does not resolve: archived, or not found.
    pub(super) fn missing(&self, name: &str, version: u64) -> RegistryError {
        let archived = self
            .version_numbers(name, "archive")
            .is_ok_and(|a| a.binary_search(&version).is_ok());
        if archived {
            RegistryError::VersionArchived {
                name: name.to_owned(),
                version,
            }
        } else {
            RegistryError::VersionNotFound {
                name: name.to_owned(),
                version,
            }
        }
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
                &key::file(name, "versions", version, "mhart"),
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
            .local_path(&key::file(name, "versions", version, "mhart"))
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
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
