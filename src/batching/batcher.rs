//! [`Batcher`]: adaptive batching in front of any [`ModelServer`].

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::BatchConfig;
use super::future::ResponseFuture;
use super::stats::BatchStats;
use super::worker::{BatchWorker, Shared};
#[cfg(doc)]
use crate::Error;
use crate::Result;
use crate::server::{
    Health, ModelMetadata, ModelServer, PredictFuture, PredictRequest, PredictResponse,
};

/// Groups concurrent requests into batches for an inner [`ModelServer`],
/// with a bounded queue, deadlines and an adaptive batching window.
///
/// A `Batcher` is itself a [`ModelServer`], so host code and transports use
/// it like the server it wraps. Blocking callers use
/// [`predict`](ModelServer::predict); async callers use
/// [`predict_async`](Self::predict_async), whose future needs no runtime.
/// Handles are cheap to clone and share one queue.
///
/// # Guarantees
///
/// - **One call, one version per batch.** All requests of a batch go to the
///   inner server in one [`predict_many`](ModelServer::predict_many) call,
///   which (for [`InProcessServer`](crate::InProcessServer)) pins one model
///   version: hot swaps underneath keep working, and a batch never mixes
///   versions. Requests are never split across batches.
/// - **Bounded memory.** At most [`queue_capacity`](BatchConfig::queue_capacity)
///   requests of at most [`max_batch_rows`](BatchConfig::max_batch_rows)
///   rows each wait; a request that finds the queue full is refused at once
///   with [`Error::Overloaded`].
/// - **Deadlines.** A request still queued at its deadline fails with
///   [`Error::DeadlineExceeded`] and never reaches the model. The answer is
///   sent when a worker next looks at the queue: at the deadline if a worker
///   is free, else when the running batch returns.
/// - **Panics fail their batch only.** A panic in the inner server is
///   caught; every caller in that batch gets [`Error::ModelPanicked`], and
///   the worker goes on serving.
/// - **Every caller gets an answer.** Shutdown stops admission
///   ([`Error::ShuttingDown`]), lets the workers drain the queue and answers
///   what could not run with [`Error::ShuttingDown`]; see
///   [`shutdown`](Self::shutdown).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use modelhost::{BatchConfig, Batcher, Deployment, Feature, FeatureMap, FeatureSchema,
///                 InProcessServer, Model, ModelServer, OutputKind, PredictRequest, Predictions};
///
/// # #[derive(Debug)] struct Doubler(FeatureSchema, OutputKind);
/// # impl Model for Doubler {
/// #     fn schema(&self) -> &FeatureSchema { &self.0 }
/// #     fn output(&self) -> &OutputKind { &self.1 }
/// #     fn predict_batch(&self, rows: ndarray::ArrayView2<'_, f64>) -> Result<Predictions, modelhost::model::ModelError> {
/// #         Ok(Predictions::scores(rows.column(0).iter().map(|x| 2.0 * x).collect()))
/// #     }
/// # }
/// # let schema = FeatureSchema::builder().feature(Feature::float("x")).build()?;
/// # let model = Doubler(schema, OutputKind::Regression);
/// let server = Arc::new(InProcessServer::new(Deployment::new("doubler", 1, model))?);
/// let config = BatchConfig::builder().max_wait(Duration::from_millis(1)).build()?;
/// let batcher = Batcher::new(server.clone(), config);
///
/// // Many threads share the batcher; concurrent requests share model calls.
/// std::thread::scope(|s| {
///     for i in 0..8 {
///         let batcher = &batcher;
///         s.spawn(move || {
///             let input = FeatureMap::new().with("x", f64::from(i));
///             let out = batcher.predict(PredictRequest::new(&input)).unwrap();
///             assert_eq!(out.predictions.score_values(), Some(&[2.0 * f64::from(i)][..]));
///         });
///     }
/// });
/// assert_eq!(batcher.stats().requests, 8);
///
/// // `server` can still swap versions; the batcher serves whichever is current.
/// assert!(batcher.shutdown(Duration::from_secs(1)).is_clean());
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Clone)]
pub struct Batcher {
    handle: Arc<Handle>,
}

