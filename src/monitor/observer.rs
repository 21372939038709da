//! [`Monitor`]: the [`PredictObserver`] that records metrics, drift,
//! feedback quality and alerts.

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
use super::drift::{Column, DriftReport, DriftThresholds, Verdict, compare};
use super::error::MonitorError;
use super::metrics::{self as m, OUTCOMES, VersionHandles};
use super::quality::{Actual, Pending, Pendings, QualityMetrics, QualityPoint, Rolling};
use super::shard::{Sampler, Shard};
use super::snapshot::{MonitorSnapshot, WindowPoint};
use super::window::{Completed, LatencyHistogram, Window};
use super::{Alert, report};
use crate::Result;
use crate::deployment::ReferenceStats;
use crate::model::OutputKind;
use crate::server::{
    Deployment, PredictEvent, PredictObserver, RequestTotals, SwapEvent, VersionTotals,
};

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

/// Which requests a [`Monitor`] has the server sample (time and report),
/// and which of their rows it sketches into its drift windows (see
/// [`MonitorBuilder::sampling`]).
///
/// Counting is cheap and covers every request; reporting a request (a
/// virtual call), timing it (two clock reads) and sketching a row (copying
/// it, and later sorting and binning it with its window) are what sampling
/// saves. Drift scores describe distributions, for which a thousand rows a
/// second per thread are plenty; latency quantiles need no more.
/// Requests that fail or carry an id are reported whatever the sampling,
/// so error counts and the feedback join see each one.
///
/// With sampling, `modelhost_request_duration_seconds` observes the timed
/// requests only, so its `_count` is below `modelhost_requests_total`;
/// quantiles, and `_sum / _count`, are estimates from the sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sampling {
    /// Each thread samples its 1st, (n+1)th, (2n+1)th … request, and
    /// sketches every row of the sampled ones. `Every(1)` takes every
    /// request and row, whatever the rate, so windows fill
    /// deterministically.
    Every(u32),
    /// Each thread samples every request, and sketches every row, while it
    /// serves at most `per_second` of them a second; at higher rates about
    /// `per_second` of each a second (one in ⌈rate / per_second⌉,
    /// re-estimated every 64 sampled requests from the thread's own rate).
    UpTo {
        /// Requests sampled, and rows sketched, per second and thread.
        per_second: u32,
    },
}

impl Default for Sampling {
    /// `UpTo { per_second: 1_000 }`.
    fn default() -> Self {
        Self::UpTo { per_second: 1_000 }
    }
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
    columns: Vec<Column>,
    prediction: Option<(bool, Column)>,
}

