//! The HTTP transport over a real loopback socket with a real client:
//! every endpoint, status code, the binary tensor extension, limits, auth,
//! version selection, graceful shutdown, and malformed bodies.
#![cfg(feature = "http")]

#[path = "../examples/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use linfa_trees::DecisionTree;
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::registry::Registry;
use modelhost::server::{Health, ModelMetadata};
use modelhost::transport::TransportError;
use modelhost::transport::http::{Blocking, HttpTransport};
use modelhost::{
    Error, FeatureMap, InProcessServer, LinfaModel, ModelServer, PredictRequest, PredictResponse,
};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::http::{Reply, Running};
use support::{MockModel, POISON};

fn tree(depth: usize, seed: u64) -> (DecisionTree<f64, usize>, modelhost::FeatureBatch) {
    let (batch, tree) = common::train_tree(600, seed, depth).unwrap();
    (tree, batch)
}

/// An in-process webshop recommender, version `version`.
fn webshop_server(version: u64) -> Arc<InProcessServer> {
    let (tree, _) = tree(5, 1);
    let model = LinfaModel::decision_tree(tree, common::webshop_schema(), common::LABELS).unwrap();
    Arc::new(
        InProcessServer::new(modelhost::Deployment::new("recommender", version, model)).unwrap(),
    )
}

/// A registry with two recommender versions (production -> 1), and a server
/// serving version 1.
fn registry_fixture() -> (tempfile::TempDir, Registry, Arc<InProcessServer>) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::open(dir.path()).unwrap();
    for (depth, seed) in [(2, 1), (6, 2)] {
        let (tree, batch) = tree(depth, seed);
        let artifact = Artifact::decision_tree(
            "recommender",
            &tree,
            &common::webshop_schema(),
            common::LABELS,
            &batch,
        )
        .unwrap();
        registry.register(artifact).unwrap();
    }
    registry.set_alias("recommender", "production", 1).unwrap();
    let loaded = registry
        .load(
            &"recommender@production".parse().unwrap(),
            ReadOptions::new(),
        )
        .unwrap();
    let server = Arc::new(InProcessServer::new(loaded.deployment().unwrap()).unwrap());
    (dir, registry, server)
}

fn start(server: Arc<InProcessServer>) -> Running {
    Running::start(HttpTransport::new().model(server).build().unwrap())
}

/// One OIP input per feature for `rows`, JSON data.
fn oip_inputs(rows: &[FeatureMap]) -> Value {
    support::http::oip_inputs(&common::webshop_schema(), rows)
}

fn expected_labels(server: &InProcessServer, rows: &[FeatureMap]) -> Vec<String> {
    let r = server.predict(PredictRequest::rows(rows)).unwrap();
    (0..r.len())
        .map(|i| r.label(i).unwrap().to_owned())
        .collect()
}

fn labels_of(reply: &Reply) -> Vec<String> {
    let v = reply.json();
    let out = v["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "label")
        .unwrap()
        .clone();
    serde_json::from_value(out["data"].clone()).unwrap()
}

#[test]
fn health_and_metadata() {
    let server = webshop_server(3);
    let s = start(server);
    let live = s.get("/v2/health/live");
    assert_eq!(
        (live.status, live.json()["live"].clone()),
        (200, json!(true))
    );
    assert_eq!(s.get("/v2/health/ready").status, 200);
    let meta = s.get("/v2").json();
    assert_eq!(meta["name"], "modelhost");
    assert_eq!(meta["extensions"], json!(["binary_tensor_data"]));

    let m = s.get("/v2/models/recommender");
    assert_eq!(m.status, 200);
    let m = m.json();
    assert_eq!(m["versions"], json!(["3"]));
    let datatypes: Vec<(String, String)> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().into(),
                i["datatype"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(datatypes[0], ("recency_days".into(), "INT64".into()));
    assert_eq!(datatypes[2], ("basket_value".into(), "FP64".into()));
    assert_eq!(datatypes[4], ("device".into(), "BYTES".into()));
    assert_eq!(datatypes[5], ("is_returning".into(), "BOOL".into()));
    assert_eq!(m["outputs"][0]["name"], "label");

    assert_eq!(s.get("/v2/models/recommender/ready").status, 200);
    assert_eq!(s.get("/v2/models/recommender/versions/3").status, 200);
    assert_eq!(s.get("/v2/models/recommender/versions/3/ready").status, 200);
    let missing = s.get("/v2/models/recommender/versions/4");
    assert_eq!(missing.status, 404);
    assert!(missing.error().contains("version 4"), "{}", missing.error());
    assert_eq!(s.get("/v2/models/recommender/versions/abc").status, 400);
    assert_eq!(s.get("/v2/models/recommender/versions/0/ready").status, 400);
    let unknown = s.get("/v2/models/nope");
    assert_eq!(unknown.status, 404);
    assert!(unknown.error().contains("nope"));
    let route = s.get("/v3/whatever");
    assert_eq!(route.status, 404);
    assert!(!route.error().is_empty());
    let method = s.post("/v2/health/live", "{}");
    assert_eq!(method.status, 405);
    assert!(!method.error().is_empty());
}

#[test]
fn infer_json_matches_in_process_predictions() {
    let server = webshop_server(1);
    let s = start(server.clone());
    let (rows, _) = common::webshop_data(25, 77, 0.2);
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "id": "req-9", "inputs": oip_inputs(&rows) }).to_string(),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let v = reply.json();
    assert_eq!(
        (v["id"].clone(), v["model_version"].clone()),
        (json!("req-9"), json!("1"))
    );
    assert_eq!(v["model_name"], "recommender");
    assert_eq!(v["outputs"][0]["shape"], json!([25]));
    assert_eq!(labels_of(&reply), expected_labels(&server, &rows));

    // [N, 1] shapes and nested data are accepted too; INT32 and FP32 cast.
    let mut inputs = oip_inputs(&rows[..2]);
    for i in inputs.as_array_mut().unwrap() {
        let data: Vec<Value> = i["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| json!([d]))
            .collect();
        i["data"] = Value::Array(data);
        i["shape"] = json!([2, 1]);
        if i["datatype"] == "INT64" {
            i["datatype"] = json!("INT32");
        }
    }
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": inputs }).to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.error());
    assert_eq!(labels_of(&reply), expected_labels(&server, &rows[..2]));

    // Explicit outputs: asking for `score` of a classifier is an error.
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": oip_inputs(&rows[..1]), "outputs": [{ "name": "score" }] }).to_string(),
    );
    assert_eq!(reply.status, 400);
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": oip_inputs(&rows[..1]), "outputs": [{ "name": "bogus" }] }).to_string(),
    );
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("bogus"));
}

