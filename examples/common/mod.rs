//! Deterministic synthetic webshop data shared by the examples, tests and
//! benchmarks. Not part of the library: a stand-in for a real feature store.

#![allow(dead_code)]

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::artifact::Artifact;
use modelhost::{Error, Feature, FeatureBatch, FeatureMap, FeatureSchema};
use ndarray::Array1;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Devices a customer visits from.
pub const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];

/// The label vocabulary of the recommendation model: did the customer buy
/// the recommended product?
pub const LABELS: [&str; 2] = ["ignore", "buy"];

/// The input contract of the webshop recommender.
pub fn webshop_schema() -> FeatureSchema {
    FeatureSchema::builder()
        .feature(
            Feature::integer("recency_days")
                .min(0.0)
                .max(3650.0)
                .describe("days since the last visit"),
        )
        .feature(
            Feature::integer("frequency")
                .min(0.0)
                .describe("orders in the last year"),
        )
        .feature(
            Feature::float("basket_value")
                .min(0.0)
                .max(100_000.0)
                .describe("current basket, in euro"),
        )
        .feature(
            Feature::float("product_price")
                .min(0.0)
                .describe("price of the recommended product"),
        )
        .feature(Feature::categorical("device", DEVICES).describe("device of the session"))
        .feature(
            Feature::boolean("is_returning")
                .optional(false)
                .describe("has bought before"),
        )
        .build()
        .expect("the webshop schema is valid")
}

/// `n` customers and whether each bought the recommended product.
///
/// `shift` moves the traffic away from the training distribution (0.0: none;
/// 1.0: customers return far less often and browse on tablets), which is what
/// drift detection should notice.
pub fn webshop_data(n: usize, seed: u64, shift: f64) -> (Vec<FeatureMap>, Vec<usize>) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut rows = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let recency: i64 = (rng.gen_range(0.0f64..1.0).powi(2) * (60.0 + 300.0 * shift)) as i64;
        let frequency: i64 = rng.gen_range(0..(25.0 * (1.0 - 0.6 * shift)) as i64 + 1);
        let basket: f64 = (rng.gen_range(0.0f64..1.0).powi(3) * 400.0 * 100.0).round() / 100.0;
        let price: f64 = (rng.gen_range(5.0f64..150.0) * 100.0).round() / 100.0;
        let device = if rng.gen_bool(0.6 * shift) {
            "tablet"
        } else {
            DEVICES[rng.gen_range(0..2)]
        };
        let returning = frequency > 0 && rng.gen_bool(0.8);
        // The hidden truth: recent, frequent customers with a full basket buy
        // affordable recommendations; desktop sessions convert a little better.
        let score = 1.5 - recency as f64 / 25.0 + frequency as f64 / 8.0 + basket / 150.0
            - price / 60.0
            + if device == "desktop" { 0.4 } else { 0.0 }
            + if returning { 0.3 } else { 0.0 }
            + rng.gen_range(-0.8..0.8);
        labels.push(usize::from(score > 0.0));
        rows.push(
            FeatureMap::new()
                .with("recency_days", recency)
                .with("frequency", frequency)
                .with("basket_value", basket)
                .with("product_price", price)
                .with("device", device)
                .with("is_returning", returning),
        );
    }
    (rows, labels)
}

/// `n` customers from `seed`, validated by the webshop schema, and a decision
/// tree of at most `depth` levels fitted on them.
pub fn train_tree(
    n: usize,
    seed: u64,
    depth: usize,
) -> modelhost::Result<(FeatureBatch, DecisionTree<f64, usize>)> {
    let (rows, labels) = webshop_data(n, seed, 0.0);
    let training = webshop_schema().validate_batch(&rows)?;
    let tree = DecisionTree::params()
        .max_depth(Some(depth))
        .fit(&Dataset::new(
            training.rows().to_owned(),
            Array1::from(labels),
        ))
        .map_err(Error::model)?;
    Ok((training, tree))
}

/// [`train_tree`], packed into an artifact of the model called `name`, with
/// the class shares of the training rows at each leaf.
pub fn tree_artifact(name: &str, n: usize, seed: u64, depth: usize) -> modelhost::Result<Artifact> {
    let (training, tree) = train_tree(n, seed, depth)?;
    // The same seed gives the same rows, so these are their targets.
    let (_, targets) = webshop_data(n, seed, 0.0);
    Ok(Artifact::decision_tree(
        name,
        &tree,
        training.schema(),
        LABELS,
        (&training, &targets[..]),
    )?)
}
