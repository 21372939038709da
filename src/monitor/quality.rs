//! Live quality from feedback: predictions waiting for their outcome, and
//! rolling accuracy, precision, recall, AUC (or MAE and RMSE) per version.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The true outcome of a served request, reported later with
/// [`Monitor::record_outcome`](super::Monitor::record_outcome).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Actual {
    /// A class index into the model's label vocabulary.
    Class(usize),
    /// A class label, looked up in the vocabulary of the version that
    /// served the request.
    Label(String),
    /// A regression target.
    Value(f64),
}

impl From<usize> for Actual {
    fn from(c: usize) -> Self {
        Self::Class(c)
    }
}

impl From<&str> for Actual {
    fn from(label: &str) -> Self {
        Self::Label(label.to_owned())
    }
}

impl From<String> for Actual {
    fn from(label: String) -> Self {
        Self::Label(label)
    }
}

impl From<f64> for Actual {
    fn from(v: f64) -> Self {
        Self::Value(v)
    }
}

/// A prediction waiting for its outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) version: u64,
    /// Class index (as f64) or score.
    pub(crate) predicted: f64,
    /// The probability of the positive class, where the model gave one.
    pub(crate) positive_score: Option<f64>,
    pub(crate) classification: bool,
    at: Instant,
    seq: u64,
}

impl Pending {
    pub(crate) fn new(
        version: u64,
        predicted: f64,
        positive_score: Option<f64>,
        classification: bool,
        at: Instant,
    ) -> Self {
        Self {
            version,
            predicted,
            positive_score,
            classification,
            at,
            seq: 0,
        }
    }
}

/// Predictions by request id, bounded by count and age. The oldest entry
/// goes first when the count bound is reached; entries older than the
/// time-to-live are dropped whenever the store is touched.
#[derive(Debug)]
pub(crate) struct Pendings {
    map: HashMap<Arc<str>, Pending>,
    order: VecDeque<(u64, Arc<str>)>,
    max: usize,
    ttl: Duration,
    seq: u64,
    pub(crate) expired: u64,
    pub(crate) evicted: u64,
}

