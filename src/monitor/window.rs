//! The live window: a bounded ring of recent input rows (and their
//! predictions), and per-period request and latency counts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::drift::Column;

/// Sub-buckets per power of two in [`LatencyHistogram`] (about 19% wide).
const SUB: u32 = 4;
/// Buckets cover 1 ns up to 2^40 ns (about 18 minutes); longer latencies
/// land in the last bucket.
const OCTAVES: u32 = 40;

/// A fixed-size log-scale latency histogram: 4 buckets per power of two of
/// nanoseconds, so quantiles are within about 10% of the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
    sum_ns: u128,
    max_ns: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: vec![0; (OCTAVES * SUB) as usize],
            total: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }
}

fn bucket(ns: u64) -> usize {
    let ns = ns.max(1);
    let log = 63 - ns.leading_zeros();
    let sub = if log >= 2 {
        (ns >> (log - 2)) & 3
    } else {
        (ns << (2 - log)) & 3
    } as u32;
    ((log * SUB + sub) as usize).min((OCTAVES * SUB) as usize - 1)
}

fn bucket_bounds(i: usize) -> (f64, f64) {
    let log = i as u32 / SUB;
    let sub = i as u32 % SUB;
    let base = 2f64.powi(log as i32);
    (
        base * (1.0 + f64::from(sub) / 4.0),
        base * (1.0 + f64::from(sub + 1) / 4.0),
    )
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get_mut(bucket(ns)) {
            *c += 1;
        }
        self.total += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Self) {
        if self.counts.len() == other.counts.len() {
            for (a, b) in self.counts.iter_mut().zip(&other.counts) {
                *a += b;
            }
        }
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Latencies recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The mean latency, if any was recorded.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        (self.total > 0).then(|| {
            Duration::from_nanos(u64::try_from(self.sum_ns / u128::from(self.total)).unwrap_or(0))
        })
    }

    /// The largest latency recorded.
    #[must_use]
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns)
    }

    /// The `q`-quantile (`0.0..=1.0`), as the geometric middle of its bucket.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bucket_bounds(i);
                let mid = (lo * hi).sqrt().min(self.max_ns as f64);
                return Some(Duration::from_nanos(mid as u64));
            }
        }
        Some(self.max())
    }

    /// Non-empty buckets as `(lower bound, upper bound, count)` in seconds.
    #[must_use]
    pub fn buckets(&self) -> Vec<(f64, f64, u64)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let (lo, hi) = bucket_bounds(i);
                (lo / 1e9, hi / 1e9, c)
            })
            .collect()
    }
}

/// The ring of kept rows plus the counts of the current period.
#[derive(Debug)]
pub(crate) struct Window {
    pub(crate) width: usize,
    /// Keep one row in `stride`.
    stride: u64,
    /// Capacity in kept rows.
    capacity: usize,
    /// `capacity * width` values, row after row, as a ring.
    values: Vec<f64>,
    /// One prediction per kept row (NaN when none).
    predictions: Vec<f64>,
    head: usize,
    len: usize,
    /// Rows of the drift version seen since the window was (re)started.
    pub(crate) rows_seen: u64,
    rows_since_eval: u64,
    window_rows: u64,
    step_rows: u64,
    /// Per-period counts, reset at each completed step.
    pub(crate) period: Period,
}

/// Requests and latencies of one evaluation period.
#[derive(Debug, Default)]
pub(crate) struct Period {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) latency: LatencyHistogram,
}

/// A completed window's rows, taken out of the ring as they are (cheap, on
/// the request path); [`Completed::columns`] does the sorting later.
#[derive(Debug)]
pub(crate) struct Completed {
    pub(crate) rows: u64,
    pub(crate) kept: u64,
    /// Whether the window had filled (a partial one is scored only when
    /// asked for).
    pub(crate) complete: bool,
    width: usize,
    /// Kept rows, row after row, in ring order (order does not matter for
    /// distributions).
    values: Vec<f64>,
    predictions: Vec<f64>,
    pub(crate) period: Period,
}

impl Completed {
    /// A period that ended without a scored window.
    pub(crate) fn unscored(period: Period) -> Self {
        Self {
            rows: 0,
            kept: 0,
            complete: false,
            width: 0,
            values: Vec::new(),
            predictions: Vec::new(),
            period,
        }
    }

    /// The window's feature columns and its predictions, sorted for
    /// comparison.
    pub(crate) fn columns(&self) -> (Vec<Column>, Column) {
        let w = self.width.max(1);
        let columns = (0..self.width)
            .map(|j| Column::new(self.values.iter().skip(j).step_by(w).copied()))
            .collect();
        (columns, Column::new(self.predictions.iter().copied()))
    }

    pub(crate) fn width(&self) -> usize {
        self.width
    }
}

impl Window {
    pub(crate) fn new(width: usize, window_rows: u64, step_rows: u64, max_kept: usize) -> Self {
        let max_kept = max_kept.max(1) as u64;
        let stride = window_rows.div_ceil(max_kept).max(1);
        let capacity = usize::try_from(window_rows.div_ceil(stride)).unwrap_or(usize::MAX);
        Self {
            width,
            stride,
            capacity,
            values: Vec::new(),
            predictions: Vec::new(),
            head: 0,
            len: 0,
            rows_seen: 0,
            rows_since_eval: 0,
            window_rows,
            step_rows,
            period: Period::default(),
        }
    }

