//! [`ResponseFuture`] and the one-shot channel a worker answers through.
//!
//! The channel is the `oneshot` crate's: a blocking receive for callers of
//! `predict`, a future for callers of `predict_async`, and neither needs an
//! async runtime.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::server::PredictResponse;
use crate::{Error, Result};

type Answer = Result<PredictResponse>;

/// The caller's side of one request's channel.
pub(crate) type Slot = oneshot::Receiver<Answer>;

/// Creates a channel and the handle that answers it.
pub(crate) fn slot() -> (Reply, Slot) {
    let (tx, rx) = oneshot::channel();
    (Reply { tx: Some(tx) }, rx)
}

/// Blocks until the answer is there.
pub(crate) fn wait(slot: Slot) -> Answer {
    // The sender answers `ShuttingDown` when dropped unanswered, so a
    // closed channel without a message cannot happen; map it the same way.
    slot.recv().unwrap_or(Err(Error::ShuttingDown))
}

/// The worker's side of a channel. Dropping it unanswered answers
/// [`Error::ShuttingDown`], so every caller gets an answer whatever happens
/// to the queue.
#[derive(Debug)]
pub(crate) struct Reply {
    tx: Option<oneshot::Sender<Answer>>,
}

impl Reply {
    /// Answers the caller (nobody, if it stopped waiting).
    pub(crate) fn send(mut self, result: Answer) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }

    /// Whether the caller stopped waiting (dropped its future).
    pub(crate) fn is_abandoned(&self) -> bool {
        self.tx.as_ref().is_some_and(oneshot::Sender::is_closed)
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(Error::ShuttingDown));
        }
    }
}

/// The answer to a request queued by
/// [`Batcher::predict_async`](super::Batcher::predict_async).
///
/// The request is admitted (or refused) when `predict_async` is called, not
/// when the future is first polled: a refusal such as
/// [`Error::Overloaded`] is ready at once. The future needs no particular
/// runtime; the batch worker wakes it through the waker of the last poll.
///
/// Dropping the future before it is ready withdraws the request: if it is
/// still queued, it never reaches the model. Polling again after it returned
/// [`Poll::Ready`] returns [`Poll::Pending`].
#[must_use = "futures do nothing unless polled; dropping it withdraws the request"]
pub struct ResponseFuture {
    state: State,
}

enum State {
    Ready(Answer),
    Waiting(oneshot::AsyncReceiver<Answer>),
    Done,
}

impl ResponseFuture {
    pub(crate) fn ready(result: Answer) -> Self {
        Self {
            state: State::Ready(result),
        }
    }

    pub(crate) fn waiting(slot: Slot) -> Self {
        Self {
            state: State::Waiting(slot.into_future()),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Answer;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Ready(r) => Poll::Ready(r),
            State::Done => Poll::Pending,
            State::Waiting(mut rx) => match Pin::new(&mut rx).poll(cx) {
                Poll::Ready(r) => Poll::Ready(r.unwrap_or(Err(Error::ShuttingDown))),
                Poll::Pending => {
                    self.state = State::Waiting(rx);
                    Poll::Pending
                }
            },
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