impl Pendings {
    pub(crate) fn new(max: usize, ttl: Duration) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
            ttl,
            seq: 0,
            expired: 0,
            evicted: 0,
        }
    }

    pub(crate) fn insert(&mut self, id: &str, mut p: Pending) {
        self.expire(p.at);
        self.seq += 1;
        p.seq = self.seq;
        let key: Arc<str> = Arc::from(id);
        if self.map.insert(key.clone(), p).is_none() {
            while self.map.len() > self.max {
                if !self.pop_oldest() {
                    break;
                }
                self.evicted += 1;
            }
        }
        self.order.push_back((p.seq, key));
        // Re-inserted ids leave stale entries behind; compact when they
        // would let the queue outgrow the map.
        if self.order.len() > 2 * self.max {
            let map = &self.map;
            self.order
                .retain(|(seq, k)| map.get(k).is_some_and(|p| p.seq == *seq));
        }
    }

    /// Removes the oldest live entry; false when there is none.
    fn pop_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|p| p.seq == seq) {
                self.map.remove(&key);
                return true;
            }
        }
        false
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((seq, key)) = self.order.front() {
            match self.map.get(key) {
                Some(p) if p.seq == *seq => {
                    if now.saturating_duration_since(p.at) <= self.ttl {
                        break;
                    }
                    self.map.remove(key);
                    self.expired += 1;
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    pub(crate) fn take(&mut self, id: &str, now: Instant) -> Option<Pending> {
        self.expire(now);
        self.map.remove(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn queued(&self) -> usize {
        self.order.len()
    }
}

#[derive(Debug, Clone, Copy)]
struct Obs {
    predicted: f64,
    actual: f64,
    score: Option<f64>,
}

/// Rolling quality of one version over its last `cap` outcomes.
#[derive(Debug)]
pub(crate) struct Rolling {
    cap: usize,
    positive: f64,
    classification: bool,
    obs: VecDeque<Obs>,
    correct: u64,
    tp: u64,
    fp: u64,
    fn_: u64,
    abs_err: f64,
    sq_err: f64,
    pub(crate) total: u64,
    pub(crate) last_touch: u64,
}

impl Rolling {
    pub(crate) fn new(cap: usize, positive: usize, classification: bool) -> Self {
        Self {
            cap: cap.max(1),
            positive: positive as f64,
            classification,
            obs: VecDeque::new(),
            correct: 0,
            tp: 0,
            fp: 0,
            fn_: 0,
            abs_err: 0.0,
            sq_err: 0.0,
            total: 0,
            last_touch: 0,
        }
    }

    fn apply(&mut self, o: Obs, sign: i64) {
        let add = |c: &mut u64| {
            *c = if sign > 0 {
                *c + 1
            } else {
                c.saturating_sub(1)
            }
        };
        if self.classification {
            if o.predicted == o.actual {
                add(&mut self.correct);
            }
            let (p, a) = (o.predicted == self.positive, o.actual == self.positive);
            match (p, a) {
                (true, true) => add(&mut self.tp),
                (true, false) => add(&mut self.fp),
                (false, true) => add(&mut self.fn_),
                (false, false) => {}
            }
        } else {
            let e = o.predicted - o.actual;
            let s = sign as f64;
            self.abs_err += s * e.abs();
            self.sq_err += s * e * e;
        }
    }

    pub(crate) fn push(&mut self, predicted: f64, actual: f64, score: Option<f64>) {
        let o = Obs {
            predicted,
            actual,
            score,
        };
        if self.obs.len() == self.cap
            && let Some(old) = self.obs.pop_front()
        {
            self.apply(old, -1);
        }
        self.apply(o, 1);
        self.obs.push_back(o);
        self.total += 1;
        if !self.classification && self.total.is_multiple_of(self.cap as u64) {
            // Re-sum now and then so floating-point drift cannot build up.
            self.abs_err = self
                .obs
                .iter()
                .map(|o| (o.predicted - o.actual).abs())
                .sum();
            self.sq_err = self
                .obs
                .iter()
                .map(|o| (o.predicted - o.actual).powi(2))
                .sum();
        }
    }

    pub(crate) fn held(&self) -> usize {
        self.obs.len()
    }

    pub(crate) fn metrics(&self, version: u64) -> QualityMetrics {
        let n = self.obs.len() as u64;
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        let mut m = QualityMetrics {
            version,
            count: n,
            total: self.total,
            accuracy: None,
            precision: None,
            recall: None,
            auc: None,
            mae: None,
            rmse: None,
        };
        if self.classification {
            m.accuracy = ratio(self.correct, n);
            m.precision = ratio(self.tp, self.tp + self.fp);
            m.recall = ratio(self.tp, self.tp + self.fn_);
            m.auc = self.auc();
        } else if n > 0 {
            m.mae = Some((self.abs_err / n as f64).max(0.0));
            m.rmse = Some((self.sq_err / n as f64).max(0.0).sqrt());
        }
        m
    }

    /// Area under the ROC curve from the positive-class probabilities
    /// (Mann–Whitney U with midranks for ties).
    fn auc(&self) -> Option<f64> {
        let mut scored: Vec<(f64, bool)> = self
            .obs
            .iter()
            .filter_map(|o| Some((o.score?, o.actual == self.positive)))
            .filter(|(s, _)| s.is_finite())
            .collect();
        let pos = scored.iter().filter(|(_, p)| *p).count();
        let neg = scored.len() - pos;
        if pos == 0 || neg == 0 {
            return None;
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut rank_sum = 0.0;
        let mut i = 0;
        while i < scored.len() {
            let mut j = i;
            while j < scored.len() && scored[j].0 == scored[i].0 {
                j += 1;
            }
            // Ranks i+1..=j share their mean.
            let mid = (i + 1 + j) as f64 / 2.0;
            rank_sum += mid * scored[i..j].iter().filter(|(_, p)| *p).count() as f64;
            i = j;
        }
        let (pos, neg) = (pos as f64, neg as f64);
        Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
    }
}

/// Rolling quality of one model version over its last outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QualityMetrics {
    /// The version that served the predictions.
    pub version: u64,
    /// Outcomes in the rolling window.
    pub count: u64,
    /// Outcomes joined since the monitor started.
    pub total: u64,
    /// Share of correct classes (classifiers).
    pub accuracy: Option<f64>,
    /// Precision of the positive class (classifiers; `None` until it is
    /// predicted).
    pub precision: Option<f64>,
    /// Recall of the positive class (classifiers; `None` until it occurs).
    pub recall: Option<f64>,
    /// ROC AUC of the positive class, where predictions carry probabilities
    /// and both classes occurred.
    pub auc: Option<f64>,
    /// Mean absolute error (regressors).
    pub mae: Option<f64>,
    /// Root mean squared error (regressors).
    pub rmse: Option<f64>,
}

/// One point of the quality history (for the report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QualityPoint {
    /// Outcomes joined for this version when the point was taken.
    pub outcomes: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The rolling metrics then.
    pub metrics: QualityMetrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_with_ties() {
        let mut r = Rolling::new(10, 1, true);
        for (p, a, s) in [
            (1.0, 1.0, 0.9),
            (1.0, 0.0, 0.9),
            (0.0, 1.0, 0.2),
            (0.0, 0.0, 0.1),
        ] {
            r.push(p, a, Some(s));
        }
        // Positives 0.9 and 0.2, negatives 0.9 and 0.1: pairs (0.9>0.1),
        // (0.9=0.9 -> 1/2), (0.2>0.1), (0.2<0.9) -> 2.5 / 4.
        assert_eq!(r.metrics(1).auc, Some(0.625));
        let m = r.metrics(1);
        assert_eq!(
            (m.accuracy, m.precision, m.recall),
            (Some(0.5), Some(0.5), Some(0.5))
        );
    }

    #[test]
    fn rolling_window_forgets() {
        let mut r = Rolling::new(2, 1, true);
        r.push(1.0, 0.0, None);
        r.push(1.0, 1.0, None);
        r.push(1.0, 1.0, None);
        assert_eq!(r.metrics(1).accuracy, Some(1.0));
        assert_eq!(r.held(), 2);
    }
}
