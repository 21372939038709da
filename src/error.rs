//! The crate's error: what serving reports, composed from the errors of the
//! layers below it.
//!
//! Each layer has its own error type and knows nothing above it:
//! [`schema`](crate::schema) ([`SchemaError`], [`SchemaDefinitionError`],
//! [`InputError`]), [`model`](crate::model) ([`ModelError`]),
//! [`artifact`](crate::artifact) ([`ArtifactError`]) and
//! [`registry`](crate::registry) ([`RegistryError`]). [`Error`] sits above
//! them and below the server: it folds each in through `From`, adds what
//! serving itself can refuse (overload, deadlines, versions, swaps), and
//! carries the errors of the layers above the server (the monitor, a
//! batching configuration, a transport) as [`Error::Component`], whose
//! concrete type [`Error::downcast_ref`] recovers.

use std::sync::Arc;

use crate::artifact::ArtifactError;
use crate::model::ModelError;
use crate::registry::RegistryError;
use crate::schema::{Fingerprint, InputError, SchemaDefinitionError, SchemaDiff, SchemaError};

/// Every failure modelhost reports.
///
/// Area errors fold in through `From`, so `?` works across modules. The type
/// is `Clone`, so one failure (say, a failed batch) can reach every caller
/// waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input violated the model's feature schema (every violation is listed).
    #[error(transparent)]
    Schema(#[from] SchemaError),

    /// A schema definition is invalid.
    #[error(transparent)]
    SchemaDefinition(#[from] SchemaDefinitionError),

    /// An artifact could not be read, verified or decoded.
    #[error(transparent)]
    Artifact(ArtifactError),

    /// A registry operation failed.
    #[error(transparent)]
    Registry(RegistryError),

    /// A typed value could not be walked as a struct of features.
    #[error("typed input cannot be encoded: {reason}")]
    TypedInput {
        /// Why.
        reason: String,
    },

    /// A matrix handed to a model has the wrong number of columns.
    #[error("model input has {found} columns, the schema has {expected} features")]
    WidthMismatch {
        /// The schema's width.
        expected: usize,
        /// The columns given.
        found: usize,
    },

    /// A validated row was checked against a different schema than the
    /// model's.
    #[error("input was validated against schema {found}, the model expects {expected}")]
    SchemaMismatch {
        /// The model's schema fingerprint.
        expected: Fingerprint,
        /// The input's schema fingerprint.
        found: Fingerprint,
    },

    /// A model cannot be served with the schema or output it was given.
    #[error("invalid model: {reason}")]
    InvalidModel {
        /// What is inconsistent.
        reason: String,
    },

    /// A model returned predictions that do not fit its declared output
    /// (wrong count, class index outside the label set).
    #[error("model returned invalid predictions: {reason}")]
    InvalidPredictions {
        /// What is wrong with them.
        reason: String,
    },

    /// A model failed while predicting.
    #[error("model failed: {source}")]
    Model {
        /// The model's own error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },

    /// A model panicked while predicting; only its own batch failed.
    #[error("model `{model}` version {version} panicked: {message}")]
    ModelPanicked {
        /// The model's name.
        model: String,
        /// The version that panicked.
        version: u64,
        /// The panic message, where it was a string.
        message: String,
    },

    /// A request asked for a model version the server does not hold.
    #[error("model `{model}` version {version} is not held by this server (held: {held:?})")]
    VersionNotHeld {
        /// The model's name.
        model: String,
        /// The version asked for.
        version: u64,
        /// The versions the server holds.
        held: Vec<u64>,
    },

    /// A ranking call cannot rank by what the model outputs (a classifier
    /// without probabilities, or a label it does not have).
    #[error("cannot rank: {reason}")]
    Rank {
        /// Why.
        reason: String,
    },

    /// The server has no model to serve.
    #[error("not ready: {reason}")]
    NotReady {
        /// Why.
        reason: String,
    },

    /// A swap offered a version that is not newer than the serving one.
    /// Use `SwapOptions::allow_older` or `InProcessServer::rollback` to go
    /// back.
    #[error("stale swap refused: version {offered} is not newer than serving version {current}")]
    StaleVersion {
        /// The serving version.
        current: u64,
        /// The version offered.
        offered: u64,
    },

    /// A swap offered a model for another model name.
    #[error("swap refused: the server serves `{serving}`, not `{offered}`")]
    WrongModel {
        /// The name served.
        serving: String,
        /// The name offered.
        offered: String,
    },

    /// A swap would make input that is valid now invalid.
    /// Use `SwapOptions::allow_breaking_schema` to accept it.
    #[error("swap refused: the new schema breaks currently valid input ({diff})")]
    IncompatibleSchema {
        /// What changed.
        diff: SchemaDiff,
    },

    /// A model's warm-up rows did not predict what they should.
    #[error("warm-up failed for `{model}` version {version}: {reason}")]
    WarmupFailed {
        /// The model's name.
        model: String,
        /// The version.
        version: u64,
        /// What went wrong.
        reason: String,
    },

    /// There is no previous version to roll back to.
    #[error("no previous version to roll back to")]
    NoPreviousVersion,

    /// A queue is full; the request was rejected at once. Retry later.
    #[error("overloaded: the queue holds {capacity} requests")]
    Overloaded {
        /// The queue's capacity.
        capacity: usize,
    },

    /// The request's deadline passed before it could be served; it never
    /// reached the model.
    #[error("deadline exceeded after waiting {waited:?}")]
    DeadlineExceeded {
        /// How long the request waited.
        waited: std::time::Duration,
    },

    /// A request has more rows than a batcher's largest batch; it was not
    /// queued. Split it, or send it to the inner server directly.
    #[error("request of {rows} rows exceeds the batch limit of {max_rows} rows")]
    RequestTooLarge {
        /// The request's rows.
        rows: usize,
        /// The batcher's largest batch, in rows.
        max_rows: usize,
    },

    /// The server is shutting down and did not serve the request.
    #[error("shutting down")]
    ShuttingDown,

    /// A component layered above the serving core failed: the monitor
    /// (`MonitorError`), a batching configuration (`BatchConfigError`), a
    /// transport (`TransportError`). [`Error::downcast_ref`] returns the
    /// component's own error.
    #[error(transparent)]
    Component(Arc<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps a model implementation's own error as [`Error::Model`].
    pub fn model(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Model {
            source: Arc::new(source),
        }
    }

    /// Wraps the error of a component above the server as
    /// [`Error::Component`].
    pub fn component(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Component(Arc::new(source))
    }

    /// The concrete error inside [`Error::Component`] or [`Error::Model`],
    /// if it is an `E`.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::batching::{BatchConfig, BatchConfigError};
    ///
    /// let err: modelhost::Error = BatchConfig::builder().workers(0).build().unwrap_err().into();
    /// assert_eq!(err.downcast_ref::<BatchConfigError>(), Some(&BatchConfigError::ZeroWorkers));
    /// ```
    #[must_use]
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Self::Component(source) | Self::Model { source } => source.downcast_ref(),
            _ => None,
        }
    }
}

impl From<InputError> for Error {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Schema(e) => Self::Schema(e),
            InputError::WidthMismatch { expected, found } => {
                Self::WidthMismatch { expected, found }
            }
            InputError::TypedInput { reason } => Self::TypedInput { reason },
        }
    }
}

impl From<ModelError> for Error {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::WidthMismatch { expected, found } => {
                Self::WidthMismatch { expected, found }
            }
            ModelError::SchemaMismatch { expected, found } => {
                Self::SchemaMismatch { expected, found }
            }
            ModelError::InvalidModel { reason } => Self::InvalidModel { reason },
            ModelError::InvalidPredictions { reason } => Self::InvalidPredictions { reason },
            ModelError::Failed { source } => Self::Model { source },
            ModelError::Panicked {
                model,
                version,
                message,
            } => Self::ModelPanicked {
                model,
                version,
                message,
            },
            ModelError::WarmupFailed {
                model,
                version,
                reason,
            } => Self::WarmupFailed {
                model,
                version,
                reason,
            },
        }
    }
}

impl From<ArtifactError> for Error {
    fn from(e: ArtifactError) -> Self {
        match e {
            ArtifactError::Model(e) => e.into(),
            other => Self::Artifact(other),
        }
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Artifact(e) => e.into(),
            other => Self::Registry(other),
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
