//! The server's own request totals: every request counted per thread and
//! version, by outcome, without a lock or a shared write.
//!
//! Private machinery behind [`RequestTotals`](super::RequestTotals). Each
//! serving thread owns a [`Tally`] (cache-padded, so threads never share a
//! line) and is its only writer: a count is a load and a store, no
//! read-modify-write. A tally counts for one version at a time; when its
//! thread serves another version it hands its counts to `retired` under the
//! lock and starts again at zero. A reader takes the same lock, so it sees
//! every tally either before or after a move, never in between: totals per
//! version are `retired` plus the live tallies counting for it, and never
//! go down.
//!
//! # Orderings
//!
//! Only the owner writes a tally's counters and version outside the lock,
//! and only the owner moves its tally. `Relaxed` suffices for everything:
//! a counter is a single location, so a reader sees some value from its
//! modification order (never a torn or older-than-seen one), and the lock
//! orders a move (reset and new version) with every read. A read is exact
//! for every request that completed before the read took the lock.
//!
//! Under `--cfg loom` the atomics and the lock come from loom, and
//! `loom_tests` model-checks the owner/reader protocol.

use std::sync::{OnceLock, PoisonError};

use crossbeam_utils::CachePadded;

#[cfg(loom)]
use loom::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
};
#[cfg(not(loom))]
use std::sync::{
    Mutex, MutexGuard,
    atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
};

use super::observe::{Outcome, VersionTotals};

/// Threads with a slot in each server's table, found by their index
/// without a call; the threads beyond (when more than this many serve at
/// once) find theirs in a `ThreadLocal`.
const TABLE_SLOTS: usize = 64;

/// Every tally of one server, and what tallies handed over when they moved
/// to another version.
#[derive(Debug)]
pub(crate) struct Tallies {
    /// Slots of the threads with a small [`thread_index`].
    table: Box<[OnceLock<CachePadded<Tally>>]>,
    /// Slots of the others.
    overflow: thread_local::ThreadLocal<CachePadded<Tally>>,
    /// Totals handed over by moves, per version. Its lock orders moves
    /// with reads.
    retired: Mutex<Vec<VersionTotals>>,
}

impl Default for Tallies {
    fn default() -> Self {
        Self {
            table: (0..TABLE_SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: thread_local::ThreadLocal::new(),
            retired: Mutex::new(Vec::new()),
        }
    }
}

/// One thread's counts for one version, and its sampling countdown.
#[derive(Debug)]
pub(crate) struct Tally {
    version: AtomicU64,
    requests: [AtomicU64; Outcome::COUNT],
    rows: AtomicU64,
    countdown: AtomicU32,
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl Tally {
    pub(crate) fn new() -> Self {
        Self {
            // No version yet: the first count moves the tally to its version.
            version: AtomicU64::new(u64::MAX),
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            rows: AtomicU64::new(0),
            countdown: AtomicU32::new(0),
        }
    }

    /// Counts down to the next sampled request; `true` when this one is
    /// sampled (and the countdown restarts at `every()`).
    #[inline]
    pub(crate) fn sample(&self, every: impl FnOnce() -> u32) -> bool {
        let left = self.countdown.load(Relaxed);
        if left > 1 {
            self.countdown.store(left - 1, Relaxed);
            false
        } else {
            self.countdown.store(every().max(1), Relaxed);
            true
        }
    }

    /// Counts a request of `rows` rows served (or refused) by `version`.
    /// With `may_move`, a tally counting for another version moves to this
    /// one; without (a request for a held, not serving, version), the
    /// request goes straight to `retired` so that traffic alternating
    /// between two versions does not move the tally back and forth.
    #[inline]
    pub(crate) fn count(
        &self,
        tallies: &Tallies,
        version: u64,
        outcome: Outcome,
        rows: u64,
        may_move: bool,
    ) {
        if self.version.load(Relaxed) != version {
            self.count_elsewhere(tallies, version, outcome, rows, may_move);
            return;
        }
        bump(&self.requests[outcome as usize], 1);
        bump(&self.rows, rows);
    }

    #[cold]
    #[inline(never)]
    fn count_elsewhere(
        &self,
        tallies: &Tallies,
        version: u64,
        outcome: Outcome,
        rows: u64,
        may_move: bool,
    ) {
        let mut retired = tallies.lock();
        if may_move {
            let old = self.version.load(Relaxed);
            if old != u64::MAX {
                let mut handed = VersionTotals::empty(old);
                for (h, c) in handed.by_outcome.iter_mut().zip(&self.requests) {
                    *h = c.load(Relaxed);
                    c.store(0, Relaxed);
                }
                handed.rows = self.rows.load(Relaxed);
                self.rows.store(0, Relaxed);
                add(&mut retired, &handed);
            }
            self.version.store(version, Relaxed);
            drop(retired);
            bump(&self.requests[outcome as usize], 1);
            bump(&self.rows, rows);
        } else {
            let mut one = VersionTotals::empty(version);
            one.by_outcome[outcome as usize] = 1;
            one.rows = rows;
            add(&mut retired, &one);
        }
    }

    /// What this tally counted, for its version. Call with the lock held.
    fn read(&self) -> Option<VersionTotals> {
        let version = self.version.load(Relaxed);
        (version != u64::MAX).then(|| {
            let mut t = VersionTotals::empty(version);
            for (r, c) in t.by_outcome.iter_mut().zip(&self.requests) {
                *r = c.load(Relaxed);
            }
            t.rows = self.rows.load(Relaxed);
            t
        })
    }
}

/// Adds `t` into the entry for its version.
fn add(totals: &mut Vec<VersionTotals>, t: &VersionTotals) {
    match totals.iter_mut().find(|x| x.version == t.version) {
        Some(x) => {
            for (a, b) in x.by_outcome.iter_mut().zip(&t.by_outcome) {
                *a += b;
            }
            x.rows += t.rows;
        }
        None => totals.push(t.clone()),
    }
}

impl Tallies {
    fn lock(&self) -> MutexGuard<'_, Vec<VersionTotals>> {
        self.retired.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The calling thread's tally.
    #[inline]
    pub(crate) fn tally(&self) -> &Tally {
        if let Some(slot) = thread_index::get().and_then(|i| self.table.get(i))
            && let Some(t) = slot.get()
        {
            return t;
        }
        self.new_tally()
    }