/// Shared by the clones of one batcher; dropping the last one stops it.
struct Handle {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Admission stops; the worker threads serve what is queued and exit.
        self.shared.close();
    }
}

/// What [`Batcher::shutdown`] left undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Queued requests that did not run in time and were answered
    /// [`Error::ShuttingDown`].
    pub cancelled: usize,
    /// Batches still running in the inner server when `shutdown` returned;
    /// their callers get the server's answer when it returns.
    pub running: usize,
}

impl ShutdownReport {
    /// Whether every request was served and nothing is running.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.cancelled == 0 && self.running == 0
    }
}

impl Batcher {
    /// Puts a batcher in front of `inner`, served by
    /// [`config.workers()`](BatchConfig::workers) threads it starts.
    ///
    /// To share `inner` with other code (say, to swap versions on an
    /// [`InProcessServer`](crate::InProcessServer)), pass an `Arc` of it.
    ///
    /// # Panics
    ///
    /// If the operating system cannot start a thread, as
    /// [`std::thread::spawn`] does. Use [`new_manual`](Self::new_manual) to
    /// run the workers on threads of your own.
    pub fn new<S: ModelServer + 'static>(inner: S, config: BatchConfig) -> Self {
        let (batcher, workers) = Self::new_manual(inner, config);
        let threads = workers
            .into_iter()
            .enumerate()
            .map(|(i, worker)| {
                std::thread::Builder::new()
                    .name(format!("modelhost-batch-{i}"))
                    .spawn(move || worker.run())
                    .expect("the operating system refused to start a batch worker thread")
            })
            .collect();
        *batcher
            .handle
            .threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = threads;
        batcher
    }

    /// Puts a batcher in front of `inner` and hands back
    /// [`config.workers()`](BatchConfig::workers) workers for the caller to
    /// run, each with [`BatchWorker::run`] on a thread of its choosing
    /// (which blocks that thread until shutdown). Nothing is dispatched
    /// from the queue until a worker runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use modelhost::{BatchConfig, Batcher, InProcessServer};
    /// # fn demo(server: InProcessServer) {
    /// let (batcher, workers) = Batcher::new_manual(server, BatchConfig::default());
    /// let threads: Vec<_> = workers
    ///     .into_iter()
    ///     .map(|w| std::thread::spawn(move || w.run()))
    ///     .collect();
    /// // ... serve ...
    /// drop(batcher); // the workers drain the queue and return
    /// for t in threads {
    ///     t.join().unwrap();
    /// }
    /// # }
    /// ```
    pub fn new_manual<S: ModelServer + 'static>(
        inner: S,
        config: BatchConfig,
    ) -> (Self, Vec<BatchWorker>) {
        let workers = config.workers();
        let shared = Arc::new(Shared::new(Arc::new(inner), config, workers));
        let handed_out = (0..workers)
            .map(|_| BatchWorker {
                shared: shared.clone(),
            })
            .collect();
        let batcher = Self {
            handle: Arc::new(Handle {
                shared,
                threads: Mutex::new(Vec::new()),
            }),
        };
        (batcher, handed_out)
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Queues `request` and returns a future of its answer, without
    /// blocking and without needing an async runtime.
    ///
    /// The request is admitted now (copying borrowed input), not at the
    /// first poll; a refusal is ready at once.
    ///
    /// # Errors
    ///
    /// The future resolves to [`Error::Overloaded`] when the queue is full,
    /// [`Error::RequestTooLarge`] for more rows than a batch holds,
    /// [`Error::DeadlineExceeded`] when the deadline passes before dispatch,
    /// [`Error::ShuttingDown`] once shutdown has begun, and otherwise to the
    /// inner server's answer (including [`Error::ModelPanicked`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use modelhost::{Batcher, FeatureMap, PredictRequest};
    /// # async fn demo(batcher: &Batcher) -> modelhost::Result<()> {
    /// let input = FeatureMap::new().with("x", 1.0);
    /// let response = batcher.predict_async(PredictRequest::new(&input)).await?;
    /// println!("served by version {}", response.version);
    /// # Ok(()) }
    /// ```
    pub fn predict_async(&self, request: PredictRequest<'_>) -> ResponseFuture {
        let shared = self.shared();
        let now = Instant::now();
        let admitted = shared
            .precheck(&request, now)
            .and_then(|(rows, deadline)| shared.enqueue(request.into_owned(), rows, now, deadline));
        match admitted {
            Ok(slot) => ResponseFuture::waiting(slot),
            Err(e) => ResponseFuture::ready(Err(e)),
        }
    }

    /// The counters, for monitoring.
    #[must_use]
    pub fn stats(&self) -> BatchStats {
        self.shared().counters.snapshot()
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &BatchConfig {
        &self.shared().config
    }

    /// The server the batcher sends batches to.
    #[must_use]
    pub fn inner(&self) -> &dyn ModelServer {
        &*self.shared().inner
    }

    /// Stops the batcher: new requests are refused with
    /// [`Error::ShuttingDown`] at once, the workers send what is queued
    /// without waiting for company, and this call waits up to `timeout` for
    /// the queue to drain and the running batches to return. Requests still
    /// queued then are answered [`Error::ShuttingDown`]; batches still
    /// running cannot be interrupted, and their callers get the inner
    /// server's answer when it returns. Either way every caller gets an
    /// answer. Worker threads started by [`new`](Self::new) are joined when
    /// everything finished in time.
    ///
    /// Dropping the last handle also stops admission, but does not wait: the
    /// workers serve everything queued in the background, then exit.
    /// Calling `shutdown` again is harmless.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let (cancelled, running) = self.shared().shutdown(timeout);
        if running == 0 {
            let threads = std::mem::take(
                &mut *self
                    .handle
                    .threads
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            let me = std::thread::current().id();
            for t in threads {
                if t.thread().id() != me {
                    // A worker's own panic was already contained; nothing to report.
                    let _ = t.join();
                }
            }
        }
        ShutdownReport { cancelled, running }
    }
}

impl ModelServer for Batcher {
    /// Serves `request` in a batch with others, blocking the calling thread.
    ///
    /// When nothing is queued, a worker's place is free and the dispatch
    /// rule would send this request alone anyway (light load), the calling
    /// thread serves it itself: no hand-off, no copy, no added latency.
    ///
    /// # Errors
    ///
    /// As [`Batcher::predict_async`].
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        let shared = self.shared();
        let now = Instant::now();
        let (rows, deadline) = shared.precheck(&request, now)?;
        if shared.try_direct(rows, now) {
            return shared.serve_direct(request, rows);
        }
        super::future::wait(shared.enqueue(request.into_owned(), rows, now, deadline)?)
    }

    /// Queues the request (or refuses it at once) and returns a future of
    /// its answer: [`Batcher::predict_async`] behind the trait, so code that
    /// holds a `dyn ModelServer` (a transport) queues without blocking.
    fn predict_async<'a>(&'a self, request: PredictRequest<'a>) -> PredictFuture<'a> {
        PredictFuture::new(Batcher::predict_async(self, request))
    }

    /// Queues every request, then waits for all of them; they may share
    /// batches with each other and with other callers' requests. Each gets
    /// its own answer, so a full queue refuses only the requests that did
    /// not fit.
    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        let shared = self.shared();
        let admitted: Vec<Result<super::future::Slot>> = requests
            .into_iter()
            .map(|request| {
                let now = Instant::now();
                let (rows, deadline) = shared.precheck(&request, now)?;
                shared.enqueue(request.into_owned(), rows, now, deadline)
            })
            .collect();
        admitted
            .into_iter()
            .map(|slot| slot.and_then(super::future::wait))
            .collect()
    }

    fn metadata(&self) -> Result<ModelMetadata> {
        self.shared().inner.metadata()
    }

    /// [`Health::NotReady`] once shutdown has begun, else the inner
    /// server's health.
    fn health(&self) -> Health {
        if self.shared().is_closing() {
            Health::NotReady {
                reason: "the batcher is shutting down".to_owned(),
            }
        } else {
            self.shared().inner.health()
        }
    }
}

impl fmt::Debug for Batcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("inner", &self.shared().inner)
            .field("config", &self.shared().config)
            .finish_non_exhaustive()
    }
}
