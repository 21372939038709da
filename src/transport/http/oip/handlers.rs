//! The OIP endpoints: from path and body to an answer.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::server::ModelMetadata;
use crate::transport::http::codec::{self, HEADER_LENGTH};
use crate::transport::http::error::{ApiError, Rejection};
use crate::transport::http::router::{ModelEntry, Shared, body};

use super::decode::{InferRequest, decode_inputs, flag, requested, to_request};
use super::response::{metadata_json, respond};

type ApiResult<T = Response> = Result<T, ApiError>;

/// `GET /v2/health/live`: the process answers.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// `GET /v2/health/ready`: every model is loaded and healthy (200), or not
/// (503).
pub(crate) async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let ready = shared.models.iter().all(model_is_ready);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "ready": ready }))).into_response()
}

fn model_is_ready(m: &ModelEntry) -> bool {
    !m.is_unloaded() && m.server.health().is_ready()
}

/// `GET /v2`: server metadata.
pub(crate) async fn server_metadata(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let mut extensions = vec!["binary_tensor_data"];
    if shared.admin_token.is_some() {
        extensions.push("model_repository");
    }
    Json(json!({
        "name": "modelhost",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": extensions,
    }))
}

/// Parses a `{version}` path segment.
fn parse_version(v: &str) -> Result<u64, Rejection> {
    v.parse()
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| Rejection::InvalidVersion(v.to_owned()))
}

/// The metadata of `entry`, checking that `version` (if any) is held.
fn metadata_of(entry: &ModelEntry, version: Option<u64>) -> Result<ModelMetadata, Rejection> {
    let meta = entry.server.metadata()?;
    if let Some(v) = version
        && !meta.held_versions.contains(&v)
    {
        return Err(crate::Error::VersionNotHeld {
            model: entry.name.to_string(),
            version: v,
            held: meta.held_versions,
        }
        .into());
    }
    Ok(meta)
}

/// `GET /v2/models/{name}`.
pub(crate) async fn model_metadata(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let entry = shared.model(&name)?;
    Ok(Json(metadata_json(&metadata_of(entry, None)?)))
}

/// `GET /v2/models/{name}/versions/{version}`.
///
/// The inputs described are those of the serving version.
pub(crate) async fn version_metadata(
    State(shared): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let entry = shared.model(&name)?;
    let version = parse_version(&version)?;
    Ok(Json(metadata_json(&metadata_of(entry, Some(version))?)))
}

fn readiness(entry: &ModelEntry, version: Option<u64>) -> ApiResult {
    metadata_of(entry, version)?;
    let ready = model_is_ready(entry);
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

/// `GET /v2/models/{name}/ready`: 200 when ready, 503 when not.
pub(crate) async fn model_ready(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> ApiResult {
    readiness(shared.model(&name)?, None)
}

/// `GET /v2/models/{name}/versions/{version}/ready`.
pub(crate) async fn version_ready(
    State(shared): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
) -> ApiResult {
    let entry = shared.model(&name)?;
    readiness(entry, Some(parse_version(&version)?))
}

/// `POST /v2/models/{name}/infer`.
pub(crate) async fn infer(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    serve_infer(&shared, &name, None, &headers, bytes).await
}

/// `POST /v2/models/{name}/versions/{version}/infer`.
pub(crate) async fn version_infer(
    State(shared): State<Arc<Shared>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let version = parse_version(&version)?;
    serve_infer(&shared, &name, Some(version), &headers, bytes).await
}

async fn serve_infer(
    shared: &Shared,
    name: &str,
    version: Option<u64>,
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let entry = shared.model(name)?;
    let bytes = body(bytes, shared.body_limit)?;
    let (json_part, binary) =
        codec::split_body(bytes, headers.get(HEADER_LENGTH)).map_err(Rejection::BadBinary)?;
    let features = entry.server.metadata()?.schema.len();
    codec::check_json_values(&json_part, shared.json_value_budget(features))?;
    let req: InferRequest =
        serde_json::from_slice(&json_part).map_err(|e| Rejection::MalformedJson(e.to_string()))?;
    if entry.is_unloaded() {
        return Err(Rejection::Unloaded(entry.name.to_string()).into());
    }
    let default_binary = flag(req.parameters.as_ref(), "binary_data_output")?;
    let specs = requested(req.outputs, default_binary)?;
    let inputs = decode_inputs(req.inputs, &binary, shared.max_rows)?;
    let mut request = to_request(entry, inputs, shared.max_rows)?;
    if let Some(id) = req.id {
        request = request.with_id(id);
    }
    if let Some(v) = version {
        request = request.with_version(v);
    }
    let response = shared.predict(entry, request).await?;
    Ok(respond(&response, specs, default_binary)?)
}
