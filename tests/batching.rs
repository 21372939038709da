//! `Batcher`: backpressure, deadlines, panic isolation, shutdown, swaps
//! under batched load, and the runtime-free async path.
//!
//! Timing never decides an outcome here: a closed `Gate` holds the worker
//! inside a model call while a test arranges the queue, and waits on the
//! batcher's own counters are bounded.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use modelhost::batching::{BatchConfigError, BatchStats, ResponseFuture};
use modelhost::server::{Health, ModelMetadata};
use modelhost::{
    BatchConfig, Batcher, Error, FeatureMap, InProcessServer, ModelServer, PredictRequest,
    PredictResponse, Result,
};
use support::{Gate, MockModel, POISON};

fn x(v: f64) -> FeatureMap {
    FeatureMap::new().with("x", v)
}

/// The `i`th of many ordinary inputs (never the mock's scripted values).
fn row(i: usize) -> FeatureMap {
    x((i % 500) as f64 + 0.5)
}

fn score(r: &PredictResponse) -> u64 {
    r.predictions.score_values().unwrap()[0] as u64
}

/// Wakes a parked thread, counting the wakes.
struct ThreadWaker {
    thread: thread::Thread,
    wakes: AtomicUsize,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// The smallest executor: poll, park until woken, poll again. Gives up
/// after ten seconds so a lost wake-up fails the test instead of hanging it.
fn block_on<F: Future>(future: F) -> F::Output {
    block_on_counting(future).0
}

/// As [`block_on`], also returning how often the future woke the thread.
fn block_on_counting<F: Future>(future: F) -> (F::Output, usize) {
    let waker = Arc::new(ThreadWaker {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    let task_waker = Waker::from(waker.clone());
    let mut cx = Context::from_waker(&task_waker);
    let mut future = pin!(future);
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return (out, waker.wakes.load(Ordering::SeqCst));
        }
        assert!(Instant::now() < give_up, "future never completed");
        thread::park_timeout(Duration::from_secs(1));
    }
}

/// Polls once; `Some` if the future was ready.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(future).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

use std::pin::Pin;

/// Waits (bounded) until the batcher's counters satisfy `cond`.
fn wait_for(batcher: &Batcher, what: &str, cond: impl Fn(&BatchStats) -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !cond(&batcher.stats()) {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Returns once `deadline` has passed (a condition, not a guess at timing).
fn wait_past(deadline: Instant) {
    while Instant::now() <= deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

fn config() -> modelhost::batching::BatchConfigBuilder {
    BatchConfig::builder()
}

/// A batcher over a gated mock, with its first request already holding the
/// only worker inside the model. Returns the batcher, the gate, the model's
/// call and row counters, its batch sizes, and the first request's future.
struct Held {
    batcher: Batcher,
    gate: Gate,
    calls: Arc<AtomicUsize>,
    rows: Arc<AtomicUsize>,
    batch_sizes: Arc<Mutex<Vec<usize>>>,
    first: ResponseFuture,
}

fn held(config: BatchConfig) -> Held {
    let gate = Gate::closed();
    let model = MockModel::new(1).gated(gate.clone());
    let (calls, rows, batch_sizes) = (
        model.calls.clone(),
        model.rows.clone(),
        model.batch_sizes.clone(),
    );
    let server = InProcessServer::new(model.deploy()).unwrap();
    let batcher = Batcher::new(server, config);
    let first = batcher.predict_async(PredictRequest::owned(x(1.0)));
    wait_for(&batcher, "the first batch to start", |s| s.in_flight == 1);
    Held {
        batcher,
        gate,
        calls,
        rows,
        batch_sizes,
        first,
    }
}

#[test]
fn a_full_queue_refuses_exactly_the_excess_at_once() {
    const Q: usize = 16;
    const K: usize = 5;
    let h = held(config().queue_capacity(Q).build().unwrap());
    let mut futures: Vec<ResponseFuture> = (0..Q + K)
        .map(|i| h.batcher.predict_async(PredictRequest::owned(row(i))))
        .collect();
    let refused = futures
        .iter_mut()
        .filter_map(poll_once)
        .map(|r| match r {
            Err(Error::Overloaded { capacity }) => assert_eq!(capacity, Q),
            other => panic!("expected Overloaded, got {other:?}"),
        })
        .count();
    assert_eq!(refused, K);
    let stats = h.batcher.stats();
    assert_eq!(
        (stats.queue_depth, stats.rejected_overloaded),
        (Q, K as u64)
    );

    // A blocking caller is refused at once too, while the worker is still held.
    let (tx, rx) = mpsc::channel();
    let b = h.batcher.clone();
    thread::spawn(move || {
        let _ = tx.send(b.predict(PredictRequest::owned(x(0.0))));
    });
    let blocking = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(blocking, Err(Error::Overloaded { capacity: Q })));

    h.gate.open();
    assert!(block_on(h.first).is_ok());
    for f in futures.into_iter().take(Q) {
        block_on(f).unwrap();
    }
    assert_eq!(h.rows.load(Ordering::SeqCst), Q + 1);
}

#[test]
fn expired_requests_never_reach_the_model() {
    let h = held(config().build().unwrap());
    let deadline = Instant::now() + Duration::from_millis(20);
    let doomed: Vec<_> = (0..10)
        .map(|i| {
            h.batcher
                .predict_async(PredictRequest::owned(row(i)).with_deadline(deadline))
        })
        .collect();
    let patient = h.batcher.predict_async(PredictRequest::owned(x(2.0)));
    // The gate is closed, so the worker cannot take them before the deadline.
    wait_past(deadline);
    h.gate.open();
    block_on(h.first).unwrap();
    for f in doomed {
        match block_on(f) {
            Err(Error::DeadlineExceeded { waited }) => {
                assert!(waited >= Duration::from_millis(15));
            }
            other => panic!("expected DeadlineExceeded, got {other:?}"),
        }
    }
    assert!(block_on(patient).is_ok());
    // The first request and the patient one: 2 rows, none of the 10.
    assert_eq!(h.rows.load(Ordering::SeqCst), 2);
    assert_eq!(h.batcher.stats().rejected_deadline, 10);

    // A deadline already past is refused at admission.
    let late = PredictRequest::owned(x(3.0)).with_deadline(Instant::now());
    assert!(matches!(
        h.batcher.predict(late),
        Err(Error::DeadlineExceeded { .. })
    ));
    assert_eq!(h.rows.load(Ordering::SeqCst), 2);
}

#[test]
fn the_default_deadline_applies_to_requests_without_one() {
    let h = held(
        config()
            .default_deadline(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    let defaulted = h.batcher.predict_async(PredictRequest::owned(x(1.0)));
    let own = h.batcher.predict_async(
        PredictRequest::owned(x(2.0)).with_deadline(Instant::now() + Duration::from_secs(60)),
    );
    wait_past(Instant::now() + Duration::from_millis(20));
    h.gate.open();
    block_on(h.first).unwrap();
    assert!(matches!(
        block_on(defaulted),
        Err(Error::DeadlineExceeded { .. })
    ));
    assert!(block_on(own).is_ok());
    assert_eq!(h.calls.load(Ordering::SeqCst), 2);
}

#[test]
fn a_poisoned_row_fails_its_batch_only() {
    let h = held(config().max_batch_rows(32).build().unwrap());
    let batch: Vec<_> = (0..32)
        .map(|i| {
            let input = if i == 7 { x(POISON) } else { row(i) };
            h.batcher.predict_async(PredictRequest::owned(input))
        })
        .collect();
    h.gate.open();
    block_on(h.first).unwrap();
    for f in batch {
        assert!(matches!(block_on(f), Err(Error::ModelPanicked { .. })));
    }
    assert_eq!(*h.batch_sizes.lock().unwrap(), vec![1, 32]);

    // The worker keeps serving: 10,000 more from 8 threads, no failure.
    let failures = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..8 {
            let (batcher, failures) = (&h.batcher, &failures);
            s.spawn(move || {
                for i in 0..1250 {
                    let input = row(t * 100 + i);
                    if batcher.predict(PredictRequest::new(&input)).is_err() {
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    let stats = h.batcher.stats();
    assert_eq!(stats.requests, 1 + 32 + 10_000);
    assert_eq!(stats.rows, stats.requests);
    assert!(stats.max_batch_rows <= 32);
}

/// Forwards to an `InProcessServer`, panicking on demand, and records the
/// versions that answered each call (one entry per batch).
#[derive(Debug)]
struct Wrapped {
    inner: Arc<InProcessServer>,
    panic_next: AtomicBool,
    batches: Mutex<Vec<Vec<(u64, u64)>>>,
}

impl Wrapped {
    fn new(inner: Arc<InProcessServer>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            panic_next: AtomicBool::new(false),
            batches: Mutex::default(),
        })
    }

    fn maybe_panic(&self) {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("the server fell over");
        }
    }

    fn record(&self, results: &[Result<PredictResponse>]) {
        let batch = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| (r.version, score(r)))
            .collect();
        self.batches.lock().unwrap().push(batch);
    }
}

impl ModelServer for Wrapped {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        self.maybe_panic();
        let r = self.inner.predict(request);
        self.record(std::slice::from_ref(&r));
        r
    }
    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        self.maybe_panic();
        let r = self.inner.predict_many(requests);
        self.record(&r);
        r
    }
    fn metadata(&self) -> Result<ModelMetadata> {
        self.inner.metadata()
    }
    fn health(&self) -> Health {
        self.inner.health()
    }
}

#[test]
fn a_panicking_inner_server_fails_its_batch_only() {
    let inner = Arc::new(InProcessServer::new(MockModel::new(4).deploy()).unwrap());
    let wrapped = Wrapped::new(inner);
    let batcher = Batcher::new(wrapped.clone(), BatchConfig::default());

    // Through a worker.
    wrapped.panic_next.store(true, Ordering::SeqCst);
    match block_on(batcher.predict_async(PredictRequest::owned(x(1.0)))) {
        Err(Error::ModelPanicked {
            model,
            version,
            message,
        }) => {
            assert_eq!((model.as_str(), version), ("mock", 4));
            assert_eq!(message, "the server fell over");
        }
        other => panic!("expected ModelPanicked, got {other:?}"),
    }
    assert!(block_on(batcher.predict_async(PredictRequest::owned(x(1.0)))).is_ok());

    // On the caller's own thread (an idle batcher serves a lone blocking call directly).
    wrapped.panic_next.store(true, Ordering::SeqCst);
    assert!(matches!(
        batcher.predict(PredictRequest::owned(x(1.0))),
        Err(Error::ModelPanicked { .. })
    ));
    assert_eq!(
        score(&batcher.predict(PredictRequest::owned(x(1.0))).unwrap()),
        4
    );
    assert_eq!(batcher.stats().panics, 2);
    wait_for(&batcher, "the last batch to finish", |s| s.in_flight == 0);
}

fn thousand_queued() -> (Held, Vec<ResponseFuture>) {
    let h = held(config().queue_capacity(2000).build().unwrap());
    let futures = (0..999)
        .map(|i| h.batcher.predict_async(PredictRequest::owned(row(i))))
        .collect();
    (h, futures)
}

#[test]
fn shutdown_drains_the_queue_and_answers_all_1000() {
    let (h, futures) = thousand_queued();
    let b = h.batcher.clone();
    let stopping = thread::spawn(move || b.shutdown(Duration::from_secs(60)));
    // Admission stops before the queue drains.
    while h.batcher.health().is_ready() {
        thread::yield_now();
    }
    assert!(matches!(
        h.batcher.predict(PredictRequest::owned(x(1.0))),
        Err(Error::ShuttingDown)
    ));
    h.gate.open();
    let report = stopping.join().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(block_on(h.first).is_ok());
    assert!(futures.into_iter().all(|f| block_on(f).is_ok()));
    assert_eq!(h.rows.load(Ordering::SeqCst), 1000);
    assert_eq!(h.batcher.stats().rejected_shutting_down, 1);
}

#[test]
fn shutdown_past_its_timeout_answers_the_rest_shutting_down() {
    let (h, futures) = thousand_queued();
    // The worker is held inside the model: nothing can drain.
    let report = h.batcher.shutdown(Duration::from_millis(20));
    assert_eq!((report.cancelled, report.running), (999, 1));
    for f in futures {
        assert!(matches!(block_on(f), Err(Error::ShuttingDown)));
    }
    // The running batch still gets the model's answer.
    h.gate.open();
    assert!(block_on(h.first).is_ok());
    assert_eq!(h.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_the_batcher_serves_what_is_queued() {
    let (h, futures) = thousand_queued();
    let Held {
        batcher,
        gate,
        rows,
        first,
        ..
    } = h;
    drop(batcher);
    gate.open();
    assert!(block_on(first).is_ok());
    assert!(futures.into_iter().all(|f| block_on(f).is_ok()));
    assert_eq!(rows.load(Ordering::SeqCst), 1000);
}

#[test]
fn a_manual_worker_serves_and_an_unrun_one_answers_shutting_down() {
    let server = InProcessServer::new(MockModel::new(2).deploy()).unwrap();
    let (batcher, mut workers) = Batcher::new_manual(server, BatchConfig::default());
    assert_eq!(workers.len(), 1);
    let queued = batcher.predict_async(PredictRequest::owned(x(1.0)));
    let worker = workers.pop().unwrap();
    let running = thread::spawn(move || worker.run());
    assert_eq!(score(&block_on(queued).unwrap()), 2);
    drop(batcher);
    running.join().unwrap(); // the worker returns once the batcher is gone

    let server = InProcessServer::new(MockModel::new(2).deploy()).unwrap();
    let (batcher, workers) = Batcher::new_manual(server, BatchConfig::default());
    let queued = batcher.predict_async(PredictRequest::owned(x(1.0)));
    drop(workers);
    assert!(matches!(block_on(queued), Err(Error::ShuttingDown)));
    assert!(!batcher.health().is_ready());
}

#[test]
fn swaps_under_batched_load_never_mix_versions() {
    let model = MockModel::new(1).latency(Duration::from_micros(50), Duration::ZERO);
    let server = Arc::new(InProcessServer::new(model.deploy()).unwrap());
    let wrapped = Wrapped::new(server.clone());
    let batcher = Batcher::new(
        wrapped.clone(),
        config().max_batch_rows(16).build().unwrap(),
    );
    let done = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let mut v = 2;
            while !done.load(Ordering::SeqCst) {
                server
                    .swap(
                        MockModel::new(v)
                            .latency(Duration::from_micros(50), Duration::ZERO)
                            .deploy(),
                    )
                    .unwrap();
                v += 1;
                thread::sleep(Duration::from_micros(300));
            }
        });
        let callers: Vec<_> = (0..8)
            .map(|t| {
                let (batcher, answered) = (&batcher, &answered);
                s.spawn(move || {
                    for i in 0..300 {
                        let input = row(t * 300 + i);
                        let r = batcher.predict(PredictRequest::new(&input)).unwrap();
                        // The score is the version that computed it.
                        assert_eq!(score(&r), r.version);
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let joined: Vec<_> = callers.into_iter().map(|c| c.join()).collect();
        // Stop the swapper before reporting a caller's failure.
        done.store(true, Ordering::SeqCst);
        for j in joined {
            if let Err(panic) = j {
                std::panic::resume_unwind(panic);
            }
        }
    });
    assert_eq!(answered.load(Ordering::SeqCst), 2400);
    let batches = wrapped.batches.lock().unwrap();
    let mut rows = 0;
    for batch in batches.iter() {
        rows += batch.len();
        let (version, _) = batch[0];
        assert!(
            batch.iter().all(|&(v, s)| v == version && s == version),
            "one batch, several versions: {batch:?}"
        );
    }
    assert_eq!(rows, 2400);
}

#[test]
fn async_callers_need_no_runtime() {
    let h = held(BatchConfig::default());
    let mut pending = h.batcher.predict_async(PredictRequest::owned(x(5.0)));
    // The worker wakes the waiting task when the answer lands: poll once with
    // a counting waker while the model is held, then let the model go.
    let waker = Arc::new(ThreadWaker {
        thread: thread::current(),
        wakes: AtomicUsize::new(0),
    });
    let task_waker = Waker::from(waker.clone());
    let mut cx = Context::from_waker(&task_waker);
    assert!(Pin::new(&mut pending).poll(&mut cx).is_pending());
    assert_eq!(waker.wakes.load(Ordering::SeqCst), 0);
    h.gate.open();
    let give_up = Instant::now() + Duration::from_secs(10);
    while waker.wakes.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < give_up, "the answer never woke the task");
        thread::park_timeout(Duration::from_millis(100));
    }
    match Pin::new(&mut pending).poll(&mut cx) {
        Poll::Ready(answer) => assert_eq!(score(&answer.unwrap()), 1),
        Poll::Pending => panic!("woken, but not ready"),
    }
    assert_eq!(waker.wakes.load(Ordering::SeqCst), 1, "woken exactly once");
    assert!(block_on(h.first).is_ok());

    // Many in flight at once from one thread, joined one by one.
    let all: Vec<_> = (0..64)
        .map(|i| h.batcher.predict_async(PredictRequest::owned(row(i))))
        .collect();
    assert!(all.into_iter().all(|f| block_on(f).is_ok()));
}

#[test]
fn a_dropped_future_withdraws_its_request() {
    let h = held(BatchConfig::default());
    let withdrawn = h.batcher.predict_async(PredictRequest::owned(x(2.0)));
    let kept = h.batcher.predict_async(PredictRequest::owned(x(3.0)));
    drop(withdrawn);
    h.gate.open();
    block_on(h.first).unwrap();
    block_on(kept).unwrap();
    assert_eq!(h.rows.load(Ordering::SeqCst), 2);
    assert_eq!(h.batcher.stats().withdrawn, 1);
}

#[test]
fn requests_larger_than_a_batch_are_refused_not_split() {
    let server = InProcessServer::new(MockModel::new(1).deploy()).unwrap();
    let batcher = Batcher::new(server, config().max_batch_rows(4).build().unwrap());
    let five: Vec<FeatureMap> = (0..5).map(row).collect();
    assert!(matches!(
        batcher.predict(PredictRequest::rows(&five[..])),
        Err(Error::RequestTooLarge {
            rows: 5,
            max_rows: 4
        })
    ));
    assert!(matches!(
        block_on(batcher.predict_async(PredictRequest::rows(&five[..]))),
        Err(Error::RequestTooLarge { .. })
    ));
    assert_eq!(
        batcher
            .predict(PredictRequest::rows(&five[..4]))
            .unwrap()
            .len(),
        4
    );
    assert_eq!(batcher.stats().rejected_too_large, 2);
}

#[test]
fn a_lone_request_is_not_held_for_the_window() {
    let server = InProcessServer::new(MockModel::new(1).deploy()).unwrap();
    let window = Duration::from_secs(30);
    let batcher = Batcher::new(server, config().max_wait(window).build().unwrap());
    let started = Instant::now();
    batcher.predict(PredictRequest::owned(x(1.0))).unwrap();
    block_on(batcher.predict_async(PredictRequest::owned(x(1.0)))).unwrap();
    assert!(started.elapsed() < window / 3);
    let stats = batcher.stats();
    assert_eq!((stats.direct, stats.batches), (1, 2));
}

#[test]
fn predict_many_answers_each_request_in_order() {
    let server = InProcessServer::new(MockModel::new(7).deploy()).unwrap();
    let batcher = Batcher::new(server, BatchConfig::default());
    let inputs: Vec<FeatureMap> = (0..10).map(row).collect();
    let mut requests: Vec<_> = inputs
        .iter()
        .enumerate()
        .map(|(i, m)| PredictRequest::new(m).with_id(format!("r{i}")))
        .collect();
    requests.push(PredictRequest::owned(x(-1.0))); // invalid: fails alone
    let out = batcher.predict_many(requests);
    assert_eq!(out.len(), 11);
    for (i, r) in out[..10].iter().enumerate() {
        assert_eq!(
            r.as_ref().unwrap().id.as_deref(),
            Some(format!("r{i}").as_str())
        );
    }
    assert!(matches!(out[10], Err(Error::Schema(_))));
    assert_eq!(batcher.metadata().unwrap().version, 7);
}

#[test]
fn config_errors_fold_into_the_crate_error() {
    let err: Error = BatchConfig::builder()
        .workers(0)
        .build()
        .unwrap_err()
        .into();
    assert!(matches!(err, Error::Component(_)));
    assert_eq!(
        err.downcast_ref::<BatchConfigError>(),
        Some(&BatchConfigError::ZeroWorkers)
    );
}
