//! A recommender trained in Python, served by modelhost.
//!
//! The webshop's data scientist works in Python with LightGBM; the backend
//! is Rust. This example walks the hand-over end to end. Run, from the
//! repository root (the Python step needs `pip install lightgbm pandas`):
//!
//! ```sh
//! cargo run --example import_recommender -- export /tmp/shop
//! python examples/python/train_recommender.py /tmp/shop
//! cargo run --features cli --bin modelhost -- import --format lightgbm /tmp/shop/recommender.txt \
//!     --schema /tmp/shop/schema.json --reference /tmp/shop/train.csv \
//!     --registry /tmp/shop/registry --name recommender
//! cargo run --example import_recommender -- serve /tmp/shop
//! ```
//!
//! 1. `export` writes the webshop's training and holdout data as CSV (the
//!    same deterministic generator the other examples use) and the schema
//!    file that says what each feature may be: the import keeps it.
//! 2. The Python script trains a LightGBM classifier ("will this customer
//!    buy the recommended product?") and saves the model and its own
//!    predictions for the holdout rows.
//! 3. `modelhost import` checks the model file, builds the native tree
//!    ensemble and registers it as version 1 of `recommender`, with drift
//!    statistics and warm-up rows from the training CSV.
//! 4. `serve` loads `recommender` from the registry into an
//!    `InProcessServer`, as a backend would, predicts every holdout
//!    customer from named features, and compares with what LightGBM
//!    predicted in Python.

mod common;

use std::path::{Path, PathBuf};

use modelhost::artifact::ReadOptions;
use modelhost::{FeatureMap, FeatureValue, InProcessServer, ModelServer, PredictRequest, Registry};

fn main() -> modelhost::Result<()> {
    let mut args = std::env::args().skip(1);
    let (command, dir) = match (args.next(), args.next()) {
        (Some(c), Some(d)) => (c, PathBuf::from(d)),
        _ => {
            eprintln!("usage: import_recommender export|serve DIR (see the example's docs)");
            std::process::exit(2);
        }
    };
    match command.as_str() {
        "export" => export(&dir),
        "serve" => serve(&dir),
        other => {
            eprintln!("unknown command `{other}`: export or serve");
            std::process::exit(2);
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> modelhost::Error + '_ {
    move |e| {
        modelhost::artifact::ArtifactError::Io {
            path: path.display().to_string(),
            source: std::sync::Arc::new(e),
        }
        .into()
    }
}

/// A CSV field for one feature value.
fn field(v: Option<&FeatureValue>) -> String {
    match v {
        Some(FeatureValue::Float(x)) => x.to_string(),
        Some(FeatureValue::Int(x)) => x.to_string(),
        Some(FeatureValue::Bool(b)) => u8::from(*b).to_string(),
        Some(FeatureValue::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Step 1: the data and the schema file.
fn export(dir: &Path) -> modelhost::Result<()> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let schema = common::webshop_schema();
    let names: Vec<&str> = schema.features().iter().map(|f| f.name()).collect();
    for (file, n, seed) in [("train.csv", 6_000, 21), ("holdout.csv", 2_000, 22)] {
        let (rows, labels) = common::webshop_data(n, seed, 0.0);
        let mut csv = format!("{},label\n", names.join(","));
        for (row, label) in rows.iter().zip(labels) {
            let fields: Vec<String> = names.iter().map(|n| field(row.get(n))).collect();
            csv.push_str(&format!("{},{label}\n", fields.join(",")));
        }
        let path = dir.join(file);
        std::fs::write(&path, csv).map_err(io(&path))?;
        println!("wrote {} ({n} customers)", path.display());
    }
    // The schema file: the webshop's features (bounds, the device
    // vocabulary in the order of the codes the model is trained on) and
    // the class labels.
    let file = serde_json::json!({ "features": schema.features(), "labels": common::LABELS });
    let path = dir.join("schema.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file).expect("json")).map_err(io(&path))?;
    println!("wrote {}", path.display());
    println!(
        "next: python examples/python/train_recommender.py {}",
        dir.display()
    );
    Ok(())
}

/// Step 4: serve the imported model and compare with Python.
fn serve(dir: &Path) -> modelhost::Result<()> {
    let registry = Registry::open(dir.join("registry"))?;
    let loaded = registry.load(&"recommender".parse()?, ReadOptions::new())?;
    println!(
        "loaded recommender version {} ({}, tags {:?}), {} warm-up rows reproduced",
        loaded.header.version,
        loaded.header.model_kind,
        loaded.header.tags,
        loaded.header.warmup.rows.len()
    );
    let server = InProcessServer::new(loaded.deployment()?)?;

    // The holdout customers, as the backend would see them: named features.
    let path = dir.join("holdout.csv");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let customers: Vec<FeatureMap> = lines
        .map(|line| {
            let mut m = FeatureMap::new();
            for (name, v) in head.iter().zip(line.split(',')) {
                let value: FeatureValue = match *name {
                    "label" => continue,
                    "device" => v.into(),
                    "is_returning" => (v == "1").into(),
                    "recency_days" | "frequency" => v.parse::<i64>().unwrap_or(-1).into(),
                    _ => v.parse::<f64>().unwrap_or(f64::NAN).into(),
                };
                m.insert(*name, value);
            }
            m
        })
        .collect();

    // What LightGBM predicted in Python: P(buy) per holdout customer.
    let path = dir.join("python_predictions.csv");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let python: Vec<f64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.parse().ok())
        .collect();

    let response = server.predict(PredictRequest::rows(&customers[..]))?;
    let mut max_diff = 0.0f64;
    let mut same_class = 0;
    for (i, &p_python) in python.iter().enumerate() {
        let p = response
            .predictions
            .probabilities(i)
            .map_or(f64::NAN, |p| p[1]);
        max_diff = max_diff.max((p - p_python).abs());
        if (p > 0.5) == (p_python > 0.5) {
            same_class += 1;
        }
    }
    println!("first customers:");
    for i in 0..3.min(customers.len()) {
        println!(
            "  {:?} -> {} (P(buy) {:.4}, Python {:.4})",
            customers[i],
            response.label(i).unwrap_or("?"),
            response
                .predictions
                .probabilities(i)
                .map_or(f64::NAN, |p| p[1]),
            python[i]
        );
    }
    println!(
        "{} customers: the same decision as Python for {same_class}, largest probability difference {max_diff:.2e}",
        python.len()
    );
    Ok(())
}
