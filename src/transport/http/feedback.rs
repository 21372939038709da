//! Outcome feedback and the monitoring report of a monitored model.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, Rejection};
use super::router::{ModelEntry, Shared, body};
use crate::monitor::{Actual, Monitor};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackRequest {
    outcomes: Vec<Outcome>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outcome {
    id: String,
    actual: Value,
}

fn monitor_of(entry: &ModelEntry) -> Result<&Arc<Monitor>, Rejection> {
    entry
        .monitor
        .as_ref()
        .ok_or_else(|| Rejection::NotMonitored(entry.name.to_string()))
}

/// An outcome as sent: a label (string), a class index (non-negative
/// integer) or a regression target (any other number).
fn actual(v: &Value) -> Option<Actual> {
    match v {
        Value::String(s) => Some(Actual::Label(s.clone())),
        Value::Number(n) => Some(match n.as_u64().and_then(|c| usize::try_from(c).ok()) {
            Some(c) => Actual::Class(c),
            None => Actual::Value(n.as_f64()?),
        }),
        _ => None,
    }
}

/// `POST /v2/models/{name}/feedback`: joins true outcomes to the
/// predictions of the requests they belong to.
pub(crate) async fn feedback(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let entry = shared.model(&name)?;
    let monitor = monitor_of(entry)?;
    let bytes = body(bytes, shared.body_limit)?;
    let req: FeedbackRequest =
        serde_json::from_slice(&bytes).map_err(|e| Rejection::MalformedJson(e.to_string()))?;
    if req.outcomes.len() > shared.max_rows {
        return Err(Rejection::TooManyRows {
            rows: req.outcomes.len(),
            limit: shared.max_rows,
        }
        .into());
    }
    let mut joined = 0u64;
    let mut waiting_for_none = Vec::new();
    let mut refused = Vec::new();
    for o in req.outcomes {
        let Some(a) = actual(&o.actual) else {
            refused.push(json!({ "id": o.id, "error": "`actual` must be a label, a class index or a number" }));
            continue;
        };
        match monitor.record_outcome(&o.id, a) {
            Ok(true) => joined += 1,
            Ok(false) => waiting_for_none.push(Value::from(o.id)),
            Err(e) => refused.push(json!({ "id": o.id, "error": e.to_string() })),
        }
    }
    Ok(Json(json!({
        "joined": joined,
        "unknown": waiting_for_none,
        "refused": refused,
    })))
}

/// `GET /v2/models/{name}/report`: the monitor's HTML report (drift per
/// feature, live quality, latency, alerts).
pub(crate) async fn report(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let entry = shared.model(&name)?;
    let monitor = monitor_of(entry)?.clone();
    let html = super::router::blocking(move || monitor.snapshot().render_html()).await?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
