//! The adaptive dispatch rule: a cost model fitted to recent batches, an
//! estimate of the arrival rate, and the decision whether a free worker
//! sends the queued requests now or waits for more.
//!
//! Everything here is pure arithmetic on plain numbers, so the rule is
//! unit-tested without threads or clocks.

use std::time::{Duration, Instant};

/// How many recent batches the cost model remembers.
const SAMPLES: usize = 64;
/// Weight of the newest observation in the arrival averages.
const ARRIVAL_WEIGHT: f64 = 0.1;
/// Arrivals have stopped when none came for this many mean gaps.
const STALL_GAPS: f64 = 2.0;

/// A batch's cost as a straight line: `per_call + per_row * rows`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Fit {
    pub(crate) per_call: f64,
    pub(crate) per_row: f64,
}

impl Fit {
    /// Predicted seconds for a batch of `rows`.
    pub(crate) fn cost(self, rows: usize) -> f64 {
        self.per_call + self.per_row * rows as f64
    }
}

/// Time against batch size over the last [`SAMPLES`] batches, with its
/// least-squares line.
#[derive(Debug)]
pub(crate) struct CostModel {
    samples: Vec<(f64, f64)>,
    next: usize,
    fit: Fit,
    /// Whether `fit` came from batches of varied sizes.
    separated: bool,
}

impl CostModel {
    pub(crate) fn new() -> Self {
        Self {
            samples: Vec::with_capacity(SAMPLES),
            next: 0,
            fit: Fit::default(),
            separated: false,
        }
    }

    /// Records that a batch of `rows` took `took`, and refits.
    ///
    /// When the remembered batches all have about the same size, the
    /// per-call part cannot be told from the per-row part. The last line
    /// fitted from varied sizes is then kept (under steady heavy load every
    /// batch is full, and the line learnt on the way there still holds);
    /// before there is one, the model is assumed to cost per row only, which
    /// never makes a request wait. That is the state under light load, where
    /// every batch holds one request and waiting would only add latency.
    pub(crate) fn record(&mut self, rows: usize, took: Duration) {
        if rows == 0 {
            return;
        }
        let sample = (rows as f64, took.as_secs_f64());
        if self.samples.len() < SAMPLES {
            self.samples.push(sample);
        } else {
            self.samples[self.next] = sample;
        }
        self.next = (self.next + 1) % SAMPLES;
        match fit(&self.samples) {
            Some(f) => {
                self.fit = f;
                self.separated = true;
            }
            None if !self.separated => self.fit = per_row_only(&self.samples),
            None => {}
        }
    }

    /// The current line.
    pub(crate) fn fit(&self) -> Fit {
        self.fit
    }
}

/// The line through the origin: all cost per row.
fn per_row_only(samples: &[(f64, f64)]) -> Fit {
    let sxy: f64 = samples.iter().map(|s| s.0 * s.1).sum();
    let sxx: f64 = samples.iter().map(|s| s.0 * s.0).sum();
    Fit {
        per_call: 0.0,
        per_row: if sxx > 0.0 { sxy / sxx } else { 0.0 },
    }
}

/// Least-squares line through `(rows, seconds)` samples, constrained to
/// non-negative coefficients; `None` when the batch sizes vary too little
/// (standard deviation under half a row or under 5 % of the mean) to tell
/// the two coefficients apart.
pub(crate) fn fit(samples: &[(f64, f64)]) -> Option<Fit> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_x = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1).sum::<f64>() / n;
    let sxx: f64 = samples.iter().map(|s| (s.0 - mean_x).powi(2)).sum();
    let sxy: f64 = samples
        .iter()
        .map(|s| (s.0 - mean_x) * (s.1 - mean_y))
        .sum();
    let spread = (sxx / n).sqrt();
    if spread < 0.5 || spread < 0.05 * mean_x {
        return None;
    }
    let per_row = sxy / sxx;
    let per_call = mean_y - per_row * mean_x;
    Some(if per_row < 0.0 {
        // Bigger batches were faster: noise. All cost is per call.
        Fit {
            per_call: mean_y,
            per_row: 0.0,
        }
    } else if per_call < 0.0 {
        per_row_only(samples)
    } else {
        Fit { per_call, per_row }
    })
}

/// Exponentially weighted averages of the gap between arrivals and of the
/// rows per request.
#[derive(Debug)]
pub(crate) struct Arrivals {
    last: Option<Instant>,
    mean_gap: Option<f64>,
    mean_rows: f64,
    /// Gaps are capped here, so one idle hour does not hide the next burst
    /// for long.
    cap: f64,
}

