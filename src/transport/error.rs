//! Why a transport could not be configured or started.

use std::sync::Arc;

/// Why a transport could not be configured or started. The crate
/// [`Error`](crate::Error) carries it as [`Error::Component`](crate::Error::Component).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No model was added to the transport.
    #[error("transport: no model to serve")]
    NoModels,
    /// Two servers report the same model name.
    #[error("transport: two models are named `{name}`")]
    DuplicateModel {
        /// The name.
        name: String,
    },
    /// A file, socket or listener operation failed.
    #[error("transport: cannot {action}: {source}")]
    Io {
        /// What was being done (`listen on 127.0.0.1:8080`, `read /etc/token`).
        action: String,
        /// The OS error.
        source: Arc<std::io::Error>,
    },
    /// A setting is unusable (an empty token file, say).
    #[error("transport: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}

impl TransportError {
    /// A failed I/O operation described by `action`.
    pub fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source: Arc::new(source),
        }
    }
}

impl From<TransportError> for crate::Error {
    fn from(e: TransportError) -> Self {
        Self::component(e)
    }
}
