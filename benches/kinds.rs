//! Every built-in model kind through `InProcessServer` against the raw
//! linfa call on the same rows, and ranking against the raw batch.
//!
//! - `kinds/<kind>/one/{server,linfa}`: one validated webshop row (a
//!   `FeatureVector`, so the server checks its schema fingerprint, not its
//!   values) through the server, and the same row as a 1-row matrix through
//!   the fitted linfa model's `predict`.
//! - `kinds/<kind>/batch64/{server,linfa}`: 64 validated rows.
//! - `kinds/rank100/{server_encoded,server_maps,server_prepared,linfa_batch}`:
//!   100 candidate products for one visit ranked in one call (rows already
//!   encoded; a session `FeatureMap` plus one per candidate, validated in
//!   the call; or the session validated in the call and the candidates'
//!   own features validated once beforehand, `Candidates`), against
//!   linfa's `predict` on the same 100 encoded rows.
//!
//! The server's figures include its probabilities (leaf shares, vote shares,
//! sigmoid); linfa's `predict` returns classes only.
//!
//! Run with `cargo bench --bench kinds --features logistic,forest,linear`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../examples/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::prelude::*;
use linfa_ensemble::RandomForestParams;
use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::rank::{Candidates, RankRequest, rank};
use modelhost::{FeatureMap, InProcessServer, ModelServer, PredictRequest};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn serve(artifact: Artifact) -> InProcessServer {
    let options = ReadOptions::new();
    let loaded = Artifact::from_bytes(&artifact.to_bytes().unwrap(), options)
        .unwrap()
        .into_loaded(options)
        .unwrap();
    InProcessServer::new(loaded.deployment().unwrap()).unwrap()
}

fn bench(c: &mut Criterion) {
    let schema = common::webshop_schema();
    let (rows, labels) = common::webshop_data(4_000, 1, 0.0);
    let training = schema.validate_batch(&rows).unwrap();
    let data = Dataset::new(training.rows().to_owned(), Array1::from(labels.clone()));
    let y: Array1<f64> = training
        .rows()
        .rows()
        .into_iter()
        .map(|r| 0.5 * r[1] - 0.1 * r[0] + r[2] / 100.0)
        .collect();

    let tree = DecisionTree::params()
        .max_depth(Some(8))
        .fit(&data)
        .unwrap();
    let forest = RandomForestParams::new_fixed_rng(
        DecisionTree::params().max_depth(Some(8)),
        Xoshiro256PlusPlus::seed_from_u64(3),
    )
    .ensemble_size(31)
    .bootstrap_proportion(0.7)
    .feature_proportion(0.7)
    .fit(&data)
    .unwrap();
    let logistic = linfa_logistic::LogisticRegression::default()
        .max_iterations(100)
        .fit(&data)
        .unwrap();
    let linear = linfa_linear::LinearRegression::default()
        .fit(&Dataset::new(training.rows().to_owned(), y))
        .unwrap();

    let servers = [
        (
            "tree",
            serve(
                Artifact::decision_tree(
                    "t",
                    &tree,
                    &schema,
                    common::LABELS,
                    (&training, &labels[..]),
                )
                .unwrap(),
            ),
        ),
        (
            "forest31",
            serve(
                Artifact::random_forest("f", &forest, &schema, common::LABELS, &training).unwrap(),
            ),
        ),
        (
            "logistic",
            serve(
                Artifact::logistic_regression("l", &logistic, &schema, common::LABELS, &training)
                    .unwrap(),
            ),
        ),
        (
            "linear",
            serve(Artifact::linear_regression("r", &linear, &schema, &training).unwrap()),
        ),
    ];

    let (fresh, _) = common::webshop_data(64, 9, 0.0);
    let batch = schema.validate_batch(&fresh).unwrap();
    let one = schema.validate(&fresh[0]).unwrap();
    let x64: Array2<f64> = batch.rows().to_owned();
    let x1: Array2<f64> = one.as_row().to_owned();

    let mut g = c.benchmark_group("kinds");
    for (name, server) in &servers {
        g.bench_function(format!("{name}/one/server"), |b| {
            b.iter(|| black_box(server.predict(PredictRequest::vector(&one)).unwrap()))
        });
        g.bench_function(format!("{name}/batch64/server"), |b| {
            b.iter(|| black_box(server.predict(PredictRequest::batch(&batch)).unwrap()))
        });
        for (size, x) in [("one", &x1), ("batch64", &x64)] {
            g.bench_function(format!("{name}/{size}/linfa"), |b| match *name {
                "tree" => b.iter(|| black_box(tree.predict(x))),
                "forest31" => b.iter(|| black_box(forest.predict(x))),
                "logistic" => b.iter(|| black_box(logistic.predict(x))),
                _ => b.iter(|| black_box(linear.predict(x))),
            });
        }
    }

    // Ranking: 100 candidate products for one visit, by the tree.
    let server = &servers[0].1;
    let session = FeatureMap::new()
        .with("recency_days", 2)
        .with("frequency", 6)
        .with("basket_value", 80.0)
        .with("device", "desktop")
        .with("is_returning", true);
    let candidates: Vec<FeatureMap> = (0..100)
        .map(|i| FeatureMap::new().with("product_price", 5.0 + 1.5 * f64::from(i)))
        .collect();
    let merged: Vec<FeatureMap> = candidates
        .iter()
        .map(|c| {
            let mut r = session.clone();
            for (k, v) in c.iter() {
                r.insert(k, v.clone());
            }
            r
        })
        .collect();
    let x100: Array2<f64> = schema.validate_batch(&merged).unwrap().rows().to_owned();
    g.bench_function("rank100/server_encoded", |b| {
        b.iter(|| {
            black_box(
                rank(
                    server,
                    RankRequest::encoded(std::borrow::Cow::Borrowed(&x100), 3),
                )
                .unwrap(),
            )
        })
    });
    g.bench_function("rank100/server_maps", |b| {
        b.iter(|| black_box(rank(server, RankRequest::new(&session, &candidates, 3)).unwrap()))
    });
    let catalog = Candidates::new(&schema, &candidates).unwrap();
    g.bench_function("rank100/server_prepared", |b| {
        b.iter(|| black_box(rank(server, RankRequest::prepared(&session, &catalog, 3)).unwrap()))
    });
    g.bench_function("rank100/linfa_batch", |b| {
        b.iter(|| black_box(tree.predict(&x100)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
