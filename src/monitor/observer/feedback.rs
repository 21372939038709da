//! Outcomes joined to the predictions they belong to, and the rolling
//! quality they feed.

use super::*;

impl Monitor {
    /// Reports the true outcome of the request `request_id`, joining it to
    /// the prediction the monitor saw. Returns `false` when no prediction
    /// with that id is waiting (unknown, already joined, expired or
    /// evicted).
    ///
    /// A single-row request is joined by its own id. Row `i` (counting from
    /// 0) of a request with several rows, a batch or a ranked list of
    /// candidates, is joined by `"{id}#{i}"`: a request `"visit-9"` scoring
    /// three products is joined by `"visit-9#0"`, `"visit-9#1"` and
    /// `"visit-9#2"`, each on its own.
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

    pub(super) fn actual_value(&self, p: &Pending, actual: &Actual) -> Result<f64, MonitorError> {
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
        let mut v: Vec<QualityMetrics> = {
            let q = lock(&self.quality);
            q.versions.iter().map(|(&v, (r, _))| r.metrics(v)).collect()
        };
        v.sort_by_key(|q| std::cmp::Reverse(q.version));
        // Whatever reads quality refreshes the gauges, so the recorder never
        // shows older figures than this call returns.
        self.set_quality_gauges(&v);
        v
    }

    /// Computes the rolling quality and refreshes its gauges.
    pub(super) fn publish_quality(&self) {
        let _ = self.quality();
    }

    fn set_quality_gauges(&self, quality: &[QualityMetrics]) {
        for q in quality {
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
}
