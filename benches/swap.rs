//! Swap and rollback cost with large categorical vocabularies.
//!
//! A swap compares the serving schema with the new one under the swap lock
//! (rollbacks block meanwhile), so the comparison must be linear in the
//! number of levels. Two versions each have a 100,000-level categorical
//! feature; half the levels differ, so each diff has 50,000 removed levels
//! to find (a breaking change, allowed here).
//!
//! - `swap/100k_levels`: one `swap_with` to the other version (schema diff,
//!   warm-up, store). Target: under 50 ms.
//! - `swap/rollback_100k_levels`: one rollback (schema diff, store).
//!
//! Run with `cargo bench --bench swap`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use modelhost::model::ModelError;
use modelhost::server::SwapOptions;
use modelhost::{
    Deployment, Feature, FeatureSchema, InProcessServer, Model, OutputKind, Predictions,
};
use ndarray::ArrayView2;

const LEVELS: usize = 100_000;

/// A model that predicts class 0 for every row: the bench measures the
/// swap, not the model.
#[derive(Debug)]
struct Constant {
    schema: FeatureSchema,
    output: OutputKind,
}

impl Model for Constant {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }
    fn output(&self) -> &OutputKind {
        &self.output
    }
    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        Predictions::classes(vec![0; rows.nrows()], 2)
    }
}

fn deployment(version: u64, first_level: usize) -> Deployment {
    let schema = FeatureSchema::builder()
        .feature(Feature::categorical(
            "product",
            (first_level..first_level + LEVELS).map(|i| format!("sku-{i:07}")),
        ))
        .feature(Feature::float("price"))
        .build()
        .expect("valid schema");
    Deployment::new(
        "shop",
        version,
        Constant {
            schema,
            output: OutputKind::classification(["no", "yes"]),
        },
    )
}

fn swap(c: &mut Criterion) {
    let versions = [deployment(1, 0), deployment(2, LEVELS / 2)];
    let options = SwapOptions::new().allow_breaking_schema().allow_older();
    let server = InProcessServer::new(versions[0].clone()).expect("serves");
    let mut group = c.benchmark_group("swap");
    group.sample_size(20);
    let mut next = 1;
    group.bench_function("100k_levels", |b| {
        b.iter(|| {
            let report = server
                .swap_with(versions[next].clone(), options)
                .expect("swaps");
            next = 1 - next;
            black_box(report)
        });
    });
    group.bench_function("rollback_100k_levels", |b| {
        // A second rollback rolls forward, so this alternates between the
        // two versions.
        b.iter(|| black_box(server.rollback().expect("rolls back")));
    });
    group.finish();
}

criterion_group!(benches, swap);
criterion_main!(benches);
