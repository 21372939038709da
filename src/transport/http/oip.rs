//! Open Inference Protocol v2 (KServe / Triton REST): health, metadata and
//! inference, with the binary tensor data extension.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ndarray::Array2;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::codec::{self, Datatype, HEADER_LENGTH, Values};
use super::error::{ApiError, Rejection};
use super::router::{ModelEntry, Shared, body};
use crate::model::OutputKind;
use crate::schema::{FeatureKind, FeatureMap};
use crate::server::{ModelMetadata, PredictRequest, PredictResponse};

/// The output tensor names.
pub(crate) const LABEL: &str = "label";
pub(crate) const PROBABILITIES: &str = "probabilities";
pub(crate) const SCORE: &str = "score";

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

/// The OIP datatype a feature is sent as.
pub(crate) fn feature_datatype(kind: &FeatureKind) -> &'static str {
    match kind {
        FeatureKind::Float { .. } => "FP64",
        FeatureKind::Integer { .. } => "INT64",
        FeatureKind::Boolean => "BOOL",
        FeatureKind::Categorical { .. } => "BYTES",
    }
}

/// The output tensors a model of this kind can return.
pub(crate) fn output_tensors(output: &OutputKind) -> Vec<Value> {
    match output {
        OutputKind::Classification { labels } => vec![
            json!({ "name": LABEL, "datatype": "BYTES", "shape": [-1] }),
            json!({ "name": PROBABILITIES, "datatype": "FP64", "shape": [-1, labels.len()] }),
        ],
        OutputKind::Regression => vec![json!({ "name": SCORE, "datatype": "FP64", "shape": [-1] })],
    }
}

fn metadata_json(meta: &ModelMetadata) -> Value {
    let inputs: Vec<Value> = meta
        .schema
        .features()
        .iter()
        .map(|f| json!({ "name": f.name(), "datatype": feature_datatype(f.kind()), "shape": [-1] }))
        .collect();
    let versions: Vec<String> = meta.held_versions.iter().map(u64::to_string).collect();
    json!({
        "name": &*meta.name,
        "versions": versions,
        "platform": "modelhost",
        "inputs": inputs,
        "outputs": output_tensors(&meta.output),
    })
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

#[derive(Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    inputs: Vec<InputTensor>,
    #[serde(default)]
    outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize)]
struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// A decoded input tensor.
struct Decoded {
    name: String,
    datatype: Datatype,
    shape: Vec<i64>,
    values: Values,
}

/// A boolean request parameter (`binary_data`, `binary_data_output`).
fn flag(parameters: Option<&Map<String, Value>>, key: &str) -> Result<bool, Rejection> {
    match parameters.and_then(|p| p.get(key)) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Rejection::BadRequest(format!(
            "parameter `{key}` must be a boolean"
        ))),
    }
}

fn decode_inputs(inputs: Vec<InputTensor>, binary: &[u8]) -> Result<Vec<Decoded>, Rejection> {
    let mut offset = 0usize;
    let mut out: Vec<Decoded> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let bad = |reason: String| Rejection::BadTensor {
            input: input.name.clone(),
            reason,
        };
        if out.iter().any(|d| d.name == input.name) {
            return Err(bad("appears more than once".into()));
        }
        let datatype = Datatype::parse(&input.datatype)
            .ok_or_else(|| bad(format!("unsupported datatype {:?}", input.datatype)))?;
        let count = codec::element_count(&input.shape).map_err(bad)?;
        let size = match input
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"))
        {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| bad("binary_data_size must be a non-negative integer".into()))?,
            ),
        };
        let values = match (&input.data, size) {
            (Some(data), None) => codec::decode_json(datatype, data, count).map_err(bad)?,
            (None, Some(n)) => {
                let end = offset
                    .checked_add(n)
                    .filter(|&end| end <= binary.len())
                    .ok_or_else(|| {
                        Rejection::BadBinary(format!(
                            "input `{}` claims {n} bytes at offset {offset}, the binary part has {}",
                            input.name,
                            binary.len()
                        ))
                    })?;
                let v = codec::decode_binary(datatype, &binary[offset..end], count).map_err(bad)?;
                offset = end;
                v
            }
            (Some(_), Some(_)) => return Err(bad("has both `data` and binary data".into())),
            (None, None) => return Err(bad("has neither `data` nor binary data".into())),
        };
        out.push(Decoded {
            name: input.name,
            datatype,
            shape: input.shape,
            values,
        });
    }
    if offset != binary.len() {
        return Err(Rejection::BadBinary(format!(
            "{} bytes of binary data belong to no input",
            binary.len() - offset
        )));
    }
    Ok(out)
}

