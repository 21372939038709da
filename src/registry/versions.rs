//! Registering versions, listing them, resolving references and loading.

use sha2::{Digest, Sha256};

use super::gc::now_ms;
use super::handle::key;
use super::index::Entry;
use super::reference::check_name;
use super::store::hex;
use super::{ModelRef, PutMode, Registry, RegistryError, Result, VersionInfo};
use crate::artifact::{Artifact, ArtifactError, LoadedArtifact, ReadOptions};

impl Registry {
    /// Adds `artifact` as the next version of its model and returns the
    /// version number. The artifact's header records the number.
    ///
    /// Three steps, none holding a lock: take the number in the model's
    /// index (a conditional write, retried when another writer took one
    /// first), upload the artifact and its summary under keys only this
    /// writer uses, then mark the version active in the index. A writer
    /// that dies part-way leaves a number marked pending, invisible to
    /// readers and never given again; [`Registry::retain`] frees its
    /// storage after the pending grace.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for a bad model name;
    /// [`RegistryError::SummaryTooLarge`] when the artifact's tags or
    /// metrics are over their limits; [`RegistryError::Abandoned`] when
    /// the upload outlasted the pending grace; storage failures.
    pub fn register(&self, mut artifact: Artifact) -> Result<u64> {
        let name = artifact.header().name.clone();
        check_name(&name)?;
        // Refuse oversized metadata before a number is taken.
        self.summary_of(&artifact, 0, 0, String::new())
            .check_size()?;
        // And a header that would not pack (refused on load): checked
        // with the longest version number the header can carry, so that
        // the number taken below cannot make it fail after all.
        let asked = artifact.header().version;
        artifact.header_mut().version = crate::artifact::MAX_VERSION;
        let packs = artifact.packed_header().map(drop);
        artifact.header_mut().version = asked;
        packs?;
        self.store.sweep(&name)?;
        let version = self.update_index(&name, true, |index| {
            // Past the counter and past every listed version, whatever a
            // hand-edited index says; a number already listed or the last
            // one there is never taken.
            let past = index
                .versions
                .keys()
                .next_back()
                .map_or(1, |v| v.saturating_add(1));
            let v = index.next_version.max(past).max(1);
            if v == u64::MAX || index.versions.contains_key(&v) {
                return Err(RegistryError::Corrupt {
                    key: key::index(&name),
                    reason: format!("no version number is left after {v}"),
                });
            }
            index.next_version = v + 1;
            index
                .versions
                .insert(v, Entry::Pending { since_ms: now_ms() });
            Ok(v)
        })?;
        artifact.header_mut().version = version;
        // What this writer created, so that giving up removes only that.
        let mut created: Vec<&str> = Vec::new();
        let uploaded = (|| {
            let bytes = artifact.to_bytes()?;
            let info = self.summary_of(
                &artifact,
                version,
                bytes.len() as u64,
                hex(&Sha256::digest(&bytes)),
            );
            // Artifact first, summary second: a summary always has its
            // artifact. Both are create-only: a number is this writer's
            // alone, and nothing already there is ever replaced.
            self.store
                .put(&key::file(&name, version, "mhart"), &bytes, PutMode::Create)?;
            created.push("mhart");
            self.put_json(&key::file(&name, version, "json"), &info, PutMode::Create)?;
            created.push("json");
            Ok(())
        })();
        if let Err(e) = uploaded {
            self.abandon(&name, version, &created);
            return Err(e);
        }
        let finished =
            self.update_index(&name, false, |index| match index.versions.get(&version) {
                Some(Entry::Pending { .. }) => {
                    index.versions.insert(version, Entry::Active);
                    Ok(true)
                }
                _ => Ok(false),
            })?;
        if !finished {
            // A garbage collection took this writer for dead and freed the
            // number's storage: nothing of the version may stay.
            self.delete_files(&name, version)?;
            return Err(RegistryError::Abandoned {
                name,
                version,
                grace: self.pending_grace,
            });
        }
        Ok(version)
    }

    /// Gives up a pending number after a failed upload: the files this
    /// writer created (`created`: extensions) and the entry go (best
    /// effort; a garbage collection finishes the job).
    fn abandon(&self, name: &str, version: u64, created: &[&str]) {
        for ext in ["json", "mhart"] {
            if created.contains(&ext) {
                let _ = self.store.delete(&key::file(name, version, ext));
            }
        }
        let _ = self.update_index(name, false, |index| {
            if matches!(index.versions.get(&version), Some(Entry::Pending { .. })) {
                index.versions.remove(&version);
            }
            Ok(())
        });
    }

    /// Deletes both files of a version (summary first: a summary always
    /// has its artifact).
    pub(super) fn delete_files(&self, name: &str, version: u64) -> Result<()> {
        self.store.delete(&key::file(name, version, "json"))?;
        self.store.delete(&key::file(name, version, "mhart"))
    }

