//! Operational metrics through the `metrics` facade, with Prometheus names.
//!
//! Handles are registered once per model version and cached. A
//! [`Monitor`](super::Monitor) counts requests per thread and hands the
//! counts to the recorder in batches, so the recorder's atomics are not
//! touched per request; latencies are recorded for the timed (sampled)
//! requests. Install the recorder *before* building the monitor: handles
//! registered earlier stay no-ops.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit, counter, describe_counter, describe_gauge};
use metrics::{describe_histogram, gauge, histogram};

use crate::Error;
use crate::server::Outcome;

/// `modelhost_requests_total{model,version,outcome}`: requests served, by
/// outcome (see [`outcome_label`]).
pub const REQUESTS_TOTAL: &str = "modelhost_requests_total";
/// `modelhost_request_duration_seconds{model,version}`: time from admission
/// to the model's answer, of the requests the monitor times (see
/// [`Sampling`](super::Sampling): its `_count` is the number of timed
/// requests; count requests with [`REQUESTS_TOTAL`]).
pub const REQUEST_DURATION_SECONDS: &str = "modelhost_request_duration_seconds";
/// `modelhost_rows_predicted_total{model,version}`: rows that reached the
/// model.
pub const ROWS_PREDICTED_TOTAL: &str = "modelhost_rows_predicted_total";
/// `modelhost_swaps_total{model,kind}`: successful swaps (`kind="swap"`) and
/// rollbacks (`kind="rollback"`).
pub const SWAPS_TOTAL: &str = "modelhost_swaps_total";
/// `modelhost_failed_loads_total{model,reason}`: swaps refused or loads
/// that failed; the serving version stayed.
pub const FAILED_LOADS_TOTAL: &str = "modelhost_failed_loads_total";
/// `modelhost_model_version{model}`: the version serving new requests.
pub const MODEL_VERSION: &str = "modelhost_model_version";
/// `modelhost_batch_size{model}`: rows per model call of a batcher.
pub const BATCH_SIZE: &str = "modelhost_batch_size";
/// `modelhost_queue_wait_seconds{model}`: time a request waited in a
/// batcher's queue.
pub const QUEUE_WAIT_SECONDS: &str = "modelhost_queue_wait_seconds";
/// `modelhost_drift_psi{model,version,feature}`: PSI of each feature (and
/// `feature="prediction"`) in the last completed window.
pub const DRIFT_PSI: &str = "modelhost_drift_psi";
/// `modelhost_drift_share{model,version}`: share of drifting features in
/// the last completed window.
pub const DRIFT_SHARE: &str = "modelhost_drift_share";
/// `modelhost_live_quality{model,version,metric}`: rolling accuracy,
/// precision, recall, AUC (classifiers) or MAE (regressors) from feedback.
pub const LIVE_QUALITY: &str = "modelhost_live_quality";
/// `modelhost_alerts_firing{model}`: alerts currently firing.
pub const ALERTS_FIRING: &str = "modelhost_alerts_firing";

/// Registers help texts and units of every modelhost metric with the
/// installed recorder. Call once after installing it (optional: exporters
/// work without descriptions).
pub fn describe_metrics() {
    describe_counter!(
        REQUESTS_TOTAL,
        Unit::Count,
        "Prediction requests by outcome."
    );
    describe_histogram!(
        REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Time from admission to the model's answer."
    );
    describe_counter!(
        ROWS_PREDICTED_TOTAL,
        Unit::Count,
        "Rows that reached the model."
    );
    describe_counter!(SWAPS_TOTAL, Unit::Count, "Successful swaps and rollbacks.");
    describe_counter!(
        FAILED_LOADS_TOTAL,
        Unit::Count,
        "Refused swaps and failed loads; the serving version stayed."
    );
    describe_gauge!(MODEL_VERSION, "The version serving new requests.");
    describe_histogram!(BATCH_SIZE, Unit::Count, "Rows per batched model call.");
    describe_histogram!(
        QUEUE_WAIT_SECONDS,
        Unit::Seconds,
        "Time a request waited in the batch queue."
    );
    describe_gauge!(DRIFT_PSI, "PSI of a feature in the last completed window.");
    describe_gauge!(
        DRIFT_SHARE,
        "Share of drifting features in the last window."
    );
    describe_gauge!(LIVE_QUALITY, "Rolling quality from feedback.");
    describe_gauge!(ALERTS_FIRING, "Alerts currently firing.");
}

/// The `outcome` label of a request: `ok`, or one of a fixed set of error
/// kinds (`invalid_input`, `version_not_held`, `model_error`, `overloaded`,
/// `deadline_exceeded`, `shutting_down`, `not_ready`, `other`: the labels of
/// [`Outcome`]), so the label never grows with error messages.
#[must_use]
pub fn outcome_label(outcome: Result<(), &Error>) -> &'static str {
    Outcome::of(outcome).label()
}

/// The labels of every [`Outcome`], by index.
pub(crate) const OUTCOMES: [&str; Outcome::COUNT] = {
    let mut labels = [""; Outcome::COUNT];
    let mut i = 0;
    while i < Outcome::COUNT {
        labels[i] = Outcome::ALL[i].label();
        i += 1;
    }
    labels
};