/// Turns decoded tensors into a request: one named input per feature, or
/// one 2-D float matrix of already encoded rows in schema order.
fn to_request(
    entry: &ModelEntry,
    mut inputs: Vec<Decoded>,
    max_rows: usize,
) -> Result<PredictRequest<'static>, Rejection> {
    if inputs.is_empty() {
        return Err(Rejection::BadRequest("the request has no inputs".into()));
    }
    if inputs.len() == 1 && inputs[0].shape.len() == 2 && inputs[0].datatype.is_float() {
        let schema = entry.server.metadata()?.schema;
        if schema.feature(&inputs[0].name).is_none() {
            let input = inputs.remove(0);
            let bad = |reason: String| Rejection::BadTensor {
                input: input.name.clone(),
                reason,
            };
            // Both dimensions are non-negative: `element_count` checked them.
            let (rows, cols) = (input.shape[0] as usize, input.shape[1] as usize);
            if rows == 0 {
                return Err(bad("has no rows".into()));
            }
            if rows > max_rows {
                return Err(Rejection::TooManyRows {
                    rows,
                    limit: max_rows,
                });
            }
            if cols != schema.len() {
                let names: Vec<&str> = schema.features().iter().map(|f| f.name()).collect();
                return Err(bad(format!(
                    "has {cols} columns; encoded input needs one per feature, in order: {}",
                    names.join(", ")
                )));
            }
            let values = input.values.into_f64().unwrap_or_default();
            let matrix =
                Array2::from_shape_vec((rows, cols), values).map_err(|e| bad(e.to_string()))?;
            // Validated by the server against the version that predicts
            // them: a swap since reading the metadata cannot fail the request.
            return Ok(PredictRequest::encoded_owned(matrix));
        }
    }
    let mut rows: Option<usize> = None;
    for d in &inputs {
        let n = match d.shape[..] {
            [n] | [n, 1] => n as usize,
            _ => {
                return Err(Rejection::BadTensor {
                    input: d.name.clone(),
                    reason: format!(
                        "shape {:?}: one input per feature takes shape [N] or [N, 1]",
                        d.shape
                    ),
                });
            }
        };
        match rows {
            None => rows = Some(n),
            Some(r) if r != n => {
                return Err(Rejection::BadTensor {
                    input: d.name.clone(),
                    reason: format!("has {n} rows, other inputs have {r}"),
                });
            }
            Some(_) => {}
        }
    }
    let n = rows.unwrap_or(0);
    if n == 0 {
        return Err(Rejection::BadRequest("the request has no rows".into()));
    }
    if n > max_rows {
        return Err(Rejection::TooManyRows {
            rows: n,
            limit: max_rows,
        });
    }
    let mut maps = vec![FeatureMap::new(); n];
    for mut d in inputs {
        for (i, map) in maps.iter_mut().enumerate() {
            map.insert(d.name.clone(), d.values.take(i));
        }
    }
    Ok(PredictRequest::rows(maps))
}

/// One output to return, and whether in binary.
struct OutputSpec {
    name: String,
    binary: bool,
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
    let req: InferRequest =
        serde_json::from_slice(&json_part).map_err(|e| Rejection::MalformedJson(e.to_string()))?;
    if entry.is_unloaded() {
        return Err(Rejection::Unloaded(entry.name.to_string()).into());
    }
    let default_binary = flag(req.parameters.as_ref(), "binary_data_output")?;
    let specs = requested(req.outputs, default_binary)?;
    let inputs = decode_inputs(req.inputs, &binary)?;
    let mut request = to_request(entry, inputs, shared.max_rows)?;
    if let Some(id) = req.id {
        request = request.with_id(id);
    }
    if let Some(v) = version {
        request = request.with_version(v);
    }
    let response = shared.predict(&entry.server, request).await?;
    Ok(respond(&response, specs, default_binary)?)
}

