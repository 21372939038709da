//! Alert rules, their firing state, and the sinks that hear about them.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A value an [`AlertRule`] watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "metric", content = "feature", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// Rolling accuracy from feedback.
    Accuracy,
    /// Rolling precision of the positive class.
    Precision,
    /// Rolling recall of the positive class.
    Recall,
    /// Rolling ROC AUC of the positive class.
    Auc,
    /// Rolling mean absolute error (regressors).
    MeanAbsoluteError,
    /// PSI of the named feature in the last completed window.
    FeaturePsi(String),
    /// Kolmogorov–Smirnov statistic of the named feature in the last window.
    FeatureKs(String),
    /// Jensen–Shannon distance of the named feature in the last window.
    FeatureJs(String),
    /// PSI of the predictions in the last window.
    PredictionPsi,
    /// Share of drifting features in the last window.
    DriftShare,
}

impl Metric {
    /// Whether the value comes from feedback (otherwise from drift windows).
    #[must_use]
    pub fn is_quality(&self) -> bool {
        matches!(
            self,
            Self::Accuracy | Self::Precision | Self::Recall | Self::Auc | Self::MeanAbsoluteError
        )
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accuracy => f.write_str("accuracy"),
            Self::Precision => f.write_str("precision"),
            Self::Recall => f.write_str("recall"),
            Self::Auc => f.write_str("auc"),
            Self::MeanAbsoluteError => f.write_str("mae"),
            Self::FeaturePsi(x) => write!(f, "psi({x})"),
            Self::FeatureKs(x) => write!(f, "ks({x})"),
            Self::FeatureJs(x) => write!(f, "js({x})"),
            Self::PredictionPsi => f.write_str("psi(prediction)"),
            Self::DriftShare => f.write_str("drift_share"),
        }
    }
}

/// Which side of the threshold is a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Values above the threshold breach.
    Above,
    /// Values below the threshold breach.
    Below,
}

/// A threshold on a [`Metric`], with hysteresis.
///
/// A rule fires once when its metric crosses the threshold and resolves once
/// when the metric is back past [`clear_at`](Self::clear_at) (default: 5% of
/// the threshold on the healthy side, e.g. recall 0.735 for a 0.7 rule, PSI
/// 0.2375 for a 0.25 rule), so a metric wobbling around the threshold does
/// not fire again and again. The state is kept per model version.
///
/// # Examples
///
/// ```
/// use modelhost::monitor::{AlertRule, Metric};
///
/// let recall = AlertRule::below(Metric::Recall, 0.7).min_count(1_000);
/// let psi = AlertRule::above(Metric::FeaturePsi("basket_value".into()), 0.25)
///     .named("basket drift");
/// assert_eq!(psi.name(), "basket drift");
/// assert_eq!(recall.name(), "recall < 0.7");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct AlertRule {
    name: String,
    metric: Metric,
    direction: Direction,
    threshold: f64,
    clear_at: f64,
    min_count: u64,
}

impl AlertRule {
    fn new(metric: Metric, direction: Direction, threshold: f64) -> Self {
        let margin = 0.05 * threshold.abs();
        let (op, clear_at) = match direction {
            Direction::Above => (">", threshold - margin),
            Direction::Below => ("<", threshold + margin),
        };
        Self {
            name: format!("{metric} {op} {threshold}"),
            metric,
            direction,
            threshold,
            clear_at,
            min_count: 100,
        }
    }

    /// Fires when `metric` rises above `threshold`.
    pub fn above(metric: Metric, threshold: f64) -> Self {
        Self::new(metric, Direction::Above, threshold)
    }

    /// Fires when `metric` falls below `threshold`.
    pub fn below(metric: Metric, threshold: f64) -> Self {
        Self::new(metric, Direction::Below, threshold)
    }

    /// Names the rule (default: `"<metric> <op> <threshold>"`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The value past which a firing alert resolves (default: the threshold
    /// moved by 5% of its size to the healthy side). A value on the breaching
    /// side of the threshold is moved to the threshold.
    pub fn clear_at(mut self, value: f64) -> Self {
        self.clear_at = match self.direction {
            Direction::Above => value.min(self.threshold),
            Direction::Below => value.max(self.threshold),
        };
        self
    }

    /// Quality rules wait until the rolling window holds at least `n`
    /// outcomes (default 100); with the monitor's quality window at `n`,
    /// "recall below 0.7 over the last n outcomes". Drift rules ignore it.
    pub fn min_count(mut self, n: u64) -> Self {
        self.min_count = n;
        self
    }

    /// The rule's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The watched metric.
    #[must_use]
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    pub(crate) fn clear_value(&self) -> f64 {
        self.clear_at
    }

    pub(crate) fn threshold_value(&self) -> f64 {
        self.threshold
    }

    pub(crate) fn min(&self) -> u64 {
        self.min_count
    }

    fn breached(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v > self.threshold,
            Direction::Below => v < self.threshold,
        }
    }

    fn recovered(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v <= self.clear_at,
            Direction::Below => v >= self.clear_at,
        }
    }
}

/// Whether an alert started or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The metric crossed the threshold.
    Firing,
    /// The metric recovered past the rule's clear value.
    Resolved,
}