impl Arrivals {
    pub(crate) fn new(cap: Duration) -> Self {
        Self {
            last: None,
            mean_gap: None,
            mean_rows: 1.0,
            cap: cap.as_secs_f64(),
        }
    }

    /// A request of `rows` arrived at `now`.
    pub(crate) fn record(&mut self, now: Instant, rows: usize) {
        if let Some(last) = self.last {
            let gap = now
                .saturating_duration_since(last)
                .as_secs_f64()
                .min(self.cap);
            self.mean_gap = Some(match self.mean_gap {
                None => gap,
                Some(m) => m + ARRIVAL_WEIGHT * (gap - m),
            });
        }
        self.mean_rows += ARRIVAL_WEIGHT * (rows as f64 - self.mean_rows);
        self.last = Some(now);
    }

    /// When the last request arrived.
    pub(crate) fn last(&self) -> Option<Instant> {
        self.last
    }

    /// The mean gap between arrivals, in seconds, once two have arrived.
    pub(crate) fn mean_gap(&self) -> Option<f64> {
        self.mean_gap
    }

    /// Rows arriving per second (0 until two requests have arrived).
    pub(crate) fn rows_per_sec(&self) -> f64 {
        match self.mean_gap {
            None => 0.0,
            Some(g) => self.mean_rows / g.max(1e-9),
        }
    }
}

/// The smallest batch that keeps up with the arrivals.
///
/// With `w` workers, batches of `n` rows take `a + b n` seconds and `λ`
/// rows arrive per second; the workers keep up when `λ (a + b n) / n <= w`,
/// that is when `n >= λ a / (w - λ b)`. Smaller batches spend so much time
/// on per-call overhead that a queue builds; bigger ones make requests wait
/// for company they do not need.
///
/// The spare capacity `w - λ b` is taken as at least `w / 10`: when per-row
/// work alone saturates the workers (a closed loop of callers keeps them
/// busy by construction), batching can only save per-call overhead, and a
/// tiny fitted overhead must not demand huge batches. The result is rounded
/// down (waiting for a row that may not come costs more than one extra
/// call) and clamped to `1..=max_rows`.
pub(crate) fn target_rows(fit: Fit, rows_per_sec: f64, workers: usize, max_rows: usize) -> usize {
    let w = workers as f64;
    let spare = (w - rows_per_sec * fit.per_row).max(w / 10.0);
    let target = rows_per_sec * fit.per_call / spare;
    if !target.is_finite() {
        return max_rows;
    }
    (target.floor() as usize).clamp(1, max_rows)
}

/// What a free worker sees when it looks at the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueView {
    /// Rows queued.
    pub(crate) rows: usize,
    /// How long the oldest queued request has waited.
    pub(crate) oldest_wait: Duration,
    /// How long ago the last request arrived.
    pub(crate) since_arrival: Duration,
    /// Time left until the earliest deadline in the queue, if any.
    pub(crate) deadline_in: Option<Duration>,
}

/// Everything the rule depends on besides the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inputs {
    pub(crate) max_rows: usize,
    pub(crate) max_wait: Duration,
    pub(crate) workers: usize,
    pub(crate) fit: Fit,
    pub(crate) rows_per_sec: f64,
    /// Mean gap between arrivals, in seconds.
    pub(crate) mean_gap: Option<f64>,
}

/// Whether a free worker sends what is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send it now.
    Dispatch,
    /// Look again after this long, or at the next arrival.
    Wait(Duration),
}

/// The rule. A free worker dispatches at once when
///
/// 1. the queue holds a full batch, or the oldest request has waited the
///    whole window;
/// 2. the queue holds at least [`target_rows`], the batch that keeps up
///    with the arrivals; under light load that is one row, so a lone
///    request never waits;
/// 3. no request arrived for [`STALL_GAPS`] mean gaps: arrivals stopped,
///    and waiting longer would buy nothing; or
/// 4. waiting longer would let the earliest deadline in the queue pass
///    before the batch's predicted cost is spent.
///
/// Otherwise it waits until the earliest of: the window closing, the stall
/// point, the deadline budget running out; and looks again at every arrival.
pub(crate) fn decide(inputs: &Inputs, queue: &QueueView) -> Decision {
    if queue.rows >= inputs.max_rows || queue.oldest_wait >= inputs.max_wait {
        return Decision::Dispatch;
    }
    let target = target_rows(
        inputs.fit,
        inputs.rows_per_sec,
        inputs.workers,
        inputs.max_rows,
    );
    if queue.rows >= target {
        return Decision::Dispatch;
    }
    let Some(gap) = inputs.mean_gap else {
        return Decision::Dispatch;
    };
    let stall = secs((gap * STALL_GAPS).min(inputs.max_wait.as_secs_f64()));
    if queue.since_arrival >= stall {
        return Decision::Dispatch;
    }
    let mut wait = (inputs.max_wait - queue.oldest_wait).min(stall - queue.since_arrival);
    if let Some(left) = queue.deadline_in {
        let cost = secs(inputs.fit.cost(queue.rows));
        match left.checked_sub(cost) {
            Some(budget) if !budget.is_zero() => wait = wait.min(budget),
            _ => return Decision::Dispatch,
        }
    }
    Decision::Wait(wait)
}

