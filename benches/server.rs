//! Predict latency through `InProcessServer`, with and without hot swaps.
//!
//! In the style of arc-swap's `benches/background.rs`: the same read is
//! measured alone and while another thread swaps the model 100 times a
//! second.
//!
//! - `server_predict/adapter_direct`: the linfa adapter called directly on a
//!   validated 20-feature row (the baseline).
//! - `server_predict/no_swaps`: the same row through `InProcessServer`.
//! - `server_predict/swapping_100hz`: the same, while a thread swaps in a new
//!   version every 10 ms.
//!
//! Criterion reports medians; the p50/p99/p99.9 of single calls (each timed
//! on its own for 3 seconds per case, about 300 swaps in the swapping case)
//! are printed first, since tail latency during swaps is the point.
//!
//! Run with `cargo bench --bench server`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::{
    Deployment, Feature, FeatureMap, FeatureSchema, InProcessServer, LinfaModel, Model,
    ModelServer, PredictRequest,
};
use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

fn schema20() -> FeatureSchema {
    let mut b = FeatureSchema::builder();
    for i in 0..20 {
        b = b.feature(Feature::float(format!("f{i:02}")));
    }
    b.build().expect("valid schema")
}

fn model() -> (FeatureSchema, Arc<dyn Model>, modelhost::FeatureVector) {
    let schema = schema20();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let maps: Vec<FeatureMap> = (0..5_000)
        .map(|_| {
            (0..20)
                .map(|i| (format!("f{i:02}"), rng.gen_range(-100.0..100.0)))
                .collect()
        })
        .collect();
    let x = schema.validate_batch(&maps).expect("valid").into_array();
    let y: Array1<usize> = x
        .rows()
        .into_iter()
        .map(|r| usize::from(r[0] + r[3] - r[7] > 0.0))
        .collect();
    let tree = DecisionTree::params()
        .max_depth(Some(10))
        .fit(&Dataset::new(x, y))
        .expect("fit");
    let model: Arc<dyn Model> =
        Arc::new(LinfaModel::decision_tree(tree, schema.clone(), ["no", "yes"]).expect("model"));
    let row = schema.validate(&maps[0]).expect("valid");
    (schema, model, row)
}

/// The next version to swap in; versions only go up across swapper runs.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(2);

/// Swaps in a new version every 10 ms until stopped; returns how many.
fn swapper(
    server: Arc<InProcessServer>,
    model: Arc<dyn Model>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            let version = NEXT_VERSION.fetch_add(1, Ordering::Relaxed);
            server
                .swap(Deployment::from_arc("bench", version, model.clone()))
                .expect("swap");
            swaps += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        swaps
    })
}

/// Times single calls for 3 seconds into 1-ns buckets and prints percentiles.
fn percentiles(label: &str, mut f: impl FnMut()) {
    const MAX_NS: usize = 100_000;
    let mut buckets = vec![0u64; MAX_NS + 1];
    let mut n = 0u64;
    for _ in 0..10_000 {
        f();
    }
    let run = Instant::now();
    while run.elapsed() < Duration::from_secs(3) {
        for _ in 0..1_000 {
            let start = Instant::now();
            f();
            buckets[(start.elapsed().as_nanos() as usize).min(MAX_NS)] += 1;
            n += 1;
        }
    }
    let p = |q: f64| {
        let target = (n as f64 * q).ceil() as u64;
        let mut seen = 0;
        buckets
            .iter()
            .position(|&b| {
                seen += b;
                seen >= target
            })
            .unwrap_or(MAX_NS)
    };
    println!(
        "{label:<24} calls {n:>9}   p50 {:>6} ns   p99 {:>6} ns   p99.9 {:>7} ns",
        p(0.50),
        p(0.99),
        p(0.999)
    );
}

fn bench(c: &mut Criterion) {
    let (_schema, model, row) = model();
    let server = Arc::new(
        InProcessServer::new(Deployment::from_arc("bench", 1, model.clone())).expect("server"),
    );

    percentiles("adapter_direct", || {
        black_box(model.predict_vector(black_box(&row)).expect("predict"));
    });
    percentiles("server no_swaps", || {
        black_box(
            server
                .predict(PredictRequest::vector(black_box(&row)))
                .expect("predict"),
        );
    });
    let stop = Arc::new(AtomicBool::new(false));
    let handle = swapper(server.clone(), model.clone(), stop.clone());
    percentiles("server swapping_100hz", || {
        black_box(
            server
                .predict(PredictRequest::vector(black_box(&row)))
                .expect("predict"),
        );
    });
    stop.store(true, Ordering::Relaxed);
    println!(
        "(swaps during the percentile run: {})",
        handle.join().expect("swapper")
    );

    let mut group = c.benchmark_group("server_predict");
    group.bench_function("adapter_direct", |b| {
        b.iter(|| model.predict_vector(black_box(&row)).expect("predict"))
    });
    group.bench_function("no_swaps", |b| {
        b.iter(|| {
            server
                .predict(PredictRequest::vector(black_box(&row)))
                .expect("predict")
        })
    });
    let stop = Arc::new(AtomicBool::new(false));
    let handle = swapper(server.clone(), model.clone(), stop.clone());
    group.bench_function("swapping_100hz", |b| {
        b.iter(|| {
            server
                .predict(PredictRequest::vector(black_box(&row)))
                .expect("predict")
        })
    });
    stop.store(true, Ordering::Relaxed);
    handle.join().expect("swapper");
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
