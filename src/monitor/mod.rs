//! What the model is doing in production: operational metrics, input and
//! prediction drift, live quality from feedback, alerts and a report.
//!
//! A [`Monitor`] is a [`PredictObserver`](crate::server::PredictObserver):
//! build it for the deployment you serve and attach it to the server.
//!
//! ```
//! # use std::sync::Arc;
//! use modelhost::monitor::{AlertRule, LogSink, Metric, Monitor};
//! use modelhost::{Deployment, InProcessServer};
//! # fn demo(deployment: Deployment) -> modelhost::Result<()> {
//! let monitor = Monitor::builder(&deployment)
//!     .alert(AlertRule::above(Metric::DriftShare, 0.5))
//!     .alert(AlertRule::below(Metric::Recall, 0.7).min_count(1_000))
//!     .sink(Arc::new(LogSink))
//!     .build()?;
//! let server = InProcessServer::builder(deployment).observer(monitor.clone()).build()?;
//! # Ok(()) }
//! ```
//!
//! - **Metrics** go through the [`metrics`](https://docs.rs/metrics) facade
//!   with Prometheus names (see [`REQUESTS_TOTAL`] and its siblings), so any
//!   exporter works; install it before building the monitor. The
//!   `prometheus` feature adds [`prometheus::install`]. A batcher records its
//!   batch sizes and queue waits with [`BatchMetrics`] or [`record_batch`].
//!   Every request is counted; counts reach the recorder in batches (every
//!   second by default, see [`MonitorBuilder::publish_every`], and on every
//!   read or [`Monitor::flush`]). Latency is measured on a [sample](Sampling)
//!   of the requests.
//! - **Drift**: the monitor keeps the last rows in a bounded window
//!   (tumbling by default, sliding with
//!   [`step_rows`](MonitorBuilder::step_rows)) and, each time a window
//!   completes, tests every feature and the predictions against the
//!   reference statistics of the serving version with the test Evidently
//!   would pick (see [Drift tests](#drift-tests)). See [`DriftReport`];
//!   [`compare`] runs the same tests offline on two [`DataSet`]s.
//! - **Quality**: [`Monitor::record_outcome`] joins the true outcome to the
//!   prediction of the same request id and keeps rolling accuracy,
//!   precision, recall and AUC (or MAE and RMSE) per version
//!   ([`QualityMetrics`]).
//! - **Alerts**: [`AlertRule`]s on quality or drift fire once per breach and
//!   resolve with hysteresis; [`AlertSink`]s ([`LogSink`], [`CallbackSink`])
//!   hear the transitions.
//! - **Report**: [`Monitor::report`] renders a self-contained HTML page;
//!   [`Monitor::write_snapshot`] saves a JSON [`MonitorSnapshot`] that
//!   `modelhost report --snapshot FILE --out report.html` renders later.
//!
//! # Drift tests
//!
//! By default each column gets the test Evidently 0.7's `DataDriftPreset`
//! picks ([`StatTest::default_for`]), at that test's default threshold, and
//! the dataset drifts when at least half of the columns drift
//! ([`DriftThresholds`]; tests and thresholds can be set for every column
//! or per column):
//!
//! | reference values | column | distinct values (both sides) | test | drift when |
//! |---|---|---|---|---|
//! | ≤ 1,000 | numeric | > 5 | [`StatTest::Ks`]: KS p-value (scipy's `ks_2samp`: exact up to 10,000 values a side, asymptotic beyond) | p ≤ 0.05 |
//! | ≤ 1,000 | any | 3 to 5 (numeric), > 2 (categorical) | [`StatTest::ChiSquare`]: chi-square p-value | p < 0.05 |
//! | ≤ 1,000 | any | ≤ 2 | [`StatTest::Z`]: two-proportion Z-test p-value | p < 0.05 |
//! | > 1,000 | numeric | > 5 | [`StatTest::Wasserstein`]: Wasserstein distance / reference std (≥ 0.001) | ≥ 0.1 |
//! | > 1,000 | any other | | [`StatTest::JensenShannon`]: Jensen–Shannon distance of the shares | ≥ 0.1 |
//!
//! Categorical features and booleans are categorical columns; floats and
//! integers numeric. Every [`FeatureDrift`] names its test, score and
//! threshold, and also carries PSI, KS and Jensen–Shannon for context and
//! the [`Distribution`] (bins or values, and each side's shares) behind
//! them. `tests/drift_parity.rs` checks tests, verdicts and scores against
//! Evidently 0.7.23 (scores within 1e-12 relative, the asymptotic KS
//! p-value included).
//!
//! Binning for PSI and Jensen–Shannon follows Evidently's
//! `get_binned_data` (the tests check them against numpy, scipy and
//! Evidently to 1e-12):
//!
//! - a numeric column with more than 20 distinct reference values is cut
//!   into equal-width bins over the combined reference and current values
//!   with numpy's `histogram_bin_edges(bins="sturges")`. Evidently's
//!   `n_bins` parameter does not apply to such columns (it always uses
//!   Sturges edges); [`Binning::Fixed`] is our own departure from it;
//! - any other column (categorical, or numeric with few distinct values) is
//!   compared by value counts over the union of the values seen;
//! - for PSI, empty bins are filled, separately per side, with
//!   `min(non-zero percent) / 10^6` when that minimum is at most `0.0001`,
//!   else with `0.0001`; PSI = Σ (current − reference) · ln(current /
//!   reference);
//! - Jensen–Shannon uses the same percents without the filling.
//!
//! The reference side is the artifact's strided sample of at most 5,000
//! training values per feature. Non-finite values are dropped first.
//!
//! # Windows
//!
//! Windows count the sketched rows of the serving version: every row with
//! [`Sampling::Every(1)`](Sampling::Every), and by default every row of a
//! thread until it serves 1,000 rows a second, about 1,000 a second above
//! that (see [`Sampling`]). With the default tumbling
//! windows every [`window_rows`](MonitorBuilder::window_rows) rows are
//! scored and forgotten; with a smaller
//! [`step_rows`](MonitorBuilder::step_rows) the last `window_rows` rows are
//! scored every `step_rows` rows. A window larger than
//! [`max_kept_rows`](MonitorBuilder::max_kept_rows) keeps every k-th row. A
//! swap starts a new window against the new version's reference.
//! [`Monitor::drift`] reports the window so far before the first one of a
//! version completes, marked partial; a report whose windows are smaller
//! than their tests need ([`StatTest::min_rows`]) carries a warning naming
//! the minimum, and the monitor logs it once. See [`Sampling`] for how
//! long a window takes to fill at a given traffic. Requests
//! served together through `predict_many` (as a `Batcher` sends them) reach
//! the observer one by one with their own rows, so batched traffic is
//! sketched like single requests.

