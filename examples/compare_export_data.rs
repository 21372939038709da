//! Export the webshop training data for the side-by-side comparison in
//! `bench/compare/`, so that the Python stacks train on exactly the rows the
//! production recommender (version 2 of `webshop_train`: seed 2, 8,000 rows,
//! depth 8) was trained on.
//!
//! Run with `cargo run --example compare_export_data -- DIR`. Writes
//!
//! - `DIR/train.csv`: the 8,000 training rows after schema validation, i.e.
//!   encoded as the model sees them (device as its vocabulary index
//!   mobile=0, desktop=1, tablet=2; is_returning as 0/1), with the label
//!   (0 = ignore, 1 = buy) as the last column;
//! - `DIR/check.csv`: a few other customers (seed 77) in the same encoding,
//!   which every benchmark target must predict correctly before it is
//!   measured;
//! - `DIR/holdout.csv`: the 2,000 holdout rows `webshop_train` evaluates on
//!   (seed 99), to compare the predictions of the Rust and Python trees.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use modelhost::FeatureBatch;

fn csv(schema: &modelhost::FeatureSchema, batch: &FeatureBatch, labels: &[usize]) -> String {
    let mut out = String::new();
    for f in schema.features() {
        out.push_str(f.name());
        out.push(',');
    }
    out.push_str("label\n");
    for (i, &label) in labels.iter().enumerate() {
        for v in batch.row(i) {
            // Shortest representation that reads back to the same f64.
            write!(out, "{v:?},").expect("writing to a String cannot fail");
        }
        writeln!(out, "{label}").expect("writing to a String cannot fail");
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "compare-data".to_owned()),
    );
    std::fs::create_dir_all(&dir)?;
    let schema = common::webshop_schema();

    // Must match the "deep" candidate of examples/webshop_train.rs.
    let (rows, labels) = common::webshop_data(8_000, 2, 0.0);
    let training = schema.validate_batch(&rows)?;
    std::fs::write(dir.join("train.csv"), csv(&schema, &training, &labels))?;

    let (rows, labels) = common::webshop_data(16, 77, 0.0);
    let check = schema.validate_batch(&rows)?;
    std::fs::write(dir.join("check.csv"), csv(&schema, &check, &labels))?;

    let (rows, labels) = common::webshop_data(2_000, 99, 0.0);
    let holdout = schema.validate_batch(&rows)?;
    std::fs::write(dir.join("holdout.csv"), csv(&schema, &holdout, &labels))?;

    println!(
        "wrote {} training, {} check and {} holdout rows to {}",
        training.len(),
        check.len(),
        holdout.len(),
        dir.display()
    );
    Ok(())
}