/// One alert transition, as sinks receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// The watched metric, e.g. `recall` or `psi(basket_value)`.
    pub metric: String,
    /// Started or ended.
    pub state: AlertState,
    /// The metric's value at the transition.
    pub value: f64,
    /// The metric's latest value: for an active alert
    /// ([`Monitor::active_alerts`](crate::Monitor::active_alerts)), the
    /// value of the last evaluation, which may have moved since it fired;
    /// for a transition, the same as `value`.
    #[serde(default)]
    pub current: f64,
    /// When `current` was evaluated, in milliseconds since the Unix epoch.
    #[serde(default)]
    pub current_at_ms: u64,
    /// The rule's threshold.
    pub threshold: f64,
    /// The model's name.
    pub model: String,
    /// The version the value belongs to.
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            AlertState::Firing => "FIRING",
            AlertState::Resolved => "resolved",
        };
        write!(
            f,
            "[{state}] {} on {} v{}: {} = {:.4} (threshold {})",
            self.rule, self.model, self.version, self.metric, self.value, self.threshold
        )?;
        if self.current != self.value {
            write!(f, ", now {:.4}", self.current)?;
        }
        Ok(())
    }
}

/// Receives alert transitions: once when an alert fires, once when it
/// resolves.
///
/// Sinks are called on the thread that evaluated the rules (a request that
/// completed a window, a caller of
/// [`record_outcome`](super::Monitor::record_outcome) or
/// [`evaluate`](super::Monitor::evaluate)), after the monitor released its
/// locks. Hand slow work (e-mail, chat) to a queue or thread of your own.
pub trait AlertSink: Send + Sync + fmt::Debug {
    /// Handles one transition.
    fn on_alert(&self, alert: &Alert);
}

/// Writes alerts through the `log` facade: firing at `warn`, resolved at
/// `info`, target `modelhost::monitor`.
///
/// A library should not own the process's stderr: through `log` the host
/// decides where alerts go (its logger, journald, a file) and how they are
/// formatted, and no logger means no output.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSink;

impl AlertSink for LogSink {
    fn on_alert(&self, alert: &Alert) {
        match alert.state {
            AlertState::Firing => log::warn!(target: "modelhost::monitor", "{alert}"),
            AlertState::Resolved => log::info!(target: "modelhost::monitor", "{alert}"),
        }
    }
}

/// Calls a closure for every alert, for example to send an e-mail or a chat
/// message.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use modelhost::monitor::{AlertSink, CallbackSink};
///
/// let sink: Arc<dyn AlertSink> = Arc::new(CallbackSink::new(|alert| {
///     eprintln!("would post to chat: {alert}");
/// }));
/// ```
pub struct CallbackSink<F> {
    callback: F,
}

impl<F: Fn(&Alert) + Send + Sync> CallbackSink<F> {
    /// Calls `callback` for every alert.
    pub fn new(callback: F) -> Self {
        Self { callback }
    }
}

impl<F> fmt::Debug for CallbackSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSink").finish_non_exhaustive()
    }
}

impl<F: Fn(&Alert) + Send + Sync> AlertSink for CallbackSink<F> {
    fn on_alert(&self, alert: &Alert) {
        (self.callback)(alert);
    }
}

/// Firing state of every (rule, version) pair, and a bounded log.
#[derive(Debug, Default)]
pub(crate) struct Alerts {
    firing: HashMap<(usize, u64), Alert>,
    pub(crate) log: std::collections::VecDeque<Alert>,
}

/// Most transitions kept for the report.
const LOG_BOUND: usize = 200;
/// Most (rule, version) pairs tracked; the oldest resolved ones go first.
const STATE_BOUND: usize = 4_096;

impl Alerts {
    /// Updates the current value of rule `index` for `version` when it is
    /// firing, without deciding any transition (a read, not an evaluation).
    pub(crate) fn refresh(&mut self, index: usize, version: u64, value: f64, now_ms: u64) {
        if let Some(active) = self.firing.get_mut(&(index, version))
            && value.is_finite()
        {
            active.current = value;
            active.current_at_ms = now_ms;
        }
    }

    /// Feeds one value of rule `index` for `version`; returns the transition,
    /// if any.
    pub(crate) fn observe(
        &mut self,
        index: usize,
        rule: &AlertRule,
        model: &str,
        version: u64,
        value: f64,
        now_ms: u64,
    ) -> Option<Alert> {
        if !value.is_finite() {
            return None;
        }
        let key = (index, version);
        let firing = self.firing.contains_key(&key);
        let state = if !firing && rule.breached(value) {
            AlertState::Firing
        } else if firing && rule.recovered(value) {
            AlertState::Resolved
        } else {
            if let Some(active) = self.firing.get_mut(&key) {
                active.current = value;
                active.current_at_ms = now_ms;
            }
            return None;
        };
        let alert = Alert {
            rule: rule.name.clone(),
            metric: rule.metric.to_string(),
            state,
            value,
            current: value,
            current_at_ms: now_ms,
            threshold: rule.threshold,
            model: model.to_owned(),
            version,
            at_ms: now_ms,
        };
        match state {
            AlertState::Firing => {
                if self.firing.len() < STATE_BOUND {
                    self.firing.insert(key, alert.clone());
                }
            }
            AlertState::Resolved => {
                self.firing.remove(&key);
            }
        }
        if self.log.len() == LOG_BOUND {
            self.log.pop_front();
        }
        self.log.push_back(alert.clone());
        Some(alert)
    }

    pub(crate) fn active(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.firing.values().cloned().collect();
        v.sort_by(|a, b| (a.at_ms, &a.rule).cmp(&(b.at_ms, &b.rule)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_and_resolves_with_hysteresis() {
        let rule = AlertRule::below(Metric::Recall, 0.7);
        let mut a = Alerts::default();
        let seq = [0.8, 0.69, 0.6, 0.71, 0.69, 0.74, 0.6];
        let got: Vec<_> = seq
            .iter()
            .map(|&v| a.observe(0, &rule, "m", 1, v, 0).map(|a| a.state))
            .collect();
        assert_eq!(
            got,
            [
                None,
                Some(AlertState::Firing),
                None,
                None,
                None,
                Some(AlertState::Resolved),
                Some(AlertState::Firing)
            ]
        );
    }
}
