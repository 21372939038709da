//! The contract through which monitoring sees what a server does: sampled
//! request events, swaps, failed loads, and the server's own totals.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ndarray::ArrayView2;

use super::counts::Tallies;
use crate::Error;
use crate::deployment::Deployment;
use crate::model::Predictions;

/// Sees the requests a server serves (a sample of them), its swaps and its
/// failed loads.
///
/// Only [`on_predict`](Self::on_predict) must be written; an observer of a
/// few lines is a complete one:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use modelhost::server::{PredictEvent, PredictObserver};
///
/// /// Counts the failed requests.
/// #[derive(Debug, Default)]
/// struct Failures(AtomicU64);
///
/// impl PredictObserver for Failures {
///     fn on_predict(&self, event: &PredictEvent<'_>) {
///         if event.outcome.is_err() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
/// ```
///
/// # What is reported
///
/// On each thread the server *samples* one request in
/// [`sample_every`](Self::sample_every) (default 1: every request), times it
/// and reports it with [`PredictEvent::latency`] set. Every request that
/// fails, and every request that carries an id, is reported too, sampled or
/// not. Requests through a [`PinnedModel`](super::PinnedModel) are reported
/// the same way.
///
/// Totals need no event per request: the server counts every request
/// itself, per version and [`Outcome`], and hands the observer a
/// [`RequestTotals`] to read them from ([`attached`](Self::attached)).
///
/// Observers run on the request path, after the model returned: keep them
/// cheap (update counters, push into bounded buffers) and never block.
pub trait PredictObserver: Send + Sync + fmt::Debug {
    /// How many requests the server serves on a thread for each one it
    /// samples (default 1: every request). Asked again each time a request
    /// is sampled, on the request's thread, so it may change as traffic
    /// does. A [`predict_many`](crate::ModelServer::predict_many) group is
    /// sampled as a whole.
    fn sample_every(&self) -> u32 {
        1
    }

    /// The server's request totals, once, when a server is built with this
    /// observer; the default ignores them.
    fn attached(&self, totals: RequestTotals) {
        let _ = totals;
    }

    /// A sampled request, a failed one, or one with an id.
    fn on_predict(&self, event: &PredictEvent<'_>);

    /// The serving version changed (swap or rollback).
    fn on_swap(&self, event: &SwapEvent<'_>) {
        let _ = event;
    }

    /// A swap was refused or a load failed (reported by whoever loaded,
    /// such as an [`AliasWatcher`](crate::reload::AliasWatcher), through
    /// [`InProcessServer::report_failed_load`](super::InProcessServer::report_failed_load));
    /// the serving version is unchanged.
    fn on_failed_load(&self, model: &str, version: Option<u64>, error: &Error) {
        let _ = (model, version, error);
    }
}

/// One served (or failed) request.
#[derive(Debug)]
#[non_exhaustive]
pub struct PredictEvent<'a> {
    /// The model's name.
    pub model: &'a str,
    /// The version that served it.
    pub version: u64,
    /// The request id, if any.
    pub request_id: Option<&'a str>,
    /// The validated rows, when validation succeeded.
    pub rows: Option<ArrayView2<'a, f64>>,
    /// The predictions, or why there are none.
    pub outcome: Result<&'a Predictions, &'a Error>,
    /// Time from admission to the model's answer, when the request was
    /// sampled; `None` for a request reported only because it failed or
    /// carries an id.
    pub latency: Option<Duration>,
}

/// The serving version changed.
#[derive(Debug)]
#[non_exhaustive]
pub struct SwapEvent<'a> {
    /// The model's name.
    pub model: &'a str,
    /// The version that served before.
    pub from: u64,
    /// The version serving now.
    pub to: u64,
    /// Whether this was a rollback.
    pub rollback: bool,
    /// The server's generation after the change.
    pub generation: u64,
    /// The deployment serving now (its model, schema and reference).
    pub deployment: &'a Deployment,
}