/// Seconds as a `Duration`, saturating instead of panicking on values out
/// of range (negative and NaN become zero).
pub(crate) fn secs(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const US: f64 = 1e-6;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn fit_recovers_a_line() {
        let samples: Vec<_> = (1..=32)
            .map(|n| (n as f64, 200.0 * US + 1.0 * US * n as f64))
            .collect();
        let f = fit(&samples).unwrap();
        assert!(close(f.per_call, 200.0 * US), "{f:?}");
        assert!(close(f.per_row, 1.0 * US), "{f:?}");
        assert!(close(f.cost(10), 210.0 * US));
    }

    #[test]
    fn batches_of_one_size_cannot_be_fitted() {
        assert_eq!(fit(&[(1.0, 300.0 * US), (1.0, 310.0 * US)]), None);
        assert_eq!(fit(&[(64.0, 1e-3), (63.0, 1e-3), (64.0, 1e-3)]), None);
        assert_eq!(fit(&[]), None);
    }

    #[test]
    fn fit_keeps_coefficients_non_negative() {
        // Bigger batches faster: all cost per call.
        let f = fit(&[(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]).unwrap();
        assert_eq!((f.per_call, f.per_row), (2.0, 0.0));
        // A line with a negative intercept: through the origin instead.
        let f = fit(&[(1.0, 1.0), (2.0, 3.0), (3.0, 5.0)]).unwrap();
        assert_eq!(f.per_call, 0.0);
        assert!(f.per_row > 0.0);
    }

    #[test]
    fn cost_model_without_varied_sizes_assumes_per_row_cost() {
        let mut m = CostModel::new();
        m.record(1, Duration::from_micros(300));
        m.record(1, Duration::from_micros(310));
        assert_eq!(m.fit().per_call, 0.0);
        assert!((m.fit().per_row - 305.0 * US).abs() < 1e-9);
    }

    #[test]
    fn cost_model_keeps_its_line_through_full_batches_and_forgets_old_ones() {
        let mut m = CostModel::new();
        for n in 1..=SAMPLES {
            m.record(n, Duration::from_secs_f64(n as f64 * 1e-3));
        }
        assert!(close(m.fit().per_call, 0.0));
        for i in 0..SAMPLES {
            let n = 1 + i % 8;
            m.record(n, Duration::from_secs_f64(1e-3 + n as f64 * 1e-6));
        }
        assert!((m.fit().per_call - 1e-3).abs() < 1e-9, "{:?}", m.fit());
        // Steady full batches cannot separate the coefficients: the line stays.
        for _ in 0..SAMPLES {
            m.record(8, Duration::from_secs_f64(1e-3 + 8e-6));
        }
        assert!((m.fit().per_call - 1e-3).abs() < 1e-9, "{:?}", m.fit());
        m.record(0, Duration::from_secs(10)); // ignored
        assert!((m.fit().per_call - 1e-3).abs() < 1e-9);
    }

    #[test]
    fn arrivals_estimate_the_rate_and_cap_idle_gaps() {
        let t0 = Instant::now();
        let mut a = Arrivals::new(Duration::from_millis(10));
        a.record(t0, 1);
        assert_eq!(a.rows_per_sec(), 0.0);
        for i in 1..=100 {
            a.record(t0 + Duration::from_micros(100 * i), 1);
        }
        assert!((a.rows_per_sec() - 10_000.0).abs() < 1.0);
        // An hour of silence counts as one capped gap.
        a.record(t0 + Duration::from_secs(3600), 1);
        assert!(a.mean_gap().unwrap() < 0.002);
    }

    #[test]
    fn target_is_the_batch_that_keeps_up() {
        let f = Fit {
            per_call: 200.0 * US,
            per_row: 1.0 * US,
        };
        // 1000 rows/s: one call per row costs 0.2 s per second: no batching needed.
        assert_eq!(target_rows(f, 1_000.0, 1, 64), 1);
        // 100k rows/s: λa = 20, w - λb = 0.9 → 22 rows.
        assert_eq!(target_rows(f, 100_000.0, 1, 64), 22);
        // Two workers need half as much.
        assert_eq!(target_rows(f, 100_000.0, 2, 64), 10);
        // Per-row work alone saturates the worker: spare capacity counts as
        // a tenth, so the target is 10 λa (clamped).
        assert_eq!(target_rows(f, 2_000_000.0, 1, 64), 64);
        let per_row_only = Fit {
            per_call: 0.0,
            per_row: 300.0 * US,
        };
        // A closed loop keeping a per-row model busy: nothing to amortize.
        assert_eq!(target_rows(per_row_only, 3_400.0, 1, 64), 1);
        // No cost known yet, or no arrivals: never wait.
        assert_eq!(target_rows(Fit::default(), 1e6, 1, 64), 1);
        assert_eq!(target_rows(f, 0.0, 1, 64), 1);
    }

    fn heavy() -> Inputs {
        Inputs {
            max_rows: 64,
            max_wait: 2 * MS,
            workers: 1,
            fit: Fit {
                per_call: 200.0 * US,
                per_row: 1.0 * US,
            },
            rows_per_sec: 100_000.0,
            mean_gap: Some(10.0 * US),
        }
    }

    fn queue(rows: usize) -> QueueView {
        QueueView {
            rows,
            oldest_wait: Duration::ZERO,
            since_arrival: Duration::ZERO,
            deadline_in: None,
        }
    }

    #[test]
    fn a_lone_request_under_light_load_goes_at_once() {
        let light = Inputs {
            rows_per_sec: 500.0,
            mean_gap: Some(2e-3),
            ..heavy()
        };
        assert_eq!(decide(&light, &queue(1)), Decision::Dispatch);
        // Nothing learnt yet: no waiting either.
        let fresh = Inputs {
            fit: Fit::default(),
            rows_per_sec: 0.0,
            mean_gap: None,
            ..heavy()
        };
        assert_eq!(decide(&fresh, &queue(1)), Decision::Dispatch);
    }

    #[test]
    fn under_heavy_load_it_waits_for_the_target_but_never_past_the_window() {
        let i = heavy();
        // Target 22 rows: 5 queued waits at most until the stall point (20 µs).
        assert_eq!(
            decide(&i, &queue(5)),
            Decision::Wait(Duration::from_micros(20))
        );
        assert_eq!(decide(&i, &queue(22)), Decision::Dispatch);
        assert_eq!(decide(&i, &queue(64)), Decision::Dispatch);
        // Slow arrivals: the window bounds the wait.
        let slow = Inputs {
            mean_gap: Some(1.0),
            ..i
        };
        let q = QueueView {
            oldest_wait: Duration::from_micros(1500),
            ..queue(5)
        };
        assert_eq!(
            decide(&slow, &q),
            Decision::Wait(Duration::from_micros(500))
        );
        let q = QueueView {
            oldest_wait: 2 * MS,
            ..queue(5)
        };
        assert_eq!(decide(&slow, &q), Decision::Dispatch);
    }

    #[test]
    fn stalled_arrivals_dispatch() {
        let q = QueueView {
            since_arrival: Duration::from_micros(20),
            ..queue(5)
        };
        assert_eq!(decide(&heavy(), &q), Decision::Dispatch);
    }

    #[test]
    fn deadlines_cut_the_wait_short() {
        let i = Inputs {
            mean_gap: Some(1.0),
            ..heavy()
        };
        // 205 µs predicted cost, 1 ms left: wait at most 795 µs.
        let q = QueueView {
            deadline_in: Some(MS),
            ..queue(5)
        };
        assert_eq!(decide(&i, &q), Decision::Wait(Duration::from_micros(795)));
        // Not enough left to wait at all.
        let q = QueueView {
            deadline_in: Some(Duration::from_micros(200)),
            ..queue(5)
        };
        assert_eq!(decide(&i, &q), Decision::Dispatch);
    }

    #[test]
    fn a_zero_window_never_waits() {
        let i = Inputs {
            max_wait: Duration::ZERO,
            ..heavy()
        };
        assert_eq!(decide(&i, &queue(1)), Decision::Dispatch);
    }
}
