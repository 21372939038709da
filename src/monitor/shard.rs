//! What a sampled request records without taking a lock: one [`Shard`]
//! per thread and monitor, holding that thread's sampling state and a ring
//! of sketched rows on their way to the drift window. (Request totals are
//! the server's: it counts every request itself.)
//!
//! Only the owning thread writes its sampler and the ring's head, so it
//! updates them with plain loads and stores (no read-modify-write). The
//! monitor drains the ring under its own lock: the ring is a
//! single-producer, single-consumer queue whose consumer is whoever holds
//! that lock.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU64, AtomicUsize};

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Requests between two looks at the clock when sampling adapts to the rate.
pub(crate) const RATE_CHECK_EVERY: u32 = 64;

/// Largest sampling stride (one request in about a million).
const MAX_STRIDE: u64 = 1 << 20;

/// Slots a ring holds at least, and rows it holds at least.
const MIN_RING_SLOTS: usize = 512;
const MIN_RING_ROWS: usize = 16;

/// Slots in front of each row in the ring: width, version, prediction.
pub(crate) const RECORD_HEADER: usize = 3;

/// One thread's share of a monitor.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) sampler: Sampler,
    pub(crate) ring: Ring,
}

impl Shard {
    pub(crate) fn new(width: usize, sampler: Sampler) -> Self {
        Self {
            sampler,
            ring: Ring::new(width),
        }
    }
}

/// Which of a thread's requests the server samples (it counts the
/// stride down and times and reports the sampled ones) and which rows of
/// the sampled requests the monitor sketches: one in each stride, the
/// first one included. With a rate bound the strides follow the thread's
/// recent request and row rates.
#[derive(Debug)]
pub(crate) struct Sampler {
    report_stride: AtomicU32,
    sketch_stride: AtomicU32,
    sketch_countdown: AtomicU32,
    /// Sampled requests left until the next look at the clock.
    check_countdown: AtomicU32,
    /// Requests the sampled ones stood for (the sum of their strides),
    /// and the rows of the sampled ones, since the last look.
    requests: AtomicU64,
    rows: AtomicU64,
    last_check_ns: AtomicU64,
}

#[inline]
fn take(countdown: &AtomicU32, stride: &AtomicU32) -> bool {
    let c = countdown.load(Relaxed);
    if c <= 1 {
        countdown.store(stride.load(Relaxed), Relaxed);
        true
    } else {
        countdown.store(c - 1, Relaxed);
        false
    }
}

impl Sampler {
    /// Samples one request in `report`, and sketches one row of the
    /// sampled ones in `sketch`.
    pub(crate) fn new(report: u32, sketch: u32) -> Self {
        Self {
            report_stride: AtomicU32::new(report.max(1)),
            sketch_stride: AtomicU32::new(sketch.max(1)),
            sketch_countdown: AtomicU32::new(1),
            check_countdown: AtomicU32::new(RATE_CHECK_EVERY),
            requests: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            last_check_ns: AtomicU64::new(0),
        }
    }

    /// Requests per sampled request (the server keeps the countdown).
    #[inline]
    pub(crate) fn report_stride(&self) -> u32 {
        self.report_stride.load(Relaxed)
    }

    /// Whether the thread's next sampled row is sketched.
    #[inline]
    pub(crate) fn sketch_next(&self) -> bool {
        take(&self.sketch_countdown, &self.sketch_stride)
    }

    /// Skips the thread's next `rows` sampled rows if none of them is to
    /// be sketched (checked without looking at the rows); otherwise leaves
    /// the countdown alone and returns `false`.
    #[inline]
    pub(crate) fn skip_rows(&self, rows: u32) -> bool {
        let c = self.sketch_countdown.load(Relaxed);
        if c > rows {
            self.sketch_countdown.store(c - rows, Relaxed);
            true
        } else {
            false
        }
    }

    /// Counts a sampled request of `rows` rows; every
    /// [`RATE_CHECK_EVERY`] of them returns `true`: time for
    /// [`Self::adapt`].
    #[inline]
    pub(crate) fn sampled(&self, rows: u64) -> bool {
        bump(&self.requests, u64::from(self.report_stride()));
        bump(&self.rows, rows);
        let left = self.check_countdown.load(Relaxed);
        if left > 1 {
            self.check_countdown.store(left - 1, Relaxed);
            false
        } else {
            self.check_countdown.store(RATE_CHECK_EVERY, Relaxed);
            true
        }
    }