#[test]
fn encoded_matrix_is_validated_against_the_schema() {
    let server = webshop_server(1);
    let s = start(server.clone());
    let (rows, _) = common::webshop_data(4, 5, 0.0);
    let batch = common::webshop_schema().validate_batch(&rows).unwrap();
    let data: Vec<f64> = batch.rows().iter().copied().collect();
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": [{ "name": "input", "shape": [4, 6], "datatype": "FP64", "data": data }] })
            .to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.error());
    assert_eq!(labels_of(&reply), expected_labels(&server, &rows));

    // Fractional days, a negative basket, a device index out of range, a
    // boolean of 2: every bad feature is named; nothing reaches the model.
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": [{ "name": "input", "shape": [1, 6], "datatype": "FP32",
                             "data": [1.5, 2, -3, 10, 3, 2] }] })
        .to_string(),
    );
    assert_eq!(reply.status, 400);
    let e = reply.error();
    for f in ["recency_days", "basket_value", "device", "is_returning"] {
        assert!(e.contains(f), "{f} missing from {e}");
    }
    assert!(
        !e.contains("product_price") && !e.contains("`frequency`"),
        "{e}"
    );

    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": [{ "name": "input", "shape": [1, 5], "datatype": "FP64", "data": [1, 2, 3, 4, 0] }] })
            .to_string(),
    );
    assert_eq!(reply.status, 400);
    assert!(
        reply.error().contains("recency_days, frequency"),
        "{}",
        reply.error()
    );
}

#[test]
fn schema_violations_name_every_feature() {
    let s = start(webshop_server(1));
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": [
            { "name": "recency_days", "shape": [1], "datatype": "INT64", "data": [-4] },
            { "name": "basket_value", "shape": [1], "datatype": "FP64", "data": [10.0] },
            { "name": "product_price", "shape": [1], "datatype": "BYTES", "data": ["cheap"] },
            { "name": "device", "shape": [1], "datatype": "BYTES", "data": ["fridge"] },
            { "name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"] },
        ] })
        .to_string(),
    );
    assert_eq!(reply.status, 400);
    let e = reply.error();
    for f in [
        "recency_days",
        "frequency",
        "product_price",
        "device",
        "colour",
    ] {
        assert!(e.contains(&format!("`{f}`")), "{f} missing from {e}");
    }
}

/// BYTES elements: 4-byte little-endian length, then the bytes.
fn bytes_elements(items: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// Splits a binary-extension response into its JSON header and raw outputs.
fn split_binary(reply: &Reply) -> (Value, Vec<u8>) {
    let n: usize = reply
        .header("inference-header-content-length")
        .expect("binary response has the header")
        .parse()
        .unwrap();
    (
        serde_json::from_slice(&reply.body[..n]).unwrap(),
        reply.body[n..].to_vec(),
    )
}

fn decode_bytes(mut raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let len = u32::from_le_bytes(raw[..4].try_into().unwrap()) as usize;
        out.push(String::from_utf8(raw[4..4 + len].to_vec()).unwrap());
        raw = &raw[4 + len..];
    }
    out
}

