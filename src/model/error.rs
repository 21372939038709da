//! What can go wrong with a model: it does not fit its schema or output, it
//! fails or panics while predicting, or its predictions do not fit.

use std::sync::Arc;

use crate::schema::Fingerprint;

/// Why a model could not be built, checked or run.
///
/// The crate [`Error`](crate::Error) folds each case into a variant of the
/// same name (`ModelError::Panicked` into `Error::ModelPanicked`,
/// `ModelError::Failed` into `Error::Model`), so callers who match on the
/// crate error see no difference.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
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
    Failed {
        /// The model's own error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },

    /// A model panicked while predicting; only its own batch failed.
    #[error("model `{model}` version {version} panicked: {message}")]
    Panicked {
        /// The model's name.
        model: String,
        /// The version that panicked.
        version: u64,
        /// The panic message, where it was a string.
        message: String,
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
}

impl ModelError {
    /// Wraps a model implementation's own error as [`ModelError::Failed`].
    pub fn failed(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Failed {
            source: Arc::new(source),
        }
    }
}
