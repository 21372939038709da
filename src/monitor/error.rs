//! The monitor's errors.

use std::path::PathBuf;
use std::sync::Arc;

/// Why a monitor call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// A builder setting is out of range.
    #[error("invalid monitor configuration: {reason}")]
    InvalidConfig {
        /// Which setting, and why.
        reason: String,
    },

    /// An outcome named a label the version that served the request does
    /// not have.
    #[error("label `{label}` is not in the vocabulary of version {version}")]
    UnknownLabel {
        /// The label given.
        label: String,
        /// The version that served the request.
        version: u64,
    },

    /// An outcome does not fit the model's output (a label for a regressor,
    /// a fractional value or out-of-range class for a classifier).
    #[error("outcome does not fit the output of version {version}: {reason}")]
    OutcomeMismatch {
        /// The version that served the request.
        version: u64,
        /// What does not fit.
        reason: String,
    },

    /// A snapshot or report could not be read or written.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: Arc<std::io::Error>,
    },

    /// A snapshot is not valid JSON of the expected shape.
    #[error("invalid monitor snapshot: {source}")]
    Snapshot {
        /// The decoding error.
        source: Arc<serde_json::Error>,
    },

    /// A CSV data set could not be read: its line and what was wrong with
    /// it (the message is bounded; long values are cut).
    #[error("CSV line {line}: {reason}")]
    Csv {
        /// The 1-based line (1 is the header).
        line: u64,
        /// What was wrong.
        reason: String,
    },

    /// A row given for an offline drift comparison does not fit the
    /// schema.
    #[error("drift input row {row}: {reason}")]
    DriftInput {
        /// The 0-based row.
        row: usize,
        /// What does not fit.
        reason: String,
    },

    /// The metrics exporter could not be installed.
    #[error("cannot install the metrics exporter: {reason}")]
    Exporter {
        /// The exporter's message.
        reason: String,
    },
}

impl From<MonitorError> for crate::Error {
    fn from(e: MonitorError) -> Self {
        Self::component(e)
    }
}