/// The `reason` label of a failed load or refused swap.
pub(crate) fn failed_load_reason(e: &Error) -> &'static str {
    match e {
        Error::StaleVersion { .. } => "stale_version",
        Error::WrongModel { .. } => "wrong_model",
        Error::IncompatibleSchema { .. } => "incompatible_schema",
        Error::WarmupFailed { .. } => "warmup_failed",
        Error::Artifact(_) => "artifact",
        Error::Registry(_) => "registry",
        _ => "other",
    }
}

/// Cached handles of one model version.
#[derive(Debug)]
pub(crate) struct VersionHandles {
    pub(crate) model: Arc<str>,
    pub(crate) version: u64,
    requests: [Counter; OUTCOMES.len()],
    pub(crate) duration: Histogram,
    pub(crate) rows: Counter,
}

impl VersionHandles {
    pub(crate) fn register(model: &Arc<str>, version: u64) -> Self {
        let v = version.to_string();
        let m = model.to_string();
        Self {
            model: model.clone(),
            version,
            requests: OUTCOMES.map(|o| {
                counter!(REQUESTS_TOTAL, "model" => m.clone(), "version" => v.clone(), "outcome" => o)
            }),
            duration: histogram!(REQUEST_DURATION_SECONDS, "model" => m.clone(), "version" => v.clone()),
            rows: counter!(ROWS_PREDICTED_TOTAL, "model" => m, "version" => v),
        }
    }

    /// Adds requests (by outcome, indexed as [`OUTCOMES`]) and rows.
    pub(crate) fn add(&self, requests: &[u64; OUTCOMES.len()], rows: u64) {
        for (counter, &n) in self.requests.iter().zip(requests) {
            if n > 0 {
                counter.increment(n);
            }
        }
        if rows > 0 {
            self.rows.increment(rows);
        }
    }
}

pub(crate) fn swapped(model: &str, version: u64, rollback: bool) {
    let kind = if rollback { "rollback" } else { "swap" };
    counter!(SWAPS_TOTAL, "model" => model.to_owned(), "kind" => kind).increment(1);
    set_version(model, version);
}

pub(crate) fn set_version(model: &str, version: u64) {
    gauge!(MODEL_VERSION, "model" => model.to_owned()).set(version as f64);
}

pub(crate) fn failed_load(model: &str, e: &Error) {
    counter!(FAILED_LOADS_TOTAL, "model" => model.to_owned(), "reason" => failed_load_reason(e))
        .increment(1);
}

pub(crate) fn drift_gauge(model: &str, version: u64, feature: &str) -> Gauge {
    gauge!(DRIFT_PSI, "model" => model.to_owned(), "version" => version.to_string(),
           "feature" => feature.to_owned())
}

pub(crate) fn share_gauge(model: &str, version: u64) -> Gauge {
    gauge!(DRIFT_SHARE, "model" => model.to_owned(), "version" => version.to_string())
}

pub(crate) fn quality_gauge(model: &str, version: u64, metric: &'static str) -> Gauge {
    gauge!(LIVE_QUALITY, "model" => model.to_owned(), "version" => version.to_string(),
           "metric" => metric)
}

pub(crate) fn alerts_gauge(model: &str) -> Gauge {
    gauge!(ALERTS_FIRING, "model" => model.to_owned())
}

/// Records one batched model call of `batch_size` rows, whose requests
/// waited `queue_wait` in the queue (for the oldest request, or each
/// request: call once per request then), as `modelhost_batch_size` and
/// `modelhost_queue_wait_seconds`.
///
/// For a batcher's hot loop prefer [`BatchMetrics`], which registers the
/// handles once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// modelhost::monitor::record_batch("recommender", 32, Duration::from_micros(850));
/// ```
pub fn record_batch(model: &str, batch_size: usize, queue_wait: Duration) {
    BatchMetrics::new(model).record(batch_size, queue_wait);
}

/// Cached handles for a batcher's `modelhost_batch_size` and
/// `modelhost_queue_wait_seconds`, registered once by [`BatchMetrics::new`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use modelhost::monitor::BatchMetrics;
///
/// let batches = BatchMetrics::new("recommender");
/// batches.record(16, Duration::from_micros(400));
/// ```
#[derive(Debug, Clone)]
pub struct BatchMetrics {
    size: Histogram,
    wait: Histogram,
}

impl BatchMetrics {
    /// Registers the batch histograms of `model` with the installed recorder.
    #[must_use]
    pub fn new(model: &str) -> Self {
        Self {
            size: histogram!(BATCH_SIZE, "model" => model.to_owned()),
            wait: histogram!(QUEUE_WAIT_SECONDS, "model" => model.to_owned()),
        }
    }

    /// Records one model call of `batch_size` rows and a queue wait.
    pub fn record(&self, batch_size: usize, queue_wait: Duration) {
        self.size.record(batch_size as f64);
        self.wait.record(queue_wait.as_secs_f64());
    }
}
