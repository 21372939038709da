//! Validation and single-row prediction costs.
//!
//! - `validate/feature_map_20`: validating a 20-feature `FeatureMap`.
//! - `predict_one/adapter` vs `predict_one/linfa_direct`: one validated row
//!   through `LinfaModel` and the same prediction called on linfa directly;
//!   their ratio is the adapter's overhead.
//!
//! Run with `cargo bench --bench predict`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::{Feature, FeatureMap, FeatureSchema, LinfaModel, Model};
use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// 20 features: 10 floats, 5 integers, 3 categoricals, 2 booleans.
fn schema20() -> FeatureSchema {
    let mut b = FeatureSchema::builder();
    for i in 0..10 {
        b = b.feature(Feature::float(format!("f{i:02}")).min(-1e6).max(1e6));
    }
    for i in 0..5 {
        b = b.feature(Feature::integer(format!("n{i:02}")).min(0.0));
    }
    for i in 0..3 {
        b = b.feature(Feature::categorical(
            format!("c{i:02}"),
            ["red", "green", "blue", "other"],
        ));
    }
    for i in 0..2 {
        b = b.feature(Feature::boolean(format!("b{i:02}")));
    }
    b.build().expect("valid schema")
}

fn row(rng: &mut Xoshiro256PlusPlus) -> FeatureMap {
    let mut m = FeatureMap::new();
    for i in 0..10 {
        m.insert(format!("f{i:02}"), rng.gen_range(-100.0..100.0));
    }
    for i in 0..5 {
        m.insert(format!("n{i:02}"), rng.gen_range(0i64..50));
    }
    for i in 0..3 {
        m.insert(
            format!("c{i:02}"),
            ["red", "green", "blue", "other"][rng.gen_range(0..4)],
        );
    }
    for i in 0..2 {
        m.insert(format!("b{i:02}"), rng.gen_bool(0.5));
    }
    m
}

fn bench(c: &mut Criterion) {
    let schema = schema20();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let maps: Vec<FeatureMap> = (0..5_000).map(|_| row(&mut rng)).collect();
    let x = schema
        .validate_batch(&maps)
        .expect("valid rows")
        .into_array();
    let y: Array1<usize> = x
        .rows()
        .into_iter()
        .map(|r| usize::from(r[0] + r[1] * 0.5 - r[10] + r[15] * 20.0 > 0.0))
        .collect();
    let tree = DecisionTree::params()
        .max_depth(Some(10))
        .fit(&Dataset::new(x.clone(), y))
        .expect("fit");

    let one = &maps[17];
    c.bench_function("validate/feature_map_20", |b| {
        b.iter(|| schema.validate(black_box(one)).expect("valid"))
    });

    let vector = schema.validate(one).expect("valid");
    let model =
        LinfaModel::decision_tree(tree.clone(), schema.clone(), ["no", "yes"]).expect("model");
    let mut group = c.benchmark_group("predict_one");
    // Both sides get the same input: the validated row as a 1 x 20 view.
    group.bench_function("linfa_direct", |b| {
        b.iter(|| tree.predict(&black_box(vector.as_row())))
    });
    group.bench_function("adapter", |b| {
        b.iter(|| {
            model
                .predict_batch(black_box(vector.as_row()))
                .expect("predict")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
