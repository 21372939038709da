//! Request JSON and binary tensors into a `PredictRequest`.

use ndarray::Array2;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{LABEL, PROBABILITIES, SCORE};
use crate::schema::FeatureMap;
use crate::server::PredictRequest;
use crate::transport::http::codec::{self, Datatype, Values};
use crate::transport::http::error::Rejection;
use crate::transport::http::router::ModelEntry;

#[derive(Deserialize)]
pub(super) struct InferRequest {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) parameters: Option<Map<String, Value>>,
    pub(super) inputs: Vec<InputTensor>,
    #[serde(default)]
    pub(super) outputs: Option<Vec<RequestedOutput>>,
}

#[derive(Deserialize)]
pub(super) struct InputTensor {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct RequestedOutput {
    name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// A decoded input tensor.
pub(crate) struct Decoded {
    name: String,
    datatype: Datatype,
    shape: Vec<i64>,
    values: Values,
}

impl Decoded {
    /// A tensor decoded by another transport (gRPC): `values` hold the
    /// element count of `shape`.
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn new(name: String, datatype: Datatype, shape: Vec<i64>, values: Values) -> Self {
        Self {
            name,
            datatype,
            shape,
            values,
        }
    }
}

/// A boolean request parameter (`binary_data`, `binary_data_output`).
pub(super) fn flag(parameters: Option<&Map<String, Value>>, key: &str) -> Result<bool, Rejection> {
    match parameters.and_then(|p| p.get(key)) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Rejection::BadRequest(format!(
            "parameter `{key}` must be a boolean"
        ))),
    }
}

pub(super) fn decode_inputs(
    inputs: Vec<InputTensor>,
    binary: &[u8],
    max_rows: usize,
) -> Result<Vec<Decoded>, Rejection> {
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
        // Refused before a value is decoded: rows are the first dimension.
        if let Some(&rows) = input.shape.first()
            && rows as u64 > max_rows as u64
        {
            return Err(Rejection::TooManyRows {
                rows: rows as usize,
                limit: max_rows,
            });
        }
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
pub(crate) fn to_request(
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
pub(crate) struct OutputSpec {
    pub(crate) name: String,
    pub(crate) binary: bool,
    /// Triton's `classification` parameter: the top this many classes per
    /// row, as `"score:index:label"` strings.
    pub(crate) classification: Option<usize>,
}

impl OutputSpec {
    /// An output asked for by name, checked: a known output, and
    /// `classification` only on the label.
    pub(crate) fn checked(
        name: String,
        binary: bool,
        classification: Option<usize>,
    ) -> Result<Self, Rejection> {
        if ![LABEL, PROBABILITIES, SCORE].contains(&name.as_str()) {
            return Err(Rejection::BadRequest(format!(
                "unknown output `{name}`: outputs are `{LABEL}` and `{PROBABILITIES}` (classifiers) or `{SCORE}` (regression)"
            )));
        }
        if classification.is_some() && name != LABEL {
            return Err(Rejection::BadRequest(format!(
                "parameter `classification` applies to the `{LABEL}` output, not `{name}`"
            )));
        }
        Ok(Self {
            name,
            binary,
            classification,
        })
    }
}

/// The outputs asked for (`None`: all of them).
pub(super) fn requested(
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
            let classification = match o.parameters.as_ref().and_then(|p| p.get("classification")) {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|k| usize::try_from(k).ok())
                        .filter(|&k| k > 0)
                        .ok_or_else(|| {
                            Rejection::BadRequest(
                                "parameter `classification` must be a positive integer".into(),
                            )
                        })?,
                ),
            };
            OutputSpec::checked(o.name, binary, classification)
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}
