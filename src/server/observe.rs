//! Hooks through which monitoring sees what a server does.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use ndarray::ArrayView2;

use crate::Error;
use crate::model::Predictions;
use crate::server::Deployment;

/// Receives the requests a server serves (each one, or a sample with
/// the rest counted) and every swap.
///
/// Observers run on the request path, after the model returned: keep them
/// cheap (update counters, push into bounded buffers) and never block.
///
/// # What is reported
///
/// On each thread, the server *samples* one request in
/// [`report_stride`](Self::report_stride): it times it and reports it to
/// [`on_predict`](Self::on_predict) with [`PredictEvent::latency`] set.
/// Every request that fails, and every request that carries an id, is
/// reported too, sampled or not. The remaining requests (successful, no id,
/// not sampled) are only counted, per version, in the [`RequestCounts`] the
/// server hands to [`attach`](Self::attach); an observer that wants totals
/// adds what it [`take`](RequestCounts::take)s from there to what it was
/// told. With the default stride of 1, every request is reported and the
/// counts stay empty.
pub trait PredictObserver: Send + Sync + fmt::Debug {
    /// How many requests the server serves on a thread for each one it
    /// samples (default 1: every request). Reporting a request costs a
    /// virtual call and timing it two clock reads, which matters for models
    /// that answer in a few hundred nanoseconds; an observer that samples
    /// returns more.
    ///
    /// On each thread the server samples a request, counts the next
    /// `stride - 1` down, samples the next one, and so on, asking for the
    /// stride again each time it samples (so it is called once per sampled
    /// request, on the request's thread, and may change from call to
    /// call). A [`predict_many`](crate::ModelServer::predict_many) group
    /// counts as one request: sampled as a whole or not at all.
    fn report_stride(&self) -> u32 {
        1
    }

    /// The server's counts of the requests it did not report (see the
    /// trait's documentation). Called once by each server the observer is
    /// built into, before it serves; the default ignores them.
    fn attach(&self, counts: RequestCounts) {
        let _ = counts;
    }

    /// A request was served or failed.
    fn on_predict(&self, event: &PredictEvent<'_>);

    /// The serving version changed (swap or rollback).
    fn on_swap(&self, event: &SwapEvent<'_>) {
        let _ = event;
    }

    /// A swap was refused or a load failed; the serving version is unchanged.
    fn on_swap_failed(&self, model: &str, error: &Error) {
        let _ = (model, error);
    }
}

/// One served (or failed) request.
#[derive(Debug)]
#[non_exhaustive]
pub struct PredictEvent<'a> {
    /// The model's name.
    pub model: &'a str,
    /// The version that served it.
    pub version: u64,
    /// The request id, if any.
    pub request_id: Option<&'a str>,
    /// The validated rows, when validation succeeded.
    pub rows: Option<ArrayView2<'a, f64>>,
    /// The predictions, or why there are none.
    pub outcome: Result<&'a Predictions, &'a Error>,
    /// Time from admission to the model's answer, when the request was
    /// sampled (see [`PredictObserver::report_stride`]); `None` for a
    /// request reported only because it failed or carries an id.
    pub latency: Option<Duration>,
}

/// The serving version changed.
#[derive(Debug)]
#[non_exhaustive]
pub struct SwapEvent<'a> {
    /// The model's name.
    pub model: &'a str,
    /// The version that served before.
    pub from: u64,
    /// The version serving now.
    pub to: u64,
    /// Whether this was a rollback.
    pub rollback: bool,
    /// The server's generation after the change.
    pub generation: u64,
    /// The deployment serving now (its model, schema and source).
    pub deployment: &'a Deployment,
}