    /// Sets both strides so that about `per_second` requests are sampled,
    /// and rows sketched, per second at the rates seen since the last
    /// check (at `now_ns` on the monitor's clock); below that rate, every
    /// one.
    #[inline(never)]
    pub(crate) fn adapt(&self, now_ns: u64, per_second: u32) {
        let last = self.last_check_ns.swap(now_ns, Relaxed);
        let requests = self.requests.swap(0, Relaxed);
        let rows = self.rows.swap(0, Relaxed);
        let elapsed = now_ns.saturating_sub(last).max(1) as f64;
        let budget = f64::from(per_second.max(1)) * elapsed / 1e9;
        // ceil(events / elapsed_seconds / per_second); the float cast
        // saturates, and the clamp bounds it.
        let stride = |events: u64| {
            (events as f64 / budget)
                .ceil()
                .clamp(1.0, MAX_STRIDE as f64) as u32
        };
        self.report_stride.store(stride(requests), Relaxed);
        self.sketch_stride.store(stride(rows), Relaxed);
    }

    #[cfg(test)]
    fn strides(&self) -> (u32, u32) {
        (
            self.report_stride.load(Relaxed),
            self.sketch_stride.load(Relaxed),
        )
    }
}

/// A bounded single-producer, single-consumer ring of sketched rows, each
/// stored as `[width, version, prediction, feature…]` (floats as bits).
#[derive(Debug)]
pub(crate) struct Ring {
    slots: Box<[AtomicU64]>,
    /// Slots written (by the owner); grows without wrapping around the
    /// array, the position is taken modulo the length.
    head: AtomicUsize,
    /// Slots consumed (under the monitor's lock).
    tail: AtomicUsize,
}

