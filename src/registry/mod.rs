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
//!
//! # Crashes
//!
//! A writer can die at any point without breaking what readers see:
//!
//! - a version number is committed to `model.json` before any file of that
//!   version is written, so a crash can leave a gap in the numbering but
//!   never a visible version the counter does not cover: numbers are never
//!   reused, even after the version is deleted;
//! - a version is visible only once its summary exists, and the summary is
//!   written after the artifact;
//! - leftovers of a dead writer (temporary files, an artifact without a
//!   summary, half an archive move) are cleaned up by the next writer of that
//!   model, under the model's lock, where no other writer can be running.
//!
//! # Files
//!
//! `reference.rs` (names, aliases, [`ModelRef`]), `handle.rs` (the
//! [`Registry`] handle and its metadata I/O), `summary.rs` ([`VersionInfo`]
//! and its size limits), `versions.rs` (registering, listing, resolving,
//! loading), `aliases.rs` (aliases, tags, promotion), `gc.rs` (retention and
//! crash recovery), `store.rs` (the storage trait and [`FsStore`]).

mod aliases;
mod gc;
mod handle;
mod reference;
mod store;
mod summary;
mod versions;

use crate::artifact::ArtifactError;

pub use aliases::{Better, MAX_ALIASES};
pub use gc::{DEFAULT_ALIAS_GRACE, Retire};
pub use handle::Registry;
pub use reference::ModelRef;
pub use store::{FsStore, RegistryStore};
pub use summary::{MAX_METRICS_BYTES, MAX_TAGS_BYTES, VersionInfo};

type Result<T, E = RegistryError> = std::result::Result<T, E>;

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
    /// No such version.
    #[error("model `{name}` has no version {version}")]
    VersionNotFound {
        /// The name.
        name: String,
        /// The version.
        version: u64,
    },
    /// The version was archived by a garbage collection: it is kept on
    /// storage but does not resolve until [`Registry::restore`]d.
    #[error("version {version} of `{name}` is archived; restore it to use it")]
    VersionArchived {
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
    /// A version's tags or metrics are over the registry's limit
    /// ([`MAX_TAGS_BYTES`], [`MAX_METRICS_BYTES`]), refused when registered
    /// or tagged so that listings can always read every summary.
    #[error("the {field} of `{name}` take {bytes} bytes as JSON, over the limit of {max}")]
    SummaryTooLarge {
        /// The model.
        name: String,
        /// `"tags"` or `"metrics"`.
        field: &'static str,
        /// Their encoded size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A model already has [`MAX_ALIASES`] aliases.
    #[error("model `{name}` already has {max} aliases")]
    TooManyAliases {
        /// The model.
        name: String,
        /// The limit.
        max: usize,
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
