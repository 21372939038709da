//! Model artifacts: one file per model version.
//!
//! An [`Artifact`] is a header ([`ArtifactHeader`]: name, version, model kind,
//! schema, output, training metrics, reference statistics for drift
//! detection, warm-up rows, creation time, tags) and a payload (the model),
//! sealed by a SHA-256 checksum. [`Artifact::write`] is atomic;
//! [`Artifact::load`] runs every check, in a fixed order, before a model
//! comes out (see [`Artifact`] for the format and the order).
//!
//! # Untrusted bytes
//!
//! Reading is bounded: the file size is capped before anything is read,
//! lengths are checked against the actual size with overflow-checked
//! arithmetic, the JSON header has serde_json's nesting limit, and the
//! payload is decoded by its kind's decoder, which checks every count
//! against the bytes that remain before allocating. The header is priced
//! before it is parsed (what parsing each of its values can allocate), so a
//! whole load allocates at most [`ALLOCATION_MULTIPLE`] times the file size
//! plus [`ALLOCATION_ALLOWANCE`], whatever the file holds. Decision trees are
//! stored flat (a node list with child indices) rather than as nested boxes,
//! so no input can make decoding recurse.
//!
//! # Model kinds
//!
//! The header names the model's [`ModelKind`] (an id such as
//! `decision_tree_classifier`) and the version of that kind's payload
//! layout. Decoders ([`KindDecoder`]) are looked up in the process-wide
//! [`KindRegistry`]; built-in kinds are registered there, and a crate adds
//! its own with [`register_kind`], writing payloads with
//! [`PayloadWriter`] and reading them with [`PayloadReader`]. Artifacts
//! written before kinds were open (no payload version in the header) are
//! read as payload version 1 of the tree kind: they still load, without
//! probabilities.
//!
//! # The legacy payload codec
//!
//! Version-1 tree payloads are bincode 2.0.1 (serde path), still read so old
//! artifacts load; new payloads use [`PayloadWriter`]. bincode 2.0.1 is
//! flagged unmaintained by RUSTSEC-2025-0141 (no known vulnerability); all of
//! its use sits in one private module behind two functions.

mod budget;
mod codec;
mod ensemble;
mod file;
#[cfg(any(feature = "logistic", feature = "forest", feature = "linear"))]
mod fitted;
mod forest;
mod header;
mod header_check;
mod kinds;
mod linear;
mod payload;
mod tree;

use std::path::Path;
use std::sync::Arc;

pub use budget::{ALLOCATION_ALLOWANCE, ALLOCATION_MULTIPLE};
pub use file::{
    Artifact, DEFAULT_MAX_FILE_BYTES, FORMAT_VERSION, LoadedArtifact, MAGIC, ReadOptions, Training,
};
pub(crate) use file::{read_capped, write_atomic, write_atomic_with};
pub use header::{ArtifactHeader, Warmup};
pub use header_check::{HeaderError, MAX_CREATED_AT, MAX_VERSION};
pub use kinds::{DecodeLimits, KindDecoder, KindRegistry, ModelKind, register_kind};
pub use payload::{PayloadReader, PayloadWriter};

pub use crate::deployment::{FeatureStats, ReferenceStats};
use crate::model::ModelError;

/// Why an artifact was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// The file is larger than the configured cap.
    #[error("artifact is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The file does not start with the artifact magic.
    #[error("not a modelhost artifact (bad magic bytes)")]
    BadMagic,
    /// The file was written by an unknown format version.
    #[error(
        "artifact format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedFormat {
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file is shorter than the fixed prefix and checksum.
    #[error("artifact is truncated ({size} bytes)")]
    Truncated {
        /// Its size.
        size: u64,
    },
    /// The recorded lengths do not add up to the file size.
    #[error(
        "artifact lengths do not match its size (header {header} + payload {payload} bytes, file {file} bytes): truncated or corrupt"
    )]
    LengthMismatch {
        /// Recorded header length.
        header: u64,
        /// Recorded payload length.
        payload: u64,
        /// Actual file size.
        file: u64,
    },
    /// The SHA-256 checksum does not match the content.
    #[error("artifact checksum mismatch: the file is corrupt")]
    ChecksumMismatch,
    /// The header does not decode.
    #[error("artifact header is invalid: {reason}")]
    Header {
        /// The decoder's message.
        reason: String,
    },
    /// The header would cost more memory to parse than a load may allocate
    /// (see [`ALLOCATION_MULTIPLE`]): refused before it is parsed.
    #[error(
        "artifact header would allocate about {price} bytes to parse, over its budget of {budget} bytes"
    )]
    HeaderTooCostly {
        /// The header's price (as far as the scan went).
        price: u64,
        /// Its budget: a multiple of its size plus a fixed allowance.
        budget: u64,
    },
    /// The header decodes but says something impossible (a creation time
    /// or version out of range, duplicate or empty labels, warm-up rows or
    /// expectations its own schema and labels reject).
    #[error("artifact header is invalid: {0}")]
    InvalidHeader(#[from] HeaderError),
    /// The payload does not decode.
    #[error("artifact payload is invalid: {reason}")]
    Payload {
        /// The decoder's message.
        reason: String,
    },
    /// The decoded model is inconsistent or over the limits.
    #[error("artifact model is invalid: {reason}")]
    InvalidModel {
        /// What is wrong.
        reason: String,
    },
    /// No decoder is registered for the artifact's kind.
    #[error("no decoder for model kind `{kind}` is registered in this build (known: {known})")]
    UnknownKind {
        /// The artifact's kind.
        kind: ModelKind,
        /// The kinds this build knows, comma-separated.
        known: String,
    },
    /// The kind's decoder does not read the artifact's payload version.
    #[error(
        "model kind `{kind}` payload version {found} is not supported (this build reads {min} to {max})"
    )]
    UnsupportedPayload {
        /// The artifact's kind.
        kind: ModelKind,
        /// The payload version in the header.
        found: u32,
        /// Oldest version read.
        min: u32,
        /// Newest version read.
        max: u32,
    },
    /// A kind id that is empty, too long or has characters outside
    /// `a-z 0-9 _ - .`.
    #[error("`{id}` is not a valid model kind id")]
    InvalidKind {
        /// The refused id (cut to 56 characters).
        id: String,
    },
    /// A decoder for this kind is already registered.
    #[error("model kind `{kind}` already has a decoder")]
    KindTaken {
        /// The kind.
        kind: ModelKind,
    },
    /// The model in the artifact failed a check of its own (its warm-up
    /// rows, its fit to the schema and labels).
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The decoders every build has.
fn builtin_kinds() -> Vec<Arc<dyn KindDecoder>> {
    vec![
        Arc::new(tree::TreeKind),
        Arc::new(linear::LogisticKind),
        Arc::new(linear::LinearKind),
        Arc::new(forest::ForestKind),
        Arc::new(ensemble::EnsembleKind),
    ]
}

impl ArtifactError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source: Arc::new(e),
        }
    }
}