/// How a request ended, in a fixed set of kinds (so that metric labels
/// never grow with error messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Served.
    Ok,
    /// The input broke the schema (or was validated against another one).
    InvalidInput,
    /// The request asked for a version the server does not hold.
    VersionNotHeld,
    /// The model failed, panicked or returned invalid predictions.
    ModelError,
    /// A queue was full.
    Overloaded,
    /// The deadline passed before the request was served.
    DeadlineExceeded,
    /// The server was shutting down.
    ShuttingDown,
    /// Nothing was being served.
    NotReady,
    /// Any other failure.
    Other,
}

impl Outcome {
    /// Number of kinds.
    pub const COUNT: usize = 9;

    /// Every kind, in the order of their indices.
    pub const ALL: [Outcome; Self::COUNT] = [
        Self::Ok,
        Self::InvalidInput,
        Self::VersionNotHeld,
        Self::ModelError,
        Self::Overloaded,
        Self::DeadlineExceeded,
        Self::ShuttingDown,
        Self::NotReady,
        Self::Other,
    ];

    /// The kind of a request's result.
    #[inline]
    #[must_use]
    pub fn of<T>(result: Result<T, &Error>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(Error::Schema(_) | Error::SchemaMismatch { .. } | Error::WidthMismatch { .. })
            | Err(Error::TypedInput { .. }) => Self::InvalidInput,
            Err(Error::VersionNotHeld { .. }) => Self::VersionNotHeld,
            Err(
                Error::Model { .. }
                | Error::ModelPanicked { .. }
                | Error::InvalidPredictions { .. },
            ) => Self::ModelError,
            Err(Error::Overloaded { .. }) => Self::Overloaded,
            Err(Error::DeadlineExceeded { .. }) => Self::DeadlineExceeded,
            Err(Error::ShuttingDown) => Self::ShuttingDown,
            Err(Error::NotReady { .. }) => Self::NotReady,
            Err(_) => Self::Other,
        }
    }

    /// The label used in metrics: `ok`, `invalid_input`, ...
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidInput => "invalid_input",
            Self::VersionNotHeld => "version_not_held",
            Self::ModelError => "model_error",
            Self::Overloaded => "overloaded",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::ShuttingDown => "shutting_down",
            Self::NotReady => "not_ready",
            Self::Other => "other",
        }
    }
}

/// A server's request totals: every request it served or refused, per
/// version and [`Outcome`], exact and never decreasing. Handed to
/// [`PredictObserver::attached`]; cheap to clone.
///
/// The server counts without locks or shared writes; [`read`](Self::read)
/// sees every request that completed before it was called.
#[derive(Clone, Default)]
pub struct RequestTotals {
    pub(crate) tallies: Arc<Tallies>,
}

impl RequestTotals {
    /// Totals per version, in order of version.
    #[must_use]
    pub fn read(&self) -> Vec<VersionTotals> {
        self.tallies.read()
    }
}

impl fmt::Debug for RequestTotals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.read()).finish()
    }
}

/// The totals of one version (see [`RequestTotals::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionTotals {
    /// The version.
    pub version: u64,
    /// Requests by outcome, indexed by `Outcome as usize` (or read with
    /// [`VersionTotals::requests`]).
    pub by_outcome: [u64; Outcome::COUNT],
    /// Rows of the requests that were served.
    pub rows: u64,
}

impl VersionTotals {
    /// No requests of `version` yet.
    #[must_use]
    pub fn empty(version: u64) -> Self {
        Self {
            version,
            by_outcome: [0; Outcome::COUNT],
            rows: 0,
        }
    }

    /// Requests that ended as `outcome`.
    #[must_use]
    pub fn requests(&self, outcome: Outcome) -> u64 {
        self.by_outcome[outcome as usize]
    }

    /// Requests of every outcome.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.by_outcome.iter().sum()
    }
}
