//! The crate's one error type.

use std::sync::Arc;

use crate::schema::{Fingerprint, SchemaDefinitionError, SchemaError};

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
}

impl Error {
    /// Wraps a model implementation's own error as [`Error::Model`].
    pub fn model(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Model {
            source: Arc::new(source),
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
