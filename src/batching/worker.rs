//! The queue a [`Batcher`](super::Batcher) shares with its workers, and the
//! worker loop.
//!
//! One `Mutex<State>` guards the queue and everything the dispatch rule
//! reads; two condition variables wake workers (`work`) and a waiting
//! [`shutdown`](super::Batcher::shutdown) (`idle`). Answers are sent
//! outside the lock, so a caller's waker never runs while it is held.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::adaptive::{self, Arrivals, CostModel, Decision, Inputs, QueueView};
use super::config::BatchConfig;
use super::future::{Reply, Slot, slot};
use super::stats::{Counters, bump, nanos};
use crate::deployment::panic_message;
use crate::server::{ModelServer, PredictRequest, PredictResponse};
use crate::{Error, Result};

/// Gaps between arrivals longer than this count as this long.
const ARRIVAL_GAP_CAP: Duration = Duration::from_secs(1);

/// What the batcher handle and the workers share.
pub(crate) struct Shared {
    pub(crate) inner: Arc<dyn ModelServer>,
    pub(crate) config: BatchConfig,
    state: Mutex<State>,
    work: Condvar,
    idle: Condvar,
    pub(crate) counters: Counters,
}

struct State {
    queue: VecDeque<Pending>,
    queued_rows: usize,
    /// Queued requests that carry a deadline (the sweep is skipped at 0).
    with_deadline: usize,
    /// Batches running: on worker threads or on a caller's thread.
    busy: usize,
    /// Admission has stopped.
    closing: bool,
    /// Workers not yet finished; at 0 nothing can serve the queue.
    workers_left: usize,
    cost: CostModel,
    arrivals: Arrivals,
}

/// One queued request.
struct Pending {
    request: PredictRequest<'static>,
    rows: usize,
    enqueued: Instant,
    deadline: Option<Instant>,
    reply: Reply,
}

/// Answers to send once the lock is released.
type Answers = Vec<(Reply, Error)>;
/// A batch's answers.
type Replies = Vec<(Reply, Result<PredictResponse>)>;

fn send_all(answers: Answers) {
    for (reply, error) in answers {
        reply.send(Err(error));
    }
}

impl Shared {
    pub(crate) fn new(inner: Arc<dyn ModelServer>, config: BatchConfig, workers: usize) -> Self {
        Self {
            inner,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                queued_rows: 0,
                with_deadline: 0,
                busy: 0,
                closing: false,
                workers_left: workers,
                cost: CostModel::new(),
                arrivals: Arrivals::new(ARRIVAL_GAP_CAP),
            }),
            config,
            work: Condvar::new(),
            idle: Condvar::new(),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks what needs no queue: the request's size and its deadline.
    /// Returns its rows and its effective deadline.
    pub(crate) fn precheck(
        &self,
        request: &PredictRequest<'_>,
        now: Instant,
    ) -> Result<(usize, Option<Instant>)> {
        let rows = request.row_count();
        let max_rows = self.config.max_batch_rows();
        if rows > max_rows {
            bump(&self.counters.rejected_too_large);
            return Err(Error::RequestTooLarge { rows, max_rows });
        }
        let deadline = request.deadline().or_else(|| {
            self.config
                .default_deadline()
                .and_then(|d| now.checked_add(d))
        });
        if deadline.is_some_and(|d| d <= now) {
            bump(&self.counters.rejected_deadline);
            return Err(Error::DeadlineExceeded {
                waited: Duration::ZERO,
            });
        }
        Ok((rows, deadline))
    }

    /// Whether the caller may serve its request on its own thread: nothing
    /// is queued, a worker's place is free and the dispatch rule would send a
    /// batch of this request alone at once. If so, the place is taken; the
    /// caller must then call [`serve_direct`](Self::serve_direct).
    pub(crate) fn try_direct(&self, rows: usize, now: Instant) -> bool {
        let mut st = self.lock();
        if st.closing || !st.queue.is_empty() || st.busy >= self.config.workers() {
            return false;
        }
        let view = QueueView {
            rows,
            oldest_wait: Duration::ZERO,
            since_arrival: Duration::ZERO,
            deadline_in: None,
        };
        if adaptive::decide(&self.inputs(&st), &view) != Decision::Dispatch {
            return false;
        }
        st.arrivals.record(now, rows);
        st.busy += 1;
        self.counters.in_flight.store(st.busy, Ordering::Relaxed);
        bump(&self.counters.admitted);
        true
    }

