//! [`Monitor`]: the [`PredictObserver`] that records metrics, drift,
//! feedback quality and alerts.
//!
//! - `mod.rs`: the monitor's state and how its locks nest;
//! - `builder.rs`: [`MonitorBuilder`] and [`Sampling`];
//! - `ingest.rs`: the request path (the observer, sampling, sketching) and
//!   folding the server's totals and the sketch rings into the window;
//! - `feedback.rs`: outcomes joined to predictions, rolling quality;
//! - `scoring.rs`: scoring completed windows, evaluating alert rules,
//!   calling the sinks;
//! - `reads.rs`: snapshots, reports, memory use;
//! - `thread.rs`: the monitor's own thread (publishing and scoring).
//!
//! # Locks
//!
//! A thread that holds more than one takes them in this order:
//! `pendings` → `live` → {`totals`, `cold`, `latency`}. `quality`,
//! `alerts` and the scoring count (`Scoring::handed`) are only ever held
//! alone, and no lock is held while an alert sink runs. The request path
//! takes none of them, except to keep a prediction with an id for feedback
//! (`pendings`, alone) and when a thread's sketch ring is half full (the
//! fold).

mod builder;
mod feedback;
mod ingest;
mod reads;
mod scoring;
mod thread;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use ndarray::ArrayView2;
use thread_local::ThreadLocal;

use super::alert::{AlertRule, AlertSink, Alerts, Metric};
use super::drift::{Column, DriftReport, DriftThresholds, compare_column as compare};
use super::error::MonitorError;
use super::metrics::{self as m, OUTCOMES, VersionHandles};
use super::quality::{Actual, Pending, Pendings, QualityMetrics, QualityPoint, Rolling};
use super::shard::{Sampler, Shard};
use super::snapshot::{MonitorSnapshot, SwapMark, WindowPoint};
use super::window::{Completed, LatencyHistogram, Window};
use super::{Alert, report};
use crate::Result;
use crate::deployment::ReferenceStats;
use crate::model::OutputKind;
use crate::server::{
    Deployment, PredictEvent, PredictObserver, RequestTotals, SwapEvent, VersionTotals,
};

pub use builder::{MonitorBuilder, Sampling};
pub use reads::MemoryUse;

