//! Train two versions of the webshop recommender and register them.
//!
//! Run with `cargo run --example webshop_train -- DIR` (DIR defaults to a new
//! temporary directory, which is printed). Afterwards
//! `cargo run --features cli --bin modelhost -- registry --dir DIR versions recommender`
//! lists both versions with their metrics and aliases.
//!
//! The story: a data scientist trains a shallow tree (version 1) and a deeper
//! one (version 2) on deterministic synthetic customer/product data,
//! evaluates both on the same holdout, registers both with their metrics, and
//! points `production` at whichever has the better AUC.

mod common;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::artifact::Artifact;
use modelhost::registry::{Better, Registry};
use modelhost::{Error, FeatureSchema};
use ndarray::Array1;

/// Metrics of a fitted tree on the holdout, with "buy" as the positive class.
fn evaluate(
    tree: &DecisionTree<f64, usize>,
    schema: &FeatureSchema,
) -> modelhost::Result<[(&'static str, f64); 4]> {
    let (rows, labels) = common::webshop_data(2_000, 99, 0.0);
    let x = schema.validate_batch(&rows)?.into_array();
    let predicted = tree.predict(&x);
    let truth = Array1::from(labels);
    let accuracy = predicted
        .confusion_matrix(&truth)
        .map_err(Error::model)?
        .accuracy();
    // Precision and recall of "buy" (class 1), counted directly: linfa's
    // binary precision and recall take whichever class its confusion matrix
    // lists first as the positive one.
    let count = |p: usize, t: usize| {
        predicted
            .iter()
            .zip(&truth)
            .filter(|&(&a, &b)| a == p && b == t)
            .count() as f64
    };
    let (tp, fp, fn_) = (count(1, 1), count(1, 0), count(0, 1));
    // A decision tree gives hard labels, so its ROC curve has one threshold
    // and the AUC equals the balanced accuracy.
    let scores: Array1<Pr> = predicted.mapv(|c| Pr::new(c as f32));
    let positives: Vec<bool> = truth.iter().map(|&c| c == 1).collect();
    let auc = scores
        .roc(&positives[..])
        .map_err(Error::model)?
        .area_under_curve();
    Ok([
        ("accuracy", f64::from(accuracy)),
        ("precision", tp / (tp + fp).max(1.0)),
        ("recall", tp / (tp + fn_).max(1.0)),
        ("auc", f64::from(auc)),
    ])
}

fn main() -> modelhost::Result<()> {
    let dir = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join(format!("modelhost-webshop-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    println!("Registry directory: {}", dir.display());
    let registry = Registry::open(&dir)?;
    let schema = common::webshop_schema();

    // Two candidate models: a shallow tree on less data, a deeper one on more.
    let candidates = [("shallow", 3, 2_000, 1), ("deep", 8, 8_000, 2)];
    let mut registered = Vec::new();
    for (label, depth, n, seed) in candidates {
        let (training, tree) = common::train_tree(n, seed, depth)?;
        let metrics = evaluate(&tree, &schema)?;

        // The artifact carries the schema, labels, metrics, reference
        // statistics of the training data (for drift detection) and warm-up
        // rows with the predictions they must reproduce when loaded.
        let mut artifact =
            Artifact::decision_tree("recommender", &tree, &schema, common::LABELS, &training)?
                .with_tag("variant", label)
                .with_tag("max_depth", depth.to_string())
                .with_tag("training_rows", n.to_string());
        for (name, value) in metrics {
            artifact = artifact.with_metric(name, value);
        }
        let version = registry.register(artifact)?;
        println!(
            "Registered recommender/{version} ({label}, depth {depth}, {n} rows): {}",
            metrics
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        registered.push(version);
    }

    // Promote the version with the best AUC to production; the other one
    // becomes staging.
    let best = registry.promote_best("recommender", "auc", Better::Higher, "production")?;
    if let Some(&other) = registered.iter().find(|&&v| v != best) {
        registry.set_alias("recommender", "staging", other)?;
    }
    println!("\nrecommender@production -> version {best}");
    println!("\nVersions in the registry:");
    for v in registry.versions("recommender", false)? {
        println!(
            "  v{}  aliases {:?}  auc {:.3}  tags {:?}",
            v.version,
            v.aliases,
            v.metrics.get("auc").copied().unwrap_or(f64::NAN),
            v.tags
        );
    }
    println!(
        "\nNext: cargo run --features cli --bin modelhost -- registry --dir {} versions recommender",
        dir.display()
    );
    Ok(())
}