    /// Serves a request admitted by [`try_direct`](Self::try_direct).
    pub(crate) fn serve_direct(
        &self,
        request: PredictRequest<'_>,
        rows: usize,
    ) -> Result<PredictResponse> {
        bump(&self.counters.direct);
        self.counters.batch(1, rows);
        self.counters.waited(Duration::ZERO);
        let started = Instant::now();
        let out = catch_unwind(AssertUnwindSafe(|| self.inner.predict(request)));
        let took = started.elapsed();
        let (result, sample) = match out {
            Ok(r) => (r, Some((rows, took))),
            Err(panic) => {
                bump(&self.counters.panics);
                (Err(self.panicked(&*panic)), None)
            }
        };
        let mut st = self.lock();
        self.finish(&mut st, sample);
        result
    }

    /// Queues a request.
    pub(crate) fn enqueue(
        &self,
        request: PredictRequest<'static>,
        rows: usize,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Result<Slot> {
        let mut st = self.lock();
        if st.closing {
            bump(&self.counters.rejected_shutting_down);
            return Err(Error::ShuttingDown);
        }
        let capacity = self.config.queue_capacity();
        if st.queue.len() >= capacity {
            bump(&self.counters.rejected_overloaded);
            return Err(Error::Overloaded { capacity });
        }
        st.arrivals.record(now, rows);
        let (reply, slot) = slot();
        st.queue.push_back(Pending {
            request,
            rows,
            enqueued: now,
            deadline,
            reply,
        });
        st.queued_rows += rows;
        st.with_deadline += usize::from(deadline.is_some());
        self.counters
            .queue_depth
            .store(st.queue.len(), Ordering::Relaxed);
        bump(&self.counters.admitted);
        drop(st);
        self.work.notify_one();
        Ok(slot)
    }

    fn inputs(&self, st: &State) -> Inputs {
        Inputs {
            max_rows: self.config.max_batch_rows(),
            max_wait: self.config.max_wait(),
            workers: self.config.workers(),
            fit: st.cost.fit(),
            rows_per_sec: st.arrivals.rows_per_sec(),
            mean_gap: st.arrivals.mean_gap(),
        }
    }

    /// Removes the queued requests whose deadline has passed, returning
    /// their answers and the earliest deadline left.
    fn expire(&self, st: &mut State, now: Instant) -> (Answers, Option<Instant>) {
        if st.with_deadline == 0 {
            return (Vec::new(), None);
        }
        let expired = |p: &Pending| p.deadline.is_some_and(|d| d <= now);
        if !st.queue.iter().any(expired) {
            let earliest = st.queue.iter().filter_map(|p| p.deadline).min();
            return (Vec::new(), earliest);
        }
        let (gone, kept): (VecDeque<Pending>, VecDeque<Pending>) =
            st.queue.drain(..).partition(|p| expired(p));
        st.queue = kept;
        let mut answers = Vec::with_capacity(gone.len());
        for p in gone {
            st.queued_rows -= p.rows;
            st.with_deadline -= 1;
            bump(&self.counters.rejected_deadline);
            let waited = now.saturating_duration_since(p.enqueued);
            answers.push((p.reply, Error::DeadlineExceeded { waited }));
        }
        self.counters
            .queue_depth
            .store(st.queue.len(), Ordering::Relaxed);
        self.settle(st);
        let earliest = st.queue.iter().filter_map(|p| p.deadline).min();
        (answers, earliest)
    }

    /// Takes the next batch from the front of the queue: whole requests, in
    /// order, up to the row limit. Withdrawn requests are dropped.
    fn take(&self, st: &mut State) -> Vec<Pending> {
        let max_rows = self.config.max_batch_rows();
        let mut batch = Vec::new();
        let mut rows = 0;
        while let Some(front) = st.queue.front() {
            if !batch.is_empty() && rows + front.rows > max_rows {
                break;
            }
            let Some(p) = st.queue.pop_front() else { break };
            st.queued_rows -= p.rows;
            st.with_deadline -= usize::from(p.deadline.is_some());
            if p.reply.is_abandoned() {
                bump(&self.counters.withdrawn);
                continue;
            }
            rows += p.rows;
            batch.push(p);
        }
        self.counters
            .queue_depth
            .store(st.queue.len(), Ordering::Relaxed);
        batch
    }

    /// Serves one batch with one call to the inner server. Returns the
    /// batch's rows and time when the call returned normally, and every
    /// caller's answer, to send once the worker's place is free again (so a
    /// caller's next request finds it free).
    fn serve(&self, batch: Vec<Pending>) -> (Option<(usize, Duration)>, Replies) {
        let now = Instant::now();
        let mut requests = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        let mut rows = 0;
        for p in batch {
            self.counters
                .waited(now.saturating_duration_since(p.enqueued));
            rows += p.rows;
            requests.push(p.request);
            replies.push(p.reply);
        }
        self.counters.batch(replies.len(), rows);
        let started = Instant::now();
        let out = catch_unwind(AssertUnwindSafe(|| self.inner.predict_many(requests)));
        let took = started.elapsed();
        match out {
            Ok(results) => {
                let (answered, asked) = (results.len(), replies.len());
                let mut results = results.into_iter();
                let answers = replies
                    .into_iter()
                    .map(|reply| {
                        let result = results.next().unwrap_or_else(|| {
                            Err(Error::InvalidPredictions {
                                reason: format!(
                                    "the server answered {answered} of {asked} requests"
                                ),
                            })
                        });
                        (reply, result)
                    })
                    .collect();
                (Some((rows, took)), answers)
            }
            Err(panic) => {
                bump(&self.counters.panics);
                let error = self.panicked(&*panic);
                let answers = replies
                    .into_iter()
                    .map(|reply| (reply, Err(error.clone())))
                    .collect();
                (None, answers)
            }
        }
    }

    /// The error for callers whose inner server panicked. Name and version
    /// are the serving ones, as far as the server still tells them.
    fn panicked(&self, panic: &(dyn std::any::Any + Send)) -> Error {
        let (model, version) = catch_unwind(AssertUnwindSafe(|| self.inner.metadata()))
            .ok()
            .and_then(Result::ok)
            .map_or_else(
                || ("unknown".to_owned(), 0),
                |m| (m.name.to_string(), m.version),
            );
        Error::ModelPanicked {
            model,
            version,
            message: panic_message(panic),
        }
    }

    /// A batch finished: frees its place and learns its cost.
    fn finish(&self, st: &mut State, sample: Option<(usize, Duration)>) {
        st.busy -= 1;
        self.counters.in_flight.store(st.busy, Ordering::Relaxed);
        if let Some((rows, took)) = sample {
            st.cost.record(rows, took);
            let fit = st.cost.fit();
            let c = &self.counters;
            c.per_call_nanos
                .store(nanos(adaptive::secs(fit.per_call)), Ordering::Relaxed);
            c.per_row_nanos
                .store(nanos(adaptive::secs(fit.per_row)), Ordering::Relaxed);
        }
        if !st.queue.is_empty() {
            self.work.notify_one();
        }
        self.settle(st);
    }

    /// Wakes a waiting shutdown when nothing is queued or running.
    fn settle(&self, st: &State) {
        if st.queue.is_empty() && st.busy == 0 {
            self.idle.notify_all();
        }
    }

    /// Stops admission; workers drain the queue without waiting for company.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.work.notify_all();
        self.idle.notify_all();
    }