/// Watches a served model: operational metrics, input and prediction drift,
/// live quality from feedback, and alerts.
///
/// Attach it to a server as its observer; it sees every swap and failed
/// load, a sample of the requests, and the server's request totals (see
/// [`PredictObserver`](crate::server::PredictObserver)).
/// Reference statistics for drift come from the deployment's
/// [`ReferenceStats`] (artifacts attach theirs), or from
/// [`MonitorBuilder::reference`] for deployments built in memory; a swap
/// takes the new version's reference and starts a new window.
///
/// # Costs on the request path
///
/// Every request is counted by the server, without a lock, and most are not
/// reported at all: the monitor asks the server to [sample](Sampling)
/// requests (by default, on each thread, every request while the thread
/// serves up to 1,000 a second, and about 1,000 a second above that). The
/// server times and reports the sampled ones, the failed ones and the ones
/// with an id, and counts every request per thread, version and outcome
/// (a few plain stores) in the
/// [`RequestTotals`](crate::server::RequestTotals) the monitor reads. The
/// monitor folds the totals and hands them to the metrics recorder in
/// batches: when
/// a thread's sketched rows are drained, every
/// [`publish_every`](MonitorBuilder::publish_every) on the monitor's
/// thread, and whenever it is read ([`snapshot`](Monitor::snapshot),
/// [`drift`](Monitor::drift), [`flush`](Monitor::flush), …).
///
/// The rows of sampled requests are sketched for drift (about 1,000 a
/// second per thread by default). Sketched rows go to a per-thread ring
/// and reach the window in chunks. Scoring a completed window (sorting and
/// binning at most [`max_kept_rows`](MonitorBuilder::max_kept_rows) values
/// per feature against the reference sample: a fraction of a millisecond
/// for the default sizes) and running the alert sinks it fires happen on
/// the monitor's thread, off the request path, unless
/// [`score_in_background`](MonitorBuilder::score_in_background) is turned
/// off. Single-row requests with an id are also inserted into the
/// pending-feedback map (one lock).
///
/// What a thread counted or sketched reaches the totals, the metrics
/// recorder and the windows at the next fold; every read folds first, so
/// it sees every request that completed before it.
///
/// # Memory
///
/// Bounded by the builder's settings: the window ring holds at most
/// `max_kept_rows × (features + 1)` values, each thread's sketch ring
/// `max(512, 16 × (features + 3))` values (rounded up to a power of two),
/// the pending map at most
/// `max_pending` entries, the rolling quality `quality_window` outcomes for
/// each of at most 8 versions, and the histories `history` points.
///
/// # Examples
///
/// ```
/// # use std::sync::Arc;
/// use modelhost::monitor::{AlertRule, LogSink, Metric, Monitor};
/// use modelhost::{Deployment, InProcessServer};
/// # fn demo(deployment: Deployment) -> modelhost::Result<()> {
/// let monitor = Monitor::builder(&deployment)
///     .window_rows(1_000)
///     .alert(AlertRule::below(Metric::Recall, 0.7))
///     .sink(Arc::new(LogSink))
///     .build()?;
/// let server = InProcessServer::builder(deployment).observer(monitor.clone()).build()?;
/// // ... serve; later, when the truth is known:
/// monitor.record_outcome("order-17", "buy")?;
/// monitor.write_report("monitor.html")?;
/// # Ok(()) }
/// ```
pub struct Monitor {
    model: Arc<str>,
    config: Config,
    hot: ArcSwap<VersionHandles>,
    cold: Mutex<VecDeque<Arc<VersionHandles>>>,
    /// Per-thread sampling state and sketch rings.
    shards: ThreadLocal<Shard>,
    /// Each server's request totals, with what was folded of them so far.
    totals: Mutex<Vec<(RequestTotals, Vec<VersionTotals>)>>,
    /// The serving version, as far as the monitor knows (only its rows are
    /// sketched).
    hot_version: AtomicU64,
    /// Whether the serving version has a reference, i.e. rows are sketched.
    sketching: AtomicBool,
    /// The serving version's width (for the rings of new shards).
    width: AtomicUsize,
    /// The clock sampling rates are measured with.
    epoch: Instant,
    live: Mutex<Live>,
    /// Latencies of the sampled (timed) requests of the current period.
    latency: Mutex<LatencyHistogram>,
    pendings: Mutex<Pendings>,
    quality: Mutex<Quality>,
    alerts: Mutex<Alerts>,
    rules: Vec<AlertRule>,
    sinks: Vec<Arc<dyn AlertSink>>,
    started_at_ms: u64,
    /// The monitor's thread, if it has one: hands it completed windows
    /// (with background scoring); dropping it ends the thread.
    thread: Option<SyncSender<Job>>,
    /// Windows handed to the monitor's thread and not scored yet, so that
    /// reads wait for them.
    scoring: Scoring,
}

/// Counts the windows the monitor's thread has yet to score.
#[derive(Debug, Default)]
struct Scoring {
    handed: Mutex<usize>,
    done: std::sync::Condvar,
    /// The monitor's thread: it never waits for itself (an alert sink may
    /// read the monitor).
    thread: Option<std::thread::ThreadId>,
}

impl Scoring {
    fn hand(&self) {
        *lock(&self.handed) += 1;
    }

    fn finished(&self) {
        let mut handed = lock(&self.handed);
        *handed = handed.saturating_sub(1);
        if *handed == 0 {
            self.done.notify_all();
        }
    }