    /// Creates the calling thread's tally, or finds it in the overflow (out
    /// of line: a padded tally is aligned to a cache line pair, which would
    /// realign the caller's stack).
    #[cold]
    #[inline(never)]
    fn new_tally(&self) -> &Tally {
        match thread_index::get().and_then(|i| self.table.get(i)) {
            Some(slot) => slot.get_or_init(|| CachePadded::new(Tally::new())),
            None => self.overflow.get_or(|| CachePadded::new(Tally::new())),
        }
    }

    /// Totals per version, in order of version.
    pub(crate) fn read(&self) -> Vec<VersionTotals> {
        let retired = self.lock();
        let mut totals = retired.clone();
        let table = self.table.iter().filter_map(OnceLock::get);
        for t in table.chain(self.overflow.iter()) {
            if let Some(live) = t.read() {
                add(&mut totals, &live);
            }
        }
        drop(retired);
        totals.sort_by_key(|t| t.version);
        totals
    }
}

/// A small number per live thread, reused after the thread ends, so that
/// a thread finds its tally in a server's table with one thread-local read
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

/// Model checks of the owner/reader protocol: run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib server::counts`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    fn read_all(tallies: &Tallies, tally: &Tally) -> Vec<VersionTotals> {
        let retired = tallies.lock();
        let mut totals = retired.clone();
        if let Some(live) = tally.read() {
            add(&mut totals, &live);
        }
        totals.sort_by_key(|t| t.version);
        totals
    }

    fn ok(totals: &[VersionTotals], version: u64) -> u64 {
        totals
            .iter()
            .find(|t| t.version == version)
            .map_or(0, |t| t.requests(Outcome::Ok))
    }

    /// An owner counts for version 1, moves to 2 and counts there, while a
    /// reader reads twice: no read loses or doubles a request, and totals
    /// never go down.
    #[test]
    fn a_move_is_never_seen_half_done() {
        loom::model(|| {
            let tallies = loom::sync::Arc::new(Tallies {
                table: Box::new([]),
                overflow: thread_local::ThreadLocal::new(),
                retired: Mutex::new(Vec::new()),
            });
            let tally = loom::sync::Arc::new(Tally::new());
            let owner = {
                let (tallies, tally) = (tallies.clone(), tally.clone());
                loom::thread::spawn(move || {
                    tally.count(&tallies, 1, Outcome::Ok, 1, true);
                    tally.count(&tallies, 1, Outcome::Ok, 1, true);
                    tally.count(&tallies, 2, Outcome::Ok, 1, true);
                    tally.count(&tallies, 1, Outcome::Ok, 1, false);
                })
            };
            let first = read_all(&tallies, &tally);
            let second = read_all(&tallies, &tally);
            for (a, b) in [(&first, &second)] {
                assert!(ok(a, 1) <= ok(b, 1) && ok(a, 2) <= ok(b, 2));
            }
            assert!(ok(&second, 1) <= 3 && ok(&second, 2) <= 1);
            owner.join().unwrap();
            let last = read_all(&tallies, &tally);
            assert_eq!((ok(&last, 1), ok(&last, 2)), (3, 1));
            assert_eq!(last.iter().map(|t| t.rows).sum::<u64>(), 4);
        });
    }
}
