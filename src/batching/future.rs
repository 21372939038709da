//! [`ResponseFuture`] and the one-shot slot a worker answers through.
//!
//! The slot is a `Mutex` + `Condvar` (for blocking callers) plus a stored
//! [`Waker`] (for async callers), so neither side needs an async runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::server::PredictResponse;
use crate::{Error, Result};

/// Where one request's answer lands.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    ready: Condvar,
    /// The caller stopped waiting (its future was dropped).
    abandoned: AtomicBool,
}

#[derive(Debug, Default)]
struct SlotState {
    result: Option<Result<PredictResponse>>,
    waker: Option<Waker>,
    answered: bool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the answer unless there already is one, and wakes the caller.
    fn answer(&self, result: Result<PredictResponse>) {
        let waker = {
            let mut state = self.lock();
            if state.answered {
                return;
            }
            state.answered = true;
            state.result = Some(result);
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Blocks until the answer is there.
    pub(crate) fn wait(&self) -> Result<PredictResponse> {
        let mut state = self.lock();
        loop {
            if let Some(r) = state.result.take() {
                return r;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Creates a slot and the handle that answers it.
pub(crate) fn slot() -> (Reply, Arc<Slot>) {
    let slot = Arc::new(Slot::default());
    (
        Reply {
            slot: Some(slot.clone()),
        },
        slot,
    )
}

/// The worker's side of a slot. Dropping it unanswered answers
/// [`Error::ShuttingDown`], so every caller gets an answer whatever happens
/// to the queue.
#[derive(Debug)]
pub(crate) struct Reply {
    slot: Option<Arc<Slot>>,
}

impl Reply {
    /// Answers the caller.
    pub(crate) fn send(mut self, result: Result<PredictResponse>) {
        if let Some(slot) = self.slot.take() {
            slot.answer(result);
        }
    }

    /// Whether the caller stopped waiting.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.slot
            .as_ref()
            .is_some_and(|s| s.abandoned.load(Ordering::Acquire))
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.answer(Err(Error::ShuttingDown));
        }
    }
}

/// The answer to a request queued by
/// [`Batcher::predict_async`](super::Batcher::predict_async).
///
/// The request is admitted (or refused) when `predict_async` is called, not
/// when the future is first polled: a refusal such as
/// [`Error::Overloaded`] is ready at once. The future needs no particular
/// runtime; the batch worker wakes it through the [`Waker`] of the last poll.
///
/// Dropping the future before it is ready withdraws the request: if it is
/// still queued, it never reaches the model. Polling again after it returned
/// [`Poll::Ready`] returns [`Poll::Pending`].
#[must_use = "futures do nothing unless polled; dropping it withdraws the request"]
pub struct ResponseFuture {
    state: State,
}

enum State {
    Ready(Result<PredictResponse>),
    Waiting(Arc<Slot>),
    Done,
}

impl ResponseFuture {
    pub(crate) fn ready(result: Result<PredictResponse>) -> Self {
        Self {
            state: State::Ready(result),
        }
    }

    pub(crate) fn waiting(slot: Arc<Slot>) -> Self {
        Self {
            state: State::Waiting(slot),
        }
    }

    /// Blocks the calling thread until the answer is there.
    pub(crate) fn wait(mut self) -> Result<PredictResponse> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Ready(r) => r,
            State::Waiting(slot) => slot.wait(),
            // Only reachable after a poll returned `Ready`, which consumed it.
            State::Done => Err(Error::ShuttingDown),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<PredictResponse>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let slot = match std::mem::replace(&mut self.state, State::Done) {
            State::Ready(r) => return Poll::Ready(r),
            State::Done => return Poll::Pending,
            State::Waiting(slot) => slot,
        };
        let mut state = slot.lock();
        if let Some(r) = state.result.take() {
            return Poll::Ready(r);
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        drop(state);
        self.state = State::Waiting(slot);
        Poll::Pending
    }
}

impl Drop for ResponseFuture {
    fn drop(&mut self) {
        if let State::Waiting(slot) = &self.state {
            slot.abandoned.store(true, Ordering::Release);
            // Nobody will poll again: answering must wake nobody.
            slot.lock().waker = None;
        }
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(_) => "ready",
            State::Waiting(_) => "waiting",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