    /// Forgets the kept rows (a new version starts a new window); the
    /// period counts carry on.
    pub(crate) fn restart(&mut self, width: usize) {
        self.width = width;
        self.values = Vec::new();
        self.predictions = Vec::new();
        self.head = 0;
        self.len = 0;
        self.rows_seen = 0;
        self.rows_since_eval = 0;
    }

    /// Adds one row; `row.len()` must equal the width (others are ignored).
    pub(crate) fn push_row(&mut self, row: impl ExactSizeIterator<Item = f64>, prediction: f64) {
        if row.len() != self.width {
            return;
        }
        let keep = self.rows_seen.is_multiple_of(self.stride);
        self.rows_seen += 1;
        self.rows_since_eval += 1;
        if !keep {
            return;
        }
        if self.predictions.len() < self.capacity {
            // Allocated on the first kept row, so idle monitors stay small,
            // and exactly once, so the bound is exact.
            if self.predictions.is_empty() {
                self.values.reserve_exact(self.capacity * self.width);
                self.predictions.reserve_exact(self.capacity);
            }
            self.values.extend(row);
            self.predictions.push(prediction);
            self.len += 1;
        } else {
            let at = self.head;
            for (slot, v) in self.values[at * self.width..(at + 1) * self.width]
                .iter_mut()
                .zip(row)
            {
                *slot = v;
            }
            self.predictions[at] = prediction;
            self.head = (self.head + 1) % self.capacity;
        }
    }

    /// Whether a step completed and the window is full enough to compare.
    pub(crate) fn due(&self) -> bool {
        self.rows_since_eval >= self.step_rows && self.rows_seen >= self.window_rows
    }

    /// Takes the window's columns and the period's counts, and starts the
    /// next period. Tumbling windows (step = window) also forget the rows.
    pub(crate) fn complete(&mut self) -> Completed {
        let rows = self.rows_seen.min(self.window_rows);
        let kept = self.len as u64;
        self.rows_since_eval = 0;
        let width = self.width;
        let (values, predictions) = if self.step_rows >= self.window_rows {
            // Tumbling: hand the buffers over and start afresh.
            let taken = (
                std::mem::take(&mut self.values),
                std::mem::take(&mut self.predictions),
            );
            self.restart(width);
            taken
        } else {
            // Sliding: the ring lives on; copy it.
            (self.values.clone(), self.predictions.clone())
        };
        Completed {
            rows,
            kept,
            complete: true,
            width,
            values,
            predictions,
            period: std::mem::take(&mut self.period),
        }
    }

    /// A copy of the window so far, before it completes (the period's
    /// counts stay).
    pub(crate) fn partial(&self) -> Completed {
        Completed {
            rows: self.rows_seen.min(self.window_rows),
            kept: self.len as u64,
            complete: false,
            width: self.width,
            values: self.values.clone(),
            predictions: self.predictions.clone(),
            period: Period::default(),
        }
    }

    /// The period counts, taken (for windows that never complete).
    pub(crate) fn take_period(&mut self) -> Period {
        std::mem::take(&mut self.period)
    }

    /// Values currently held (for memory-bound tests).
    pub(crate) fn held_values(&self) -> usize {
        self.values.capacity() + self.predictions.capacity()
    }

    /// Rows kept in the window now.
    pub(crate) fn partial_rows(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity_rows(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = LatencyHistogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        assert!((p50 / 500e-6 - 1.0).abs() < 0.15, "{p50}");
        let p99 = h.quantile(0.99).unwrap().as_secs_f64();
        assert!((p99 / 990e-6 - 1.0).abs() < 0.15, "{p99}");
        assert_eq!(h.count(), 1000);
        for ns in [0u64, 1, 2, 3, 4, 5, 7, 8, u64::MAX] {
            let _ = bucket(ns);
        }
        h.record(Duration::MAX);
        assert!(h.quantile(1.0).is_some());
    }

    #[test]
    fn tumbling_window_restarts_and_strides() {
        let mut w = Window::new(1, 10, 10, 5);
        for i in 0..10 {
            w.push_row([f64::from(i)].into_iter(), 0.0);
        }
        assert!(w.due());
        let c = w.complete();
        assert_eq!((c.rows, c.kept), (10, 5));
        assert_eq!(c.columns().0[0].sorted, vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert!(!w.due());
    }

    #[test]
    fn sliding_window_keeps_the_last_rows() {
        let mut w = Window::new(1, 4, 2, 100);
        for i in 0..6 {
            w.push_row([f64::from(i)].into_iter(), 0.0);
            if w.due() {
                let _ = w.complete();
            }
        }
        let mut last = None;
        for i in 6..8 {
            w.push_row([f64::from(i)].into_iter(), 0.0);
            if w.due() {
                last = Some(w.complete());
            }
        }
        assert_eq!(
            last.unwrap().columns().0[0].sorted,
            vec![4.0, 5.0, 6.0, 7.0]
        );
    }
}
