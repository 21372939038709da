//! Scoring completed windows, evaluating alert rules and calling the
//! sinks.

use super::*;

/// What [`Monitor::rule_values`] calls for each value: the alert state,
/// the rule's index and the rule, the version, the value, and now (ms).
type RuleValue<'a> = dyn FnMut(&mut Alerts, usize, &AlertRule, u64, f64, u64) + 'a;

impl Monitor {
    /// The drift report of the last completed window; before the first
    /// window of the serving version completes, the report of the partial
    /// window so far ([`DriftReport::complete`] is `false`, `rows` says how
    /// many rows it covers, and its first warning says so). `None` only
    /// when no row has been sketched against a reference yet.
    ///
    /// Scoring a partial window records nothing: no history point, no
    /// alert evaluation.
    #[must_use]
    pub fn drift(&self) -> Option<DriftReport> {
        self.flush();
        let (job, last) = {
            let live = lock(&self.live);
            let current = live
                .last_drift
                .as_ref()
                .is_some_and(|d| d.version == live.version);
            let job = (!current && live.window.partial_rows() > 0)
                .then(|| {
                    let r = live.reference.clone()?;
                    Some((live.window.partial(), (r, live.version, live.window_index)))
                })
                .flatten();
            (job, live.last_drift.clone())
        };
        match job {
            Some((partial, reference)) => self.score(&partial, Some(reference)).or(last),
            None => last,
        }
    }

    pub(super) fn last_drift(&self) -> Option<DriftReport> {
        lock(&self.live).last_drift.clone()
    }

    /// Alerts firing now, each with the value it fired at (`value`) and the
    /// metric's value now (`current`, recomputed by this read; firing and
    /// resolving happen only in evaluations).
    #[must_use]
    pub fn active_alerts(&self) -> Vec<Alert> {
        self.flush();
        self.refresh_alerts();
        lock(&self.alerts).active()
    }

    /// Recomputes the current value of every firing alert.
    pub(super) fn refresh_alerts(&self) {
        self.rule_values(true, true, &mut |alerts, i, _, version, v, now| {
            alerts.refresh(i, version, v, now);
        });
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

    pub(super) fn evaluate_rules(&self, quality: bool, drift: bool) -> Vec<Alert> {
        let mut out = Vec::new();
        let model = &self.model;
        self.rule_values(quality, drift, &mut |alerts, i, rule, version, v, now| {
            out.extend(alerts.observe(i, rule, model, version, v, now));
        });
        if !out.is_empty() {
            m::alerts_gauge(&self.model).set(lock(&self.alerts).active().len() as f64);
        }
        out
    }

    /// Feeds `each` the current value of every rule (quality rules on the
    /// rolling metrics, drift rules on the last completed window), with the
    /// alert state locked.
    fn rule_values(&self, quality: bool, drift: bool, each: &mut RuleValue<'_>) {
        let metrics = if quality { self.quality() } else { Vec::new() };
        let report = if drift { self.last_drift() } else { None };
        let now = now_ms();
        let mut alerts = lock(&self.alerts);
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
                        each(&mut alerts, i, rule, q.version, v, now);
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
                    each(&mut alerts, i, rule, r.version, v, now);
                }
            }
        }
    }

    pub(super) fn dispatch(&self, alerts: &[Alert]) {
        for a in alerts {
            for s in &self.sinks {
                s.on_alert(a);
            }
        }
    }

    /// Scores a completed window and records its point.
    pub(super) fn finish(
        &self,
        completed: Completed,
        reference: Option<(Arc<Reference>, u64, u64)>,
    ) -> Vec<Alert> {
        let report = self.score(&completed, reference);
        if let Some(r) = report.as_ref().filter(|r| !r.warnings.is_empty()) {
            let mut live = lock(&self.live);
            if !live.warned_small {
                live.warned_small = true;
                drop(live);
                emit!(
                    warn,
                    "model {}: drift window {} of version {}: {} (said once per monitor)",
                    self.model,
                    r.window,
                    r.version,
                    r.warnings.join("; ")
                );
            }
        }
        self.record(completed, report)
    }

    /// The drift report of a window, or `None` without a reference.
    fn score(
        &self,
        completed: &Completed,
        reference: Option<(Arc<Reference>, u64, u64)>,
    ) -> Option<DriftReport> {
        let t = &self.config.thresholds;
        reference.and_then(|(r, version, index)| {
            if completed.width() != r.columns.len() || completed.kept == 0 {
                return None;
            }
            let (columns, predictions) = completed.columns();
            let features: Vec<_> = (0..r.columns.len())
                .map(|j| {
                    let mut f =
                        compare(&r.names[j], r.categorical[j], &r.columns[j], &columns[j], t);
                    if let Some(levels) = r.levels.get(j).filter(|l| !l.is_empty()) {
                        f.distribution.labels = f
                            .distribution
                            .values
                            .iter()
                            .map(|&v| levels.get(v as usize).cloned().unwrap_or_default())
                            .collect();
                    }
                    f
                })
                .collect();
            let prediction = r
                .prediction
                .as_ref()
                .filter(|_| !predictions.sorted.is_empty())
                .map(|(cat, col)| compare("prediction", *cat, col, &predictions, t));
            let mut report = DriftReport {
                model: self.model.to_string(),
                version,
                window: index,
                rows: completed.rows,
                kept_rows: completed.kept,
                complete: completed.complete,
                window_rows: self.config.window_rows,
                warnings: Vec::new(),
                features,
                prediction,
                drifted: 0,
                drift_share: 0.0,
                dataset_drift: false,
            };
            report.tally(t.dataset_share);
            report.warn_small();
            if !completed.complete {
                report.warnings.insert(
                    0,
                    format!(
                        "partial window: {} of {} rows so far",
                        completed.rows, self.config.window_rows
                    ),
                );
            }
            Some(report)
        })
    }

    /// Records a scored (or unscored) window: gauges, its history point,
    /// the last report, and the drift rules.
    fn record(&self, completed: Completed, report: Option<DriftReport>) -> Vec<Alert> {
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
}
