//! Writing and reading artifact files.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "linfa")]
use linfa_trees::DecisionTree;
use sha2::{Digest, Sha256};

use super::header::{ArtifactHeader, Warmup};
use super::kinds::{DecodeLimits, KindRegistry, ModelKind};
use super::{ArtifactError, budget};
use crate::deployment::{Deployment, ReferenceStats};
use crate::model::{Model, OutputKind, Predictions, TreeLimits};
use crate::schema::{FeatureBatch, FeatureSchema};

type Result<T, E = ArtifactError> = std::result::Result<T, E>;

/// The first bytes of every artifact. The `\r\n` catches text-mode
/// corruption, as in PNG.
pub const MAGIC: [u8; 8] = *b"MHARTF\r\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Magic, format version, header length, payload length.
const PREFIX: usize = 8 + 4 + 8 + 8;
const DIGEST: usize = 32;
/// The default cap on artifact size: 256 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 << 20;

/// Limits for reading untrusted artifacts.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct ReadOptions {
    max_file_bytes: u64,
    max_tree_depth: usize,
    max_tree_nodes: usize,
    max_trees: usize,
    max_ensemble_nodes: usize,
    warm_up: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_tree_depth: 256,
            max_tree_nodes: 1 << 22,
            max_trees: 1 << 16,
            max_ensemble_nodes: 1 << 24,
            warm_up: true,
        }
    }
}

impl ReadOptions {
    /// Default limits: files up to 256 MiB, trees up to depth 256 and
    /// 4,194,304 nodes, warm-up on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Largest file accepted, in bytes (default 256 MiB). Also bounds what
    /// a load can allocate: at most
    /// [`ALLOCATION_MULTIPLE`](super::ALLOCATION_MULTIPLE) (8) times the
    /// file size plus [`ALLOCATION_ALLOWANCE`](super::ALLOCATION_ALLOWANCE)
    /// (32 MiB), whatever the file holds.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// Deepest decision tree accepted (default 256).
    pub fn max_tree_depth(mut self, depth: usize) -> Self {
        self.max_tree_depth = depth;
        self
    }

    /// Most decision-tree nodes accepted (default 4,194,304).
    pub fn max_tree_nodes(mut self, nodes: usize) -> Self {
        self.max_tree_nodes = nodes;
        self
    }

    /// Most trees accepted in an ensemble (default 65,536: boosted models
    /// have rounds × classes trees, so 10,000 rounds of a 6-class model
    /// fit). Memory is bounded by the node limit and the file size.
    pub fn max_trees(mut self, trees: usize) -> Self {
        self.max_trees = trees;
        self
    }

    /// Most nodes accepted over all trees of a tree ensemble (default
    /// 16,777,216; 16 bytes each once loaded).
    pub fn max_ensemble_nodes(mut self, nodes: usize) -> Self {
        self.max_ensemble_nodes = nodes;
        self
    }

    /// The limits decoders keep to.
    #[must_use]
    pub fn decode_limits(&self) -> DecodeLimits {
        DecodeLimits {
            tree: TreeLimits {
                max_depth: self.max_tree_depth,
                max_nodes: self.max_tree_nodes,
            },
            max_trees: self.max_trees,
            max_ensemble_nodes: self.max_ensemble_nodes,
        }
    }

    /// Whether [`Artifact::load`] runs the warm-up rows (default: yes).
    pub fn warm_up(mut self, on: bool) -> Self {
        self.warm_up = on;
        self
    }
}

