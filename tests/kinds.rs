//! Every built-in model kind: train with linfa, pack, register, load, serve,
//! and predict exactly as linfa does on 10,000 fresh rows.

#[path = "../examples/common/mod.rs"]
mod common;

use linfa::prelude::*;
use linfa_ensemble::RandomForestParams;
use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ModelKind, ReadOptions};
use modelhost::registry::{ModelRef, Registry};
use modelhost::{FeatureBatch, InProcessServer, ModelServer, PredictRequest};
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const FRESH: usize = 10_000;

fn training(n: usize, seed: u64) -> (FeatureBatch, Vec<usize>) {
    let (rows, labels) = common::webshop_data(n, seed, 0.0);
    (
        common::webshop_schema().validate_batch(&rows).unwrap(),
        labels,
    )
}

/// Fresh rows, encoded.
fn fresh() -> (Vec<modelhost::FeatureMap>, Array2<f64>) {
    let (rows, _) = common::webshop_data(FRESH, 4242, 0.3);
    let batch = common::webshop_schema().validate_batch(&rows).unwrap();
    (rows, batch.into_array())
}

/// Registers `artifact`, loads it back through the registry, and returns a
/// server of the loaded version.
fn serve(artifact: Artifact) -> (InProcessServer, modelhost::artifact::LoadedArtifact) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    let name = artifact.header().name.clone();
    let version = registry.register(artifact).unwrap();
    let loaded = registry
        .load(&ModelRef::Version(name, version), ReadOptions::new())
        .unwrap();
    let server = InProcessServer::new(loaded.deployment().unwrap()).unwrap();
    (server, loaded)
}

/// Three classes from the webshop truth: ignore, buy a small basket, buy a
/// large one.
fn three_classes(batch: &FeatureBatch, labels: &[usize]) -> Vec<usize> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if l == 0 {
                0
            } else if batch.row(i)[2] < 60.0 {
                1
            } else {
                2
            }
        })
        .collect()
}

fn assert_probabilities(p: &modelhost::model::Predictions, k: usize) {
    for i in 0..p.len() {
        let row = p.probabilities(i).expect("probabilities");
        assert_eq!(row.len(), k);
        assert!((row.sum() - 1.0).abs() < 1e-9, "row {i}: {row}");
    }
}

#[test]
fn binary_logistic_regression_round_trips_with_linfa_parity() {
    let (batch, labels) = training(3_000, 1);
    let model = linfa_logistic::LogisticRegression::default()
        .max_iterations(200)
        .fit(&Dataset::new(batch.rows().to_owned(), Array1::from(labels)))
        .unwrap();
    let schema = common::webshop_schema();
    let artifact =
        Artifact::logistic_regression("logit", &model, &schema, common::LABELS, &batch).unwrap();
    assert_eq!(artifact.header().model_kind, ModelKind::LOGISTIC_REGRESSION);
    let (server, loaded) = serve(artifact);

    let (rows, x) = fresh();
    let ours = loaded.model.predict_batch(x.view()).unwrap();
    let theirs = model.predict(&x);
    assert_eq!(ours.class_indices().unwrap(), theirs.as_slice().unwrap());
    let p = model.predict_probabilities(&x);
    for i in 0..FRESH {
        let buy = ours.probabilities(i).unwrap()[1];
        assert!((buy - p[i]).abs() < 1e-9, "row {i}: {buy} vs {}", p[i]);
    }
    assert_probabilities(&ours, 2);

    let r = server.predict(PredictRequest::new(&rows[0])).unwrap();
    assert_eq!(r.label(0), Some(common::LABELS[theirs[0]]));
    assert!(r.predictions.probabilities(0).is_some());
}

#[test]
fn multinomial_logistic_regression_round_trips_with_linfa_parity() {
    let (batch, labels) = training(3_000, 2);
    let classes = three_classes(&batch, &labels);
    let model = linfa_logistic::MultiLogisticRegression::default()
        .max_iterations(200)
        .fit(&Dataset::new(
            batch.rows().to_owned(),
            Array1::from(classes),
        ))
        .unwrap();
    let schema = common::webshop_schema();
    let names = ["ignore", "small", "large"];
    let artifact =
        Artifact::multinomial_logistic_regression("multi", &model, &schema, names, &batch).unwrap();
    let (server, loaded) = serve(artifact);

    let (rows, x) = fresh();
    let ours = loaded.model.predict_batch(x.view()).unwrap();
    let theirs = model.predict(&x);
    assert_eq!(ours.class_indices().unwrap(), theirs.as_slice().unwrap());
    let p = model.predict_probabilities(&x);
    for i in 0..FRESH {
        for (j, &class) in model.classes().iter().enumerate() {
            let got = ours.probabilities(i).unwrap()[class];
            assert!((got - p[(i, j)]).abs() < 1e-9, "row {i} class {class}");
        }
    }
    assert_probabilities(&ours, 3);
    let r = server.predict(PredictRequest::new(&rows[1])).unwrap();
    assert_eq!(r.label(0), Some(names[theirs[1]]));
}

