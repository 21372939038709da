//! `POST /v2/models/{name}/rank`: score candidates for one context and
//! answer the top k (see [`crate::rank`]).
//!
//! Request body (JSON):
//!
//! ```json
//! { "session": { "recency_days": 2, "device": "desktop" },
//!   "candidates": [ { "product_price": 9.5 }, { "product_price": 45.0 } ],
//!   "k": 3, "id": "visit-7", "label": "buy" }
//! ```
//!
//! `session` (default `{}`) holds the features every candidate shares,
//! each candidate its own; `id` and `label` are optional (`label`: the class
//! whose probability ranks, default the last label; regressors rank by
//! score). Answer: `{"model", "version", "id", "label", "items": [{"index",
//! "score"}]}`, best first, `index` the candidate's position; one model
//! version scores every candidate. The candidate count counts against the
//! row limit, the body against the body and JSON-value limits.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;

use super::codec;
use super::error::{ApiError, Rejection};
use super::router::{Shared, body};
use crate::rank::{RankResponse, candidate_rows};
use crate::schema::FeatureMap;
use crate::server::PredictRequest;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RankBody {
    #[serde(default)]
    session: FeatureMap,
    candidates: Vec<FeatureMap>,
    k: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// `POST /v2/models/{name}/rank`.
pub(crate) async fn rank(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let entry = shared.model(&name)?;
    let bytes = body(bytes, shared.body_limit)?;
    let schema = entry.server.metadata().map_err(Rejection::from)?.schema;
    codec::check_json_values(&bytes, shared.json_value_budget(schema.len()))?;
    let request: RankBody =
        serde_json::from_slice(&bytes).map_err(|e| Rejection::MalformedJson(e.to_string()))?;
    if request.candidates.len() > shared.max_rows {
        return Err(Rejection::TooManyRows {
            rows: request.candidates.len(),
            limit: shared.max_rows,
        }
        .into());
    }
    let rows = candidate_rows(&request.session, &request.candidates);
    let mut predict = PredictRequest::rows(rows);
    if let Some(id) = &request.id {
        predict = predict.with_id(id.clone());
    }
    let response = shared.predict(entry, predict).await?;
    let ranked = RankResponse::from_predictions(&response, request.k, request.label)
        .map_err(Rejection::from)?;
    Ok(Json(
        serde_json::to_value(ranked).map_err(|e| Rejection::Internal(e.to_string()))?,
    ))
}
