//! The monitor's cost on the request path.
//!
//! A single-row webshop request (a 6-feature `FeatureMap`, validated, then
//! a depth-8 decision tree) through `InProcessServer`:
//!
//! - `server_predict/no_monitor`: no observer at all (the baseline);
//! - `server_predict/null_observer`: an observer that does nothing, i.e.
//!   the server's own cost of timing each request for an observer;
//! - `server_predict/monitor_noop_recorder`: a `Monitor` with drift windows
//!   on every request, no metrics recorder installed;
//! - `server_predict/monitor_prometheus`: the same with
//!   `metrics-exporter-prometheus` installed as the recorder;
//! - `server_predict/monitor_prometheus_background`: windows are scored on
//!   the monitor's own thread (`score_in_background(true)`);
//! - `server_predict/monitor_prometheus_sampled_10`: windows take every
//!   10th request (`sample_every(10)`); metrics still count every request;
//! - `server_predict/monitor_prometheus_with_id`: requests carry an id, so
//!   each prediction is also stored for the feedback join.
//!
//! The overhead is each case's time over `no_monitor`. Run with
//! `cargo bench --bench monitoring --features prometheus`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../examples/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use modelhost::artifact::ReferenceStats;
use modelhost::monitor::Monitor;
use modelhost::server::{PredictEvent, PredictObserver};
use modelhost::{Deployment, InProcessServer, LinfaModel, ModelServer, PredictRequest};

fn deployment() -> (Deployment, ReferenceStats) {
    let (batch, tree) = common::train_tree(5_000, 1, 8).expect("fit");
    let model =
        LinfaModel::decision_tree(tree, batch.schema().clone(), common::LABELS).expect("model");
    let reference = ReferenceStats::from_batch(&batch, None, ReferenceStats::DEFAULT_SAMPLE);
    (Deployment::new("recommender", 1, model), reference)
}

/// An observer that does nothing.
#[derive(Debug)]
struct Null;

impl PredictObserver for Null {
    fn on_predict(&self, event: &PredictEvent<'_>) {
        black_box(event);
    }
}

fn bench(c: &mut Criterion) {
    let (d, reference) = deployment();
    let (rows, _) = common::webshop_data(1_000, 7, 0.0);
    let monitored = |sample: u32, background: bool| {
        let monitor = Monitor::builder(&d)
            .reference(reference.clone())
            .sample_every(sample)
            .score_in_background(background)
            .build()
            .expect("monitor");
        InProcessServer::builder(d.clone())
            .observer(monitor)
            .build()
            .expect("server")
    };
    let run = |server: &InProcessServer, i: &mut usize| {
        *i = (*i + 1) % rows.len();
        server
            .predict(PredictRequest::new(black_box(&rows[*i])))
            .expect("predict")
    };

    let mut group = c.benchmark_group("server_predict");
    let plain = InProcessServer::new(d.clone()).expect("server");
    let mut i = 0;
    group.bench_function("no_monitor", |b| b.iter(|| run(&plain, &mut i)));
    let null = InProcessServer::builder(d.clone())
        .observer(Arc::new(Null))
        .build()
        .expect("server");
    group.bench_function("null_observer", |b| b.iter(|| run(&null, &mut i)));
    let server = monitored(1, false);
    group.bench_function("monitor_noop_recorder", |b| b.iter(|| run(&server, &mut i)));

    let handle = modelhost::monitor::prometheus::install().expect("first recorder");
    let server = monitored(1, false);
    group.bench_function("monitor_prometheus", |b| b.iter(|| run(&server, &mut i)));
    let background = monitored(1, true);
    group.bench_function("monitor_prometheus_background", |b| {
        b.iter(|| run(&background, &mut i))
    });
    let sampled = monitored(10, false);
    group.bench_function("monitor_prometheus_sampled_10", |b| {
        b.iter(|| run(&sampled, &mut i))
    });
    let ids: Vec<String> = (0..rows.len()).map(|k| format!("order-{k}")).collect();
    group.bench_function("monitor_prometheus_with_id", |b| {
        b.iter(|| {
            i = (i + 1) % rows.len();
            server
                .predict(PredictRequest::new(black_box(&rows[i])).with_id(ids[i].as_str()))
                .expect("predict")
        })
    });
    group.finish();
    handle.run_upkeep();
    assert!(handle.render().contains("modelhost_requests_total"));
}

criterion_group!(benches, bench);
criterion_main!(benches);
