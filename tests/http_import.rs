//! Models trained in Python, imported and served over HTTP: the Open
//! Inference Protocol lists and returns their probabilities in label
//! order, and MLflow's `predict_proba` answers them too, equal to the
//! in-process predictions (which `tests/import.rs` holds to the libraries').

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use modelhost::import::{self, ImportFormat, ImportOptions, SchemaFile};
use modelhost::transport::http::HttpTransport;
use modelhost::{Deployment, FeatureMap, InProcessServer, ModelServer, PredictRequest};
use serde_json::{Value, json};
use support::http::Running;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/import")
        .join(file)
}

fn server(
    name: &str,
    format: ImportFormat,
    file: &str,
) -> (Arc<InProcessServer>, modelhost::FeatureSchema) {
    let schema = SchemaFile::read(data("schema.json")).unwrap();
    let imported =
        import::import_file(format, data(file), Some(&schema), &ImportOptions::new()).unwrap();
    let schema = modelhost::Model::schema(&imported.model).clone();
    (
        Arc::new(InProcessServer::new(Deployment::new(name, 1, imported.model)).unwrap()),
        schema,
    )
}

/// Rows from the checked-in data without missing values (JSON has no NaN).
fn rows() -> Vec<FeatureMap> {
    let text = std::fs::read_to_string(data("data.csv")).unwrap();
    let levels = ["a", "b", "c", "d", "e"];
    text.lines()
        .skip(1)
        .filter(|l| !l.contains("nan"))
        .take(8)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            let mut m = FeatureMap::new();
            for (j, f) in ["f0", "f1", "f2", "f3", "f4"].iter().enumerate() {
                m = m.with(*f, v[j]);
            }
            m.with("cat", levels[v[5] as usize])
        })
        .collect()
}

const MODELS: [(&str, ImportFormat, &str, usize); 3] = [
    ("xgb", ImportFormat::Xgboost, "xgb_softprob.json", 3),
    ("lgb", ImportFormat::LightGbm, "lgb_binary.txt", 2),
    ("forest", ImportFormat::Sklearn, "sk_forest_clf.json", 3),
];

#[test]
fn oip_returns_the_probabilities_of_imported_models() {
    let rows = rows();
    for (name, format, file, classes) in MODELS {
        let (server, schema) = server(name, format, file);
        let s = Running::start(HttpTransport::new().model(server.clone()).build().unwrap());
        let meta = s.get(&format!("/v2/models/{name}")).json();
        assert_eq!(meta["outputs"][1]["name"], "probabilities", "{name}");
        let inputs = support::http::oip_inputs(&schema, &rows);
        let reply = s.post(
            &format!("/v2/models/{name}/infer"),
            json!({ "inputs": inputs, "outputs": [{"name": "label"}, {"name": "probabilities"}] })
                .to_string(),
        );
        assert_eq!(
            reply.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let v = reply.json();
        let direct = server.predict(PredictRequest::rows(&rows[..])).unwrap();
        let out = &v["outputs"][1];
        assert_eq!(out["shape"], json!([rows.len(), classes]), "{name}");
        let data: Vec<f64> = serde_json::from_value(out["data"].clone()).unwrap();
        for i in 0..rows.len() {
            assert_eq!(
                data[classes * i..classes * (i + 1)],
                direct.predictions.probabilities(i).unwrap().to_vec()[..],
                "{name} row {i}"
            );
            assert_eq!(
                v["outputs"][0]["data"][i],
                Value::from(direct.predictions.label(i, &direct.output).unwrap()),
            );
        }
    }
}

#[test]
fn mlflow_predict_proba_answers_imported_models() {
    let rows = rows();
    let records: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    for (name, format, file, classes) in MODELS {
        let (server, _) = server(name, format, file);
        let s = Running::start(HttpTransport::new().model(server.clone()).build().unwrap());
        let body = json!({ "dataframe_records": records, "params": { "predict_method": "predict_proba" } });
        let reply = s.post_with(
            "/invocations",
            &[("content-type", "application/json")],
            body.to_string(),
        );
        assert_eq!(
            reply.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let p: Vec<Vec<f64>> = serde_json::from_value(reply.json()["predictions"].clone()).unwrap();
        let direct = server.predict(PredictRequest::rows(&rows[..])).unwrap();
        assert_eq!(p.len(), rows.len());
        for (i, row) in p.iter().enumerate() {
            assert_eq!(row.len(), classes);
            assert_eq!(
                row[..],
                direct.predictions.probabilities(i).unwrap().to_vec()[..]
            );
        }
    }
}