/// The outputs asked for (`None`: all of them).
fn requested(
    outputs: Option<Vec<RequestedOutput>>,
    default_binary: bool,
) -> Result<Option<Vec<OutputSpec>>, Rejection> {
    let Some(list) = outputs else {
        return Ok(None);
    };
    list.into_iter()
        .map(|o| {
            let binary = match o.parameters.as_ref().and_then(|p| p.get("binary_data")) {
                None => default_binary,
                Some(_) => flag(o.parameters.as_ref(), "binary_data")?,
            };
            if ![LABEL, PROBABILITIES, SCORE].contains(&o.name.as_str()) {
                return Err(Rejection::BadRequest(format!(
                    "unknown output `{}`: outputs are `{LABEL}` and `{PROBABILITIES}` (classifiers) or `{SCORE}` (regression)",
                    o.name
                )));
            }
            Ok(OutputSpec {
                name: o.name,
                binary,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Renders the response, JSON or with binary outputs.
fn respond(
    r: &PredictResponse,
    specs: Option<Vec<OutputSpec>>,
    default_binary: bool,
) -> Result<Response, Rejection> {
    let n = r.len();
    let p = &r.predictions;
    let has_probabilities = n > 0 && p.probabilities(0).is_some();
    let specs = match specs {
        Some(s) => s,
        None => {
            let names: &[&str] = match (&*r.output, has_probabilities) {
                (OutputKind::Classification { .. }, true) => &[LABEL, PROBABILITIES],
                (OutputKind::Classification { .. }, false) => &[LABEL],
                (OutputKind::Regression, _) => &[SCORE],
            };
            names
                .iter()
                .map(|&name| OutputSpec {
                    name: name.to_owned(),
                    binary: default_binary,
                })
                .collect()
        }
    };
    let mut binary = Vec::new();
    let mut any_binary = false;
    let mut outputs = Vec::with_capacity(specs.len());
    for spec in specs {
        let unavailable =
            || Rejection::BadRequest(format!("model `{}` has no output `{}`", r.model, spec.name));
        let mut tensor = Map::new();
        tensor.insert("name".into(), spec.name.clone().into());
        let start = binary.len();
        let data: Value;
        match spec.name.as_str() {
            LABEL => {
                if p.class_indices().is_none() {
                    return Err(unavailable());
                }
                let labels = (0..n).map(|i| r.label(i).unwrap_or_default());
                tensor.insert("datatype".into(), "BYTES".into());
                tensor.insert("shape".into(), json!([n]));
                if spec.binary {
                    codec::encode_bytes_elements(labels, &mut binary);
                    data = Value::Null;
                } else {
                    data = labels.map(Value::from).collect();
                }
            }
            PROBABILITIES => {
                if !has_probabilities {
                    return Err(unavailable());
                }
                let k = p.probabilities(0).map_or(0, |row| row.len());
                let flat = (0..n).flat_map(|i| {
                    p.probabilities(i)
                        .map(|row| row.to_vec())
                        .unwrap_or_default()
                });
                tensor.insert("datatype".into(), "FP64".into());
                tensor.insert("shape".into(), json!([n, k]));
                if spec.binary {
                    codec::encode_f64(flat, &mut binary);
                    data = Value::Null;
                } else {
                    data = flat.map(Value::from).collect();
                }
            }
            _ => {
                let Some(scores) = p.score_values() else {
                    return Err(unavailable());
                };
                tensor.insert("datatype".into(), "FP64".into());
                tensor.insert("shape".into(), json!([n]));
                if spec.binary {
                    codec::encode_f64(scores.iter().copied(), &mut binary);
                    data = Value::Null;
                } else {
                    data = scores.iter().copied().map(Value::from).collect();
                }
            }
        }
        if spec.binary {
            any_binary = true;
            tensor.insert(
                "parameters".into(),
                json!({ "binary_data_size": binary.len() - start }),
            );
        } else {
            tensor.insert("data".into(), data);
        }
        outputs.push(Value::Object(tensor));
    }
    let mut head = Map::new();
    head.insert("model_name".into(), (*r.model).into());
    head.insert("model_version".into(), r.version.to_string().into());
    if let Some(id) = &r.id {
        head.insert("id".into(), id.clone().into());
    }
    head.insert("outputs".into(), Value::Array(outputs));
    let mut body =
        serde_json::to_vec(&Value::Object(head)).map_err(|e| Rejection::Internal(e.to_string()))?;
    if !any_binary {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response());
    }
    let json_len = body.len();
    body.extend_from_slice(&binary);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::HeaderName::from_static(HEADER_LENGTH),
                HeaderValue::from(json_len),
            ),
        ],
        body,
    )
        .into_response())
}
