//! The open set of model kinds: an id per kind and a registry of decoders.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::sync::{Arc, OnceLock, RwLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ArtifactError;
use super::header::ArtifactHeader;
use crate::model::{Model, TreeLimits};

const MAX_KIND_LEN: usize = 48;

/// The id of a model kind, such as `decision_tree_classifier`: 1 to 48
/// characters out of `a-z`, `0-9`, `_`, `-` and `.`.
///
/// Stored inline, so it is `Copy`; written in the artifact header as a
/// string. Built-in kinds have constants ([`ModelKind::DECISION_TREE_CLASSIFIER`]
/// and others); a crate with a kind of its own picks an id with a prefix of
/// its own (`acme.scorecard`).
///
/// # Examples
///
/// ```
/// use modelhost::artifact::ModelKind;
///
/// let kind = ModelKind::new("acme.scorecard")?;
/// assert_eq!(kind.as_str(), "acme.scorecard");
/// assert!(ModelKind::new("Not Valid").is_err());
/// # Ok::<(), modelhost::artifact::ArtifactError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelKind {
    len: u8,
    bytes: [u8; MAX_KIND_LEN],
}

const fn valid_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' || b == b'.'
}

impl ModelKind {
    /// A decision-tree classifier ([`TreeClassifier`](crate::model::TreeClassifier)).
    pub const DECISION_TREE_CLASSIFIER: Self = Self::from_static("decision_tree_classifier");

    /// A kind id known at compile time.
    ///
    /// # Panics
    ///
    /// If `id` is not a valid kind id (at compile time when used in a
    /// constant).
    #[must_use]
    pub const fn from_static(id: &'static str) -> Self {
        match Self::parse(id) {
            Some(k) => k,
            None => panic!("invalid model kind id"),
        }
    }

    const fn parse(id: &str) -> Option<Self> {
        let b = id.as_bytes();
        if b.is_empty() || b.len() > MAX_KIND_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_KIND_LEN];
        let mut i = 0;
        while i < b.len() {
            if !valid_byte(b[i]) {
                return None;
            }
            bytes[i] = b[i];
            i += 1;
        }
        Some(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// A kind id.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::InvalidKind`] when `id` is empty, longer than 48
    /// bytes, or has a character outside `a-z 0-9 _ - .`.
    pub fn new(id: &str) -> Result<Self, ArtifactError> {
        Self::parse(id).ok_or_else(|| ArtifactError::InvalidKind {
            id: id.chars().take(MAX_KIND_LEN + 8).collect(),
        })
    }

    /// The id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelKind({:?})", self.as_str())
    }
}

impl Serialize for ModelKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ModelKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// Limits a decoder must keep to while decoding untrusted bytes.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Deepest tree, most tree nodes (per tree).
    pub tree: TreeLimits,
    /// Most trees in an ensemble.
    pub max_trees: usize,
    /// Most nodes over all trees of a tree ensemble.
    pub max_ensemble_nodes: usize,
}

/// Decodes the payload of one model kind into a servable model.
///
/// Implementations decode *untrusted* bytes: read them with
/// [`PayloadReader`](super::PayloadReader) (counts checked before
/// allocating), never recurse on the input's structure, validate everything
/// (against the header's schema and output) before building the model, and
/// return errors rather than panic. Registered with [`register_kind`].
pub trait KindDecoder: Send + Sync + fmt::Debug {
    /// The kind this decoder reads.
    fn kind(&self) -> ModelKind;

    /// The payload versions it reads.
    fn payload_versions(&self) -> RangeInclusive<u32>;

    /// Decodes `payload`, written in `payload_version` (one of
    /// [`payload_versions`](Self::payload_versions)), for the model
    /// described by `header`.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Payload`] when the bytes do not decode,
    /// [`ArtifactError::InvalidModel`] or [`ArtifactError::Model`] when they
    /// describe a model that does not fit the header or the limits.
    fn decode(
        &self,
        payload: &[u8],
        payload_version: u32,
        header: &ArtifactHeader,
        limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError>;
}

/// The decoders known to this process, by kind.
///
/// [`KindRegistry::global`] holds the built-in kinds (decision trees; with
/// the `linfa` feature also logistic regression, random forests and linear
/// regression) and whatever [`register_kind`] adds; artifact loading looks
/// kinds up there.
#[derive(Debug, Default)]
pub struct KindRegistry {
    decoders: RwLock<BTreeMap<ModelKind, Arc<dyn KindDecoder>>>,
}

impl KindRegistry {
    /// The process-wide registry.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<KindRegistry> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let r = Self::default();
            for d in super::builtin_kinds() {
                let _ = r.register(d);
            }
            r
        })
    }

    /// Adds a decoder.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::KindTaken`] when a decoder for its kind is already
    /// registered (built-in kinds cannot be replaced).
    pub fn register(&self, decoder: Arc<dyn KindDecoder>) -> Result<(), ArtifactError> {
        let kind = decoder.kind();
        let mut map = self.decoders.write().unwrap_or_else(|e| e.into_inner());
        if map.contains_key(&kind) {
            return Err(ArtifactError::KindTaken { kind });
        }
        map.insert(kind, decoder);
        Ok(())
    }

    /// The decoder for `kind`.
    #[must_use]
    pub fn get(&self, kind: ModelKind) -> Option<Arc<dyn KindDecoder>> {
        self.decoders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&kind)
            .cloned()
    }

    /// Every registered kind, sorted.
    #[must_use]
    pub fn kinds(&self) -> Vec<ModelKind> {
        self.decoders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

/// Registers a decoder for a kind of your own with the process-wide
/// [`KindRegistry`], so that [`Artifact::load`](super::Artifact::load) and
/// the [`Registry`](crate::registry::Registry) can serve artifacts of that
/// kind. Build such artifacts with [`Artifact::from_model`](super::Artifact::from_model).
///
/// # Errors
///
/// [`ArtifactError::KindTaken`] when the kind already has a decoder.
pub fn register_kind(decoder: Arc<dyn KindDecoder>) -> Result<(), ArtifactError> {
    KindRegistry::global().register(decoder)
}
