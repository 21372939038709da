//! Artifact load time: read + verify (SHA-256) + decode + validate + warm-up.
//!
//! - `artifact_load/small`: a depth-6 tree trained on the webshop data.
//! - `artifact_load/large_8mb`: a complete tree of depth 17 (262,143 nodes),
//!   about 7.8 MB on disk.
//!
//! Run with `cargo bench --bench artifact`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

#[path = "../examples/common/mod.rs"]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ReadOptions};
use ndarray::Array1;
use serde_json::{Value, json};

/// A complete binary tree of `depth` levels of splits over 6 features,
/// built through linfa's own serde representation.
fn complete_tree(depth: usize) -> DecisionTree<f64, usize> {
    fn node(level: usize, depth: usize, lo: f64, hi: f64, feature: usize) -> Value {
        let mid = (lo + hi) / 2.0;
        if level == depth {
            return json!({"feature_idx": 0, "feature_name": "", "split_value": 0.0, "impurity_decrease": 0.0,
                "left_child": null, "right_child": null, "leaf_node": true, "prediction": (mid as usize) % 2, "depth": level});
        }
        json!({"feature_idx": feature, "feature_name": format!("feature-{feature}"), "split_value": mid,
            "impurity_decrease": 0.01, "left_child": node(level + 1, depth, lo, mid, (feature + 1) % 4),
            "right_child": node(level + 1, depth, mid, hi, (feature + 1) % 4), "leaf_node": false,
            "prediction": 0, "depth": level})
    }
    serde_json::from_value(json!({"root_node": node(0, depth, 0.0, 1000.0, 0), "num_features": 6}))
        .expect("valid tree")
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = common::webshop_schema();
    let (rows, labels) = common::webshop_data(5_000, 1, 0.0);
    let training = schema.validate_batch(&rows).expect("valid rows");
    let small = DecisionTree::params()
        .max_depth(Some(6))
        .fit(&Dataset::new(
            training.rows().to_owned(),
            Array1::from(labels),
        ))
        .expect("fit");
    let large = complete_tree(17);

    let mut group = c.benchmark_group("artifact_load");
    group.sample_size(20);
    for (name, tree) in [("small", &small), ("large_8mb", &large)] {
        let path = dir.path().join(format!("{name}.mhart"));
        Artifact::decision_tree("shop", tree, &schema, common::LABELS, &training)
            .expect("artifact")
            .write(&path)
            .expect("write");
        let size = std::fs::metadata(&path).expect("file").len();
        println!("artifact_load/{name}: file is {size} bytes");
        group.bench_function(name, |b| {
            b.iter(|| Artifact::load(&path, ReadOptions::new()).expect("load"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
