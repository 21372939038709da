//! Imported tree ensembles against the libraries that trained them.
//!
//! `bench/import/compare.py OUT_DIR` trains a 500-tree depth-6 XGBoost
//! binary model and a 500-tree, 31-leaf LightGBM binary model, saves them
//! with 1,000 rows, and times the libraries; this bench imports the same
//! files and times modelhost:
//!
//! - `ensemble/<lib>/one_row_server`: one row as a `FeatureMap` through
//!   `InProcessServer::predict` (validation, encoding, the model, the
//!   response), against the library's single-row call;
//! - `ensemble/<lib>/one_row_model`: the model alone on one encoded row
//!   (the same row every call, as the libraries' one-row figures are
//!   taken: branch predictors learn its path);
//! - `ensemble/<lib>/one_row_model_distinct`: the model alone on one row
//!   per call, each call the next of the 1,000 rows (as requests come);
//! - `ensemble/<lib>/batch_1000`: 1,000 encoded rows on one thread
//!   (throughput), against the library's own predictor on one thread.
//!
//! Run with `MODELHOST_BENCH_MODELS=OUT_DIR cargo bench --all-features
//! --bench ensemble`. Without the variable it benches synthetic ensembles
//! of the same shape (random splits), so it runs without Python.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use modelhost::import::{self, ImportFormat, ImportOptions};
use modelhost::model::{
    EnsembleLimits, EnsembleSpec, Link, SplitSemantics, TreeEnsemble, TreeSpec,
};
use modelhost::{
    Deployment, Feature, FeatureMap, FeatureSchema, InProcessServer, Model, ModelServer,
    OutputKind, PredictRequest,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const FEATURES: usize = 20;

fn schema() -> FeatureSchema {
    let mut b = FeatureSchema::builder();
    for i in 0..FEATURES {
        b = b.feature(Feature::float(format!("x{i}")).allow_non_finite());
    }
    b.build().unwrap()
}

/// Full binary trees of `depth` with random splits: the shape of the real
/// models, for runs without Python.
fn synthetic(semantics: SplitSemantics, trees: usize, depth: u32) -> TreeEnsemble {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let n = (1usize << (depth + 1)) - 1;
    let inner = (1usize << depth) - 1;
    let trees = (0..trees)
        .map(|_| {
            let mut t = TreeSpec::with_nodes(n, 1);
            for i in 0..n {
                if i < inner {
                    t.left[i] = Some(2 * i + 1);
                    t.right[i] = 2 * i + 2;
                    t.feature[i] = rng.gen_range(0..FEATURES);
                    t.threshold[i] = rng.gen_range(-1.5..1.5);
                    t.default_left[i] = rng.gen_bool(0.5);
                } else {
                    t.values[i] = rng.gen_range(-0.1..0.1);
                }
            }
            t
        })
        .collect();
    let spec = EnsembleSpec {
        semantics,
        groups: 1,
        leaf_width: 1,
        base: vec![0.0],
        average: false,
        link: Link::Sigmoid { scale: 1.0 },
        trees,
    };
    TreeEnsemble::new(
        spec,
        schema(),
        OutputKind::classification_with_probabilities(["0", "1"]),
        &EnsembleLimits::new(),
    )
    .unwrap()
}

/// The models and rows: the real ones from `compare.py`, or synthetic.
fn models() -> (Vec<(&'static str, TreeEnsemble)>, Array2<f64>) {
    if let Some(dir) = std::env::var_os("MODELHOST_BENCH_MODELS").map(PathBuf::from) {
        let options = ImportOptions::new();
        let schema = import::SchemaFile::read(dir.join("schema.json")).unwrap();
        let load = |format, file: &str| {
            import::import_file(format, dir.join(file), Some(&schema), &options)
                .unwrap()
                .model
        };
        let models = vec![
            ("xgboost", load(ImportFormat::Xgboost, "xgb.json")),
            ("lightgbm", load(ImportFormat::LightGbm, "lgb.txt")),
        ];
        let text = std::fs::read_to_string(dir.join("rows.csv")).unwrap();
        let values: Vec<f64> = text
            .lines()
            .skip(1)
            .flat_map(|l| l.split(','))
            .map(|v| {
                if v == "nan" {
                    f64::NAN
                } else {
                    v.parse().unwrap()
                }
            })
            .collect();
        let rows = Array2::from_shape_vec((values.len() / FEATURES, FEATURES), values).unwrap();
        (models, rows)
    } else {
        eprintln!("MODELHOST_BENCH_MODELS is not set: benching synthetic ensembles");
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let rows = Array2::from_shape_fn((1_000, FEATURES), |_| rng.gen_range(-2.0..2.0));
        let models = vec![
            ("xgboost", synthetic(SplitSemantics::Xgboost, 500, 6)),
            ("lightgbm", synthetic(SplitSemantics::LightGbm, 500, 5)),
        ];
        (models, rows)
    }
}

fn bench(c: &mut Criterion) {
    let (models, rows) = models();
    let names: Vec<String> = (0..FEATURES).map(|i| format!("x{i}")).collect();
    let first = {
        let mut m = FeatureMap::new();
        for (name, &v) in names.iter().zip(rows.row(0)) {
            m = m.with(name.clone(), v);
        }
        m
    };
    let one = rows
        .slice_axis(ndarray::Axis(0), ndarray::Slice::from(0..1))
        .to_owned();
    let mut group = c.benchmark_group("ensemble");
    for (lib, model) in models {
        let server = InProcessServer::new(Deployment::new(lib, 1, model.clone())).unwrap();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{lib}/one_row_server"), |b| {
            b.iter(|| {
                server
                    .predict(PredictRequest::new(black_box(&first)))
                    .unwrap()
            })
        });
        group.bench_function(format!("{lib}/one_row_model"), |b| {
            b.iter(|| model.predict_batch(black_box(one.view())).unwrap())
        });
        let singles: Vec<Array2<f64>> = rows
            .outer_iter()
            .map(|r| r.to_owned().insert_axis(ndarray::Axis(0)))
            .collect();
        let mut next = singles.iter().cycle();
        group.bench_function(format!("{lib}/one_row_model_distinct"), |b| {
            b.iter(|| {
                let row = next.next().unwrap();
                model.predict_batch(black_box(row.view())).unwrap()
            })
        });
        group.throughput(Throughput::Elements(rows.nrows() as u64));
        group.bench_function(format!("{lib}/batch_1000"), |b| {
            b.iter(|| model.predict_batch(black_box(rows.view())).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
