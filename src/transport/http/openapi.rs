//! `GET /openapi.json`: an OpenAPI 3 document of the endpoints, with every
//! model's input JSON Schema.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::Uri;
use serde_json::{Map, Value, json};

use super::oip::{feature_datatype, output_tensors};
use super::router::Shared;

fn op(summary: &str, responses: &[(&str, &str)]) -> Value {
    let mut r = Map::new();
    for (code, desc) in responses {
        let mut resp = json!({ "description": desc });
        if *code != "200" || desc.contains("JSON") {
            resp["content"] = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
        }
        r.insert((*code).to_owned(), resp);
    }
    json!({ "summary": summary, "responses": r })
}

fn with_body(mut operation: Value, schema: Value, content_type: &str) -> Value {
    operation["requestBody"] =
        json!({ "required": true, "content": { content_type: { "schema": schema } } });
    operation
}

fn admin(mut operation: Value) -> Value {
    operation["security"] = json!([{ "bearer": [] }]);
    let r = &mut operation["responses"];
    for (code, desc) in [
        ("401", "missing or malformed bearer token"),
        ("403", "wrong bearer token"),
        (
            "404",
            "admin endpoints disabled (no token configured), or no such model",
        ),
    ] {
        r[code] = json!({ "description": desc, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    }
    operation
}

/// The document, built from the models served now.
pub(crate) async fn document(
    State(shared): State<Arc<Shared>>,
    OriginalUri(original): OriginalUri,
    uri: Uri,
) -> Json<Value> {
    // Nested under a prefix in a host's router, the paths below are
    // relative to it: say so in `servers`.
    let prefix = original
        .path()
        .strip_suffix(uri.path())
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let mut schemas = Map::new();
    let mut models = Vec::new();
    for m in &shared.models {
        let Ok(meta) = m.server.metadata() else {
            continue;
        };
        let mut input = meta.schema.to_json_schema();
        input["x-oip-inputs"] = meta
            .schema
            .features()
            .iter()
            .map(|f| json!({ "name": f.name(), "datatype": feature_datatype(f.kind()), "shape": [-1] }))
            .collect();
        input["x-oip-outputs"] = Value::Array(output_tensors(&meta.output));
        schemas.insert(format!("{}_input", meta.name), input);
        models.push(meta.name.to_string());
    }
    schemas.insert(
        "Error".into(),
        json!({ "type": "object", "properties": { "error": { "type": "string" } }, "required": ["error"] }),
    );
    schemas.insert(
        "MlflowError".into(),
        json!({ "type": "object", "properties": { "error_code": { "type": "string" }, "message": { "type": "string" } }, "required": ["error_code", "message"] }),
    );
    schemas.insert(
        "InferRequest".into(),
        json!({
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": { "type": "string" },
                "parameters": { "type": "object", "properties": { "binary_data_output": { "type": "boolean" } } },
                "inputs": { "type": "array", "items": {
                    "type": "object", "required": ["name", "shape", "datatype"],
                    "description": "One input per feature (shape [N] or [N,1]; BYTES for categorical, BOOL for boolean, INT64/INT32/FP64/FP32 for numbers), or one FP64/FP32 input of shape [N, features] whose name is not a feature: rows already encoded in schema order, checked against the schema's rules.",
                    "properties": {
                        "name": { "type": "string" },
                        "shape": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
                        "datatype": { "type": "string", "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP32", "FP64", "BYTES"] },
                        "parameters": { "type": "object", "properties": { "binary_data_size": { "type": "integer", "minimum": 0 } } },
                        "data": { "type": "array" }
                    }
                } },
                "outputs": { "type": "array", "items": {
                    "type": "object", "required": ["name"],
                    "properties": {
                        "name": { "type": "string", "enum": ["label", "probabilities", "score"] },
                        "parameters": { "type": "object", "properties": { "binary_data": { "type": "boolean" } } }
                    }
                } }
            }
        }),
    );
    schemas.insert(
        "InferResponse".into(),
        json!({
            "type": "object",
            "required": ["model_name", "model_version", "outputs"],
            "properties": {
                "model_name": { "type": "string" },
                "model_version": { "type": "string" },
                "id": { "type": "string" },
                "outputs": { "type": "array", "items": { "type": "object" } }
            }
        }),
    );
    let infer_errors = [
        (
            "200",
            "predictions (JSON, or JSON header + binary tensors with Inference-Header-Content-Length)",
        ),
        (
            "400",
            "malformed JSON, invalid tensors, or schema violations naming every bad feature",
        ),
        (
            "404",
            "no such model, or a version the server does not hold",
        ),
        ("413", "body over the limit"),
        ("500", "the model failed"),
        (
            "503",
            "overloaded (with Retry-After), unloaded or not ready",
        ),
        ("504", "deadline exceeded"),
    ];
    let infer = with_body(
        op("Predict (Open Inference Protocol v2)", &infer_errors),
        json!({ "$ref": "#/components/schemas/InferRequest" }),
        "application/json",
    );
    let name = json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string", "enum": models } });
    let version = json!({ "name": "version", "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } });
    let alias = json!({ "name": "alias", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]+$" } });
    let mut invocations = op(
        "Predict (MLflow scoring protocol) with the first model",
        &[
            ("200", "{\"predictions\": [...]}"),
            ("400", "bad input (MLflow error shape)"),
            ("413", "body over the limit"),
            (
                "415",
                "content type other than application/json or text/csv",
            ),
            ("503", "overloaded or unloaded"),
        ],
    );
    invocations["requestBody"] = json!({ "required": true, "content": {
        "application/json": { "schema": { "type": "object", "description": "exactly one of dataframe_split {columns, data}, dataframe_records [{...}], instances, inputs; extra columns are ignored" } },
        "text/csv": { "schema": { "type": "string" } }
    } });
    let rank = with_body(
        op(
            "Rank candidates for one context: the top k by score or by the probability of a label, all scored by one model version",
            &[
                (
                    "200",
                    "{model, version, id, label, items: [{index, score}]}, best first",
                ),
                (
                    "400",
                    "malformed body, schema violations, or a model that cannot rank by the label (no probabilities)",
                ),
                ("404", "no such model"),
                (
                    "413",
                    "body over the limit, or more candidates than the row limit",
                ),
                ("503", "overloaded, unloaded or not ready"),
            ],
        ),
        json!({ "type": "object", "required": ["candidates", "k"], "properties": {
            "session": { "type": "object", "description": "features every candidate shares" },
            "candidates": { "type": "array", "items": { "type": "object" }, "description": "each candidate's own features" },
            "k": { "type": "integer", "minimum": 0 },
            "id": { "type": "string" },
            "label": { "type": "string", "description": "class whose probability ranks (default: the last label)" }
        } }),
        "application/json",
    );
    let paths = json!({
        "/v2/health/live": { "get": op("Liveness", &[("200", "live")]) },
        "/v2/health/ready": { "get": op("Readiness of every model", &[("200", "ready"), ("503", "not ready")]) },
        "/v2": { "get": op("Server metadata", &[("200", "name, version, extensions")]) },
        "/v2/models": { "get": op("Every served model with its held versions and state", &[("200", "{models: [{name, versions, state}]}")]) },
        "/v2/models/stats": { "get": op("Inference statistics of every model (Triton's shape)", &[("200", "{model_stats: [...]}")]) },
        "/v2/models/{name}/config": { "parameters": [name], "get": op("Model configuration (Triton's shape): inputs, outputs, max_batch_size", &[("200", "config"), ("404", "no such model")]) },
        "/v2/models/{name}/stats": { "parameters": [name], "get": op("Inference statistics per version (Triton's shape): success and failure counts and durations", &[("200", "{model_stats: [...]}"), ("404", "no such model")]) },
        "/v2/models/{name}": { "parameters": [name], "get": op("Model metadata: inputs, outputs, held versions", &[("200", "metadata"), ("404", "no such model")]) },
        "/v2/models/{name}/ready": { "parameters": [name], "get": op("Model readiness", &[("200", "ready"), ("404", "no such model"), ("503", "not ready")]) },
        "/v2/models/{name}/infer": { "parameters": [name], "post": infer },
        "/v2/models/{name}/rank": { "parameters": [name], "post": rank },
        "/v2/models/{name}/feedback": { "parameters": [name], "post": with_body(op("True outcomes of earlier requests, joined by request id (row i of a multi-row request: id#i) for live quality", &[("200", "{joined, unknown: [ids], refused: [{id, error}]}"), ("400", "malformed body"), ("404", "no such model, or served without a monitor"), ("413", "more outcomes than the row limit")]), json!({ "type": "object", "required": ["outcomes"], "properties": { "outcomes": { "type": "array", "items": { "type": "object", "required": ["id", "actual"], "properties": { "id": { "type": "string" }, "actual": { "description": "a label (string), a class index (non-negative integer) or a regression target (number)" } } } } } }), "application/json") },
        "/v2/models/{name}/report": { "parameters": [name], "get": op("The monitor's HTML report: drift per feature, live quality, latency, alerts", &[("200", "text/html"), ("404", "no such model, or served without a monitor")]) },
        "/v2/models/{name}/versions/{version}": { "parameters": [name, version], "get": op("Metadata of a held version", &[("200", "metadata"), ("400", "invalid version"), ("404", "not held")]) },
        "/v2/models/{name}/versions/{version}/ready": { "parameters": [name, version], "get": op("Readiness of a held version", &[("200", "ready"), ("404", "not held"), ("503", "not ready")]) },
        "/v2/models/{name}/versions/{version}/infer": { "parameters": [name, version], "post": infer },
        "/v2/repository/index": { "post": op("Models, serving versions and states (read-only, open)", &[("200", "[{name, version, state, reason}]")]) },
        "/v2/repository/models/{name}/load": { "parameters": [name], "post": admin(op("Load the configured reference (or parameters.version) from the registry and mark ready", &[("200", "loaded"), ("409", "refused swap, or no registry"), ("500", "artifact failed its checks")])) },
        "/v2/repository/models/{name}/unload": { "parameters": [name], "post": admin(op("Mark the model unavailable (infer and ready answer 503)", &[("200", "unloaded")])) },
        "/admin/models/{name}/aliases/{alias}": { "parameters": [name, alias], "post": admin(with_body(op("Point a registry alias at a version; a model following it swaps at once", &[("200", "{name, version, previous, serving}"), ("400", "malformed body or alias"), ("409", "refused swap, or no registry")]), json!({ "type": "object", "required": ["version"], "properties": { "version": { "type": "integer", "minimum": 1 } } }), "application/json")) },
        "/invocations": { "post": invocations },
        "/v1/models": { "get": op("KServe V1: the served models", &[("200", "{models: [names]}")]) },
        "/v1/models/{name}": { "parameters": [name], "get": op("KServe V1 readiness", &[("200", "{name, ready: true}"), ("404", "no such model"), ("503", "{name, ready: false}")]) },
        "/v1/models/{name}:predict": { "parameters": [name], "post": with_body(op("KServe V1 predict: labels or scores per instance (class probabilities with parameters.probabilities)", &[("200", "{predictions: [...]}"), ("400", "malformed body or schema violations"), ("404", "no such model"), ("413", "body over the limit, or more instances than the row limit"), ("503", "overloaded or unloaded")]), json!({ "type": "object", "required": ["instances"], "properties": { "instances": { "type": "array", "description": "objects of named features, or lists of values in schema order" }, "parameters": { "type": "object", "properties": { "probabilities": { "type": "boolean" } } } } }), "application/json") },
        "/ping": { "get": op("MLflow health", &[("200", "ready"), ("503", "unloaded")]) },
        "/health": { "get": op("MLflow health", &[("200", "ready"), ("503", "unloaded")]) },
        "/version": { "get": op("modelhost version", &[("200", "version string")]) },
        "/metrics": { "get": op("Prometheus text format", &[("200", "metrics")]) },
        "/openapi.json": { "get": op("This document", &[("200", "OpenAPI 3")]) },
    });
    let mut document = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "modelhost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Open Inference Protocol v2 (with the binary tensor data extension), MLflow scoring, metrics and admin endpoints of a modelhost server.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    });
    if let Some(prefix) = prefix {
        document["servers"] = json!([{ "url": prefix }]);
    }
    Json(document)
}
