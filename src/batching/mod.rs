//! Adaptive request batching with backpressure.
//!
//! A [`Batcher`] sits in front of any [`ModelServer`](crate::ModelServer)
//! (usually an [`InProcessServer`](crate::InProcessServer)) and is one
//! itself. Concurrent requests wait briefly in a bounded queue and are sent
//! to the inner server together, in one
//! [`predict_many`](crate::ModelServer::predict_many) call, so a model whose
//! calls carry a fixed cost (a GPU launch, a foreign runtime, a lock) pays it
//! once per batch instead of once per request.
//!
//! - [`BatchConfig`] holds the checked settings (built by
//!   [`BatchConfigBuilder`], refused with [`BatchConfigError`]).
//! - [`Batcher`] queues, batches and answers; [`predict`](crate::ModelServer::predict)
//!   blocks, [`Batcher::predict_async`] returns a [`ResponseFuture`] that
//!   needs no runtime.
//! - [`BatchWorker`] is a worker the caller runs itself
//!   ([`Batcher::new_manual`]); [`Batcher::new`] starts its own threads.
//! - [`BatchStats`] are plain counters for monitoring.
//!
//! Its guarantees (one inner call and one model version per batch, bounded
//! memory, deadlines, panic isolation, an answer for every caller) are
//! listed on [`Batcher`].
//!
//! # Adaptive dispatch
//!
//! Holding requests only pays when the model's cost grows slower than the
//! batch. The batcher learns that cost: after every batch it fits a line,
//! `time = per_call + per_row × rows`, by least squares over the last 64
//! batches (as BentoML's adaptive batching does). It also keeps a moving
//! average of the gap between arrivals, giving an arrival rate `λ` in rows
//! per second. From those, with `w` workers, the smallest batch that keeps up
//! with the arrivals is
//!
//! ```text
//! target = λ · per_call / (w − λ · per_row)      (rounded down, 1..=max_batch_rows)
//! ```
//!
//! Smaller batches spend so much time on per-call overhead that a queue
//! builds; larger ones make requests wait for company they do not need. A
//! free worker then sends what is queued as soon as **any** of these holds:
//!
//! 1. a full batch ([`max_batch_rows`](BatchConfig::max_batch_rows)) is
//!    queued, or the oldest request has waited
//!    [`max_wait`](BatchConfig::max_wait): the window is a hard limit;
//! 2. at least `target` rows are queued. Under light load the target is one
//!    row, so a lone request is never held (a blocking caller then even
//!    serves it on its own thread, with no hand-off);
//! 3. no request arrived for two mean gaps: arrivals have paused, and
//!    waiting longer would not fill the batch;
//! 4. waiting longer would let the earliest deadline in the queue pass
//!    before the batch's predicted cost is spent.
//!
//! Until the model has been seen at two batch sizes, the fit assumes no
//! per-call cost, so nothing waits; batches then form naturally from
//! requests that queue while the workers are busy, which gives the fit the
//! sizes it needs. While every worker is busy, requests simply queue; the
//! rule only decides how long a *free* worker waits.
//!
//! # Backpressure and failure
//!
//! - A full queue refuses at once with [`Error::Overloaded`](crate::Error::Overloaded);
//!   nothing grows without bound.
//! - A request with more rows than a batch holds is refused with
//!   [`Error::RequestTooLarge`](crate::Error::RequestTooLarge) rather than
//!   split: splitting it would let its parts be served by different model
//!   versions during a swap, and would let one caller defeat the memory
//!   bound that `max_batch_rows` sets. Send such requests to the inner server
//!   directly (it serves them in one call) or split them yourself.
//! - Deadlines ([`PredictRequest::with_deadline`](crate::PredictRequest::with_deadline),
//!   or [`default_deadline`](BatchConfig::default_deadline)) fail queued
//!   requests with [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded)
//!   before they reach the model.
//! - A panicking inner server fails its own batch with
//!   [`Error::ModelPanicked`](crate::Error::ModelPanicked); the worker goes on.
//! - [`Batcher::shutdown`] and dropping the last handle stop admission with
//!   [`Error::ShuttingDown`](crate::Error::ShuttingDown) and drain the queue;
//!   every pending caller gets an answer.
//!
//! # When batching helps, and choosing the settings
//!
//! Batching trades a little latency for throughput, and only pays when a
//! batch of `n` rows costs much less than `n` single calls *and* concurrent
//! requests cannot simply run in parallel. Measured with
//! `cargo bench --bench batching` on a quiet 2-core machine (defaults but
//! `max_batch_rows` 64, one worker):
//!
//! | model | callers | direct req/s | batched req/s | batched p50 / p99 |
//! |---|---|---|---|---|
//! | 200 µs per call + 1 µs per row, calls serialized | 1 | 3 631 | 3 581 | 278 µs / 315 µs (direct: 274 / 290) |
//! | same | 8 | 3 580 | 19 708 (5.5x) | 353 µs / 653 µs |
//! | same | 64 | 3 533 | 88 699 (25x) | 705 µs / 1.07 ms |
//! | depth-10 decision tree, < 1 µs | 64 | 6.8 M | 0.19 M (0.03x) | 379 µs / 611 µs |
//!
//! A lone caller pays about 1 % (it is served on its own thread); a model
//! whose calls cost microseconds and run in parallel on every core only
//! loses, so do not batch it. On a busy machine the p99 under 64 callers
//! moved between 1.7 ms and 8.7 ms across runs: with 64 threads on 2 cores
//! it measures scheduling as much as the batcher.
//!
//! Settings:
//!
//! - [`max_batch_rows`](BatchConfigBuilder::max_batch_rows) (default 64):
//!   where the model's cost per row stops falling, and what a batch's memory
//!   and latency can afford. With a fixed cost `a` and per-row cost `b`,
//!   batches beyond about `10 · a / b` rows gain under 10 %.
//! - [`max_wait`](BatchConfigBuilder::max_wait) (default 2 ms): an upper
//!   bound only; adaptive dispatch rarely waits that long. Budget it as
//!   latency you can afford to add at the worst moment, typically about one
//!   batch's compute time. On a quiet machine p99 under load is about
//!   `max_wait` plus one batch's compute; an oversubscribed one adds its
//!   scheduling delays on top.
//! - [`queue_capacity`](BatchConfigBuilder::queue_capacity) (default 1024):
//!   the queue adds `capacity / throughput` of latency when full (1024
//!   requests at the 71 000 req/s measured above: 14 ms); pick the largest
//!   wait you would rather serve than refuse, times the throughput the
//!   benchmark shows for your model.
//! - [`default_deadline`](BatchConfigBuilder::default_deadline) (default
//!   none): the time after which an answer is useless to the caller, such
//!   as the request timeout of the transport in front.
//! - [`workers`](BatchConfigBuilder::workers) (default 1): how many batches
//!   the model can run at once with profit; 1 for a device or a model that
//!   is parallel inside, more for single-threaded models on a multi-core
//!   machine.

mod adaptive;
mod batcher;
mod config;
mod future;
mod stats;
mod worker;

pub use batcher::{Batcher, ShutdownReport};
pub use config::{BatchConfig, BatchConfigBuilder, BatchConfigError};
pub use future::ResponseFuture;
pub use stats::BatchStats;
pub use worker::BatchWorker;
