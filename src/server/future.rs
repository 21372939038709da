//! [`PredictFuture`]: the answer of [`ModelServer::predict_async`](super::ModelServer::predict_async).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::PredictResponse;
use crate::Result;

/// The answer to [`ModelServer::predict_async`](super::ModelServer::predict_async).
///
/// Either ready at once (servers that never wait: the default
/// implementation, and requests refused on admission) or a boxed future of
/// the server's own (a queue's answer). A ready answer costs no allocation.
/// The future needs no particular async runtime.
///
/// # Examples
///
/// ```
/// use modelhost::server::PredictFuture;
///
/// # async fn demo() {
/// let refused = PredictFuture::ready(Err(modelhost::Error::ShuttingDown));
/// assert!(refused.await.is_err());
/// # }
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PredictFuture<'a> {
    state: State<'a>,
}

type Boxed<'a> = Pin<Box<dyn Future<Output = Result<PredictResponse>> + Send + 'a>>;

enum State<'a> {
    Ready(Option<Result<PredictResponse>>),
    Pending(Boxed<'a>),
}

impl<'a> PredictFuture<'a> {
    /// An answer that is already known.
    pub fn ready(result: Result<PredictResponse>) -> Self {
        Self {
            state: State::Ready(Some(result)),
        }
    }

    /// Wraps a server's own future.
    pub fn new(future: impl Future<Output = Result<PredictResponse>> + Send + 'a) -> Self {
        Self {
            state: State::Pending(Box::pin(future)),
        }
    }
}

impl Future for PredictFuture<'_> {
    type Output = Result<PredictResponse>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            // Polling again after `Ready` is a caller error; answering
            // `ShuttingDown` beats a panic.
            State::Ready(r) => Poll::Ready(r.take().unwrap_or(Err(crate::Error::ShuttingDown))),
            State::Pending(f) => f.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for PredictFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(_) => "ready",
            State::Pending(_) => "pending",
        };
        f.debug_struct("PredictFuture")
            .field("state", &state)
            .finish()
    }
}
