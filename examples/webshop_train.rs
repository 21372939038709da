//! Train three kinds of webshop recommender and register them.
//!
//! Run with `cargo run --example webshop_train --features logistic,forest -- DIR`
//! (DIR defaults to a new temporary directory, which is printed). Afterwards
//! `cargo run --features cli --bin modelhost -- registry --dir DIR versions recommender`
//! lists the versions with their metrics and aliases.
//!
//! The story: a data scientist trains a decision tree, a random forest and a
//! logistic regression on the same deterministic synthetic customer/product
//! data, scores each on the same holdout with the model exactly as it will
//! be served (loaded back from its artifact), registers all three with their
//! metrics, and points `production` at the one with the best ROC AUC.

mod common;

use linfa::prelude::*;
use linfa_ensemble::RandomForestParams;
use linfa_trees::DecisionTree;
use modelhost::Error;
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::{Better, Registry};
use ndarray::Array1;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// ROC AUC of `scores` for the positive class (Mann–Whitney U, ties as
/// halves).
fn roc_auc(scores: &[f64], positive: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let mid = (i + 1 + j) as f64 / 2.0;
        rank_sum += mid * order[i..j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j;
    }
    let pos = positive.iter().filter(|&&p| p).count() as f64;
    let neg = positive.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Holdout metrics of the model an artifact serves, "buy" as positive.
fn evaluate(artifact: &Artifact) -> modelhost::Result<[(&'static str, f64); 4]> {
    let options = ReadOptions::new();
    let model = Artifact::from_bytes(&artifact.to_bytes()?, options)?
        .into_loaded(options)?
        .model;
    let (rows, truth) = common::webshop_data(2_000, 99, 0.0);
    let p = model.predict_batch(artifact.header().schema.validate_batch(&rows)?.rows())?;
    let classes = p.class_indices().unwrap_or_default();
    let count = |pred: usize, t: usize| {
        classes
            .iter()
            .zip(&truth)
            .filter(|&(&a, &b)| a == pred && b == t)
            .count() as f64
    };
    let (tp, fp, fn_, tn) = (count(1, 1), count(1, 0), count(0, 1), count(0, 0));
    let buy: Vec<f64> = (0..p.len())
        .map(|i| p.probabilities(i).map_or(f64::NAN, |r| r[1]))
        .collect();
    let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
    Ok([
        ("accuracy", (tp + tn) / truth.len() as f64),
        ("precision", tp / (tp + fp).max(1.0)),
        ("recall", tp / (tp + fn_).max(1.0)),
        ("auc", roc_auc(&buy, &positive)),
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

    // One training set for all three kinds.
    let (rows, labels) = common::webshop_data(8_000, 2, 0.0);
    let training = schema.validate_batch(&rows)?;
    let data = Dataset::new(training.rows().to_owned(), Array1::from(labels.clone()));

    let tree = DecisionTree::params()
        .max_depth(Some(8))
        .fit(&data)
        .map_err(Error::model)?;
    let forest = RandomForestParams::new_fixed_rng(
        DecisionTree::params().max_depth(Some(8)),
        Xoshiro256PlusPlus::seed_from_u64(3),
    )
    .ensemble_size(31)
    .bootstrap_proportion(0.7)
    .feature_proportion(0.7)
    .fit(&data)
    .map_err(Error::model)?;
    let logistic = linfa_logistic::LogisticRegression::default()
        .max_iterations(300)
        .fit(&data)
        .map_err(Error::model)?;

    // Each artifact carries the schema, labels, metrics, reference
    // statistics of the training data (for drift detection) and warm-up
    // rows with the predictions they must reproduce when loaded. Every kind
    // reports class probabilities: the tree its leaves' class shares, the
    // forest its vote shares, the logistic regression its sigmoid.
    let candidates = [
        (
            "tree",
            Artifact::decision_tree(
                "recommender",
                &tree,
                &schema,
                common::LABELS,
                (&training, &labels[..]),
            )?,
        ),
        (
            "forest",
            Artifact::random_forest("recommender", &forest, &schema, common::LABELS, &training)?,
        ),
        (
            "logistic",
            Artifact::logistic_regression(
                "recommender",
                &logistic,
                &schema,
                common::LABELS,
                &training,
            )?,
        ),
    ];
    let mut tree_version = 0;
    for (label, artifact) in candidates {
        let metrics = evaluate(&artifact)?;
        let kind = artifact.header().model_kind;
        let mut artifact = artifact
            .with_tag("variant", label)
            .with_tag("training_rows", rows.len().to_string());
        for (name, value) in metrics {
            artifact = artifact.with_metric(name, value);
        }
        let version = registry.register(artifact)?;
        if label == "tree" {
            tree_version = version;
        }
        println!(
            "Registered recommender/{version} ({kind}): {}",
            metrics
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    // Promote the version with the best holdout ROC AUC to production.
    let best = registry.promote_best("recommender", "auc", Better::Higher, "production")?;
    // The tree keeps an alias of its own: bench/compare serves it next to
    // scikit-learn's tree trained on the same rows.
    registry.set_alias("recommender", "tree", tree_version)?;
    println!("\nrecommender@production -> version {best}");
    println!("\nVersions in the registry:");
    for v in registry.versions("recommender", false)? {
        println!(
            "  v{}  {:<26} aliases {:?}  auc {:.3}",
            v.version,
            v.model_kind.to_string(),
            v.aliases,
            v.metrics.get("auc").copied().unwrap_or(f64::NAN),
        );
    }
    println!(
        "\nNext: cargo run --features cli --bin modelhost -- registry --dir {} versions recommender",
        dir.display()
    );
    Ok(())
}
