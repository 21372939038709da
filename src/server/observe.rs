//! Hooks through which monitoring sees what a server does.

use std::fmt;
use std::time::Duration;

use ndarray::ArrayView2;

use crate::Error;
use crate::model::Predictions;
use crate::server::Deployment;

/// Receives an event for every served request and every swap.
///
/// Observers run on the request path, after the model returned: keep them
/// cheap (update counters, push into bounded buffers) and never block.
pub trait PredictObserver: Send + Sync + fmt::Debug {
    /// How many requests the server serves on a thread for each one it
    /// times (default 1: every request). Timing costs two clock reads,
    /// which matters for models that answer in a few hundred nanoseconds;
    /// an observer that samples latencies returns more, and the untimed
    /// requests reach [`on_predict`](Self::on_predict) with
    /// [`PredictEvent::latency`] `None`.
    ///
    /// On each thread the server times a request, skips the next
    /// `stride - 1`, times the next one, and so on, asking for the stride
    /// again each time it times one (so it is called once per timed
    /// request, on the request's thread, and may change from call to
    /// call). A [`predict_many`](crate::ModelServer::predict_many) group
    /// counts as one request.
    fn timing_stride(&self) -> u32 {
        1
    }

    /// A request was served or failed.
    fn on_predict(&self, event: &PredictEvent<'_>);

    /// The serving version changed (swap or rollback).
    fn on_swap(&self, event: &SwapEvent<'_>) {
        let _ = event;
    }

    /// A swap was refused or a load failed; the serving version is unchanged.
    fn on_swap_failed(&self, model: &str, error: &Error) {
        let _ = (model, error);
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
    /// timed (see [`PredictObserver::timing_stride`]).
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
    /// The deployment serving now (its model, schema and source).
    pub deployment: &'a Deployment,
}
