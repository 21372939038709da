//! Model metadata and inference responses, JSON or binary.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{LABEL, PROBABILITIES, SCORE};
use crate::model::OutputKind;
use crate::schema::FeatureKind;
use crate::server::{ModelMetadata, PredictResponse};
use crate::transport::http::codec::{self, HEADER_LENGTH};
use crate::transport::http::error::Rejection;

use super::decode::OutputSpec;

/// The OIP datatype a feature is sent as.
pub(crate) fn feature_datatype(kind: &FeatureKind) -> &'static str {
    match kind {
        FeatureKind::Float { .. } => "FP64",
        FeatureKind::Integer { .. } => "INT64",
        FeatureKind::Boolean => "BOOL",
        FeatureKind::Categorical { .. } => "BYTES",
    }
}

/// The output tensors a model of this kind returns: exactly those, so a
/// client that asks for every listed output never gets a 400. The
/// `probabilities` tensor names its class order in `parameters.labels`.
pub(crate) fn output_tensors(output: &OutputKind) -> Vec<Value> {
    match output {
        OutputKind::Classification {
            labels,
            probabilities: true,
        } => vec![
            json!({ "name": LABEL, "datatype": "BYTES", "shape": [-1] }),
            json!({
                "name": PROBABILITIES,
                "datatype": "FP64",
                "shape": [-1, labels.len()],
                "parameters": { "labels": &labels[..] },
            }),
        ],
        OutputKind::Classification { .. } => {
            vec![json!({ "name": LABEL, "datatype": "BYTES", "shape": [-1] })]
        }
        OutputKind::Regression => vec![json!({ "name": SCORE, "datatype": "FP64", "shape": [-1] })],
    }
}

pub(super) fn metadata_json(meta: &ModelMetadata) -> Value {
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

/// Renders the response, JSON or with binary outputs.
pub(super) fn respond(
    r: &PredictResponse,
    specs: Option<Vec<OutputSpec>>,
    default_binary: bool,
) -> Result<Response, Rejection> {
    let n = r.len();
    let p = &r.predictions;
    // What the output promises (a deployment's warm-up holds the model to
    // it), so an empty batch answers the same outputs as any other.
    let has_probabilities =
        r.output.has_probabilities() && (n == 0 || p.probabilities(0).is_some());
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
                    classification: None,
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
            LABEL if spec.classification.is_some() => {
                // Triton's classification extension: per row, the top k
                // classes by probability as "score:index:label", best first.
                let k_asked = spec.classification.unwrap_or(1);
                let names: &[String] = r.output.labels().map_or(&[], |l| &l[..]);
                if !has_probabilities || names.is_empty() {
                    return Err(Rejection::BadRequest(format!(
                        "model `{}` gives no class probabilities to rank for `classification`",
                        r.model
                    )));
                }
                let k = k_asked.min(names.len());
                let mut cells: Vec<String> = Vec::with_capacity(n * k);
                for i in 0..n {
                    let row = p
                        .probabilities(i)
                        .map(|row| row.to_vec())
                        .unwrap_or_default();
                    let mut order: Vec<usize> = (0..row.len()).collect();
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                    for &c in order.iter().take(k) {
                        cells.push(format!(
                            "{:.6}:{c}:{}",
                            row[c],
                            names.get(c).map_or("", String::as_str)
                        ));
                    }
                }
                tensor.insert("datatype".into(), "BYTES".into());
                tensor.insert("shape".into(), json!([n, k]));
                if spec.binary {
                    codec::encode_bytes_elements(cells.iter().map(String::as_str), &mut binary);
                    data = Value::Null;
                } else {
                    data = cells.into_iter().map(Value::from).collect();
                }
            }
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
                let k = r.output.labels().map_or(0, |l| l.len());
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
