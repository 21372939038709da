//! Quickstart: from raw webshop features to a checked prediction.
//!
//! Run with `cargo run --example quickstart`. It walks through:
//! 1. describing what the recommender's input must look like (a schema),
//! 2. training a decision tree on deterministic synthetic webshop data,
//! 3. validating a good request and a bad one (every violation is printed),
//! 4. predicting with the validated row.

mod common;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::{Error, FeatureMap, LinfaModel, Model};

fn main() -> modelhost::Result<()> {
    // 1. The schema is the contract between the webshop backend and the model:
    //    ordered, named features with kinds, ranges and vocabularies.
    let schema = common::webshop_schema();
    println!("The recommender takes {} features:", schema.len());
    for f in schema.features() {
        let presence = if f.is_required() {
            "required"
        } else {
            "optional"
        };
        println!("  {:<14} {presence}, {}", f.name(), f.kind());
    }

    // 2. Training data goes through the same schema as live traffic, so the
    //    model sees exactly the encoding it will see in production.
    let (rows, labels) = common::webshop_data(4_000, 7, 0.0);
    let train = schema.validate_batch(&rows)?;
    let dataset = Dataset::new(train.into_array(), ndarray::Array1::from(labels));
    let (train, holdout) = dataset.split_with_ratio(0.8);
    let tree = DecisionTree::params()
        .max_depth(Some(6))
        .fit(&train)
        .map_err(Error::model)?;
    let accuracy = tree
        .predict(&holdout)
        .confusion_matrix(&holdout)
        .map_err(Error::model)?
        .accuracy();
    println!("\nTrained a depth-6 decision tree: holdout accuracy {accuracy:.3}");

    // Wrap it: the adapter knows the schema and the label vocabulary, and
    // refuses matrices of the wrong width instead of panicking inside linfa.
    let model = LinfaModel::decision_tree(tree, schema.clone(), common::LABELS)?;

    // 3a. A good request, as JSON from the shop's frontend. `is_returning`
    //     is optional and defaults to false.
    let good: FeatureMap = serde_json::from_str(
        r#"{"recency_days": 2, "frequency": 14, "basket_value": 180.5,
            "product_price": 19.99, "device": "desktop"}"#,
    )
    .expect("valid JSON");
    let row = schema.validate(&good)?;
    println!("\nGood request encodes to {:?}", row.as_slice());

    // 4. Predict. The response names a label from the model's vocabulary.
    let prediction = model.predict_vector(&row)?;
    println!(
        "Prediction: {}",
        prediction.label(0, model.output()).unwrap_or("?")
    );

    // 3b. A bad request: a negative recency, a string where a number belongs,
    //     an unknown device, a missing price and a feature the model never
    //     saw. Validation reports all of them at once.
    let bad: FeatureMap = serde_json::from_str(
        r#"{"recency_days": -4, "frequency": "12", "basket_value": 80.0,
            "device": "smart-fridge", "coupon_code": "XMAS"}"#,
    )
    .expect("valid JSON");
    match schema.validate(&bad) {
        Ok(_) => println!("\nUnexpectedly valid!"),
        Err(err) => {
            println!(
                "\nBad request rejected with {} violations:",
                err.violations().len()
            );
            for v in err.violations() {
                println!("  - {v}");
            }
        }
    }
    Ok(())
}