/// A binary request for `rows` as tritonclient builds one: every input in
/// binary, and `binary_data_output` when no outputs are named.
fn binary_request(rows: &[FeatureMap], outputs: Option<Value>) -> (Vec<u8>, usize) {
    let n = rows.len();
    let get = |name: &str| -> Vec<modelhost::FeatureValue> {
        rows.iter().map(|r| r.get(name).unwrap().clone()).collect()
    };
    let int = |name: &str| -> Vec<u8> {
        get(name)
            .into_iter()
            .flat_map(|v| match v {
                modelhost::FeatureValue::Int(i) => i.to_le_bytes(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let float = |name: &str| -> Vec<u8> {
        get(name)
            .into_iter()
            .flat_map(|v| match v {
                modelhost::FeatureValue::Float(f) => f.to_le_bytes(),
                modelhost::FeatureValue::Int(i) => (i as f64).to_le_bytes(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let devices: Vec<String> = get("device")
        .into_iter()
        .map(|v| v.to_string().trim_matches('"').to_owned())
        .collect();
    let devices: Vec<&str> = devices.iter().map(String::as_str).collect();
    let parts: Vec<(&str, &str, Vec<u8>)> = vec![
        ("recency_days", "INT64", int("recency_days")),
        ("frequency", "INT64", int("frequency")),
        ("basket_value", "FP64", float("basket_value")),
        ("product_price", "FP64", float("product_price")),
        ("device", "BYTES", bytes_elements(&devices)),
        (
            "is_returning",
            "BOOL",
            get("is_returning")
                .into_iter()
                .map(|v| u8::from(v == modelhost::FeatureValue::Bool(true)))
                .collect(),
        ),
    ];
    let inputs: Vec<Value> = parts
        .iter()
        .map(|(name, dt, raw)| {
            json!({ "name": name, "shape": [n], "datatype": dt, "parameters": { "binary_data_size": raw.len() } })
        })
        .collect();
    let mut head = json!({ "inputs": inputs });
    match outputs {
        Some(o) => head["outputs"] = o,
        None => head["parameters"] = json!({ "binary_data_output": true }),
    }
    let mut body = serde_json::to_vec(&head).unwrap();
    let json_len = body.len();
    for (_, _, raw) in parts {
        body.extend_from_slice(&raw);
    }
    (body, json_len)
}

#[test]
fn binary_tensor_extension() {
    let server = webshop_server(1);
    let s = start(server.clone());
    let (rows, _) = common::webshop_data(9, 31, 0.5);
    let want = expected_labels(&server, &rows);

    let (body, json_len) = binary_request(&rows, None);
    let len = json_len.to_string();
    let headers = [
        ("content-type", "application/octet-stream"),
        ("inference-header-content-length", len.as_str()),
    ];
    let reply = s.post_with("/v2/models/recommender/infer", &headers, &body);
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let (head, raw) = split_binary(&reply);
    let out = &head["outputs"][0];
    assert_eq!(
        (out["name"].clone(), out["datatype"].clone()),
        (json!("label"), json!("BYTES"))
    );
    assert_eq!(
        out["parameters"]["binary_data_size"].as_u64().unwrap() as usize,
        raw.len()
    );
    assert!(out.get("data").is_none());
    assert_eq!(decode_bytes(&raw), want);

    // Binary inputs, JSON output.
    let (body, json_len) = binary_request(
        &rows,
        Some(json!([{ "name": "label", "parameters": { "binary_data": false } }])),
    );
    let len = json_len.to_string();
    let headers = [("inference-header-content-length", len.as_str())];
    let reply = s.post_with("/v2/models/recommender/infer", &headers, &body);
    assert_eq!(reply.status, 200);
    assert!(reply.header("inference-header-content-length").is_none());
    assert_eq!(labels_of(&reply), want);

    // JSON inputs, binary output asked per output.
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": oip_inputs(&rows), "outputs": [{ "name": "label", "parameters": { "binary_data": true } }] })
            .to_string(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(decode_bytes(&split_binary(&reply).1), want);

    // Bogus framing: header longer than the body, sizes beyond the data,
    // leftover bytes, a BYTES length pointing past the end.
    let (body, json_len) = binary_request(&rows[..1], None);
    for (len, body) in [
        ((body.len() + 1).to_string(), body.clone()),
        ("-3".to_owned(), body.clone()),
        ("nan".to_owned(), body.clone()),
        (json_len.to_string(), [&body[..], b"xx"].concat()),
        (json_len.to_string(), body[..body.len() - 1].to_vec()),
    ] {
        let headers = [("inference-header-content-length", len.as_str())];
        let reply = s.post_with("/v2/models/recommender/infer", &headers, &body);
        assert_eq!(
            reply.status,
            400,
            "{len}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(!reply.error().is_empty());
    }
    let mut bad_bytes = json!({ "inputs": [{ "name": "device", "shape": [1], "datatype": "BYTES",
                                           "parameters": { "binary_data_size": 7 } }] })
    .to_string()
    .into_bytes();
    let json_len = bad_bytes.len().to_string();
    bad_bytes.extend_from_slice(&[255, 255, 255, 255, b'a', b'b', b'c']);
    let reply = s.post_with(
        "/v2/models/recommender/infer",
        &[("inference-header-content-length", json_len.as_str())],
        &bad_bytes,
    );
    assert_eq!(reply.status, 400);
    assert!(reply.error().contains("device"), "{}", reply.error());
}

#[test]
fn version_segments_select_held_versions() {
    let (_dir, registry, server) = registry_fixture();
    let v2 = registry
        .load(&"recommender/2".parse().unwrap(), ReadOptions::new())
        .unwrap();
    server.swap(v2.deployment().unwrap()).unwrap();
    let s = start(server);
    let (rows, _) = common::webshop_data(3, 8, 0.0);
    let body = json!({ "inputs": oip_inputs(&rows) }).to_string();
    for (path, version) in [
        ("/v2/models/recommender/infer", "2"),
        ("/v2/models/recommender/versions/2/infer", "2"),
        ("/v2/models/recommender/versions/1/infer", "1"),
    ] {
        let reply = s.post(path, &body);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.json()["model_version"], version, "{path}");
    }
    let gone = s.post("/v2/models/recommender/versions/7/infer", &body);
    assert_eq!(gone.status, 404);
    assert!(gone.error().contains("held"), "{}", gone.error());
    assert_eq!(
        s.post("/v2/models/recommender/versions/x/infer", &body)
            .status,
        400
    );
    assert_eq!(s.get("/v2/models/recommender/versions/1/ready").status, 200);
    assert_eq!(
        s.get("/v2/models/recommender").json()["versions"],
        json!(["2", "1"])
    );
}

#[test]
fn mlflow_scoring_formats() {
    let server = webshop_server(1);
    let s = start(server.clone());
    let (rows, _) = common::webshop_data(5, 12, 0.1);
    let want = json!(expected_labels(&server, &rows));
    let schema = common::webshop_schema();
    let names: Vec<&str> = schema.features().iter().map(|f| f.name()).collect();
    let mut columns: Vec<Value> = names.iter().map(|n| json!(n)).collect();
    columns.push(json!("session_id")); // extra columns are ignored, as MLflow does
    let data: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row: Vec<Value> = names
                .iter()
                .map(|n| serde_json::to_value(r.get(n).unwrap()).unwrap())
                .collect();
            row.push(json!(format!("s{i}")));
            Value::Array(row)
        })
        .collect();
    let records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            v["ignored_extra"] = json!(1);
            v
        })
        .collect();
    let rows_in_order: Vec<Value> = data
        .iter()
        .map(|r| Value::Array(r.as_array().unwrap()[..names.len()].to_vec()))
        .collect();
    let mut by_column = serde_json::Map::new();
    for n in &names {
        by_column.insert(
            (*n).to_owned(),
            rows.iter()
                .map(|r| serde_json::to_value(r.get(n).unwrap()).unwrap())
                .collect(),
        );
    }
    for body in [
        json!({ "dataframe_split": { "columns": columns, "data": data, "index": [0, 1, 2, 3, 4] } }),
        json!({ "dataframe_records": records }),
        json!({ "instances": records }),
        json!({ "instances": rows_in_order }),
        json!({ "inputs": by_column, "params": { "ignored": true } }),
    ] {
        let reply = s.post("/invocations", body.to_string());
        assert_eq!(
            reply.status,
            200,
            "{body}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.json()["predictions"], want, "{body}");
    }
    let mut csv = names.join(",") + ",note\r\n";
    for r in &rows {
        let fields: Vec<String> = names
            .iter()
            .map(|n| match r.get(n).unwrap() {
                modelhost::FeatureValue::Str(s) => s.clone(),
                modelhost::FeatureValue::Bool(b) => {
                    if *b {
                        "True".into()
                    } else {
                        "False".into()
                    }
                }
                v => v.to_string(),
            })
            .collect();
        csv += &format!("{},\"a, \"\"quoted\"\" note\"\r\n", fields.join(","));
    }
    let reply = s.post_with(
        "/invocations",
        &[("content-type", "text/csv; charset=utf-8")],
        &csv,
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["predictions"], want);

    // Errors in MLflow's shape.
    let unsupported = s.post_with("/invocations", &[("content-type", "text/plain")], "x");
    assert_eq!(unsupported.status, 415);
    assert_eq!(unsupported.json()["error_code"], "BAD_REQUEST");
    let no_type = s.post_with("/invocations", &[], "{}");
    assert_eq!(no_type.status, 415);
    for bad in [
        "{",
        "[]",
        "{}",
        r#"{"dataframe_records": [], "instances": []}"#,
        r#"{"dataframe_split": {"columns": ["a"]}}"#,
        r#"{"dataframe_records": [1]}"#,
        r#"{"unknown": 1}"#,
        r#"{"dataframe_records": [{"device": "fridge"}]}"#,
        r#"{"instances": [[1, 2]]}"#,
        r#"{"dataframe_records": [{"device": {"nested": 1}}]}"#,
    ] {
        let reply = s.post("/invocations", bad);
        assert_eq!(reply.status, 400, "{bad}");
        let v = reply.json();
        assert!(
            v["error_code"].is_string() && v["message"].is_string(),
            "{bad}: {v}"
        );
    }
    let violation = s
        .post(
            "/invocations",
            r#"{"dataframe_records": [{"device": "fridge"}]}"#,
        )
        .json();
    assert!(
        violation["message"]
            .as_str()
            .unwrap()
            .contains("`recency_days`")
    );
    assert!(violation["message"].as_str().unwrap().contains("`device`"));

    assert_eq!(s.get("/ping").status, 200);
    assert_eq!(s.get("/health").status, 200);
    let version = s.get("/version");
    assert_eq!(
        String::from_utf8(version.body).unwrap(),
        env!("CARGO_PKG_VERSION")
    );
}

#[test]
fn body_limit_applies_to_json_and_binary() {
    let router = HttpTransport::new()
        .model(webshop_server(1))
        .body_limit(4096)
        .build()
        .unwrap();
    let s = Running::start(router);
    let big = format!(r#"{{"inputs": [], "pad": "{}"}}"#, "x".repeat(5000));
    let reply = s.post("/v2/models/recommender/infer", &big);
    assert_eq!(reply.status, 413);
    assert!(reply.error().contains("4096"));
    let reply = s.post("/invocations", &big);
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error_code"], "RESOURCE_EXHAUSTED");
    let mut binary = br#"{"inputs":[]}"#.to_vec();
    binary.extend(std::iter::repeat_n(0u8, 8192));
    let reply = s.post_with(
        "/v2/models/recommender/infer",
        &[("inference-header-content-length", "13")],
        &binary,
    );
    assert_eq!(reply.status, 413);
    // Rows are limited too: 3 rows of BOOL is a tiny body.
    let router = HttpTransport::new()
        .model(webshop_server(1))
        .max_rows(2)
        .build()
        .unwrap();
    let limited = Running::start(router);
    let (rows, _) = common::webshop_data(3, 1, 0.0);
    let reply = limited.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": oip_inputs(&rows) }).to_string(),
    );
    assert_eq!(reply.status, 413);
    assert!(reply.error().contains("3 rows"), "{}", reply.error());
    let reply = limited.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": [{ "name": "m", "shape": [3, 6], "datatype": "FP64", "data": vec![0.0; 18] }] })
            .to_string(),
    );
    assert_eq!(reply.status, 413);
    let reply = limited.post(
        "/invocations",
        json!({ "dataframe_records": rows }).to_string(),
    );
    assert_eq!(
        (reply.status, reply.json()["error_code"].clone()),
        (413, json!("RESOURCE_EXHAUSTED"))
    );
    let ok = limited.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": oip_inputs(&rows[..2]) }).to_string(),
    );
    assert_eq!(ok.status, 200);
    // The default limit is 2 MiB.
    let s = start(webshop_server(1));
    let huge = vec![b' '; 2 * 1024 * 1024 + 1];
    assert_eq!(s.post("/v2/models/recommender/infer", &huge).status, 413);
}

/// A server that fails every request with a fixed error.
#[derive(Debug)]
struct Failing {
    inner: Arc<InProcessServer>,
    error: Error,
}

impl ModelServer for Failing {
    fn predict(&self, _: PredictRequest<'_>) -> modelhost::Result<PredictResponse> {
        Err(self.error.clone())
    }
    fn metadata(&self) -> modelhost::Result<ModelMetadata> {
        self.inner.metadata()
    }
    fn health(&self) -> Health {
        self.inner.health()
    }
}

#[test]
fn server_errors_map_to_fixed_statuses() {
    let (rows, _) = common::webshop_data(1, 3, 0.0);
    let body = json!({ "inputs": oip_inputs(&rows) }).to_string();
    for (error, status) in [
        (Error::Overloaded { capacity: 8 }, 503),
        (
            Error::DeadlineExceeded {
                waited: Duration::from_millis(5),
            },
            504,
        ),
        (Error::ShuttingDown, 503),
        (
            Error::NotReady {
                reason: "warming".into(),
            },
            503,
        ),
        (Error::model(std::io::Error::other("disk on fire")), 500),
    ] {
        let failing = Failing {
            inner: webshop_server(1),
            error: error.clone(),
        };
        let s = Running::start(
            HttpTransport::new()
                .model(Arc::new(failing))
                .build()
                .unwrap(),
        );
        let reply = s.post("/v2/models/recommender/infer", &body);
        assert_eq!(reply.status, status, "{error}");
        assert!(!reply.error().is_empty());
        let retry = reply.header("retry-after");
        assert_eq!(
            retry.is_some(),
            matches!(error, Error::Overloaded { .. }),
            "{error}"
        );
        let ml = s.post(
            "/invocations",
            json!({ "dataframe_records": [rows[0]] }).to_string(),
        );
        assert_eq!(ml.status, status, "{error}");
        assert!(ml.json()["message"].is_string());
    }
}

#[test]
fn a_panicking_model_fails_its_request_only() {
    for blocking in [Blocking::Inline, Blocking::Pool] {
        let server = Arc::new(InProcessServer::new(MockModel::new(1).deploy()).unwrap());
        let s = Running::start(
            HttpTransport::new()
                .model(server)
                .blocking(blocking)
                .build()
                .unwrap(),
        );
        let infer = |x: f64| {
            s.post(
                "/v2/models/mock/infer",
                json!({ "inputs": [{ "name": "x", "shape": [1], "datatype": "FP64", "data": [x] }] })
                    .to_string(),
            )
        };
        assert_eq!(infer(POISON).status, 500);
        let ok = infer(1.0);
        assert_eq!(ok.status, 200);
        let out = &ok.json()["outputs"][0];
        assert_eq!(
            (out["name"].clone(), out["data"].clone()),
            (json!("score"), json!([1.0]))
        );
    }
}

#[test]
fn admin_endpoints_need_a_token() {
    let (_dir, registry, server) = registry_fixture();
    // Without a token, every admin endpoint is absent.
    let s = Running::start(
        HttpTransport::new()
            .managed_model(
                server.clone(),
                registry.clone(),
                "recommender@production".parse().unwrap(),
            )
            .build()
            .unwrap(),
    );
    for path in [
        "/v2/repository/models/recommender/load",
        "/v2/repository/models/recommender/unload",
        "/admin/models/recommender/aliases/production",
    ] {
        let reply = s.post_with(
            path,
            &[("authorization", "Bearer anything")],
            r#"{"version": 2}"#,
        );
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.error().contains("disabled"), "{path}");
    }
    // The repository index is read-only and open, as in Triton.
    let index = s.post("/v2/repository/index", "");
    assert_eq!(index.status, 200);
    assert_eq!(index.json()[0]["name"], "recommender");
    drop(s);

    let s = Running::start(
        HttpTransport::new()
            .managed_model(
                server.clone(),
                registry.clone(),
                "recommender@production".parse().unwrap(),
            )
            .model(Arc::new(
                InProcessServer::new(MockModel::new(1).deploy()).unwrap(),
            ))
            .admin_token("s3cret-token")
            .build()
            .unwrap(),
    );
    assert_eq!(s.get("/v2").json()["extensions"][1], "model_repository");
    let ok = [("authorization", "Bearer s3cret-token")];
    for (headers, status) in [
        (vec![], 401),
        (vec![("authorization", "s3cret-token")], 401),
        (vec![("authorization", "Basic czNjcmV0")], 401),
        (vec![("authorization", "Bearer ")], 401),
        (vec![("authorization", "Bearer s3cret-tokeN")], 403),
        (vec![("authorization", "Bearer s3cret")], 403),
        (ok.to_vec(), 200),
        (vec![("authorization", "bearer  s3cret-token ")], 200),
    ] {
        let reply = s.post_with("/v2/repository/models/recommender/load", &headers, "");
        assert_eq!(reply.status, status, "{headers:?}");
        if status == 401 {
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        }
    }
    let index = s.post_with("/v2/repository/index", &[], "{}").json();
    assert_eq!(
        index[0],
        json!({ "name": "recommender", "version": "1", "state": "READY", "reason": "" })
    );
    assert_eq!(index[1]["name"], "mock");

    // Unload: a drain switch.
    let (rows, _) = common::webshop_data(2, 9, 0.0);
    let body = json!({ "inputs": oip_inputs(&rows) }).to_string();
    assert_eq!(
        s.post_with("/v2/repository/models/recommender/unload", &ok, "")
            .status,
        200
    );
    assert_eq!(s.post("/v2/models/recommender/infer", &body).status, 503);
    assert_eq!(s.get("/v2/models/recommender/ready").status, 503);
    assert_eq!(s.get("/v2/health/ready").status, 503);
    assert_eq!(s.get("/ping").status, 503);
    let index = s
        .post_with("/v2/repository/index", &ok, r#"{"ready": true}"#)
        .json();
    assert_eq!(index.as_array().unwrap().len(), 1);
    // Load: the configured reference (production -> 1), ready again.
    let loaded = s.post_with("/v2/repository/models/recommender/load", &ok, "");
    assert_eq!(loaded.status, 200);
    assert_eq!(loaded.json()["version"], 1);
    assert_eq!(s.post("/v2/models/recommender/infer", &body).status, 200);
    assert_eq!(s.get("/v2/health/ready").status, 200);
    // Load an explicit version.
    let loaded = s.post_with(
        "/v2/repository/models/recommender/load",
        &ok,
        r#"{"parameters": {"version": "2"}}"#,
    );
    assert_eq!(
        (loaded.status, loaded.json()["swapped"].clone()),
        (200, json!(true))
    );
    assert_eq!(server.current().version(), 2);
    assert_eq!(
        s.post_with(
            "/v2/repository/models/recommender/load",
            &ok,
            r#"{"parameters": {"version": 9}}"#
        )
        .status,
        404
    );
    assert_eq!(
        s.post_with(
            "/v2/repository/models/recommender/load",
            &ok,
            r#"{"parameters": {"version": "x"}}"#
        )
        .status,
        400
    );
    assert_eq!(
        s.post_with("/v2/repository/models/recommender/load", &ok, "{")
            .status,
        400
    );
    assert_eq!(
        s.post_with("/v2/repository/models/nope/load", &ok, "")
            .status,
        404
    );
    // A model without a registry can be re-marked ready, not loaded.
    assert_eq!(
        s.post_with("/v2/repository/models/mock/load", &ok, "")
            .status,
        200
    );
    assert_eq!(
        s.post_with(
            "/v2/repository/models/mock/load",
            &ok,
            r#"{"parameters": {"version": 2}}"#
        )
        .status,
        409
    );

    // Alias promotion: production follows at once.
    let reply = s.post_with(
        "/admin/models/recommender/aliases/production",
        &ok,
        r#"{"version": 1}"#,
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let v = reply.json();
    assert_eq!(
        (
            v["version"].clone(),
            v["previous"].clone(),
            v["serving"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(server.current().version(), 1);
    let reply = s.post_with(
        "/admin/models/recommender/aliases/staging",
        &ok,
        r#"{"version": 2}"#,
    );
    assert_eq!(
        (reply.status, reply.json()["serving"].clone()),
        (200, json!(1))
    );
    assert_eq!(registry.aliases("recommender").unwrap()["staging"], 2);
    assert_eq!(
        s.post_with(
            "/admin/models/recommender/aliases/staging",
            &ok,
            r#"{"version": 5}"#
        )
        .status,
        404
    );
    assert_eq!(
        s.post_with(
            "/admin/models/recommender/aliases/bad!alias",
            &ok,
            r#"{"version": 1}"#
        )
        .status,
        400
    );
    assert_eq!(
        s.post_with("/admin/models/recommender/aliases/x", &ok, r#"{"v": 1}"#)
            .status,
        400
    );
    assert_eq!(
        s.post_with("/admin/models/mock/aliases/x", &ok, r#"{"version": 1}"#)
            .status,
        409
    );
    assert_eq!(
        s.post_with(
            "/admin/models/recommender/aliases/x",
            &[("authorization", "Bearer no")],
            r#"{"version": 1}"#
        )
        .status,
        403
    );
}

#[test]
fn metrics_count_requests_and_include_the_host_renderer() {
    let s = start(webshop_server(1));
    s.get("/v2/health/live");
    s.get("/v2/models/nope");
    s.get("/nowhere");
    let text = String::from_utf8(s.get("/metrics").body).unwrap();
    assert!(
        text.contains("modelhost_http_requests_total{route=\"/v2/health/live\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "modelhost_http_requests_total{route=\"/v2/models/{name}\",status=\"404\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("modelhost_http_requests_total{route=\"unmatched\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("modelhost_http_model_version{model=\"recommender\"} 1"));
    assert!(text.contains("modelhost_http_model_ready{model=\"recommender\"} 1"));
    assert!(text.contains("# TYPE modelhost_http_request_duration_seconds histogram"));
    assert!(
        text.contains("modelhost_http_request_duration_seconds_count{route=\"/v2/health/live\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "modelhost_http_request_duration_seconds_bucket{route=\"/v2/health/live\",le=\"+Inf\"} 1"
        ),
        "{text}"
    );
    // Only statuses a route has answered are listed.
    assert!(
        !text.contains("route=\"/v2/health/live\",status=\"500\""),
        "{text}"
    );

    let renderer: modelhost::transport::http::MetricsRenderer =
        Arc::new(|| "# TYPE host_metric counter\nhost_metric 42".to_owned());
    let s = Running::start(
        HttpTransport::new()
            .model(webshop_server(1))
            .metrics_renderer(renderer)
            .build()
            .unwrap(),
    );
    let reply = s.get("/metrics");
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8(reply.body).unwrap();
    assert!(
        text.starts_with("# TYPE host_metric counter\nhost_metric 42\n"),
        "{text}"
    );
    assert!(text.contains("modelhost_http_requests_in_flight"));
}

#[test]
fn openapi_document_lists_endpoints_and_the_input_schema() {
    let s = start(webshop_server(1));
    let doc = s.get("/openapi.json").json();
    assert_eq!(doc["openapi"], "3.0.3");
    for path in [
        "/v2/models/{name}/infer",
        "/invocations",
        "/metrics",
        "/v2/repository/index",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    let input = &doc["components"]["schemas"]["recommender_input"];
    assert_eq!(input["properties"]["basket_value"]["maximum"], 100_000.0);
    assert_eq!(
        input["properties"]["device"]["enum"],
        json!(["mobile", "desktop", "tablet"])
    );
}

#[test]
fn builder_rejects_bad_configurations() {
    let none = HttpTransport::new().build().unwrap_err();
    assert!(matches!(
        none.downcast_ref::<TransportError>(),
        Some(TransportError::NoModels)
    ));
    let twice = HttpTransport::new()
        .model(webshop_server(1))
        .model(webshop_server(2))
        .build();
    let twice = twice.unwrap_err();
    assert!(matches!(
        twice.downcast_ref::<TransportError>(),
        Some(TransportError::DuplicateModel { name }) if name == "recommender"
    ));
}

#[test]
fn the_first_model_answers_mlflow_and_each_its_own_oip_path() {
    let mock = Arc::new(InProcessServer::new(MockModel::new(4).deploy()).unwrap());
    let s = Running::start(
        HttpTransport::new()
            .model(mock)
            .model(webshop_server(1))
            .build()
            .unwrap(),
    );
    let reply = s.post(
        "/invocations",
        r#"{"dataframe_records": [{"x": 2.0}, {"x": 3}]}"#,
    );
    assert_eq!(reply.json()["predictions"], json!([4.0, 4.0]));
    let (rows, _) = common::webshop_data(1, 3, 0.0);
    let reply = s.post(
        "/v2/models/recommender/infer",
        json!({ "inputs": oip_inputs(&rows) }).to_string(),
    );
    assert_eq!(reply.status, 200);
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    // Each call takes 600 ms; inline calls would block a runtime worker, so
    // this server uses the blocking pool.
    let model = MockModel::new(1).latency(Duration::from_millis(600), Duration::ZERO);
    let calls = model.calls.clone();
    let server = Arc::new(InProcessServer::new(model.deploy()).unwrap());
    let mut s = Running::start(
        HttpTransport::new()
            .model(server)
            .blocking(Blocking::Pool)
            .build()
            .unwrap(),
    );
    let url = s.url("/v2/models/mock/infer");
    let agent = s.agent.clone();
    let pending = std::thread::spawn(move || {
        let body =
            json!({ "inputs": [{ "name": "x", "shape": [1], "datatype": "FP64", "data": [2.0] }] });
        Reply::from(
            agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.to_string())
                .unwrap(),
        )
    });
    // Wait (bounded) until the request is inside the model.
    let started = std::time::Instant::now();
    while calls.load(Ordering::SeqCst) == 0 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the request reached the model"
    );
    s.stop().unwrap();
    let reply = pending.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["outputs"][0]["data"], json!([1.0]));
    // Nothing listens any more.
    assert!(
        std::net::TcpStream::connect_timeout(
            &s.base.trim_start_matches("http://").parse().unwrap(),
            Duration::from_secs(1)
        )
        .is_err()
    );
}

/// Random, truncated, huge-number, deeply nested and mis-shaped bodies:
/// never a panic, never a 5xx, and the server keeps serving.
#[test]
fn malformed_bodies_never_break_the_server() {
    let server = webshop_server(1);
    let s = start(server);
    let (rows, _) = common::webshop_data(2, 1, 0.0);
    let valid = json!({ "inputs": oip_inputs(&rows) }).to_string();
    let (binary, json_len) = binary_request(&rows, None);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
    let mut bodies: Vec<(Vec<u8>, Option<String>)> = vec![
        (b"".to_vec(), None),
        (b"null".to_vec(), None),
        (b"[]".to_vec(), None),
        ("[".repeat(100_000).into_bytes(), None),
        (format!("{}{}", "[".repeat(2000), "]".repeat(2000)).into_bytes(), None),
        (r#"{"inputs": [{"name": "x", "shape": [1e999], "datatype": "FP64", "data": [1]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "basket_value", "shape": [1], "datatype": "FP64", "data": [1e400]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "recency_days", "shape": [1], "datatype": "INT64", "data": [99999999999999999999999]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "x", "shape": [9223372036854775807, 9223372036854775807], "datatype": "FP64", "data": [1]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "x", "shape": [0, 6], "datatype": "FP64", "data": []}]}"#.into(), None),
        (r#"{"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "device", "shape": [2, 2, 2], "datatype": "BYTES", "data": ["a","b","c","d","e","f","g","h"]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "device", "shape": [1], "datatype": "FP16", "data": [1]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "device", "shape": [1], "datatype": "BYTES", "data": [1]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "device", "shape": [1], "datatype": "BYTES"}]}"#.into(), None),
        (r#"{"inputs": [{"name": "d", "shape": [1], "datatype": "BOOL", "data": [true]}, {"name": "d", "shape": [1], "datatype": "BOOL", "data": [true]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "d", "shape": [1], "datatype": "BOOL", "data": [true]}, {"name": "e", "shape": [2], "datatype": "BOOL", "data": [true, false]}]}"#.into(), None),
        (r#"{"inputs": [{"name": "d", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": 99999999999999}}]}"#.into(), Some("90".into())),
        (r#"{"inputs": [{"name": "d", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": -1}}]}"#.into(), None),
        (r#"{"inputs": [], "parameters": {"binary_data_output": "yes"}}"#.into(), None),
        (r#"{"inputs": "x"}"#.into(), None),
        (b"\xff\xfe\x00garbage".to_vec(), None),
        (valid.as_bytes()[..valid.len() / 2].to_vec(), None),
        (binary[..binary.len() - 3].to_vec(), Some(json_len.to_string())),
        (binary.clone(), Some("18446744073709551616".into())),
        (binary.clone(), Some("0".into())),
        (binary.clone(), Some((json_len - 1).to_string())),
    ];
    for _ in 0..150 {
        let mut b = valid.clone().into_bytes();
        match rng.gen_range(0..4) {
            0 => b.truncate(rng.gen_range(0..b.len())),
            1 => {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.r#gen();
            }
            2 => {
                let i = rng.gen_range(0..b.len());
                b.insert(i, b"[]{}\",:-0e9"[rng.gen_range(0..11)]);
            }
            _ => b = (0..rng.gen_range(0..300)).map(|_| rng.r#gen()).collect(),
        }
        bodies.push((b, None));
    }
    for _ in 0..50 {
        let mut b = binary.clone();
        let i = rng.gen_range(json_len..b.len());
        b[i] = rng.r#gen();
        bodies.push((b, Some(json_len.to_string())));
    }
    // A body that is not JSON at all (and has no binary part) must be a
    // 400 on every route; everything else may be served or refused, but
    // never with a 5xx or a body without an error message.
    let mut not_json = 0;
    for (body, header) in &bodies {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(h) = header {
            headers.push(("inference-header-content-length", h.as_str()));
        }
        let must_be_400 = header.is_none() && serde_json::from_slice::<Value>(body).is_err();
        not_json += usize::from(must_be_400);
        for path in [
            "/v2/models/recommender/infer",
            "/invocations",
            "/v2/models/recommender/versions/1/infer",
        ] {
            let reply = s.post_with(path, &headers, body);
            let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            if must_be_400 {
                assert_eq!(reply.status, 400, "{path} to {shown:?}");
            }
            assert!(
                reply.status == 200 || (400..500).contains(&reply.status),
                "{path} answered {} to {shown:?}",
                reply.status,
            );
            if reply.status != 200 {
                let v = reply.json();
                assert!(v["error"].is_string() || v["message"].is_string(), "{v}");
            }
        }
    }
    // The mutations did produce broken JSON, and the unmutated request is
    // served: the loop above checked both kinds of answer.
    assert!(not_json >= 50, "only {not_json} bodies were not JSON");
    let control = s.post("/v2/models/recommender/infer", &valid);
    assert_eq!(control.status, 200, "{}", control.error());
    assert_eq!(s.post("/v2/models/recommender/infer", &valid).status, 200);
}

/// `modelhost serve`: follows the alias, answers over HTTP, stops on SIGTERM.
#[cfg(all(feature = "cli", unix))]
#[test]
fn cli_serve_follows_the_alias_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let (dir, registry, _) = registry_fixture();
    let token = dir.path().join("token");
    std::fs::write(&token, "cli-token\n").unwrap();
    let bin = env!("CARGO_BIN_EXE_modelhost");
    let mut child = Command::new(bin)
        .args(["serve", "--registry"])
        .arg(dir.path())
        .args(["--model", "recommender@production", "--addr", "127.0.0.1:0"])
        .args(["--watch-interval-ms", "50", "--admin-token-file"])
        .arg(&token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.rsplit(' ').next().unwrap().to_owned();
    assert!(
        first.contains("version 1") && base.starts_with("http://127.0.0.1:"),
        "{first}"
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let version = || -> Value {
        Reply::from(
            agent
                .get(&format!("{base}/v2/models/recommender"))
                .call()
                .unwrap(),
        )
        .json()["versions"][0]
            .clone()
    };
    assert_eq!(version(), "1");
    // Promote in the registry (as another process would); the watcher follows.
    registry.set_alias("recommender", "production", 2).unwrap();
    let started = std::time::Instant::now();
    while version() != "2" && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(version(), "2");
    let index = Reply::from(
        agent
            .post(&format!("{base}/v2/repository/index"))
            .header("authorization", "Bearer cli-token")
            .send_empty()
            .unwrap(),
    );
    assert_eq!(index.status, 200);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(15) {
            child.kill().unwrap();
            panic!("modelhost serve did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(lines.any(|l| l.unwrap() == "stopped"));

    // Failures are one line and exit status 1.
    let out = Command::new(bin)
        .args(["serve", "--registry"])
        .arg(dir.path())
        .args(["--model", "recommender@nope", "--addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("nope"),
        "{stderr}"
    );
}

/// Waits (bounded) until the batcher's counters satisfy `cond`: a
/// condition, not a guess at timing.
fn wait_for_batcher(
    batcher: &modelhost::Batcher,
    what: &str,
    cond: impl Fn(&modelhost::batching::BatchStats) -> bool,
) {
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while !cond(&batcher.stats()) {
        assert!(
            std::time::Instant::now() < give_up,
            "timed out waiting for {what}: {:?}",
            batcher.stats()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// With a batcher in front (`serve --batch`), the handlers await the
/// batcher's answer instead of blocking a runtime worker: the queue fills
/// to its capacity (far more requests than the runtime has workers), the
/// server keeps answering other requests, and the excess gets 503 with
/// `Retry-After`. Once the model is released, every queued request is
/// answered.
#[test]
fn a_batcher_queues_to_capacity_over_http_and_refuses_the_excess_with_503() {
    const QUEUE: usize = 12;
    const EXCESS: usize = 3;
    let gate = support::Gate::closed();
    let model = MockModel::new(1).gated(gate.clone());
    let batcher = modelhost::Batcher::new(
        InProcessServer::new(model.deploy()).unwrap(),
        modelhost::BatchConfig::builder()
            .queue_capacity(QUEUE)
            .max_batch_rows(1)
            .workers(1)
            .build()
            .unwrap(),
    );
    // The test runtime has two workers: before the async path, two waiting
    // requests were all the server could hold.
    let s = Arc::new(Running::start(
        HttpTransport::new()
            .model(Arc::new(batcher.clone()))
            .build()
            .unwrap(),
    ));
    let body = |x: f64| {
        json!({ "inputs": [{ "name": "x", "shape": [1], "datatype": "FP64", "data": [x] }] })
            .to_string()
    };
    let spawn = |x: f64| {
        let s = s.clone();
        let body = body(x);
        std::thread::spawn(move || s.post("/v2/models/mock/infer", body))
    };
    // The first request holds the only batch worker inside the model.
    let mut waiting = vec![spawn(0.0)];
    wait_for_batcher(&batcher, "the first batch to start", |st| st.in_flight == 1);
    waiting.extend((1..=QUEUE).map(|i| spawn(i as f64)));
    wait_for_batcher(&batcher, "the queue to fill", |st| st.queue_depth == QUEUE);

    // Workers are free: other endpoints answer while the queue is full.
    assert_eq!(s.get("/v2/health/live").status, 200);
    for i in 0..EXCESS {
        let refused = s.post("/v2/models/mock/infer", body(100.0 + i as f64));
        assert_eq!(refused.status, 503, "{}", refused.error());
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert!(
            refused.error().contains("overloaded"),
            "{}",
            refused.error()
        );
    }
    assert_eq!(batcher.stats().rejected_overloaded, EXCESS as u64);

    gate.open();
    for handle in waiting {
        let reply = handle.join().unwrap();
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert_eq!(s.get("/v2/health/ready").status, 200);

    // A request larger than one model call is the client's to split: 413.
    let too_large = s.post(
        "/v2/models/mock/infer",
        json!({ "inputs": [{ "name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0] }] })
            .to_string(),
    );
    assert_eq!(too_large.status, 413, "{}", too_large.error());
}

/// Promoting a version that fails to load moves nothing: the alias, the
/// serving version and readiness stay as they were, and the failure is
/// counted in the metrics.
#[test]
fn promoting_a_corrupt_version_moves_neither_the_alias_nor_the_server() {
    let (dir, registry, server) = registry_fixture();
    // Version 2's artifact loses a byte in its payload: its checksum no
    // longer matches.
    let path = dir.path().join("recommender/versions/2.mhart");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    // A server of version 1 whose observer counts failed loads.
    let failed = Arc::new(FailedLoads::default());
    let server = Arc::new(
        InProcessServer::builder(server.current().clone())
            .observer(failed.clone())
            .build()
            .unwrap(),
    );
    let s = Running::start(
        HttpTransport::new()
            .managed_model(
                server.clone(),
                registry.clone(),
                "recommender@production".parse().unwrap(),
            )
            .admin_token("t")
            .build()
            .unwrap(),
    );
    let auth = [
        ("authorization", "Bearer t"),
        ("content-type", "application/json"),
    ];
    // The repository `load` endpoint refuses it too, and says so once.
    let reply = s.post_with(
        "/v2/repository/models/recommender/load",
        &auth,
        r#"{"parameters": {"version": 2}}"#,
    );
    assert!(reply.status >= 400);
    assert_eq!(failed.0.load(Ordering::SeqCst), 1);
    let reply = s.post_with(
        "/admin/models/recommender/aliases/production",
        &auth,
        r#"{"version": 2}"#,
    );
    assert!(
        reply.status >= 400,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(registry.aliases("recommender").unwrap()["production"], 1);
    assert_eq!(server.current().version(), 1);
    assert_eq!(s.get("/v2/models/recommender/ready").status, 200);
    // Another alias, not followed by the server, does not move either.
    let reply = s.post_with(
        "/admin/models/recommender/aliases/staging",
        &auth,
        r#"{"version": 2}"#,
    );
    assert!(reply.status >= 400);
    assert!(
        !registry
            .aliases("recommender")
            .unwrap()
            .contains_key("staging")
    );
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    assert!(
        metrics.contains("modelhost_http_admin_failures_total{action=\"set_alias\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("modelhost_http_admin_failures_total{action=\"load\"} 1"));
    // Every failed load reached the server's observer (a monitor counts
    // them by reason): one per attempt here, none lost.
    assert_eq!(failed.0.load(Ordering::SeqCst), 3);
}

/// Counts the failed loads a server reports.
#[derive(Debug, Default)]
struct FailedLoads(std::sync::atomic::AtomicUsize);

impl modelhost::server::PredictObserver for FailedLoads {
    fn on_predict(&self, _: &modelhost::server::PredictEvent<'_>) {}
    fn on_failed_load(&self, _: &str, version: Option<u64>, _: &Error) {
        assert_eq!(version, Some(2));
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Feedback and reports need a monitor; a monitor needs its model served.
#[test]
fn feedback_needs_a_monitor_and_a_monitor_needs_its_model() {
    let s = start(webshop_server(1));
    let reply = s.post(
        "/v2/models/recommender/feedback",
        r#"{"outcomes": [{"id": "a", "actual": "buy"}]}"#,
    );
    assert_eq!(reply.status, 404);
    assert!(
        reply.error().contains("without a monitor"),
        "{}",
        reply.error()
    );
    assert_eq!(s.get("/v2/models/recommender/report").status, 404);

    let other = MockModel::new(1).deploy();
    let monitor = modelhost::monitor::Monitor::builder(&other)
        .build()
        .unwrap();
    let e = HttpTransport::new()
        .model(webshop_server(1))
        .monitor(monitor)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("not served"), "{e}");
}

/// Nested under a prefix in a host's router, the transport's metrics label
/// the matched route, not `unmatched`, and `openapi.json` names the prefix.
#[test]
fn nested_under_a_prefix_metrics_and_openapi_know_the_route() {
    let ml = HttpTransport::new()
        .model(webshop_server(1))
        .build()
        .unwrap();
    let app = axum::Router::new().nest("/ml", ml);
    let s = Running::start(app);
    assert_eq!(s.get("/ml/v2/health/live").status, 200);
    assert_eq!(s.get("/ml/v2/models/recommender").status, 200);
    let text = String::from_utf8(s.get("/ml/metrics").body).unwrap();
    assert!(
        text.contains("modelhost_http_requests_total{route=\"/v2/health/live\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "modelhost_http_requests_total{route=\"/v2/models/{name}\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(!text.contains("route=\"unmatched\""), "{text}");
    let doc = s.get("/ml/openapi.json").json();
    assert_eq!(doc["servers"][0]["url"], "/ml");
    assert!(doc["paths"]["/v2/health/live"].is_object());
    // Not nested: no `servers` entry.
    let plain = start(webshop_server(1));
    assert!(plain.get("/openapi.json").json().get("servers").is_none());
}

/// Triton's `/config` and `/stats`, and `GET /v2/models`, for clients and
/// tools that read them first.
#[test]
fn config_stats_and_the_model_list_answer_in_tritons_shapes() {
    let s = start(webshop_server(3));
    let list = s.get("/v2/models").json();
    assert_eq!(
        list["models"],
        json!([{ "name": "recommender", "versions": ["3"], "state": "READY" }])
    );
    let config = s.get("/v2/models/recommender/config").json();
    assert_eq!(config["platform"], "modelhost");
    assert_eq!(config["max_batch_size"], 10_000);
    let inputs = config["input"].as_array().unwrap();
    assert_eq!(inputs.len(), 6);
    assert!(inputs.iter().any(|i| i["name"] == "device"
        && i["data_type"] == "TYPE_STRING"
        && i["dims"] == json!([1])));
    assert_eq!(config["output"][0]["name"], "label");
    assert_eq!(s.get("/v2/models/nope/config").status, 404);

    let (rows, _) = common::webshop_data(2, 5, 0.0);
    for _ in 0..2 {
        let ok = s.post(
            "/v2/models/recommender/infer",
            json!({ "inputs": oip_inputs(&rows) }).to_string(),
        );
        assert_eq!(ok.status, 200);
    }
    let bad = s.post(
        "/v2/models/recommender/infer",
        r#"{"inputs": [{"name": "device", "shape": [1], "datatype": "BYTES", "data": ["fridge"]}]}"#,
    );
    assert_eq!(bad.status, 400);
    let stats = s.get("/v2/models/recommender/stats").json();
    let v = &stats["model_stats"][0];
    assert_eq!(
        (v["name"].clone(), v["version"].clone()),
        (json!("recommender"), json!("3"))
    );
    assert_eq!(v["inference_stats"]["success"]["count"], 2);
    assert_eq!(v["inference_stats"]["fail"]["count"], 1);
    assert!(v["inference_stats"]["success"]["ns"].as_u64().unwrap() > 0);
    assert!(v["last_inference"].as_u64().unwrap() > 0);
    assert_eq!(
        s.get("/v2/models/stats").json()["model_stats"],
        stats["model_stats"]
    );
}

#[test]
fn kserve_v1_models_readiness_and_predict() {
    let server = webshop_server(1);
    let s = start(server.clone());
    let (rows, _) = common::webshop_data(4, 21, 0.1);
    let want = json!(expected_labels(&server, &rows));

    assert_eq!(
        s.get("/v1/models").json(),
        json!({ "models": ["recommender"] })
    );
    let ready = s.get("/v1/models/recommender");
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        json!({ "name": "recommender", "ready": true })
    );
    assert_eq!(s.get("/v1/models/nope").status, 404);

    // Objects by name, and rows in schema order.
    let schema = common::webshop_schema();
    let in_order: Vec<Value> = rows
        .iter()
        .map(|r| {
            schema
                .features()
                .iter()
                // `is_returning` is optional (default false).
                .map(|f| r.get(f.name()).map_or(json!(false), |v| json!(v)))
                .collect()
        })
        .collect();
    for instances in [serde_json::to_value(&rows).unwrap(), json!(in_order)] {
        let body = json!({ "instances": instances });
        let reply = s.post("/v1/models/recommender:predict", body.to_string());
        assert_eq!(reply.status, 200, "{}", reply.error());
        assert_eq!(reply.json()["predictions"], want);
    }
    // Probabilities on request: this model has none (400); a tree artifact
    // with leaf distributions answers one list per instance, in label order.
    let body = json!({ "instances": rows, "parameters": { "probabilities": true } });
    let none = s.post("/v1/models/recommender:predict", body.to_string());
    assert_eq!(none.status, 400);
    assert!(
        none.error().contains("no probabilities"),
        "{}",
        none.error()
    );
    let loaded = common::tree_artifact("shop", 300, 5, 3)
        .unwrap()
        .into_loaded(ReadOptions::new())
        .unwrap();
    let direct = Arc::new(InProcessServer::new(loaded.deployment().unwrap()).unwrap());
    let with = start(direct.clone());
    let reply = with.post("/v1/models/shop:predict", body.to_string());
    assert_eq!(reply.status, 200, "{}", reply.error());
    let p = reply.json();
    let p = p["predictions"].as_array().unwrap();
    assert_eq!(p.len(), rows.len());
    for (i, row) in p.iter().enumerate() {
        let shares: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want = direct.predict(PredictRequest::new(&rows[i])).unwrap();
        let want = want.predictions.probabilities(0).unwrap().to_vec();
        assert_eq!(want.len(), common::LABELS.len());
        assert!((want.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert_eq!(shares, want, "row {i}");
    }

    // Errors, in the OIP shape.
    for (body, status, needle) in [
        (json!({}).to_string(), 400, "instances"),
        (json!({ "instances": [] }).to_string(), 400, "empty"),
        (json!({ "instances": {"a": 1} }).to_string(), 400, "list"),
        (
            json!({ "instances": [{"device": "fridge"}] }).to_string(),
            400,
            "device",
        ),
        ("not json".to_string(), 400, "JSON"),
    ] {
        let reply = s.post("/v1/models/recommender:predict", &body);
        assert_eq!(reply.status, status, "{body}: {}", reply.error());
        assert!(reply.error().contains(needle), "{body}: {}", reply.error());
    }
    assert_eq!(
        s.post(
            "/v1/models/nope:predict",
            json!({"instances": rows}).to_string()
        )
        .status,
        404
    );
    assert_eq!(s.post("/v1/models/recommender:explain", "{}").status, 404);
}