/// Successful requests a server served without reporting them to its
/// observer, counted per thread and taken per version (see
/// [`PredictObserver`]).
///
/// Each serving thread counts into a slot of its own with plain stores;
/// [`take`](Self::take) reads every slot without stopping the threads, so
/// it sees every request that completed before it started.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use modelhost::server::{PredictEvent, PredictObserver, RequestCounts};
///
/// /// Counts requests, reporting only one in a hundred.
/// #[derive(Debug, Default)]
/// struct Total {
///     reported: Mutex<u64>,
///     counts: Mutex<Vec<RequestCounts>>,
/// }
///
/// impl PredictObserver for Total {
///     fn report_stride(&self) -> u32 {
///         100
///     }
///     fn attach(&self, counts: RequestCounts) {
///         self.counts.lock().unwrap().push(counts);
///     }
///     fn on_predict(&self, _: &PredictEvent<'_>) {
///         *self.reported.lock().unwrap() += 1;
///     }
/// }
///
/// impl Total {
///     fn requests(&self) -> u64 {
///         let mut reported = self.reported.lock().unwrap();
///         for counts in self.counts.lock().unwrap().iter() {
///             counts.take(|c| *reported += c.requests);
///         }
///         *reported
///     }
/// }
/// # let _ = Arc::new(Total::default()).requests();
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestCounts {
    tallies: Arc<Tallies>,
}

/// Requests and rows counted for one version (see [`RequestCounts::take`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counted {
    /// The version that served them.
    pub version: u64,
    /// Successful requests.
    pub requests: u64,
    /// Rows they predicted.
    pub rows: u64,
}

/// Threads with a slot in each server's table, found by their index
/// without a call; the threads beyond (when more than this many serve at
/// once) find theirs in a `ThreadLocal`.
const TABLE_SLOTS: usize = 64;

#[derive(Debug)]
struct Tallies {
    /// Slots of the threads with a small [`thread_index`].
    table: Box<[OnceLock<Tally>]>,
    /// Slots of the others.
    overflow: thread_local::ThreadLocal<Tally>,
    /// Counts of slots that moved on to another version, not taken yet.
    /// Its lock also serializes [`RequestCounts::take`] and the moves.
    moved: Mutex<Vec<Counted>>,
}

impl Default for Tallies {
    fn default() -> Self {
        Self {
            table: (0..TABLE_SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: thread_local::ThreadLocal::new(),
            moved: Mutex::new(Vec::new()),
        }
    }
}

/// A small number per live thread, reused after the thread ends, so that
/// a thread finds its slot in a server's table with one thread-local read
/// and an index (`thread_local`'s own id costs a call from here).
mod thread_index {
    use std::cell::Cell;
    use std::sync::{Mutex, PoisonError};

    /// The next fresh index, and the indices of threads that ended.
    static FREE: Mutex<(usize, Vec<usize>)> = Mutex::new((0, Vec::new()));

    const NONE: usize = usize::MAX;

    /// Gives the thread's index back when the thread ends. Whatever the
    /// thread wrote happens before the next owner takes the index (the
    /// lock orders them).
    struct Index(Cell<usize>);

    impl Drop for Index {
        fn drop(&mut self) {
            let i = self.0.get();
            if i != NONE {
                FREE.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .1
                    .push(i);
            }
        }
    }

    thread_local! {
        static INDEX: Index = const { Index(Cell::new(NONE)) };
    }

    /// The calling thread's index; `None` while its thread-locals are
    /// being destroyed.
    #[inline]
    pub(super) fn get() -> Option<usize> {
        INDEX
            .try_with(|i| match i.0.get() {
                NONE => assign(i),
                i => i,
            })
            .ok()
    }

    #[cold]
    #[inline(never)]
    fn assign(index: &Index) -> usize {
        let mut free = FREE.lock().unwrap_or_else(PoisonError::into_inner);
        let i = free.1.pop().unwrap_or_else(|| {
            free.0 += 1;
            free.0 - 1
        });
        index.0.set(i);
        i
    }
}

/// One thread's counts. Only the owning thread writes `version`,
/// `requests`, `rows` and `countdown`; `taken_*` is what
/// [`RequestCounts::take`] has taken, written under the lock. Aligned to
/// two cache lines so that threads' slots never share one.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Tally {
    version: AtomicU64,
    requests: AtomicU64,
    rows: AtomicU64,
    taken_requests: AtomicU64,
    taken_rows: AtomicU64,
    countdown: AtomicU32,
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// What `counter` gained since `taken` was last set, marking it taken. The
/// reader's half of [`bump`]: call it from one thread at a time (under a
/// lock).
pub(crate) fn take_new(counter: &AtomicU64, taken: &AtomicU64) -> u64 {
    let now = counter.load(Relaxed);
    now.wrapping_sub(taken.swap(now, Relaxed))
}

impl Tally {
    fn new() -> Self {
        Self {
            // No version yet: the first count moves the slot to its version.
            version: AtomicU64::new(u64::MAX),
            requests: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            taken_requests: AtomicU64::new(0),
            taken_rows: AtomicU64::new(0),
            countdown: AtomicU32::new(0),
        }
    }

