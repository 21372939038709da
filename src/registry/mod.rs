//! Versions and aliases of named models.
//!
//! A [`Registry`] holds every version of each named model, numbered from 1
//! and never reused, with MLflow-style aliases (`production`, `staging`,
//! `champion`, any `[A-Za-z0-9_-]+`) and tags. Versions are looked up by
//! [`ModelRef`]: `name/3`, `name@production`, or `name` for the latest.
//! "Promote version 7 to production" is one call:
//! [`Registry::set_alias`]`("recommender", "production", 7)`.
//!
//! Storage sits behind [`RegistryStore`]: [`FsStore`] (a directory, the
//! default) or, with the `s3`, `azure` or `gcs` features, an object store
//! ([`ObjectStore`]). [`Registry::open`] takes either: a path, or
//! `s3://bucket/prefix`, `az://container/prefix`, `gs://bucket/prefix`,
//! `file:///path`.
//!
//! # Writers on many machines
//!
//! No writer takes a lock. Each model has one value that changes, its
//! index (`NAME/index.json`: the next version number, each version's
//! state, the aliases); every change to it is a conditional write
//! (create-if-absent, or replace-if-unchanged since read) that is read
//! again and redone when another writer won the race. Everything else is
//! written once under a key only its writer uses. So a version number is
//! never given twice, an alias never points at a version being deleted,
//! and a writer that dies holds nothing up.
//!
//! # Crashes
//!
//! A writer can die at any point without breaking what readers see:
//!
//! - a version number is taken in the index (marked pending) before any
//!   file of that version is written, so a crash can leave a gap in the
//!   numbering but never a number used twice, even after the version is
//!   deleted;
//! - a version is visible only once the index marks it active, which
//!   happens after its artifact and its summary are written;
//! - what a dead writer leaves (a pending number, files of a version the
//!   index no longer lists, temporary files) is freed by
//!   [`Registry::retain`].
//!
//! # Files
//!
//! `reference.rs` (names, aliases, [`ModelRef`]), `handle.rs` (the
//! [`Registry`] handle and its metadata I/O), `index.rs` (the model index
//! and its conditional updates, and moving the layout before it),
//! `summary.rs` ([`VersionInfo`] and its size limits), `versions.rs`
//! (registering, listing, resolving, loading), `aliases.rs` (aliases, tags,
//! promotion), `gc.rs` (retention and crash recovery), `store.rs` (the
//! storage trait and [`FsStore`]), `object.rs` (object stores), `url.rs`
//! (registry locations), `cache.rs` (the local artifact cache).

mod aliases;
mod cache;
mod gc;
mod handle;
mod index;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
mod object;
mod reference;
mod store;
mod summary;
mod url;
mod versions;

use crate::artifact::ArtifactError;

pub use aliases::{Better, MAX_ALIASES};
pub use gc::{DEFAULT_ALIAS_GRACE, Retire};
pub use handle::{DEFAULT_PENDING_GRACE, Registry};
pub(crate) use index::jitter;
#[cfg(any(feature = "s3", feature = "azure", feature = "gcs"))]
pub use object::ObjectStore;
pub use reference::ModelRef;
pub use store::{Fetched, FsStore, PutMode, RegistryStore, Revision};
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
    /// A conditional write found the value changed (or present, or gone)
    /// since it was read: another writer got there first. Stores return
    /// it; the registry retries, and passes it on only when other writers
    /// kept winning for its whole retry budget.
    #[error("registry value {key} kept changing under concurrent writers; try again")]
    Conflict {
        /// The value's key.
        key: String,
    },
    /// A registration took longer than the registry's pending grace, so a
    /// garbage collection took its writer for dead and freed the number;
    /// the version was not registered and nothing of it remains.
    #[error(
        "registering version {version} of `{name}` took longer than {grace:?}; it was taken for abandoned and not registered"
    )]
    Abandoned {
        /// The model.
        name: String,
        /// The number it had taken.
        version: u64,
        /// The registry's pending grace.
        grace: std::time::Duration,
    },
    /// A model's index would pass the 1 MiB that readers accept (tens of
    /// thousands of versions): retire some.
    #[error(
        "the index of `{name}` would take {bytes} bytes, over the limit of {max}: retire old versions"
    )]
    IndexFull {
        /// The model.
        name: String,
        /// Its encoded size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A registry location is not a path or a URL this build can open.
    #[error("cannot open registry {location:?}: {reason}")]
    Location {
        /// The location given.
        location: String,
        /// Why.
        reason: String,
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