#[test]
fn random_forest_round_trips_with_linfa_parity() {
    let (batch, labels) = training(3_000, 3);
    let rng = Xoshiro256PlusPlus::seed_from_u64(7);
    // An odd number of trees and two classes: linfa's vote has no ties.
    let forest = RandomForestParams::new_fixed_rng(DecisionTree::params().max_depth(Some(6)), rng)
        .ensemble_size(15)
        .bootstrap_proportion(0.7)
        .feature_proportion(0.6)
        .fit(&Dataset::new(batch.rows().to_owned(), Array1::from(labels)))
        .unwrap();
    let schema = common::webshop_schema();
    let artifact =
        Artifact::random_forest("forest", &forest, &schema, common::LABELS, &batch).unwrap();
    let (server, loaded) = serve(artifact);

    let (rows, x) = fresh();
    let ours = loaded.model.predict_batch(x.view()).unwrap();
    let theirs: Array1<usize> = forest.predict(&x);
    assert_eq!(ours.class_indices().unwrap(), theirs.as_slice().unwrap());
    assert_probabilities(&ours, 2);
    // Vote shares are multiples of 1/15.
    let share = ours.probabilities(0).unwrap()[1] * 15.0;
    assert!((share - share.round()).abs() < 1e-9);
    let r = server.predict(PredictRequest::new(&rows[2])).unwrap();
    assert_eq!(r.label(0), Some(common::LABELS[theirs[2]]));
}

#[test]
fn linear_regression_round_trips_with_linfa_parity() {
    let (batch, _) = training(3_000, 4);
    let x = batch.rows().to_owned();
    let y: Array1<f64> = x
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, r)| 0.5 * r[1] - 0.1 * r[0] + r[2] / 100.0 + (i % 7) as f64 * 0.01)
        .collect();
    let model = linfa_linear::LinearRegression::default()
        .fit(&Dataset::new(x, y))
        .unwrap();
    let schema = common::webshop_schema();
    let artifact = Artifact::linear_regression("spend", &model, &schema, &batch).unwrap();
    let (server, loaded) = serve(artifact);

    let (rows, x) = fresh();
    let ours = loaded.model.predict_batch(x.view()).unwrap();
    let theirs = model.predict(&x);
    for (i, (a, b)) in ours.score_values().unwrap().iter().zip(&theirs).enumerate() {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "row {i}: {a} vs {b}"
        );
    }
    let r = server.predict(PredictRequest::new(&rows[3])).unwrap();
    assert!((r.predictions.score_values().unwrap()[0] - theirs[3]).abs() < 1e-9);
}

#[test]
fn decision_tree_round_trips_with_linfa_parity_and_leaf_distributions() {
    let (batch, labels) = training(3_000, 5);
    let tree = DecisionTree::params()
        .max_depth(Some(7))
        .fit(&Dataset::new(
            batch.rows().to_owned(),
            Array1::from(labels.clone()),
        ))
        .unwrap();
    let schema = common::webshop_schema();
    let artifact = Artifact::decision_tree(
        "tree",
        &tree,
        &schema,
        common::LABELS,
        (&batch, &labels[..]),
    )
    .unwrap();
    let (_, loaded) = serve(artifact);
    let (_, x) = fresh();
    let ours = loaded.model.predict_batch(x.view()).unwrap();
    let theirs = tree.predict(&x);
    assert_eq!(ours.class_indices().unwrap(), theirs.as_slice().unwrap());
    assert_probabilities(&ours, 2);

    // On the training rows, each leaf's share of "buy" is the share of
    // buyers among the training rows that reach it: the mean predicted
    // probability equals the base rate.
    let train = loaded.model.predict_batch(batch.rows()).unwrap();
    let mean: f64 = (0..train.len())
        .map(|i| train.probabilities(i).unwrap()[1])
        .sum::<f64>()
        / 3_000.0;
    let base = labels.iter().sum::<usize>() as f64 / 3_000.0;
    assert!((mean - base).abs() < 1e-9, "{mean} vs {base}");
}

/// Hostile payloads of every new kind: every truncation is refused with a
/// typed error, every bit flip leaves a typed error or a valid model.
#[test]
fn every_kind_refuses_truncated_payloads_and_survives_bit_flips() {
    let (batch, labels) = training(400, 6);
    let schema = common::webshop_schema();
    let data = Dataset::new(batch.rows().to_owned(), Array1::from(labels.clone()));
    let logit = linfa_logistic::LogisticRegression::default()
        .max_iterations(20)
        .fit(&data)
        .unwrap();
    let forest = RandomForestParams::new_fixed_rng(
        DecisionTree::params().max_depth(Some(3)),
        Xoshiro256PlusPlus::seed_from_u64(1),
    )
    .ensemble_size(3)
    .fit(&data)
    .unwrap();
    let artifacts = [
        Artifact::logistic_regression("a", &logit, &schema, common::LABELS, &batch).unwrap(),
        Artifact::random_forest("b", &forest, &schema, common::LABELS, &batch).unwrap(),
    ];
    for artifact in artifacts {
        let bytes = artifact.to_bytes().unwrap();
        let h = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        let header = bytes[28..28 + h].to_vec();
        let payload = bytes[28 + h..bytes.len() - 32].to_vec();
        let reseal = |payload: &[u8]| {
            // Same header, other payload, fresh checksum.
            let mut out = bytes[..12].to_vec();
            out.extend_from_slice(&(header.len() as u64).to_le_bytes());
            out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            out.extend_from_slice(&header);
            out.extend_from_slice(payload);
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&out);
            out.extend_from_slice(&digest);
            Artifact::from_bytes(&out, ReadOptions::new())
                .and_then(|a| a.into_loaded(ReadOptions::new()))
        };
        assert!(reseal(&payload).is_ok());
        for len in 0..payload.len() {
            let e = reseal(&payload[..len]).expect_err("truncated payload accepted");
            assert!(
                matches!(
                    e,
                    modelhost::artifact::ArtifactError::Payload { .. }
                        | modelhost::artifact::ArtifactError::InvalidModel { .. }
                ),
                "{e}"
            );
        }
        let mut copy = payload.clone();
        for i in 0..payload.len() {
            for bit in 0..8 {
                copy[i] ^= 1 << bit;
                let _ = reseal(&copy);
                copy[i] = payload[i];
            }
        }
    }
}
