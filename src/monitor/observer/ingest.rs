//! The request path: the observer's callbacks, sampling and sketching,
//! and folding the server's totals and the sketch rings into the window.

use super::*;

/// A sketched row on its way to the window: version, prediction, values.
type SketchedRow<'a> = (u64, f64, &'a [f64]);

/// The request path's helpers: shards, folding and draining.
impl Monitor {
    /// The calling thread's shard.
    pub(super) fn shard(&self) -> &Shard {
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

    pub(super) fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Keeps a prediction with an id for the feedback join: a single row
    /// under the id itself, row `i` of a batch under `"{id}#{i}"` (see
    /// [`Monitor::record_outcome`](super::Monitor::record_outcome)).
    #[inline(never)]
    pub(super) fn await_feedback(&self, id: &str, version: u64, p: &crate::model::Predictions) {
        let n = p.len();
        let now = Instant::now();
        let pending_of = |i: usize| {
            let (predicted, classification) = match (p.class_indices(), p.score_values()) {
                (Some(c), _) => (c[i] as f64, true),
                (None, Some(s)) => (s[i], false),
                (None, None) => (f64::NAN, false),
            };
            let score = p
                .probabilities(i)
                .and_then(|r| r.get(self.config.positive_class).copied());
            Pending::new(version, predicted, score, classification, now)
        };
        if n == 1 {
            lock(&self.pendings).insert(id, pending_of(0));
            return;
        }
        // At most as many rows as the pending map holds: older ones would
        // be evicted by the newer rows of the same batch anyway.
        let rows = n.min(self.config.max_pending);
        let mut key = String::with_capacity(id.len() + 8);
        let mut pendings = lock(&self.pendings);
        for i in n - rows..n {
            key.clear();
            key.push_str(id);
            key.push('#');
            let _ = std::fmt::Write::write_fmt(&mut key, format_args!("{i}"));
            pendings.insert(&key, pending_of(i));
        }
    }

    #[inline(never)]
    pub(super) fn record_latency(&self, model: &str, version: u64, latency: Duration) {
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
    pub(super) fn sketch_rows(
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
    pub(super) fn fold(&self, own: Option<(&Shard, Option<SketchedRow<'_>>)>, inline: bool) {
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
    pub(super) fn fold_counts(&self, live: &mut Live) -> Vec<Job> {
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
    pub(super) fn take_period(&self, live: &mut Live) -> crate::monitor::window::Period {
        let mut period = live.window.take_period();
        period.latency = self.take_latency();
        period
    }

    /// The latencies timed since the last period ended.
    pub(super) fn take_latency(&self) -> LatencyHistogram {
        std::mem::take(&mut *lock(&self.latency))
    }

    /// Puts one sketched row into the window; returns the window (or the
    /// period) it completed.
    pub(super) fn push_sketched(
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
        self.publish_quality();
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
            && !p.is_empty()
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
        let reference = stats.map(|s| Arc::new(Reference::new(s, d.schema())));
        let mut live = lock(&self.live);
        self.sketching.store(reference.is_some(), Relaxed);
        self.width.store(d.schema().len(), Relaxed);
        if live.swaps.len() == 256 {
            live.swaps.pop_front();
        }
        live.swaps.push_back(SwapMark {
            at_ms: now_ms(),
            from: e.from,
            to: e.to,
            rollback: e.rollback,
        });
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