impl Ring {
    fn new(width: usize) -> Self {
        let want = (MIN_RING_ROWS * (width + RECORD_HEADER)).max(MIN_RING_SLOTS);
        let len = want.checked_next_power_of_two().unwrap_or(want);
        Self {
            slots: (0..len).map(|_| AtomicU64::new(0)).collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// Slots the ring holds.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Slots waiting to be drained.
    #[inline]
    pub(crate) fn used(&self) -> usize {
        self.head
            .load(Relaxed)
            .wrapping_sub(self.tail.load(Acquire))
    }

    /// Appends one row (owner only). `false` when it does not fit; nothing
    /// is written then.
    pub(crate) fn push(
        &self,
        version: u64,
        prediction: f64,
        row: impl ExactSizeIterator<Item = f64>,
    ) -> bool {
        let len = row.len() + RECORD_HEADER;
        let head = self.head.load(Relaxed);
        if self.used() + len > self.slots.len() {
            return false;
        }
        let cap = self.slots.len();
        let header = [row.len() as u64, version, prediction.to_bits()];
        let values = header.into_iter().chain(row.map(f64::to_bits));
        for (i, v) in values.enumerate() {
            self.slots[(head + i) % cap].store(v, Relaxed);
        }
        self.head.store(head.wrapping_add(len), Release);
        true
    }

    /// Hands every complete row to `f` as `(version, prediction, values)`
    /// and frees its slots. Only one thread at a time may drain (the
    /// monitor's lock ensures it).
    pub(crate) fn drain(&self, scratch: &mut Vec<f64>, mut f: impl FnMut(u64, f64, &[f64])) {
        let head = self.head.load(Acquire);
        let mut tail = self.tail.load(Relaxed);
        let cap = self.slots.len();
        let at = |i: usize| self.slots[i % cap].load(Relaxed);
        while tail != head {
            let width = usize::try_from(at(tail)).unwrap_or(usize::MAX);
            let (version, prediction) = (at(tail + 1), f64::from_bits(at(tail + 2)));
            scratch.clear();
            scratch.extend((0..width).map(|j| f64::from_bits(at(tail + RECORD_HEADER + j))));
            f(version, prediction, scratch);
            tail = tail.wrapping_add(width + RECORD_HEADER);
        }
        self.tail.store(tail, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn every_nth_is_taken_starting_with_the_first() {
        let s = Sampler::new(5, 3);
        assert_eq!(s.report_stride(), 5);
        let taken: Vec<bool> = (0..7).map(|_| s.sketch_next()).collect();
        assert_eq!(taken, [true, false, false, true, false, false, true]);
        let one = Sampler::new(1, 1);
        assert!((0..10).all(|_| one.sketch_next()));
        assert!(!one.skip_rows(1), "the next row is due");
        // Stride 4: rows 1 and 5 are due; skipping 3 lands before row 5.
        let four = Sampler::new(1, 4);
        assert!(four.sketch_next());
        assert!(four.skip_rows(3));
        assert!(!four.skip_rows(1));
        assert!(four.sketch_next());
    }

    #[test]
    fn strides_follow_the_rate() {
        let s = Sampler::new(1, 1);
        // 64 sampled requests of 2 rows in 1 ms, each standing for one:
        // 64,000 requests/s, 128,000 rows/s.
        for _ in 0..63 {
            assert!(!s.sampled(2));
        }
        assert!(s.sampled(2));
        s.adapt(1_000_000, 1_000);
        assert_eq!(s.strides(), (64, 128));
        // Each sampled request now stands for 64: the next 64 of one row
        // over 2 ms are 2,048,000 requests/s, 32,000 sampled rows/s.
        assert_eq!((0..64).filter(|_| s.sampled(1)).count(), 1);
        s.adapt(3_000_000, 1_000);
        assert_eq!(s.strides(), (2048, 32));
        // The next 64 over 10 s: below the bound, every one.
        (0..64).for_each(|_| _ = s.sampled(1));
        s.adapt(10_003_000_000, 1_000_000);
        assert_eq!(s.strides(), (1, 1));
        // No time at all: the largest stride, not a division by zero.
        (0..64).for_each(|_| _ = s.sampled(1));
        s.adapt(10_003_000_000, 1);
        assert_eq!(s.strides().0, MAX_STRIDE as u32);
    }

    #[test]
    fn the_ring_keeps_rows_whole_and_in_order() {
        let ring = Ring::new(2);
        assert_eq!(ring.capacity(), MIN_RING_SLOTS);
        let rows_fit = MIN_RING_SLOTS / 5;
        for i in 0..rows_fit {
            let x = i as f64;
            assert!(ring.push(7, -x, [x, x + 0.5].into_iter()));
        }
        assert!(!ring.push(7, 0.0, [0.0, 0.0].into_iter()), "full");
        let mut seen = Vec::new();
        let mut scratch = Vec::new();
        ring.drain(&mut scratch, |v, p, row| seen.push((v, p, row.to_vec())));
        assert_eq!(seen.len(), rows_fit);
        assert_eq!(seen[3], (7, -3.0, vec![3.0, 3.5]));
        assert_eq!(ring.used(), 0);
        // Wraps around the end of the array.
        for i in 0..rows_fit {
            assert!(ring.push(8, 0.0, [i as f64].into_iter()), "{i}");
        }
        seen.clear();
        ring.drain(&mut scratch, |v, _, row| seen.push((v, 0.0, row.to_vec())));
        assert_eq!(seen.len(), rows_fit);
        assert_eq!(seen.last().unwrap().2, vec![(rows_fit - 1) as f64]);
    }

    #[test]
    fn one_producer_and_one_consumer_lose_nothing() {
        let ring = Arc::new(Ring::new(3));
        let producer = {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while i < 200_000 {
                    let x = i as f64;
                    if ring.push(i, x, [x, x, x].into_iter()) {
                        i += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        };
        let (mut next, mut scratch) = (0u64, Vec::new());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while next < 200_000 && std::time::Instant::now() < deadline {
            ring.drain(&mut scratch, |v, p, row| {
                assert_eq!(v, next);
                assert_eq!(p, next as f64);
                assert_eq!(row, [p, p, p]);
                next += 1;
            });
        }
        producer.join().unwrap();
        assert_eq!(next, 200_000);
    }
}