    fn summary_of(
        &self,
        artifact: &Artifact,
        version: u64,
        size: u64,
        sha256: String,
    ) -> VersionInfo {
        let h = artifact.header();
        VersionInfo {
            name: h.name.clone(),
            version,
            model_kind: h.model_kind,
            metrics: h.metrics.clone(),
            tags: h.tags.clone(),
            created_at: h.created_at,
            size,
            sha256,
            aliases: Vec::new(),
            archived: false,
        }
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

    /// Every model name.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn models(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for n in self.store.list("")? {
            if check_name(&n).is_ok() && self.index(&n)?.is_some() {
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
        let index = self.existing_index(name)?;
        let mut out = Vec::new();
        for (&v, entry) in &index.versions {
            let archived = match entry {
                Entry::Active => false,
                Entry::Archived if include_archived => true,
                _ => continue,
            };
            // A version deleted since the index was read has no summary.
            if let Some(mut info) = self.get_json::<VersionInfo>(&key::file(name, v, "json"))? {
                info.archived = archived;
                info.aliases = index
                    .aliases
                    .iter()
                    .filter(|(_, t)| **t == v)
                    .map(|(a, _)| a.clone())
                    .collect();
                out.push(info);
            }
        }
        Ok(out)
    }

    /// Resolves a reference to a version number: one conditional read of
    /// the model's index (usually answered "unchanged").
    ///
    /// # Errors
    ///
    /// [`RegistryError::ModelNotFound`], [`RegistryError::VersionNotFound`],
    /// [`RegistryError::VersionArchived`] or [`RegistryError::AliasNotFound`].
    pub fn resolve(&self, reference: &ModelRef) -> Result<u64> {
        let name = reference.name();
        check_name(name)?;
        let index = self.existing_index(name)?;
        let v = match reference {
            ModelRef::Latest(_) => {
                index
                    .active()
                    .last()
                    .copied()
                    .ok_or_else(|| RegistryError::ModelNotFound {
                        name: name.to_owned(),
                    })?
            }
            ModelRef::Version(_, v) => *v,
            ModelRef::Alias(_, a) => {
                *index
                    .aliases
                    .get(a)
                    .ok_or_else(|| RegistryError::AliasNotFound {
                        name: name.to_owned(),
                        alias: a.clone(),
                    })?
            }
        };
        match index.versions.get(&v) {
            Some(Entry::Active) => Ok(v),
            Some(Entry::Archived) => Err(RegistryError::VersionArchived {
                name: name.to_owned(),
                version: v,
            }),
            _ => Err(RegistryError::VersionNotFound {
                name: name.to_owned(),
                version: v,
            }),
        }
    }

    /// The summary of version `version` of `name`, archived or not.
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`]; storage failures.
    pub fn version_info(&self, name: &str, version: u64) -> Result<VersionInfo> {
        check_name(name)?;
        self.get_json(&key::file(name, version, "json"))?
            .ok_or_else(|| RegistryError::VersionNotFound {
                name: name.to_owned(),
                version,
            })
    }

    /// The raw artifact of `name` version `version`, checked against the
    /// SHA-256 its summary records (from the artifact cache when there is
    /// one and it holds the file).
    ///
    /// # Errors
    ///
    /// [`RegistryError::VersionNotFound`]; [`RegistryError::Corrupt`] when
    /// the bytes are not the ones registered; storage failures.
    pub fn artifact_bytes(&self, name: &str, version: u64) -> Result<Vec<u8>> {
        let info = self.version_info(name, version)?;
        if let Some(cache) = &self.cache
            && let Some(bytes) = cache.get(&info.sha256)
        {
            return Ok(bytes);
        }
        let bytes = self
            .store
            .get(&key::file(name, version, "mhart"), self.max_artifact_bytes)?
            .ok_or_else(|| RegistryError::VersionNotFound {
                name: name.to_owned(),
                version,
            })?;
        let actual = hex(&Sha256::digest(&bytes));
        if actual != info.sha256 {
            return Err(RegistryError::Corrupt {
                key: key::file(name, version, "mhart"),
                reason: format!(
                    "checksum mismatch: its SHA-256 is {actual}, the registered one {}",
                    info.sha256
                ),
            });
        }
        if let Some(cache) = &self.cache {
            cache.put(&info.sha256, &bytes);
        }
        Ok(bytes)
    }

    /// Where the artifact of a version lives, for stores with local files.
    #[must_use]
    pub fn artifact_path(&self, name: &str, version: u64) -> Option<std::path::PathBuf> {
        check_name(name).ok()?;
        self.store.local_path(&key::file(name, version, "mhart"))
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