    /// Whether admission has stopped.
    pub(crate) fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// Stops admission, waits up to `timeout` for the queue to drain, then
    /// answers what is still queued with [`Error::ShuttingDown`]. Returns
    /// how many requests that cancelled and how many batches still run.
    pub(crate) fn shutdown(&self, timeout: Duration) -> (usize, usize) {
        self.close();
        let until = Instant::now().checked_add(timeout);
        let mut st = self.lock();
        while !(st.queue.is_empty() && st.busy == 0) {
            let left = until.map_or(Duration::MAX, |u| {
                u.saturating_duration_since(Instant::now())
            });
            if left.is_zero() {
                break;
            }
            st = self
                .idle
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let answers = self.cancel_all(&mut st);
        let running = st.busy;
        drop(st);
        let cancelled = answers.len();
        send_all(answers);
        (cancelled, running)
    }

    /// Empties the queue, answering everything [`Error::ShuttingDown`].
    fn cancel_all(&self, st: &mut State) -> Answers {
        let answers: Answers = st
            .queue
            .drain(..)
            .map(|p| (p.reply, Error::ShuttingDown))
            .collect();
        st.queued_rows = 0;
        st.with_deadline = 0;
        self.counters
            .rejected_shutting_down
            .fetch_add(answers.len() as u64, Ordering::Relaxed);
        self.counters.queue_depth.store(0, Ordering::Relaxed);
        self.settle(st);
        answers
    }

    /// A worker finished or was dropped. When it was the last one, nothing
    /// can serve the queue any more: admission stops and every queued
    /// request is answered.
    fn worker_gone(&self) {
        let mut st = self.lock();
        st.workers_left -= 1;
        if st.workers_left > 0 {
            return;
        }
        st.closing = true;
        let answers = self.cancel_all(&mut st);
        drop(st);
        self.idle.notify_all();
        send_all(answers);
    }
}

/// A batch worker handed out by [`Batcher::new_manual`](super::Batcher::new_manual),
/// to run on a thread the caller chooses.
///
/// Until some worker runs, requests wait in the queue (the queue's
/// capacity still bounds it). Dropping the last worker without running it
/// stops the batcher: queued requests are answered
/// [`Error::ShuttingDown`].
pub struct BatchWorker {
    pub(crate) shared: Arc<Shared>,
}

impl BatchWorker {
    /// Serves batches on the current thread until the batcher shuts down
    /// (an explicit [`Batcher::shutdown`](super::Batcher::shutdown), or the
    /// last [`Batcher`](super::Batcher) handle dropped) and the queue is
    /// empty.
    ///
    /// The inner server's panics are caught: they fail their batch only,
    /// and the worker goes on.
    pub fn run(self) {
        let shared = &*self.shared;
        let mut st = shared.lock();
        loop {
            let now = Instant::now();
            let (answers, earliest) = shared.expire(&mut st, now);
            if !answers.is_empty() {
                drop(st);
                send_all(answers);
                st = shared.lock();
                continue;
            }
            if st.queue.is_empty() {
                if st.closing {
                    break;
                }
                st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if st.busy >= shared.config.workers() {
                st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            if !st.closing {
                let front = st.queue.front().map_or(now, |p| p.enqueued);
                let view = QueueView {
                    rows: st.queued_rows,
                    oldest_wait: now.saturating_duration_since(front),
                    since_arrival: st
                        .arrivals
                        .last()
                        .map_or(Duration::ZERO, |t| now.saturating_duration_since(t)),
                    deadline_in: earliest.map(|d| d.saturating_duration_since(now)),
                };
                if let Decision::Wait(wait) = adaptive::decide(&shared.inputs(&st), &view) {
                    st = shared
                        .work
                        .wait_timeout(st, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    continue;
                }
            }
            let batch = shared.take(&mut st);
            if batch.is_empty() {
                shared.settle(&st);
                continue;
            }
            st.busy += 1;
            shared.counters.in_flight.store(st.busy, Ordering::Relaxed);
            if !st.queue.is_empty() {
                shared.work.notify_one();
            }
            drop(st);
            let (sample, replies) = shared.serve(batch);
            st = shared.lock();
            shared.finish(&mut st, sample);
            drop(st);
            for (reply, result) in replies {
                reply.send(result);
            }
            st = shared.lock();
        }
    }
}

impl Drop for BatchWorker {
    fn drop(&mut self) {
        self.shared.worker_gone();
    }
}

impl fmt::Debug for BatchWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchWorker")
            .field("inner", &self.shared.inner)
            .finish_non_exhaustive()
    }
}
