//! Every model kind over HTTP: the metadata lists exactly the outputs the
//! model produces, and a client asking for each of them gets it (OIP);
//! MLflow's `predict_proba` shape; ranking over HTTP.

#[path = "../examples/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;

use linfa::prelude::*;
use linfa_ensemble::RandomForestParams;
use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::Registry;
use modelhost::transport::http::HttpTransport;
use modelhost::{FeatureMap, InProcessServer, LinfaModel, ModelServer, PredictRequest};
use ndarray::Array1;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{Value, json};
use support::http::Running;

/// Trains every kind, registers it, loads it back from the registry.
fn servers() -> Vec<(&'static str, Arc<InProcessServer>)> {
    let schema = common::webshop_schema();
    let (rows, labels) = common::webshop_data(1_500, 4, 0.0);
    let training = schema.validate_batch(&rows).unwrap();
    let data = Dataset::new(training.rows().to_owned(), Array1::from(labels.clone()));
    let tree = DecisionTree::params()
        .max_depth(Some(6))
        .fit(&data)
        .unwrap();
    let forest = RandomForestParams::new_fixed_rng(
        DecisionTree::params().max_depth(Some(5)),
        Xoshiro256PlusPlus::seed_from_u64(2),
    )
    .ensemble_size(9)
    .fit(&data)
    .unwrap();
    let logistic = linfa_logistic::LogisticRegression::default()
        .max_iterations(100)
        .fit(&data)
        .unwrap();
    let y: Array1<f64> = training
        .rows()
        .rows()
        .into_iter()
        .map(|r| r[2] / 10.0 + r[1])
        .collect();
    let linear = linfa_linear::LinearRegression::default()
        .fit(&Dataset::new(training.rows().to_owned(), y))
        .unwrap();
    let artifacts = [
        (
            "tree",
            Artifact::decision_tree(
                "tree",
                &tree,
                &schema,
                common::LABELS,
                (&training, &labels[..]),
            )
            .unwrap(),
        ),
        (
            "forest",
            Artifact::random_forest("forest", &forest, &schema, common::LABELS, &training).unwrap(),
        ),
        (
            "logistic",
            Artifact::logistic_regression(
                "logistic",
                &logistic,
                &schema,
                common::LABELS,
                &training,
            )
            .unwrap(),
        ),
        (
            "linear",
            Artifact::linear_regression("linear", &linear, &schema, &training).unwrap(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    let mut out = Vec::new();
    for (name, artifact) in artifacts {
        registry.register(artifact).unwrap();
        let loaded = registry
            .load(&name.parse().unwrap(), ReadOptions::new())
            .unwrap();
        out.push((
            name,
            Arc::new(InProcessServer::new(loaded.deployment().unwrap()).unwrap()),
        ));
    }
    // A linfa tree served through the adapter: classes only.
    let model = LinfaModel::decision_tree(tree, schema, common::LABELS).unwrap();
    out.push((
        "plain",
        Arc::new(InProcessServer::new(modelhost::Deployment::new("plain", 1, model)).unwrap()),
    ));
    out
}

fn oip_inputs(rows: &[FeatureMap]) -> Value {
    support::http::oip_inputs(&common::webshop_schema(), rows)
}

#[test]
fn every_listed_output_answers_and_only_real_outputs_are_listed() {
    let (rows, _) = common::webshop_data(12, 31, 0.1);
    for (name, server) in servers() {
        let s = Running::start(HttpTransport::new().model(server.clone()).build().unwrap());
        let meta = s.get(&format!("/v2/models/{name}")).json();
        let outputs: Vec<String> = meta["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_owned())
            .collect();
        let expected: &[&str] = match name {
            "linear" => &["score"],
            "plain" => &["label"],
            _ => &["label", "probabilities"],
        };
        assert_eq!(outputs, expected, "{name}");
        if outputs.contains(&"probabilities".to_owned()) {
            assert_eq!(
                meta["outputs"][1]["parameters"]["labels"],
                json!(common::LABELS),
                "{name}: class order of probabilities"
            );
        }
        // A client asking for every listed output gets each of them.
        let requested: Vec<Value> = outputs.iter().map(|o| json!({ "name": o })).collect();
        let reply = s.post(
            &format!("/v2/models/{name}/infer"),
            json!({ "inputs": oip_inputs(&rows), "outputs": requested }).to_string(),
        );
        assert_eq!(
            reply.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let v = reply.json();
        let direct = server.predict(PredictRequest::rows(&rows[..])).unwrap();
        for (o, out) in outputs.iter().zip(v["outputs"].as_array().unwrap()) {
            assert_eq!(&out["name"], o);
            if o == "probabilities" {
                assert_eq!(out["shape"], json!([12, 2]), "{name}");
                let data: Vec<f64> = serde_json::from_value(out["data"].clone()).unwrap();
                for i in 0..12 {
                    assert_eq!(
                        data[2 * i..2 * i + 2],
                        direct.predictions.probabilities(i).unwrap().to_vec()[..]
                    );
                }
            }
        }
        // Outputs a model does not list are refused.
        if name == "plain" {
            let reply = s.post(
                "/v2/models/plain/infer",
                json!({ "inputs": oip_inputs(&rows), "outputs": [{ "name": "probabilities" }] })
                    .to_string(),
            );
            assert_eq!(reply.status, 400);
        }
    }
}

#[test]
fn mlflow_predict_proba_answers_one_probability_list_per_row() {
    let (rows, _) = common::webshop_data(5, 8, 0.0);
    let records: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    for (name, server) in servers() {
        let s = Running::start(HttpTransport::new().model(server.clone()).build().unwrap());
        let body = json!({ "dataframe_records": records, "params": { "predict_method": "predict_proba" } });
        let reply = s.post_with(
            "/invocations",
            &[("content-type", "application/json")],
            body.to_string(),
        );
        match name {
            "linear" | "plain" => assert_eq!(reply.status, 400, "{name}"),
            _ => {
                assert_eq!(
                    reply.status,
                    200,
                    "{name}: {}",
                    String::from_utf8_lossy(&reply.body)
                );
                let p: Vec<Vec<f64>> =
                    serde_json::from_value(reply.json()["predictions"].clone()).unwrap();
                let direct = server.predict(PredictRequest::rows(&rows[..])).unwrap();
                assert_eq!(p.len(), 5);
                for (i, row) in p.iter().enumerate() {
                    assert_eq!(
                        row[..],
                        direct.predictions.probabilities(i).unwrap().to_vec()[..]
                    );
                }
            }
        }
        // Without params: labels (or scores), as before.
        let reply = s.post_with(
            "/invocations",
            &[("content-type", "application/json")],
            json!({ "dataframe_records": records }).to_string(),
        );
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.json()["predictions"].as_array().unwrap().len(), 5);
    }
}

#[test]
fn rank_over_http_matches_the_in_process_ranking() {
    let (name, server) = servers()
        .into_iter()
        .find(|(n, _)| *n == "logistic")
        .unwrap();
    let s = Running::start(HttpTransport::new().model(server.clone()).build().unwrap());
    let session = FeatureMap::new()
        .with("recency_days", 3)
        .with("frequency", 4)
        .with("basket_value", 60.0)
        .with("device", "mobile")
        .with("is_returning", true);
    let candidates: Vec<FeatureMap> = (0..30)
        .map(|i| FeatureMap::new().with("product_price", 5.0 + 4.0 * f64::from(i)))
        .collect();
    let reply = s.post(
        &format!("/v2/models/{name}/rank"),
        json!({ "session": session, "candidates": candidates, "k": 3, "id": "visit-1" })
            .to_string(),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    let local = modelhost::rank::rank(
        &*server,
        modelhost::rank::RankRequest::new(&session, &candidates, 3),
    )
    .unwrap();
    assert_eq!(v["version"], json!(local.version));
    assert_eq!(v["id"], "visit-1");
    assert_eq!(v["label"], "buy");
    let got: Vec<usize> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(got, local.items.iter().map(|r| r.index).collect::<Vec<_>>());

    // An unknown label and a malformed body are the client's fault.
    let bad = s.post(
        &format!("/v2/models/{name}/rank"),
        json!({ "candidates": candidates, "k": 3, "label": "maybe" }).to_string(),
    );
    assert_eq!(bad.status, 400);
    let bad = s.post(&format!("/v2/models/{name}/rank"), r#"{"k": 3}"#);
    assert_eq!(bad.status, 400);
}

/// Triton's `classification` parameter: the top k classes of each row as
/// `"score:index:label"`, best first, agreeing with the probabilities; a
/// model without probabilities refuses it with 400.
#[test]
fn the_classification_parameter_answers_the_top_classes() {
    let (rows, _) = common::webshop_data(5, 7, 0.0);
    for (name, server) in servers() {
        let s = Running::start(HttpTransport::new().model(server).build().unwrap());
        let reply = s.post(
            &format!("/v2/models/{name}/infer"),
            json!({
                "inputs": oip_inputs(&rows),
                "outputs": [
                    { "name": "label", "parameters": { "classification": 2 } },
                ],
            })
            .to_string(),
        );
        match name {
            "linear" | "plain" => {
                assert_eq!(reply.status, 400, "{name}");
                continue;
            }
            _ => assert_eq!(
                reply.status,
                200,
                "{name}: {}",
                String::from_utf8_lossy(&reply.body)
            ),
        }
        let out = &reply.json()["outputs"][0];
        assert_eq!(out["shape"], json!([5, 2]), "{name}");
        let cells: Vec<&str> = out["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        // The same rows' probabilities, to check the cells against.
        let probs = s.post(
            &format!("/v2/models/{name}/infer"),
            json!({ "inputs": oip_inputs(&rows), "outputs": [{ "name": "probabilities" }] })
                .to_string(),
        );
        let p = probs.json()["outputs"][0]["data"].clone();
        for (i, pair) in cells.chunks(2).enumerate() {
            let parse = |cell: &str| {
                let mut parts = cell.splitn(3, ':');
                let score: f64 = parts.next().unwrap().parse().unwrap();
                let index: usize = parts.next().unwrap().parse().unwrap();
                (score, index, parts.next().unwrap().to_owned())
            };
            let (s0, i0, l0) = parse(pair[0]);
            let (s1, i1, _) = parse(pair[1]);
            assert!(s0 >= s1, "{name}: best first: {pair:?}");
            assert_ne!(i0, i1);
            assert_eq!(l0, common::LABELS[i0]);
            let expected = p[i * 2 + i0].as_f64().unwrap();
            assert!((s0 - expected).abs() < 1e-6, "{name}: {s0} vs {expected}");
        }
    }
}