impl Reference {
    fn new(stats: &ReferenceStats) -> Self {
        Self {
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

/// Configures a [`Monitor`]; every setting is checked by
/// [`build`](Self::build).
#[derive(Debug)]
#[must_use]
pub struct MonitorBuilder {
    model: Arc<str>,
    version: u64,
    output: Arc<OutputKind>,
    header_reference: Option<Arc<ReferenceStats>>,
    width: usize,
    config: Config,
    rules: Vec<AlertRule>,
    sinks: Vec<Arc<dyn AlertSink>>,
}

impl MonitorBuilder {
    /// Reference statistics for deployments without an artifact header
    /// (default: none; drift is then off for them). An artifact header's
    /// reference takes precedence.
    pub fn reference(mut self, reference: ReferenceStats) -> Self {
        self.config.explicit_reference = Some(reference);
        self
    }

    /// Rows a drift window covers (default 1,000).
    pub fn window_rows(mut self, rows: usize) -> Self {
        self.config.window_rows = rows as u64;
        if self.config.step_rows > rows as u64 || self.config.step_rows == 0 {
            self.config.step_rows = rows as u64;
        }
        self
    }

    /// Rows between evaluations (default: the window size, i.e. tumbling
    /// windows). A smaller step makes the window slide: every `rows` rows
    /// the last [`window_rows`](Self::window_rows) rows are scored.
    pub fn step_rows(mut self, rows: usize) -> Self {
        self.config.step_rows = rows as u64;
        self
    }

    /// Most rows kept per window (default 5,000, the size of the reference
    /// sample). Larger windows keep every k-th row, k = ⌈window / bound⌉.
    pub fn max_kept_rows(mut self, rows: usize) -> Self {
        self.config.max_kept = rows;
        self
    }

    /// Which requests are sampled (timed and reported) and which rows
    /// sketched into the drift windows (default [`Sampling::UpTo`] 1,000 a
    /// second per thread). Counts, metrics counters and feedback cover
    /// every request whatever the sampling.
    pub fn sampling(mut self, sampling: Sampling) -> Self {
        self.config.sampling = sampling;
        self
    }

    /// Shorthand for [`sampling`](Self::sampling)`(Sampling::Every(n))`:
    /// sample every `n`-th request of each thread and sketch its rows; `1`
    /// takes all of them, deterministically, whatever the rate.
    pub fn sample_every(self, n: u32) -> Self {
        self.sampling(Sampling::Every(n))
    }

    /// How often the monitor's thread folds every thread's counts and
    /// sketched rows and hands the counts to the metrics recorder (default
    /// one second). `Duration::ZERO` starts no thread for it: counts then
    /// reach the recorder when sketched rows are drained and when the
    /// monitor is read or [flushed](Monitor::flush).
    pub fn publish_every(mut self, interval: Duration) -> Self {
        self.config.publish_every = interval;
        self
    }

    /// Drift thresholds (default [`DriftThresholds::default`]).
    pub fn thresholds(mut self, thresholds: DriftThresholds) -> Self {
        self.config.thresholds = thresholds;
        self
    }

    /// The class index that counts as positive for precision, recall and
    /// AUC (default 1).
    pub fn positive_class(mut self, class: usize) -> Self {
        self.config.positive_class = class;
        self
    }

    /// Outcomes the rolling quality covers, per version (default 1,000).
    pub fn quality_window(mut self, outcomes: usize) -> Self {
        self.config.quality_window = outcomes;
        self
    }

    /// Most predictions waiting for feedback (default 100,000); the oldest
    /// is dropped first.
    pub fn max_pending(mut self, n: usize) -> Self {
        self.config.max_pending = n;
        self
    }

    /// How long a prediction waits for feedback (default one hour).
    pub fn pending_ttl(mut self, ttl: Duration) -> Self {
        self.config.pending_ttl = ttl;
        self
    }

    /// Quality rules are evaluated every `n` joined outcomes (default 100).
    pub fn evaluate_every(mut self, n: usize) -> Self {
        self.config.evaluate_every = n as u64;
        self
    }

    /// Points kept in the window and quality histories (default 500).
    pub fn history(mut self, points: usize) -> Self {
        self.config.history = points;
        self
    }

    /// Score completed windows, and run the alert sinks their verdicts
    /// fire, on a thread of the monitor's own instead of on the request that
    /// completed them (default: `true`).
    ///
    /// Scoring a window (sorting and binning its columns against the
    /// reference) is most of the monitor's cost; with this on, requests only
    /// append rows and hand full windows over, and drift alerts fire on the
    /// scoring thread shortly after. The thread is a plain `std` thread that
    /// ends when the monitor is dropped (the same thread that
    /// [publishes](Self::publish_every)); it is given at most 4 windows at a
    /// time, and a request that finds it busy scores its window itself, so
    /// no window is lost and memory stays bounded. The CPU time is the same
    /// either way.
    pub fn score_in_background(mut self, on: bool) -> Self {
        self.config.background = on;
        self
    }

    /// Adds an alert rule.
    pub fn alert(mut self, rule: AlertRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Adds a sink that hears every alert transition (default: none; alerts
    /// are still kept for [`Monitor::active_alerts`] and the report).
    pub fn sink(mut self, sink: Arc<dyn AlertSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Checks the settings and builds the monitor.
    ///
    /// # Errors
    ///
    /// [`MonitorError::InvalidConfig`] (as [`Error::Component`](crate::Error::Component))
    /// for a zero or oversized bound, a step larger than the window, a
    /// positive class outside the label set, or thresholds that are not
    /// finite or whose warning level exceeds the drift level.
    pub fn build(self) -> Result<Arc<Monitor>> {
        let c = &self.config;
        let bad = |reason: String| Err(MonitorError::InvalidConfig { reason }.into());
        let ranges: [(&str, u64, u64, u64); 7] = [
            ("window_rows", c.window_rows, 2, 10_000_000),
            ("step_rows", c.step_rows, 1, c.window_rows),
            ("max_kept_rows", c.max_kept as u64, 1, 1_000_000),
            ("quality_window", c.quality_window as u64, 1, 1_000_000),
            ("max_pending", c.max_pending as u64, 1, 10_000_000),
            ("evaluate_every", c.evaluate_every, 1, u64::MAX),
            ("history", c.history as u64, 1, 100_000),
        ];
        for (name, v, lo, hi) in ranges {
            if v < lo || v > hi {
                return bad(format!("{name} is {v}, must be in {lo}..={hi}"));
            }
        }
        match c.sampling {
            Sampling::Every(0) => return bad("sample_every must be at least 1".into()),
            Sampling::UpTo { per_second: 0 } => {
                return bad("sampling per_second must be at least 1".into());
            }
            _ => {}
        }
        let t = &c.thresholds;
        let all = [
            t.psi_warn,
            t.psi_drift,
            t.js_warn,
            t.js_drift,
            t.dataset_share,
        ];
        if all.iter().any(|v| !v.is_finite() || *v < 0.0)
            || t.psi_warn > t.psi_drift
            || t.js_warn > t.js_drift
            || matches!(t.binning, super::Binning::Fixed(0))
        {
            return bad(format!("invalid drift thresholds {t:?}"));
        }
        if let Some(labels) = self.output.labels()
            && c.positive_class >= labels.len()
        {
            return bad(format!(
                "positive class {} outside {} labels",
                c.positive_class,
                labels.len()
            ));
        }
        if let Some(r) = self
            .rules
            .iter()
            .find(|r| !(r.clear_value().is_finite() && r.threshold_value().is_finite()))
        {
            return bad(format!("rule `{}` has a non-finite threshold", r.name()));
        }
        let reference = self
            .header_reference
            .as_deref()
            .or(c.explicit_reference.as_ref())
            .filter(|r| r.features.len() == self.width)
            .map(|r| Arc::new(Reference::new(r)));
        let handles = VersionHandles::register(&self.model, self.version);
        m::set_version(&self.model, self.version);
        let now = now_ms();
        let wants_thread = c.background || !c.publish_every.is_zero();
        let publish_every = c.publish_every;
        let window = Window::new(self.width, c.window_rows, c.step_rows, c.max_kept);
        let pendings = Pendings::new(c.max_pending, c.pending_ttl);
        Ok(Arc::new_cyclic(|weak: &Weak<Monitor>| {
            let thread = wants_thread
                .then(|| spawn_thread(weak.clone(), publish_every))
                .flatten();
            Monitor {
                scoring: Scoring {
                    thread: thread.as_ref().map(|(_, id)| *id),
                    ..Scoring::default()
                },
                thread: thread.map(|(tx, _)| tx),
                shards: ThreadLocal::new(),
                totals: Mutex::new(Vec::new()),
                hot_version: AtomicU64::new(self.version),
                sketching: AtomicBool::new(reference.is_some()),
                width: AtomicUsize::new(self.width),
                epoch: Instant::now(),
                latency: Mutex::new(LatencyHistogram::default()),
                live: Mutex::new(Live {
                    version: self.version,
                    reference,
                    window,
                    window_index: 0,
                    period_rows: 0,
                    lifetime: Lifetime::default(),
                    scratch: Vec::new(),
                    history: VecDeque::new(),
                    last_drift: None,
                    outputs: VecDeque::from([(self.version, self.output)]),
                }),
                pendings: Mutex::new(pendings),
                quality: Mutex::new(Quality {
                    versions: HashMap::new(),
                    since_eval: 0,
                    touch: 0,
                }),
                alerts: Mutex::new(Alerts::default()),
                hot: ArcSwap::from_pointee(handles),
                cold: Mutex::new(VecDeque::new()),
                model: self.model,
                config: self.config,
                rules: self.rules,
                sinks: self.sinks,
                started_at_ms: now,
            }
        }))
    }
}

/// Starts the monitor's thread: it scores the windows it is handed and
/// folds the shards every `publish` (never, when zero). `None` (score
/// inline, publish on reads) if it cannot start.
fn spawn_thread(
    monitor: Weak<Monitor>,
    publish: Duration,
) -> Option<(SyncSender<Job>, std::thread::ThreadId)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(4);
    // A zero interval means no publishing: wake up only for windows.
    let tick = if publish.is_zero() {
        Duration::from_secs(3_600)
    } else {
        publish
    };
    let handle = std::thread::Builder::new()
        .name("modelhost-monitor".into())
        .spawn(move || {
            // Ends when the monitor, and with it the sender, is dropped.
            loop {
                let job = match rx.recv_timeout(tick) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let Some(m) = monitor.upgrade() else { break };
                match job {
                    Some((completed, reference)) => {
                        let alerts = m.finish(completed, reference);
                        m.dispatch(&alerts);
                        m.scoring.finished();
                    }
                    None if !publish.is_zero() => m.fold(None, false),
                    None => {}
                }
            }
        })
        .ok()?;
    Some((tx, handle.thread().id()))
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
    /// Starts configuring a monitor for the model `initial` serves; its
    /// artifact header (if it has one) provides the drift reference.
    pub fn builder(initial: &Deployment) -> MonitorBuilder {
        MonitorBuilder {
            model: Arc::from(initial.name()),
            version: initial.version(),
            output: initial.output().clone(),
            header_reference: initial.reference().cloned(),
            width: initial.schema().len(),
            config: Config {
                window_rows: 1_000,
                step_rows: 1_000,
                max_kept: ReferenceStats::DEFAULT_SAMPLE,
                sampling: Sampling::default(),
                publish_every: Duration::from_secs(1),
                thresholds: DriftThresholds::default(),
                positive_class: 1,
                quality_window: 1_000,
                max_pending: 100_000,
                pending_ttl: Duration::from_secs(3_600),
                evaluate_every: 100,
                history: 500,
                explicit_reference: None,
                background: true,
            },
            rules: Vec::new(),
            sinks: Vec::new(),
        }
    }

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

    /// Reports the true outcome of the request `request_id`, joining it to
    /// the prediction the monitor saw. Returns `false` when no prediction
    /// with that id is waiting (unknown, already joined, expired or
    /// evicted). Only single-row requests with an id are joined.
    ///
    /// Every [`evaluate_every`](MonitorBuilder::evaluate_every) joined
    /// outcomes, the quality alert rules are evaluated and sinks called on
    /// this thread.
    ///
    /// # Errors
    ///
    /// [`MonitorError::UnknownLabel`] for a label outside the vocabulary of
    /// the version that served the request, [`MonitorError::OutcomeMismatch`]
    /// for an outcome that does not fit its output; the prediction then
    /// stays waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn demo(monitor: &modelhost::monitor::Monitor) -> modelhost::Result<()> {
    /// monitor.record_outcome("order-17", "buy")?; // a label
    /// monitor.record_outcome("order-18", 0usize)?; // a class index
    /// # Ok(()) }
    /// ```
    pub fn record_outcome(&self, request_id: &str, actual: impl Into<Actual>) -> Result<bool> {
        let actual = actual.into();
        let now = Instant::now();
        let pending = {
            let mut p = lock(&self.pendings);
            let Some(pending) = p.take(request_id, now) else {
                return Ok(false);
            };
            match self.actual_value(&pending, &actual) {
                Ok(v) => (pending, v),
                Err(e) => {
                    p.insert(request_id, pending);
                    return Err(e.into());
                }
            }
        };
        let ((p, actual), positive) = (pending, self.config.positive_class);
        let due = {
            let mut q = lock(&self.quality);
            q.touch += 1;
            let touch = q.touch;
            if !q.versions.contains_key(&p.version) && q.versions.len() == VERSIONS {
                let oldest = q
                    .versions
                    .iter()
                    .min_by_key(|(_, (r, _))| r.last_touch)
                    .map(|(v, _)| *v);
                if let Some(v) = oldest {
                    q.versions.remove(&v);
                }
            }
            let (rolling, _) = q.versions.entry(p.version).or_insert_with(|| {
                (
                    Rolling::new(self.config.quality_window, positive, p.classification),
                    VecDeque::new(),
                )
            });
            rolling.last_touch = touch;
            rolling.push(p.predicted, actual, p.positive_score);
            q.since_eval += 1;
            let due = q.since_eval >= self.config.evaluate_every;
            if due {
                q.since_eval = 0;
                let at_ms = now_ms();
                let history = self.config.history;
                for (&v, (r, h)) in &mut q.versions {
                    if r.last_touch + self.config.evaluate_every > touch {
                        if h.len() == history {
                            h.pop_front();
                        }
                        h.push_back(QualityPoint {
                            outcomes: r.total,
                            at_ms,
                            metrics: r.metrics(v),
                        });
                    }
                }
            }
            due
        };
        if due {
            self.publish_quality();
            let transitions = self.evaluate_rules(true, false);
            self.dispatch(&transitions);
        }
        Ok(true)
    }

    fn actual_value(&self, p: &Pending, actual: &Actual) -> Result<f64, MonitorError> {
        let mismatch = |reason: String| MonitorError::OutcomeMismatch {
            version: p.version,
            reason,
        };
        let labels = {
            let live = lock(&self.live);
            live.outputs
                .iter()
                .find(|(v, _)| *v == p.version)
                .and_then(|(_, o)| o.labels().cloned())
        };
        match (p.classification, actual) {
            (false, Actual::Value(v)) if v.is_finite() => Ok(*v),
            (false, Actual::Value(v)) => Err(mismatch(format!("non-finite value {v}"))),
            (false, Actual::Class(c)) => Ok(*c as f64),
            (false, Actual::Label(l)) => Err(mismatch(format!("label `{l}` for a regressor"))),
            (true, Actual::Label(l)) => labels
                .and_then(|ls| ls.iter().position(|x| x == l))
                .map(|c| c as f64)
                .ok_or_else(|| MonitorError::UnknownLabel {
                    label: l.clone(),
                    version: p.version,
                }),
            (true, Actual::Class(c)) => match labels {
                Some(ls) if *c >= ls.len() => {
                    Err(mismatch(format!("class {c} outside {} labels", ls.len())))
                }
                _ => Ok(*c as f64),
            },
            (true, Actual::Value(v)) if v.fract() == 0.0 && *v >= 0.0 && *v < 1e15 => {
                self.actual_value(p, &Actual::Class(*v as usize))
            }
            (true, Actual::Value(v)) => Err(mismatch(format!("value {v} is not a class index"))),
        }
    }

    /// Rolling quality of every version that received feedback, newest
    /// version first.
    #[must_use]
    pub fn quality(&self) -> Vec<QualityMetrics> {
        let q = lock(&self.quality);
        let mut v: Vec<QualityMetrics> =
            q.versions.iter().map(|(&v, (r, _))| r.metrics(v)).collect();
        v.sort_by_key(|q| std::cmp::Reverse(q.version));
        v
    }

    /// The drift report of the last completed window, if any.
    #[must_use]
    pub fn drift(&self) -> Option<DriftReport> {
        self.flush();
        self.last_drift()
    }

    fn last_drift(&self) -> Option<DriftReport> {
        lock(&self.live).last_drift.clone()
    }

    /// Alerts firing now.
    #[must_use]
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.flush();
        lock(&self.alerts).active()
    }

    /// Evaluates every rule now (quality rules on the rolling metrics, drift
    /// rules on the last completed window), calls the sinks for each
    /// transition and returns the transitions. A rule already firing does
    /// not fire again.
    pub fn evaluate(&self) -> Vec<Alert> {
        self.flush();
        self.publish_quality();
        let t = self.evaluate_rules(true, true);
        self.dispatch(&t);
        t
    }

    fn evaluate_rules(&self, quality: bool, drift: bool) -> Vec<Alert> {
        let metrics = if quality { self.quality() } else { Vec::new() };
        let report = if drift { self.last_drift() } else { None };
        let now = now_ms();
        let mut alerts = lock(&self.alerts);
        let mut out = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.metric().is_quality() {
                for q in metrics.iter().filter(|q| q.count >= rule.min()) {
                    let value = match rule.metric() {
                        Metric::Accuracy => q.accuracy,
                        Metric::Precision => q.precision,
                        Metric::Recall => q.recall,
                        Metric::Auc => q.auc,
                        Metric::MeanAbsoluteError => q.mae,
                        _ => None,
                    };
                    if let Some(v) = value {
                        out.extend(alerts.observe(i, rule, &self.model, q.version, v, now));
                    }
                }
            } else if let Some(r) = &report {
                let value = match rule.metric() {
                    Metric::FeaturePsi(f) => r.feature(f).and_then(|f| f.psi),
                    Metric::FeatureKs(f) => r.feature(f).and_then(|f| f.ks),
                    Metric::FeatureJs(f) => r.feature(f).and_then(|f| f.js),
                    Metric::PredictionPsi => r.prediction.as_ref().and_then(|p| p.psi),
                    Metric::DriftShare => Some(r.drift_share),
                    _ => None,
                };
                if let Some(v) = value {
                    out.extend(alerts.observe(i, rule, &self.model, r.version, v, now));
                }
            }
        }
        if !out.is_empty() {
            m::alerts_gauge(&self.model).set(alerts.active().len() as f64);
        }
        out
    }

    fn dispatch(&self, alerts: &[Alert]) {
        for a in alerts {
            for s in &self.sinks {
                s.on_alert(a);
            }
        }
    }

    fn publish_quality(&self) {
        for q in self.quality() {
            let metrics = [
                ("accuracy", q.accuracy),
                ("precision", q.precision),
                ("recall", q.recall),
                ("auc", q.auc),
                ("mae", q.mae),
                ("rmse", q.rmse),
            ];
            for (name, v) in metrics {
                if let Some(v) = v {
                    m::quality_gauge(&self.model, q.version, name).set(v);
                }
            }
        }
    }

    /// Scores a completed window and records its point.
    fn finish(
        &self,
        completed: Completed,
        reference: Option<(Arc<Reference>, u64, u64)>,
    ) -> Vec<Alert> {
        let t = &self.config.thresholds;
        let report = reference.and_then(|(r, version, index)| {
            if completed.width() != r.columns.len() || completed.kept == 0 {
                return None;
            }
            let (columns, predictions) = completed.columns();
            let features: Vec<_> = (0..r.columns.len())
                .map(|j| compare(&r.names[j], r.categorical[j], &r.columns[j], &columns[j], t))
                .collect();
            let prediction = r
                .prediction
                .as_ref()
                .filter(|_| !predictions.sorted.is_empty())
                .map(|(cat, col)| compare("prediction", *cat, col, &predictions, t));
            let drifted = features
                .iter()
                .filter(|f| f.verdict == Verdict::Drift)
                .count();
            let share = if features.is_empty() {
                0.0
            } else {
                drifted as f64 / features.len() as f64
            };
            Some(DriftReport {
                model: self.model.to_string(),
                version,
                window: index,
                rows: completed.rows,
                kept_rows: completed.kept,
                features,
                prediction,
                drifted,
                drift_share: share,
                dataset_drift: !r.columns.is_empty() && share >= t.dataset_share,
            })
        });
        if let Some(r) = &report {
            for f in r.features.iter().chain(&r.prediction) {
                if let Some(psi) = f.psi {
                    m::drift_gauge(&self.model, r.version, &f.name).set(psi);
                }
            }
            m::share_gauge(&self.model, r.version).set(r.drift_share);
        }
        let period = completed.period;
        let point = WindowPoint {
            index: report.as_ref().map(|r| r.window),
            version: report.as_ref().map(|r| r.version),
            ended_at_ms: now_ms(),
            rows: completed.rows,
            requests: period.requests,
            errors: period.errors,
            p50_seconds: period.latency.quantile(0.5).map(|d| d.as_secs_f64()),
            p90_seconds: period.latency.quantile(0.9).map(|d| d.as_secs_f64()),
            p99_seconds: period.latency.quantile(0.99).map(|d| d.as_secs_f64()),
            drift_share: report.as_ref().map(|r| r.drift_share),
            psi: report
                .as_ref()
                .map(|r| {
                    r.features
                        .iter()
                        .filter_map(|f| Some((f.name.clone(), f.psi?)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        {
            let mut live = lock(&self.live);
            live.lifetime.latency.merge(&period.latency);
            if live.history.len() == self.config.history {
                live.history.pop_front();
            }
            live.history.push_back(point);
            // Windows scored on the scoring thread and on requests (when it
            // was busy) can finish out of order; keep the latest window.
            let older = |r: &DriftReport| {
                live.last_drift
                    .as_ref()
                    .is_some_and(|l| l.version == r.version && l.window > r.window)
            };
            if let Some(r) = report.as_ref().filter(|r| !older(r)) {
                live.last_drift = Some(r.clone());
            }
        }
        if report.is_some() {
            self.evaluate_rules(false, true)
        } else {
            Vec::new()
        }
    }

    /// A JSON-serializable copy of the monitor's state, for
    /// [`MonitorSnapshot::render_html`], the `modelhost report` command, or
    /// your own tooling.
    #[must_use]
    pub fn snapshot(&self) -> MonitorSnapshot {
        self.flush();
        let (version, lifetime, windows, drift, latency) = {
            let live = lock(&self.live);
            let mut latency = live.lifetime.latency.clone();
            latency.merge(&lock(&self.latency));
            (
                live.version,
                (
                    live.lifetime.requests,
                    live.lifetime.errors,
                    live.lifetime.rows,
                    live.lifetime.sketched,
                ),
                live.history.iter().cloned().collect(),
                live.last_drift.clone(),
                latency,
            )
        };
        let quality_history = {
            let q = lock(&self.quality);
            let mut h: Vec<QualityPoint> = q
                .versions
                .values()
                .flat_map(|(_, h)| h.iter().cloned())
                .collect();
            h.sort_by_key(|p| (p.metrics.version, p.outcomes));
            h
        };
        let (active, log) = {
            let a = lock(&self.alerts);
            (a.active(), a.log.iter().cloned().collect())
        };
        let pending = lock(&self.pendings).len() as u64;
        MonitorSnapshot {
            format: MonitorSnapshot::FORMAT,
            model: self.model.to_string(),
            version,
            started_at_ms: self.started_at_ms,
            taken_at_ms: now_ms(),
            requests: lifetime.0,
            errors: lifetime.1,
            rows: lifetime.2,
            sketched_rows: lifetime.3,
            pending_feedback: pending,
            latency,
            thresholds: self.config.thresholds,
            windows,
            drift,
            quality: self.quality(),
            quality_history,
            active_alerts: active,
            alert_log: log,
        }
    }

    /// The monitoring report as one self-contained HTML page (inline SVG,
    /// no scripts, no external resources).
    #[must_use]
    pub fn report(&self) -> String {
        report::render_html(&self.snapshot())
    }

    /// Writes [`report`](Self::report) to `path`.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Io`] when the file cannot be written.
    pub fn write_report(&self, path: impl AsRef<Path>) -> Result<()> {
        super::snapshot::write(path.as_ref(), self.report().as_bytes())
    }

    /// Writes [`snapshot`](Self::snapshot) to `path` as JSON.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Io`] when the file cannot be written.
    pub fn write_snapshot(&self, path: impl AsRef<Path>) -> Result<()> {
        super::snapshot::write(path.as_ref(), self.snapshot().to_json().as_bytes())
    }

    /// Bytes-free view of how much the bounded stores hold, for tests and
    /// diagnostics.
    #[must_use]
    pub fn memory(&self) -> MemoryUse {
        self.flush();
        let ring_slots = self.shards.iter().map(|s| s.ring.capacity()).sum();
        let (window_values, window_capacity_rows) = {
            let live = lock(&self.live);
            (live.window.held_values(), live.window.capacity_rows())
        };
        let (pending, pending_queue, expired, evicted) = {
            let p = lock(&self.pendings);
            (p.len(), p.queued(), p.expired, p.evicted)
        };
        let q = lock(&self.quality);
        MemoryUse {
            window_values,
            window_capacity_rows,
            ring_slots,
            pending,
            pending_queue,
            pending_expired: expired,
            pending_evicted: evicted,
            quality_outcomes: q.versions.values().map(|(r, _)| r.held()).sum(),
            quality_versions: q.versions.len(),
        }
    }
}

/// A sketched row on its way to the window: version, prediction, values.
type SketchedRow<'a> = (u64, f64, &'a [f64]);

/// The request path's helpers: shards, folding and draining.
impl Monitor {
    /// The calling thread's shard.
    fn shard(&self) -> &Shard {
        self.shards.get_or(|| {
            // `Every(n)` samples one request in n and sketches all its
            // rows; `UpTo` starts with every request and row.
            let report = match self.config.sampling {
                Sampling::Every(n) => n,
                Sampling::UpTo { .. } => 1,
            };
            Shard::new(self.width.load(Relaxed), Sampler::new(report, 1))
        })
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Keeps a single-row prediction with an id for the feedback join.
    #[inline(never)]
    fn await_feedback(&self, id: &str, version: u64, p: &crate::model::Predictions) {
        let (predicted, classification) = match (p.class_indices(), p.score_values()) {
            (Some(c), _) => (c[0] as f64, true),
            (None, Some(s)) => (s[0], false),
            (None, None) => (f64::NAN, false),
        };
        let score = p
            .probabilities(0)
            .and_then(|r| r.get(self.config.positive_class).copied());
        let pending = Pending::new(version, predicted, score, classification, Instant::now());
        lock(&self.pendings).insert(id, pending);
    }

    #[inline(never)]
    fn record_latency(&self, model: &str, version: u64, latency: Duration) {
        let hot = self.hot.load();
        if hot.version == version && *hot.model == *model {
            hot.duration.record(latency.as_secs_f64());
        } else {
            self.handles(model, version)
                .duration
                .record(latency.as_secs_f64());
        }
        lock(&self.latency).record(latency);
    }

    /// Puts the sampled rows of a request into the thread's ring, draining
    /// it into the window when it is half full.
    #[inline(never)]
    fn sketch_rows(
        &self,
        shard: &Shard,
        version: u64,
        rows: ArrayView2<'_, f64>,
        predictions: Option<&crate::model::Predictions>,
    ) {
        for (i, row) in rows.rows().into_iter().enumerate() {
            if !shard.sampler.sketch_next() {
                continue;
            }
            let prediction = predictions
                .and_then(|p| {
                    p.class_indices()
                        .map(|c| c[i] as f64)
                        .or_else(|| p.score_values().map(|s| s[i]))
                })
                .unwrap_or(f64::NAN);
            if !shard.ring.push(version, prediction, row.iter().copied()) {
                // Full, or a row wider than the ring: drain, then put the
                // row straight into the window.
                let row: Vec<f64> = row.to_vec();
                self.fold(Some((shard, Some((version, prediction, &row)))), false);
            }
        }
        if shard.ring.used() * 2 >= shard.ring.capacity() {
            self.fold(Some((shard, None)), false);
        }
    }

    /// Folds every thread's counts into the totals and the recorder, drains
    /// sketched rows into the window (the calling thread's ring, plus
    /// `row`, with `own`; every ring without), then scores the windows that
    /// completed (or hands them to the monitor's thread). With `inline`,
    /// windows are scored on the calling thread even with background
    /// scoring, so a read sees them.
    fn fold(&self, own: Option<(&Shard, Option<SketchedRow<'_>>)>, inline: bool) {
        let jobs = {
            let mut live = lock(&self.live);
            let live = &mut *live;
            let mut jobs = self.fold_counts(live);
            let mut scratch = std::mem::take(&mut live.scratch);
            let mut take_row = |version: u64, prediction: f64, row: &[f64]| {
                if let Some(job) = self.push_sketched(live, version, prediction, row) {
                    jobs.push(job);
                }
            };
            match own {
                Some((shard, row)) => {
                    shard.ring.drain(&mut scratch, &mut take_row);
                    if let Some((v, p, row)) = row {
                        take_row(v, p, row);
                    }
                }
                None => {
                    for shard in self.shards.iter() {
                        shard.ring.drain(&mut scratch, &mut take_row);
                    }
                }
            }
            live.scratch = scratch;
            jobs
        };
        for job in jobs {
            let job = match (&self.thread, self.config.background && !inline) {
                (Some(tx), true) => {
                    self.scoring.hand();
                    match tx.try_send(job) {
                        Ok(()) => continue,
                        Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                            self.scoring.finished();
                            job
                        }
                    }
                }
                _ => job,
            };
            let alerts = self.finish(job.0, job.1);
            self.dispatch(&alerts);
        }
        if inline {
            // A read sees the windows handed over before it, scored.
            self.scoring.wait(Duration::from_secs(30));
        }
    }

    /// Adds every server's new totals to the monitor's and the recorder; for a
    /// version without a reference, closes the period every `step_rows`
    /// served rows.
    fn fold_counts(&self, live: &mut Live) -> Vec<Job> {
        let hot = self.hot.load();
        let mut jobs = Vec::new();
        let mut add = |version: u64, requests: &[u64; OUTCOMES.len()], rows: u64| {
            let cold;
            let handles = if hot.version == version {
                &**hot
            } else {
                cold = self.handles(&self.model, version);
                &*cold
            };
            handles.add(requests, rows);
            live.count(requests, rows);
            if live.reference.is_none() && version == live.version {
                live.period_rows += rows;
            }
        };
        for (totals, folded) in lock(&self.totals).iter_mut() {
            for now in totals.read() {
                let before = match folded.iter_mut().find(|f| f.version == now.version) {
                    Some(f) => std::mem::replace(f, now.clone()),
                    None => {
                        folded.push(now.clone());
                        VersionTotals::empty(now.version)
                    }
                };
                let requests: [u64; OUTCOMES.len()] =
                    std::array::from_fn(|i| now.by_outcome[i] - before.by_outcome[i]);
                let rows = now.rows - before.rows;
                if requests.iter().any(|&n| n > 0) || rows > 0 {
                    add(now.version, &requests, rows);
                }
            }
        }
        if live.reference.is_none() && live.period_rows >= self.config.step_rows {
            live.period_rows = 0;
            jobs.push((Completed::unscored(self.take_period(live)), None));
        }
        jobs
    }

    /// The period's counts, with the latencies timed in it.
    fn take_period(&self, live: &mut Live) -> super::window::Period {
        let mut period = live.window.take_period();
        period.latency = self.take_latency();
        period
    }

    /// The latencies timed since the last period ended.
    fn take_latency(&self) -> LatencyHistogram {
        std::mem::take(&mut *lock(&self.latency))
    }

    /// Puts one sketched row into the window; returns the window (or the
    /// period) it completed.
    fn push_sketched(
        &self,
        live: &mut Live,
        version: u64,
        prediction: f64,
        row: &[f64],
    ) -> Option<Job> {
        if version != live.version || live.reference.is_none() || row.len() != live.window.width {
            return None;
        }
        live.window.push_row(row.iter().copied(), prediction);
        live.lifetime.sketched += 1;
        live.period_rows += 1;
        if live.period_rows < self.config.step_rows {
            return None;
        }
        live.period_rows = 0;
        if live.window.due() {
            let index = live.window_index;
            live.window_index += 1;
            let reference = live.reference.clone().map(|r| (r, live.version, index));
            let mut completed = live.window.complete();
            completed.period.latency = self.take_latency();
            Some((completed, reference))
        } else {
            Some((Completed::unscored(self.take_period(live)), None))
        }
    }

    /// Folds every thread's counts and sketched rows now, scoring the
    /// windows they complete on this thread, and hands the counts to the
    /// metrics recorder.
    ///
    /// Reads ([`snapshot`](Self::snapshot), [`drift`](Self::drift),
    /// [`active_alerts`](Self::active_alerts), [`evaluate`](Self::evaluate),
    /// [`memory`](Self::memory)) do this themselves; call it before
    /// rendering the recorder's output when the monitor's thread is off or
    /// its interval too long for you.
    pub fn flush(&self) {
        self.fold(None, true);
    }
}

/// How much the monitor's bounded stores hold (see [`Monitor::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryUse {
    /// `f64` slots allocated by the window ring (features and predictions).
    pub window_values: usize,
    /// The ring's capacity in rows.
    pub window_capacity_rows: usize,
    /// Slots (one `f64` each) of the per-thread rings that carry sketched
    /// rows to the window, summed over the threads that served requests.
    pub ring_slots: usize,
    /// Predictions waiting for feedback.
    pub pending: usize,
    /// Entries in the pending expiry queue (at most twice `max_pending`).
    pub pending_queue: usize,
    /// Pending predictions dropped for age.
    pub pending_expired: u64,
    /// Pending predictions dropped for the count bound.
    pub pending_evicted: u64,
    /// Outcomes held by the rolling quality windows.
    pub quality_outcomes: usize,
    /// Versions with rolling quality.
    pub quality_versions: usize,
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

impl PredictObserver for Monitor {
    fn sample_every(&self) -> u32 {
        self.shard().sampler.report_stride()
    }

    fn attached(&self, totals: RequestTotals) {
        lock(&self.totals).push((totals, Vec::new()));
    }

    fn on_predict(&self, e: &PredictEvent<'_>) {
        let n = e.outcome.map_or(0, |p| p.len()) as u64;
        let hot = self.hot_version.load(Relaxed);
        let shard = self.shard();
        if let Some(latency) = e.latency {
            self.record_latency(e.model, e.version, latency);
        }

        if let (Some(id), Ok(p)) = (e.request_id, e.outcome)
            && p.len() == 1
        {
            self.await_feedback(id, e.version, p);
        }

        // The server times the requests it samples; their rows are
        // sketched, one in the sketch stride.
        if e.latency.is_none() {
            return;
        }
        if let Some(rows) = e.rows
            && e.version == hot
            && self.sketching.load(Relaxed)
            && !shard
                .sampler
                .skip_rows(u32::try_from(rows.nrows()).unwrap_or(u32::MAX))
        {
            self.sketch_rows(shard, hot, rows, e.outcome.ok());
        }
        if let Sampling::UpTo { per_second } = self.config.sampling
            && shard.sampler.sampled(n)
        {
            shard.sampler.adapt(self.now_ns(), per_second);
        }
    }

    fn on_swap(&self, e: &SwapEvent<'_>) {
        m::swapped(e.model, e.to, e.rollback);
        if *e.model != *self.model {
            return;
        }
        let d = e.deployment;
        let stats = d
            .reference()
            .map(|r| &**r)
            .or(self.config.explicit_reference.as_ref())
            .filter(|r| r.features.len() == d.schema().len());
        let reference = stats.map(|s| Arc::new(Reference::new(s)));
        let mut live = lock(&self.live);
        self.sketching.store(reference.is_some(), Relaxed);
        self.width.store(d.schema().len(), Relaxed);
        live.version = e.to;
        live.reference = reference;
        live.window.restart(d.schema().len());
        live.window_index = 0;
        live.period_rows = 0;
        if !live.outputs.iter().any(|(v, _)| *v == e.to) {
            if live.outputs.len() == VERSIONS {
                live.outputs.pop_front();
            }
            live.outputs.push_back((e.to, d.output().clone()));
        }
        self.hot
            .store(Arc::new(VersionHandles::register(&self.model, e.to)));
        // Last: threads that see the new version find everything above set.
        self.hot_version.store(e.to, Relaxed);
    }

    fn on_failed_load(&self, model: &str, _version: Option<u64>, error: &crate::Error) {
        m::failed_load(model, error);
    }
}