    /// Counts down to the next sampled request; `true` when this one is
    /// sampled (and the countdown restarts at `stride()`).
    #[inline]
    pub(crate) fn sample(&self, stride: impl FnOnce() -> u32) -> bool {
        let left = self.countdown.load(Relaxed);
        if left > 1 {
            self.countdown.store(left - 1, Relaxed);
            false
        } else {
            self.countdown.store(stride().max(1), Relaxed);
            true
        }
    }

    /// Counts a successful request of `rows` rows served by `version`,
    /// first moving the slot to that version if it counts for another one
    /// and `may_move`; `false` (nothing counted) if it may not.
    #[inline]
    pub(crate) fn count(
        &self,
        counts: &RequestCounts,
        version: u64,
        rows: u64,
        may_move: bool,
    ) -> bool {
        if self.version.load(Relaxed) != version {
            if !may_move {
                return false;
            }
            self.move_to(counts, version);
        }
        bump(&self.requests, 1);
        bump(&self.rows, rows);
        true
    }

    /// Hands what this slot counted for its version over to `moved` and
    /// starts counting for `version`. Called by the owner.
    #[cold]
    #[inline(never)]
    fn move_to(&self, counts: &RequestCounts, version: u64) {
        let mut moved = counts.lock();
        // Kept for a later take, merged per version; dropped when the
        // server's own handle is the only one left (the observer ignored
        // its counts), so that nothing grows swap after swap.
        if let Some(c) = self.take(self.version.load(Relaxed))
            && Arc::strong_count(&counts.tallies) > 1
        {
            match moved.iter_mut().find(|m| m.version == c.version) {
                Some(m) => {
                    m.requests += c.requests;
                    m.rows += c.rows;
                }
                None => moved.push(c),
            }
        }
        for c in [
            &self.requests,
            &self.rows,
            &self.taken_requests,
            &self.taken_rows,
        ] {
            c.store(0, Relaxed);
        }
        self.version.store(version, Relaxed);
    }

    /// What was counted since the last take, marked taken. Call with the
    /// lock held.
    fn take(&self, version: u64) -> Option<Counted> {
        let requests = take_new(&self.requests, &self.taken_requests);
        let rows = take_new(&self.rows, &self.taken_rows);
        (requests > 0 || rows > 0).then_some(Counted {
            version,
            requests,
            rows,
        })
    }
}

impl RequestCounts {
    /// The calling thread's slot.
    #[inline]
    pub(crate) fn tally(&self) -> &Tally {
        if let Some(slot) = thread_index::get().and_then(|i| self.tallies.table.get(i))
            && let Some(t) = slot.get()
        {
            return t;
        }
        self.new_tally()
    }

    /// Creates the calling thread's slot, or finds it in the overflow (out
    /// of line: a `Tally` is aligned to 128 bytes, which would realign the
    /// caller's stack).
    #[cold]
    #[inline(never)]
    fn new_tally(&self) -> &Tally {
        match thread_index::get().and_then(|i| self.tallies.table.get(i)) {
            Some(slot) => slot.get_or_init(Tally::new),
            None => self.tallies.overflow.get_or(Tally::new),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Counted>> {
        self.tallies
            .moved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `f` with the requests counted since the last take (once for
    /// each thread and version, give or take the threads that moved to
    /// another version meanwhile) and marks them taken: each request is
    /// handed out once, however many clones of the handle take.
    pub fn take(&self, mut f: impl FnMut(Counted)) {
        let mut moved = self.lock();
        for c in moved.drain(..) {
            f(c);
        }
        let table = self.tallies.table.iter().filter_map(OnceLock::get);
        for t in table.chain(self.tallies.overflow.iter()) {
            if let Some(c) = t.take(t.version.load(Relaxed)) {
                f(c);
            }
        }
    }
}
