//! [`BatchStats`]: plain counters for monitoring.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// A snapshot of a [`Batcher`](super::Batcher)'s counters, from
/// [`Batcher::stats`](super::Batcher::stats).
///
/// Counters (`u64`) only grow, from the batcher's start; gauges (`usize`)
/// are the value now. Each field is read on its own, so a snapshot taken
/// under load may be off by the requests in flight between two reads.
/// There are no histograms: sums and maxima are enough for means and
/// alarms, and a metrics exporter can rate the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchStats {
    /// Gauge: requests waiting in the queue.
    pub queue_depth: usize,
    /// Gauge: batches being served by the inner server.
    pub in_flight: usize,
    /// Requests accepted (queued or served at once).
    pub admitted: u64,
    /// Calls to the inner server, one per batch.
    pub batches: u64,
    /// Of those, batches of one request that a blocking caller served on its
    /// own thread because a worker was free and nothing was queued.
    pub direct: u64,
    /// Requests handed to the inner server.
    pub requests: u64,
    /// Rows handed to the inner server (the sum of batch sizes).
    pub rows: u64,
    /// The largest batch so far, in rows.
    pub max_batch_rows: u64,
    /// Total time requests waited in the queue before their batch was sent.
    pub queue_wait_total: Duration,
    /// The longest a request waited in the queue.
    pub queue_wait_max: Duration,
    /// Requests refused because the queue was full.
    pub rejected_overloaded: u64,
    /// Requests whose deadline passed before they reached the model.
    pub rejected_deadline: u64,
    /// Requests refused for having more rows than the largest batch.
    pub rejected_too_large: u64,
    /// Requests refused or cancelled because the batcher was shutting down.
    pub rejected_shutting_down: u64,
    /// Requests withdrawn by their caller (a dropped future) before dispatch.
    pub withdrawn: u64,
    /// Batches whose inner server panicked (every request in them failed).
    pub panics: u64,
    /// The fitted fixed cost of one call to the inner server.
    pub fitted_per_call: Duration,
    /// The fitted cost of one more row in a batch.
    pub fitted_per_row: Duration,
}

impl BatchStats {
    /// Mean rows per batch (0 before the first batch).
    #[must_use]
    pub fn mean_batch_rows(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.rows as f64 / self.batches as f64
        }
    }

    /// Mean time a dispatched request waited in the queue.
    #[must_use]
    pub fn mean_queue_wait(&self) -> Duration {
        match u32::try_from(self.requests) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.queue_wait_total / n,
            Err(_) => {
                Duration::from_secs_f64(self.queue_wait_total.as_secs_f64() / self.requests as f64)
            }
        }
    }
}

/// The live counters behind [`BatchStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) queue_depth: AtomicUsize,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) admitted: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) direct: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) rows: AtomicU64,
    pub(crate) max_batch_rows: AtomicU64,
    pub(crate) queue_wait_nanos: AtomicU64,
    pub(crate) queue_wait_max_nanos: AtomicU64,
    pub(crate) rejected_overloaded: AtomicU64,
    pub(crate) rejected_deadline: AtomicU64,
    pub(crate) rejected_too_large: AtomicU64,
    pub(crate) rejected_shutting_down: AtomicU64,
    pub(crate) withdrawn: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) per_call_nanos: AtomicU64,
    pub(crate) per_row_nanos: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Counters {
    /// Records one batch sent to the inner server.
    pub(crate) fn batch(&self, requests: usize, rows: usize) {
        bump(&self.batches);
        self.requests.fetch_add(requests as u64, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.max_batch_rows
            .fetch_max(rows as u64, Ordering::Relaxed);
    }

    /// Records how long one request waited in the queue.
    pub(crate) fn waited(&self, wait: Duration) {
        let n = nanos(wait);
        self.queue_wait_nanos.fetch_add(n, Ordering::Relaxed);
        self.queue_wait_max_nanos.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> BatchStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BatchStats {
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            admitted: get(&self.admitted),
            batches: get(&self.batches),
            direct: get(&self.direct),
            requests: get(&self.requests),
            rows: get(&self.rows),
            max_batch_rows: get(&self.max_batch_rows),
            queue_wait_total: Duration::from_nanos(get(&self.queue_wait_nanos)),
            queue_wait_max: Duration::from_nanos(get(&self.queue_wait_max_nanos)),
            rejected_overloaded: get(&self.rejected_overloaded),
            rejected_deadline: get(&self.rejected_deadline),
            rejected_too_large: get(&self.rejected_too_large),
            rejected_shutting_down: get(&self.rejected_shutting_down),
            withdrawn: get(&self.withdrawn),
            panics: get(&self.panics),
            fitted_per_call: Duration::from_nanos(get(&self.per_call_nanos)),
            fitted_per_row: Duration::from_nanos(get(&self.per_row_nanos)),
        }
    }
}
