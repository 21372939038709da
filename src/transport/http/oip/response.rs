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

/// The values of one output tensor.
pub(crate) enum OutputData {
    /// `BYTES` elements.
    Strings(Vec<String>),
    /// `FP64` elements.
    F64(Vec<f64>),
}

/// One output tensor of a response, before it is put on the wire.
pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) datatype: &'static str,
    pub(crate) shape: Vec<usize>,
    pub(crate) data: OutputData,
    /// Asked for in the binary tensor extension (HTTP only).
    pub(crate) binary: bool,
}

/// The output tensors of `r` that `specs` ask for (`None`: every output
/// the model has), in the order asked. Protocol-neutral: the HTTP transport
/// renders them as JSON or binary, the gRPC transport as raw contents.
pub(crate) fn outputs(
    r: &PredictResponse,
    specs: Option<Vec<OutputSpec>>,
    default_binary: bool,
) -> Result<Vec<Output>, Rejection> {
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
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let unavailable =
            || Rejection::BadRequest(format!("model `{}` has no output `{}`", r.model, spec.name));
        let (datatype, shape, data) = match spec.name.as_str() {
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
                ("BYTES", vec![n, k], OutputData::Strings(cells))
            }
            LABEL => {
                if p.class_indices().is_none() {
                    return Err(unavailable());
                }
                let labels = (0..n)
                    .map(|i| r.label(i).unwrap_or_default().to_owned())
                    .collect();
                ("BYTES", vec![n], OutputData::Strings(labels))
            }
            PROBABILITIES => {
                if !has_probabilities {
                    return Err(unavailable());
                }
                let k = r.output.labels().map_or(0, |l| l.len());
                let flat = (0..n)
                    .flat_map(|i| {
                        p.probabilities(i)
                            .map(|row| row.to_vec())
                            .unwrap_or_default()
                    })
                    .collect();
                ("FP64", vec![n, k], OutputData::F64(flat))
            }
            _ => {
                let Some(scores) = p.score_values() else {
                    return Err(unavailable());
                };
                ("FP64", vec![n], OutputData::F64(scores.to_vec()))
            }
        };
        out.push(Output {
            name: spec.name,
            datatype,
            shape,
            data,
            binary: spec.binary,
        });
    }
    Ok(out)
}

/// Renders the response, JSON or with binary outputs.
pub(super) fn respond(
    r: &PredictResponse,
    specs: Option<Vec<OutputSpec>>,
    default_binary: bool,
) -> Result<Response, Rejection> {
    let mut binary = Vec::new();
    let mut any_binary = false;
    let mut tensors = Vec::new();
    for o in outputs(r, specs, default_binary)? {
        let mut tensor = Map::new();
        tensor.insert("name".into(), o.name.into());
        tensor.insert("datatype".into(), o.datatype.into());
        tensor.insert("shape".into(), json!(o.shape));
        if o.binary {
            let start = binary.len();
            match &o.data {
                OutputData::Strings(v) => {
                    codec::encode_bytes_elements(v.iter().map(String::as_str), &mut binary);
                }
                OutputData::F64(v) => codec::encode_f64(v.iter().copied(), &mut binary),
            }
            any_binary = true;
            tensor.insert(
                "parameters".into(),
                json!({ "binary_data_size": binary.len() - start }),
            );
        } else {
            let data: Value = match o.data {
                OutputData::Strings(v) => v.into_iter().map(Value::from).collect(),
                OutputData::F64(v) => v.into_iter().map(Value::from).collect(),
            };
            tensor.insert("data".into(), data);
        }
        tensors.push(Value::Object(tensor));
    }
    let outputs = tensors;
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
