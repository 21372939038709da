//! [`MonitorBuilder`]: what a monitor watches and how, checked once.

use super::*;

use super::thread::spawn_thread;

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
/// # How long a window takes to fill
///
/// A thread serving `r` rows a second sketches about `min(r, per_second)`
/// of them a second with [`Sampling::UpTo`] (`r / n` with
/// [`Sampling::Every(n)`](Sampling::Every)), so a window of `w` rows
/// fills in about `w / (threads × min(r, per_second))` seconds. With the
/// defaults (1,000-row windows, 1,000 rows a second per thread), a thread
/// at 100 requests a second fills a window in 10 s; one at 50,000 a second
/// still sketches about 1,000 a second and fills it in about 1 s.
///
/// A replay is the exception: 2,000 rows pushed through in a few
/// milliseconds are a rate far above `per_second`, so only about one in
/// ⌈rate / per_second⌉ is kept (a few dozen rows) and a 1,000-row window
/// never fills. Replay with `Sampling::Every(1)`, or compare the data set
/// offline with [`compare`](crate::monitor::compare).
/// [`Monitor::drift`] reports a window that has not filled yet as partial
/// ([`DriftReport::complete`](crate::monitor::DriftReport::complete) is
/// `false`) with its row count.
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
    schema: crate::schema::FeatureSchema,
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
        if let Some(reason) = t.problem() {
            return bad(format!("invalid drift thresholds: {reason}"));
        }
        if matches!(t.binning, crate::monitor::Binning::Fixed(0)) {
            return bad("invalid drift thresholds: binning into 0 bins".into());
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
            .map(|r| Arc::new(Reference::new(r, &self.schema)));
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
                    warned_small: false,
                    swaps: VecDeque::new(),
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
            schema: initial.schema().clone(),
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
}