    /// Waits (at most `limit`) until every window handed over is scored.
    fn wait(&self, limit: Duration) {
        if self.thread == Some(std::thread::current().id()) {
            return;
        }
        let handed = lock(&self.handed);
        let _ = self
            .done
            .wait_timeout_while(handed, limit, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// A completed window and what to compare it with.
type Job = (Completed, Option<(Arc<Reference>, u64, u64)>);

#[derive(Debug, Clone)]
struct Config {
    window_rows: u64,
    step_rows: u64,
    max_kept: usize,
    sampling: Sampling,
    publish_every: Duration,
    thresholds: DriftThresholds,
    positive_class: usize,
    quality_window: usize,
    max_pending: usize,
    pending_ttl: Duration,
    evaluate_every: u64,
    history: usize,
    explicit_reference: Option<ReferenceStats>,
    background: bool,
}

/// Most versions whose outputs and rolling quality are kept.
const VERSIONS: usize = 8;

/// What the window side knows: the drift version's reference and the ring.
#[derive(Debug)]
struct Live {
    version: u64,
    reference: Option<Arc<Reference>>,
    window: Window,
    window_index: u64,
    /// Rows towards the current period: sketched rows when the serving
    /// version has a reference, served rows otherwise.
    period_rows: u64,
    lifetime: Lifetime,
    /// Reused while draining rings.
    scratch: Vec<f64>,
    history: VecDeque<WindowPoint>,
    last_drift: Option<DriftReport>,
    /// Whether a window's warnings were logged (once per monitor).
    warned_small: bool,
    /// The last swaps and rollbacks, for the report.
    swaps: VecDeque<SwapMark>,
    outputs: VecDeque<(u64, Arc<OutputKind>)>,
}

impl Live {
    /// Adds requests (by outcome) and rows to the lifetime and period totals.
    fn count(&mut self, requests: &[u64; OUTCOMES.len()], rows: u64) {
        let total: u64 = requests.iter().sum();
        let errors = total - requests[0];
        self.lifetime.requests += total;
        self.lifetime.errors += errors;
        self.lifetime.rows += rows;
        self.window.period.requests += total;
        self.window.period.errors += errors;
    }
}

#[derive(Debug, Default)]
struct Lifetime {
    requests: u64,
    errors: u64,
    rows: u64,
    sketched: u64,
    latency: LatencyHistogram,
}

/// A reference prepared for repeated comparisons.
#[derive(Debug)]
struct Reference {
    names: Vec<String>,
    categorical: Vec<bool>,
    /// Level names of categorical features (empty for others), for the
    /// report's bar charts.
    levels: Vec<Vec<String>>,
    columns: Vec<Column>,
    prediction: Option<(bool, Column)>,
}

impl Reference {
    fn new(stats: &ReferenceStats, schema: &crate::schema::FeatureSchema) -> Self {
        let levels = schema
            .features()
            .iter()
            .map(|f| match f.kind() {
                crate::schema::FeatureKind::Categorical { levels, .. } => levels.clone(),
                crate::schema::FeatureKind::Boolean => vec!["false".into(), "true".into()],
                _ => Vec::new(),
            })
            .collect();
        Self {
            levels,
            names: stats.features.iter().map(|f| f.name.clone()).collect(),
            categorical: stats.features.iter().map(|f| f.categorical).collect(),
            columns: stats
                .features
                .iter()
                .map(|f| Column::new(f.sample.iter().copied()))
                .collect(),
            prediction: stats
                .predictions
                .as_ref()
                .map(|p| (p.categorical, Column::new(p.sample.iter().copied()))),
        }
    }
}

#[derive(Debug)]
struct Quality {
    versions: HashMap<u64, (Rolling, VecDeque<QualityPoint>)>,
    since_eval: u64,
    touch: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Monitor {
    /// The monitored model's name.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    fn handles(&self, model: &str, version: u64) -> Arc<VersionHandles> {
        let mut cold = lock(&self.cold);
        if let Some(h) = cold
            .iter()
            .find(|h| h.version == version && *h.model == *model)
        {
            return h.clone();
        }
        let h = Arc::new(VersionHandles::register(&Arc::from(model), version));
        if cold.len() == VERSIONS {
            cold.pop_front();
        }
        cold.push_back(h.clone());
        h
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // The last counts reach the recorder.
        let mut live = lock(&self.live);
        let _ = self.fold_counts(&mut live);
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("model", &self.model)
            .field("rules", &self.rules.len())
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}