/// A model version as a file: header and payload, ready to write, or read
/// back and verified.
///
/// # Format
///
/// | bytes | content |
/// |---|---|
/// | 8 | magic `MHARTF\r\n` |
/// | 4 | format version, u32 little-endian |
/// | 8 | header length H, u64 little-endian |
/// | 8 | payload length P, u64 little-endian |
/// | H | header, JSON ([`ArtifactHeader`]) |
/// | P | payload, the model in its kind's layout |
/// | 32 | SHA-256 of everything before it |
///
/// Reading checks, in order: file size under the cap, magic, format version,
/// lengths against the file size, checksum, header, a decoder registered for
/// the header's kind and payload version, payload decode under the
/// [`ReadOptions`] limits, model validation by the decoder (for trees: split
/// features inside the schema, inner nodes with both children, depth and node
/// count within limits, finite split values, leaf distributions), the decoded
/// model's schema and output equal to the header's, then the warm-up rows.
#[derive(Debug, Clone)]
pub struct Artifact {
    header: ArtifactHeader,
    payload: Vec<u8>,
}

/// A verified artifact, decoded into a servable model.
#[derive(Debug, Clone)]
pub struct LoadedArtifact {
    /// The header.
    pub header: Arc<ArtifactHeader>,
    /// The model.
    pub model: Arc<dyn Model>,
}

impl Artifact {
    /// Packs any model as an artifact of `kind`, whose decoder reads
    /// `payload` (written in `payload_version`) back into a model that
    /// predicts as `model` does.
    ///
    /// `training` is the validated training data: it supplies the reference
    /// statistics for drift detection and (its first rows) the warm-up rows,
    /// whose predictions by `model` are recorded now and must be reproduced
    /// by the decoded model before it may serve. `version` starts at 0; a
    /// [`Registry`](crate::registry::Registry) assigns the real one.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Model`] with
    /// [`ModelError::SchemaMismatch`](crate::model::ModelError::SchemaMismatch)
    /// when `training` follows another schema than `model`, or any error of
    /// `model` predicting the training rows.
    pub fn from_model(
        name: impl Into<String>,
        kind: ModelKind,
        payload_version: u32,
        payload: Vec<u8>,
        model: &dyn Model,
        training: &FeatureBatch,
    ) -> Result<Self> {
        let schema = model.schema();
        crate::model::check_schema(schema, training.schema())?;
        let predictions = model.predict_batch(training.rows())?;
        let rows: Vec<Vec<f64>> = (0..training.len().min(16))
            .map(|i| training.row(i).to_vec())
            .filter(|r| r.iter().all(|v| v.is_finite()))
            .collect();
        let warm_batch = Self::warm_batch(schema, &rows)?;
        let expected = model.predict_batch(warm_batch.rows())?;
        let expected = match expected.class_indices() {
            Some(c) => c.iter().map(|&c| c as f64).collect(),
            None => expected.score_values().unwrap_or_default().to_vec(),
        };
        Ok(Self {
            header: ArtifactHeader {
                name: name.into(),
                version: 0,
                model_kind: kind,
                payload_version,
                schema: schema.clone(),
                output: model.output().clone(),
                metrics: Default::default(),
                reference: Some(Arc::new(ReferenceStats::from_batch(
                    training,
                    Some(&predictions),
                    ReferenceStats::DEFAULT_SAMPLE,
                ))),
                warmup: Warmup { rows, expected },
                created_at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                tags: Default::default(),
            },
            payload,
        })
    }

