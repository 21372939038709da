//! KServe's V1 protocol, for clients and tools written against it:
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /v1/models` | `{"models": ["name", ...]}` |
//! | `GET /v1/models/{name}` | `{"name": "...", "ready": true}` (503 with `"ready": false` when it cannot serve) |
//! | `POST /v1/models/{name}:predict` | `{"instances": [...]}` → `{"predictions": [...]}` |
//!
//! An instance is an object of named features or a list of values in schema
//! order; columns the schema lacks are dropped, as for MLflow. Predictions
//! are class labels (classifiers) or scores (regressors), one per instance;
//! `"parameters": {"probabilities": true}` answers one list of class
//! probabilities per instance instead, in label order. Errors are
//! `{"error": "..."}` with the same status codes as the OIP endpoints.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::codec;
use super::error::{ApiError, Rejection};
use super::mlflow::rows_from_tensor_format;
use super::router::{Shared, body};
use crate::server::PredictRequest;

/// `GET /v1/models`.
pub(crate) async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let names: Vec<&str> = shared.models.iter().map(|m| &*m.name).collect();
    Json(json!({ "models": names }))
}

/// `GET /v1/models/{name}`.
pub(crate) async fn model(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let entry = shared.model(&name)?;
    let ready = !entry.is_unloaded() && entry.server.health().is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        Json(json!({ "name": &*entry.name, "ready": ready })),
    )
        .into_response())
}

/// `POST /v1/models/{name}:predict` (the path segment is `name:predict`).
pub(crate) async fn predict(
    State(shared): State<Arc<Shared>>,
    Path(segment): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let Some(name) = segment.strip_suffix(":predict") else {
        return Err(Rejection::RouteNotFound.into());
    };
    let entry = shared.model(name)?;
    let bytes = body(bytes, shared.body_limit)?;
    if entry.is_unloaded() {
        return Err(Rejection::Unloaded(entry.name.to_string()).into());
    }
    let schema = entry.server.metadata()?.schema;
    codec::check_json_values(&bytes, shared.json_value_budget(schema.len()))?;
    let request: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Rejection::BadRequest(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut request) = request else {
        return Err(bad("the body must be a JSON object with `instances`"));
    };
    let probabilities = match request
        .get("parameters")
        .and_then(|p| p.get("probabilities"))
    {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => {
            return Err(bad(format!(
                "`parameters.probabilities` must be true or false, not {other}"
            )));
        }
    };
    let instances = request
        .remove("instances")
        .ok_or_else(|| Rejection::BadRequest("the body has no `instances`".into()))?;
    if !instances.is_array() {
        return Err(bad("`instances` must be a list"));
    }
    let rows = rows_from_tensor_format("instances", instances, &schema)?;
    if rows.is_empty() {
        return Err(bad("`instances` is empty"));
    }
    if rows.len() > shared.max_rows {
        return Err(Rejection::TooManyRows {
            rows: rows.len(),
            limit: shared.max_rows,
        }
        .into());
    }
    let response = shared.predict(entry, PredictRequest::rows(rows)).await?;
    let p = &response.predictions;
    let predictions: Vec<Value> = if probabilities {
        if !response.output.has_probabilities() {
            return Err(bad(format!(
                "model `{}` gives no probabilities",
                response.model
            )));
        }
        (0..response.len())
            .map(|i| {
                p.probabilities(i)
                    .map_or(Value::Null, |row| row.iter().copied().collect())
            })
            .collect()
    } else if let Some(scores) = p.score_values() {
        scores.iter().copied().map(Value::from).collect()
    } else {
        (0..response.len())
            .map(|i| Value::from(response.label(i).unwrap_or_default()))
            .collect()
    };
    Ok(Json(json!({ "predictions": predictions })))
}

fn bad(message: impl Into<String>) -> ApiError {
    Rejection::BadRequest(message.into()).into()
}
