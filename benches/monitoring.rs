//! The monitor's cost on the request path.
//!
//! A single-row webshop request (a 6-feature `FeatureMap`, validated, then
//! a depth-8 decision tree) through `InProcessServer`:
//!
//! - `server_predict/no_monitor`: no observer at all (the baseline);
//! - `server_predict/null_observer_untimed`: an observer that does nothing
//!   and asks for (almost) no sample, so the server only counts the
//!   requests: the cost of having an observer;
//! - `server_predict/null_observer_timed`: the same, sampling every request
//!   (the server's two clock reads and the call to the observer);
//! - `server_predict/monitor_noop_recorder`: a `Monitor` with its default
//!   sampling (every request counted; about 1,000 requests a second per
//!   thread sampled: timed, reported and sketched for drift), no metrics
//!   recorder installed;
//! - `server_predict/monitor_prometheus`: the same with
//!   `metrics-exporter-prometheus` installed as the recorder (the case the
//!   overhead target is about);
//! - `server_predict/monitor_prometheus_every_request`: `sample_every(1)`:
//!   every request timed and every row sketched and scored;
//! - `server_predict/monitor_prometheus_every_request_background`: the
//!   same, windows scored on the monitor's thread;
//! - `server_predict/monitor_prometheus_with_id`: default sampling,
//!   requests carry an id, so each prediction is also stored for the
//!   feedback join;
//! - `server_predict/no_monitor_again`: the baseline once more, and
//!   `server_predict/no_monitor_other_server` through a second, identical
//!   server: their spread is the comparison's noise floor;
//! - `server_predict_paired/{no_monitor,monitor_prometheus}`: the baseline
//!   and the Prometheus case measured in alternating chunks of 256
//!   requests, each timing only its own, so that both see the same
//!   conditions.
//!
//! The overhead is each case's time over `no_monitor`. Run with
//! `cargo bench --bench monitoring --features prometheus`. With
//! `MONITORING_BENCH_COUNT=<n>` set, the binary serves `n` requests
//! through three of the cases instead, for counting instructions under
//! callgrind (see `count_only`).

#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../examples/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group};
use modelhost::artifact::ReferenceStats;
use modelhost::monitor::{Monitor, Sampling};
use modelhost::server::{PredictEvent, PredictObserver};
use modelhost::{Deployment, InProcessServer, LinfaModel, ModelServer, PredictRequest};

fn deployment() -> (Deployment, ReferenceStats) {
    let (batch, tree) = common::train_tree(5_000, 1, 8).expect("fit");
    let model =
        LinfaModel::decision_tree(tree, batch.schema().clone(), common::LABELS).expect("model");
    let reference = ReferenceStats::from_batch(&batch, None, ReferenceStats::DEFAULT_SAMPLE);
    (Deployment::new("recommender", 1, model), reference)
}

/// An observer that does nothing, sampling one request in `stride` (the
/// others are counted by the server).
#[derive(Debug)]
struct Null {
    stride: u32,
}

impl PredictObserver for Null {
    fn sample_every(&self) -> u32 {
        self.stride
    }

    fn on_predict(&self, event: &PredictEvent<'_>) {
        black_box(event);
    }
}

/// Every server the cases use, built before any case runs, so that all
/// cases run with the same heap (the allocator's speed depends on what was
/// allocated before; building a monitor between two cases moved the
/// baseline by about 10 ns).
struct Servers {
    plain: InProcessServer,
    /// A second server without observer: the difference between two
    /// identical servers is the noise floor of the comparison.
    plain2: InProcessServer,
    untimed: InProcessServer,
    timed: InProcessServer,
    noop: InProcessServer,
    server: InProcessServer,
    every: InProcessServer,
    background: InProcessServer,
    rows: Vec<modelhost::FeatureMap>,
    ids: Vec<String>,
    handle: modelhost::monitor::prometheus::PrometheusHandle,
}

fn servers() -> Servers {
    // A server process has more than one thread, and the C allocator takes
    // its locks only once a second thread was ever started. Start one now,
    // so that every case (the baseline too) runs as in a real server, not
    // only those after the first monitor started its thread.
    std::thread::spawn(|| {}).join().expect("a thread");
    let (d, reference) = deployment();
    let (rows, _) = common::webshop_data(1_000, 7, 0.0);
    let monitored = |sampling: Sampling, background: bool| {
        let monitor = Monitor::builder(&d)
            .reference(reference.clone())
            .sampling(sampling)
            .score_in_background(background)
            .build()
            .expect("monitor");
        InProcessServer::builder(d.clone())
            .observer(monitor)
            .build()
            .expect("server")
    };
    let null = |stride: u32| {
        InProcessServer::builder(d.clone())
            .observer(Arc::new(Null { stride }))
            .build()
            .expect("server")
    };
    let plain = InProcessServer::new(d.clone()).expect("server");
    let plain2 = InProcessServer::new(d.clone()).expect("server");
    let (untimed, timed) = (null(u32::MAX), null(1));
    let noop = monitored(Sampling::default(), false);
    // Handles registered before this stay no-ops: `noop` records nothing.
    let handle = modelhost::monitor::prometheus::install().expect("first recorder");
    Servers {
        plain,
        plain2,
        untimed,
        timed,
        noop,
        server: monitored(Sampling::default(), false),
        every: monitored(Sampling::Every(1), false),
        background: monitored(Sampling::Every(1), true),
        ids: (0..rows.len()).map(|k| format!("order-{k}")).collect(),
        rows,
        handle,
    }
}