    #[cfg(feature = "linfa")]
    #[cfg_attr(docsrs, doc(cfg(feature = "linfa")))]
    /// Packs a linfa-trees classifier whose class `i` is `labels[i]`.
    ///
    /// `training` is the validated training data (see
    /// [`Artifact::from_model`]). Pass it with its class targets,
    /// `(&batch, &targets[..])`, and every leaf stores the class shares of
    /// the training rows that reach it, so the served model reports
    /// probabilities; pass the batch alone and it reports classes only.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Model`] with [`ModelError::InvalidModel`](crate::model::ModelError::InvalidModel)
    /// when the tree does not fit the schema or the labels, or the targets
    /// do not fit the rows, or with
    /// [`ModelError::SchemaMismatch`](crate::model::ModelError::SchemaMismatch)
    /// when `training` follows another schema.
    pub fn decision_tree<'t, I, S>(
        name: impl Into<String>,
        tree: &DecisionTree<f64, usize>,
        schema: &FeatureSchema,
        labels: I,
        training: impl Into<Training<'t>>,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let training = training.into();
        crate::model::check_schema(schema, training.batch.schema())?;
        let model = crate::model::TreeClassifier::from_linfa(
            tree,
            schema.clone(),
            labels.into_iter().map(Into::into).collect(),
            training.batch.rows(),
            training.targets,
        )?;
        Self::from_model(
            name,
            ModelKind::DECISION_TREE_CLASSIFIER,
            super::tree::PAYLOAD_VERSION,
            super::tree::encode(&model),
            &model,
            training.batch,
        )
    }

    fn warm_batch(schema: &FeatureSchema, rows: &[Vec<f64>]) -> Result<FeatureBatch> {
        let width = schema.len();
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        if rows.iter().any(|r| r.len() != width) {
            return Err(ArtifactError::InvalidModel {
                reason: format!("a warm-up row does not have {width} values"),
            });
        }
        let matrix = ndarray::Array2::from_shape_vec((rows.len(), width), flat).map_err(|e| {
            ArtifactError::InvalidModel {
                reason: e.to_string(),
            }
        })?;
        Ok(FeatureBatch::new(matrix, schema.clone()))
    }

    /// The header.
    #[must_use]
    pub fn header(&self) -> &ArtifactHeader {
        &self.header
    }

    /// The header, to set metrics, tags or the version before writing.
    pub fn header_mut(&mut self) -> &mut ArtifactHeader {
        &mut self.header
    }

    /// Records an evaluation metric.
    #[must_use]
    pub fn with_metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.header.metrics.insert(name.into(), value);
        self
    }

    /// Records a tag.
    #[must_use]
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.header.tags.insert(key.into(), value.into());
        self
    }

    /// The artifact as bytes.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Header`] if the header cannot be encoded (a metric is
    /// not finite) or would cost a load more memory to parse than it allows
    /// (a schema of more than about 20,000 features: see
    /// [`ALLOCATION_MULTIPLE`](super::ALLOCATION_MULTIPLE));
    /// [`ArtifactError::InvalidHeader`] if reading would refuse it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = self.packed_header()?;
        let mut out = Vec::with_capacity(PREFIX + header.len() + self.payload.len() + DIGEST);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.payload);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// The header as [`to_bytes`](Self::to_bytes) writes it, after the
    /// checks that make it refuse to write.
    pub(crate) fn packed_header(&self) -> Result<Vec<u8>> {
        if let Some((k, _)) = self.header.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(ArtifactError::Header {
                reason: format!("metric `{k}` is not finite"),
            });
        }
        self.header.check()?;
        let header = serde_json::to_vec(&self.header).map_err(|e| ArtifactError::Header {
            reason: e.to_string(),
        })?;
        // Never write what a load would refuse: a header priced over its
        // budget (a schema of tens of thousands of features, say) would
        // register a version that no server can load.
        let budget = budget::header_budget(header.len());
        if let Err(price) = budget::header_price(&header, budget) {
            return Err(ArtifactError::Header {
                reason: format!(
                    "it would be refused on load: parsing its {} bytes (a schema of {} \
                     features, {} warm-up rows) is priced over {price} bytes, more than \
                     the {budget} a load allows",
                    header.len(),
                    self.header.schema.len(),
                    self.header.warmup.rows.len(),
                ),
            });
        }
        Ok(header)
    }

    /// Writes the artifact atomically: a temporary file in the same
    /// directory, fsync, rename, fsync of the directory. A reader sees the
    /// old file or the whole new one, never part of it.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Io`] on any file-system failure.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        write_atomic(path.as_ref(), &self.to_bytes()?)
    }

    /// Reads and checks an artifact's structure, checksum and header, without
    /// decoding the model.
    ///
    /// # Errors
    ///
    /// [`ArtifactError`] naming the first check that failed.
    pub fn read(path: impl AsRef<Path>, options: ReadOptions) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_capped(path, options.max_file_bytes)?;
        Self::from_bytes(&bytes, options)
    }

    /// As [`Artifact::read`], from bytes in memory.
    ///
    /// # Errors
    ///
    /// As [`Artifact::read`].
    pub fn from_bytes(bytes: &[u8], options: ReadOptions) -> Result<Self> {
        let (h, p) = Self::check_frame(bytes, options)?;
        let body = bytes.len() - DIGEST;
        let digest = Sha256::digest(&bytes[..body]);
        if digest[..] != bytes[body..] {
            return Err(ArtifactError::ChecksumMismatch);
        }
        let header = Self::parse_header(bytes, h)?;
        Ok(Self {
            header,
            payload: bytes[PREFIX + h..PREFIX + h + p].to_vec(),
        })
    }

    /// The header of an artifact whose framing is intact, *without* checking
    /// the checksum: for tools that show what a corrupt file claims to be.
    /// Never serve a model read this way.
    ///
    /// # Errors
    ///
    /// As [`Artifact::from_bytes`], except for the checksum.
    pub fn header_unverified(bytes: &[u8], options: ReadOptions) -> Result<ArtifactHeader> {
        let (h, _) = Self::check_frame(bytes, options)?;
        Self::parse_header(bytes, h)
    }

    fn parse_header(bytes: &[u8], h: usize) -> Result<ArtifactHeader> {
        let json = &bytes[PREFIX..PREFIX + h];
        let budget = budget::header_budget(h);
        budget::header_price(json, budget)
            .map_err(|price| ArtifactError::HeaderTooCostly { price, budget })?;
        let header: ArtifactHeader =
            serde_json::from_slice(json).map_err(|e| ArtifactError::Header {
                reason: e.to_string(),
            })?;
        header.check()?;
        Ok(header)
    }

    /// Size cap, magic, format version and lengths; returns the header and
    /// payload lengths.
    fn check_frame(bytes: &[u8], options: ReadOptions) -> Result<(usize, usize)> {
        let len = bytes.len() as u64;
        if len > options.max_file_bytes {
            return Err(ArtifactError::TooLarge {
                size: len,
                max: options.max_file_bytes,
            });
        }
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(ArtifactError::BadMagic);
        }
        if bytes.len() < PREFIX + DIGEST {
            return Err(ArtifactError::Truncated { size: len });
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(ArtifactError::UnsupportedFormat {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let (h, p) = (u64_at(12), u64_at(20));
        let expected = h
            .checked_add(p)
            .and_then(|n| n.checked_add((PREFIX + DIGEST) as u64));
        if expected != Some(len) {
            return Err(ArtifactError::LengthMismatch {
                header: h,
                payload: p,
                file: len,
            });
        }
        // Both lengths are now known to fit in the (capped) input.
        Ok((h as usize, p as usize))
    }

    /// Decodes and validates the model, then runs the warm-up rows.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Payload`] / [`ArtifactError::InvalidModel`] when the
    /// payload does not decode or validate; [`ArtifactError::Model`] with
    /// [`ModelError::WarmupFailed`](crate::model::ModelError::WarmupFailed)
    /// when the model does not reproduce its warm-up predictions.
    pub fn into_loaded(self, options: ReadOptions) -> Result<LoadedArtifact> {
        let model = self.decode_model(options)?;
        let loaded = LoadedArtifact {
            header: Arc::new(self.header),
            model,
        };
        if options.warm_up {
            loaded.deployment()?.warm_up()?;
        }
        Ok(loaded)
    }

    fn decode_model(&self, options: ReadOptions) -> Result<Arc<dyn Model>> {
        let header = &self.header;
        let registry = KindRegistry::global();
        let decoder =
            registry
                .get(header.model_kind)
                .ok_or_else(|| ArtifactError::UnknownKind {
                    kind: header.model_kind,
                    known: registry
                        .kinds()
                        .iter()
                        .map(ModelKind::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let versions = decoder.payload_versions();
        if !versions.contains(&header.payload_version) {
            return Err(ArtifactError::UnsupportedPayload {
                kind: header.model_kind,
                found: header.payload_version,
                min: *versions.start(),
                max: *versions.end(),
            });
        }
        let model = decoder.decode(
            &self.payload,
            header.payload_version,
            header,
            &options.decode_limits(),
        )?;
        if !model.schema().same_encoding(&header.schema) || model.output() != &header.output {
            return Err(ArtifactError::InvalidModel {
                reason: format!(
                    "the `{}` decoder built a model whose schema or output differs from the header",
                    header.model_kind
                ),
            });
        }
        Ok(model)
    }

    /// Reads, verifies, decodes, validates and warms up the artifact at `path`.
    ///
    /// # Errors
    ///
    /// As [`Artifact::read`] and [`Artifact::into_loaded`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use modelhost::artifact::{Artifact, ReadOptions};
    /// use modelhost::InProcessServer;
    ///
    /// let loaded = Artifact::load("models/recommender-3.mhart", ReadOptions::new())?;
    /// let server = InProcessServer::new(loaded.deployment()?)?;
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>, options: ReadOptions) -> Result<LoadedArtifact> {
        Self::read(path, options)?.into_loaded(options)
    }
}

impl LoadedArtifact {
    /// A [`Deployment`] of this model version, carrying its warm-up rows and
    /// the header's reference statistics.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::InvalidModel`] when the warm-up rows do not fit the
    /// schema.
    pub fn deployment(&self) -> Result<Deployment> {
        let h = &self.header;
        let rows = Artifact::warm_batch(&h.schema, &h.warmup.rows)?;
        let expected = match &h.output {
            OutputKind::Classification { labels, .. } => Predictions::classes(
                h.warmup.expected.iter().map(|&c| c as usize).collect(),
                labels.len(),
            )
            .map_err(|e| ArtifactError::InvalidModel {
                reason: format!("warm-up expectations: {e}"),
            })?,
            OutputKind::Regression => Predictions::scores(h.warmup.expected.clone()),
        };
        let mut d = Deployment::from_arc(h.name.clone(), h.version, self.model.clone());
        if let Some(reference) = &h.reference {
            d = d.with_reference(reference.clone());
        }
        if !rows.is_empty() {
            d = d.with_warmup(rows, expected);
        }
        Ok(d)
    }
}

/// Training rows, with their class targets where known.
///
/// Built from `&FeatureBatch` (rows only) or `(&FeatureBatch, &[usize])`
/// (rows and the class index of each).
#[derive(Debug, Clone, Copy)]
pub struct Training<'a> {
    /// The validated rows.
    pub batch: &'a FeatureBatch,
    /// One class index per row.
    pub targets: Option<&'a [usize]>,
}

impl<'a> From<&'a FeatureBatch> for Training<'a> {
    fn from(batch: &'a FeatureBatch) -> Self {
        Self {
            batch,
            targets: None,
        }
    }
}

impl<'a> From<(&'a FeatureBatch, &'a [usize])> for Training<'a> {
    fn from((batch, targets): (&'a FeatureBatch, &'a [usize])) -> Self {
        Self {
            batch,
            targets: Some(targets),
        }
    }
}

/// Reads at most `max + 1` bytes, refusing files over `max`.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, ArtifactError> {
    let io = |e| ArtifactError::io(path, e);
    let file = fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > max {
        return Err(ArtifactError::TooLarge { size, max });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ArtifactError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok(bytes)
}

/// Temp file in the same directory, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    write_atomic_with(path, bytes, |tmp, path| fs::rename(tmp, path))
}

/// As [`write_atomic`], with `commit` moving the written, synced temporary
/// file into place (a registry store checks its write condition there,
/// under its lock). The temporary file is removed when anything fails.
pub(crate) fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    commit: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
) -> Result<(), ArtifactError> {
    let io = |e| ArtifactError::io(path, e);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io(std::io::Error::other("no file name")))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        commit(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            // Directory fsync makes the rename durable; not every platform
            // allows opening a directory, and the rename is atomic either way.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io)
}

static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