mod alert;
pub mod drift;
mod drift_html;
mod error;
mod metrics;
mod observer;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
mod quality;
mod report;
mod shard;
mod snapshot;
mod window;

pub use alert::{
    Alert, AlertRule, AlertSink, AlertState, CallbackSink, Direction, LogSink, Metric,
};
pub use drift::{
    Binning, ColumnKind, ColumnTest, CsvLimits, DataSet, Distribution, DriftReport,
    DriftThresholds, FeatureDrift, KS_EXACT_MAX_N, LARGE_REFERENCE, MAX_BINS, StatTest, Verdict,
    compare, compare_with, histogram, histogram_bin_edges, jensen_shannon, ks_statistic, psi,
};
pub use error::MonitorError;
pub use metrics::{
    ALERTS_FIRING, BATCH_SIZE, BatchMetrics, DRIFT_PSI, DRIFT_SHARE, FAILED_LOADS_TOTAL,
    LIVE_QUALITY, MODEL_VERSION, QUEUE_WAIT_SECONDS, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL,
    ROWS_PREDICTED_TOTAL, SWAPS_TOTAL, describe_metrics, outcome_label, record_batch,
};
pub use observer::{MemoryUse, Monitor, MonitorBuilder, Sampling};
pub use quality::{Actual, QualityMetrics, QualityPoint};
pub use snapshot::{MonitorSnapshot, SwapMark, WindowPoint};
pub use window::LatencyHistogram;