/// Serves the next row of `rows` through `server`.
fn run(server: &InProcessServer, rows: &[modelhost::FeatureMap], i: &mut usize) {
    *i = (*i + 1) % rows.len();
    black_box(
        server
            .predict(PredictRequest::new(black_box(&rows[*i])))
            .expect("predict"),
    );
}

fn bench(c: &mut Criterion) {
    let s = servers();
    let Servers {
        plain,
        plain2,
        untimed,
        timed,
        noop,
        server,
        every,
        background,
        rows,
        ids,
        handle,
    } = &s;
    let run = |server: &InProcessServer, i: &mut usize| run(server, rows, i);

    let mut group = c.benchmark_group("server_predict");
    let mut i = 0;
    let cases = [
        ("no_monitor", plain),
        ("null_observer_untimed", untimed),
        ("null_observer_timed", timed),
        ("monitor_noop_recorder", noop),
        ("monitor_prometheus", server),
        ("monitor_prometheus_every_request", every),
        ("monitor_prometheus_every_request_background", background),
        ("no_monitor_again", plain),
        ("no_monitor_other_server", plain2),
    ];
    for (name, server) in cases {
        group.bench_function(name, |b| b.iter(|| run(server, &mut i)));
    }
    group.bench_function("monitor_prometheus_with_id", |b| {
        b.iter(|| {
            i = (i + 1) % rows.len();
            server
                .predict(PredictRequest::new(black_box(&rows[i])).with_id(ids[i].as_str()))
                .expect("predict")
        })
    });
    group.finish();

    // The same comparison, paired: each iteration serves a chunk of
    // requests through one server and a chunk through the other, and only
    // the named one's chunks are timed. Both cases then run under the same
    // conditions (caches, branch predictors, the machine's other load)
    // instead of one after the other.
    let mut paired = c.benchmark_group("server_predict_paired");
    let pairs = [
        ("no_monitor", &plain, server),
        ("monitor_prometheus", &server, plain),
    ];
    for (name, timed, other) in pairs {
        paired.bench_function(name, |b| {
            b.iter_custom(|iters| {
                const CHUNK: u64 = 256;
                let mut spent = std::time::Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = CHUNK.min(iters - done);
                    let start = std::time::Instant::now();
                    for _ in 0..n {
                        run(timed, &mut i);
                    }
                    spent += start.elapsed();
                    for _ in 0..n {
                        run(other, &mut i);
                    }
                    done += n;
                }
                spent
            })
        });
    }
    paired.finish();
    handle.run_upkeep();
    assert!(handle.render().contains("modelhost_requests_total"));
}

/// Serves `n` requests through each of three cases, without criterion:
/// for counting the instructions a request executes under callgrind,
/// which, unlike time, does not depend on where the code happens to sit
/// in memory. Each case runs in a function of its own, so that its
/// inclusive cost divided by `n` is its cost per request. Set
/// `MONITORING_BENCH_COUNT=<n>`; BENCHMARKS.md has the commands.
fn count_only(n: usize) {
    let s = servers();
    count_no_monitor(&s, n);
    count_null_observer(&s, n);
    count_monitor_prometheus(&s, n);
}

fn serve_n(server: &InProcessServer, rows: &[modelhost::FeatureMap], n: usize) {
    let mut i = 0;
    for _ in 0..n {
        run(server, rows, &mut i);
    }
}

#[inline(never)]
fn count_no_monitor(s: &Servers, n: usize) {
    serve_n(&s.plain, &s.rows, n);
}

#[inline(never)]
fn count_null_observer(s: &Servers, n: usize) {
    serve_n(&s.untimed, &s.rows, n);
}

#[inline(never)]
fn count_monitor_prometheus(s: &Servers, n: usize) {
    serve_n(&s.server, &s.rows, n);
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("MONITORING_BENCH_COUNT") {
        Ok(n) => count_only(n.parse().expect("a number of requests")),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
