//! MLflow's scoring protocol: `POST /invocations`, `GET /ping`, `GET /health`,
//! `GET /version`, served by the first model added.
//!
//! `params.predict_method = "predict_proba"` answers, for a classifier with
//! probabilities, one list of class probabilities per row in label order
//! (`{"predictions": [[p0, p1], ...]}`), as an MLflow pyfunc logged with
//! `pyfunc_predict_fn="predict_proba"` does; without it, labels or scores.
//!
//! Columns the schema does not have are dropped before validation, as
//! MLflow's scoring server ignores extra columns; every feature the schema
//! has is validated as usual.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::codec;
use super::error::{ApiError, Rejection};
use super::router::{ModelEntry, Shared, body};
use crate::schema::{FeatureKind, FeatureMap, FeatureSchema, FeatureValue};
use crate::server::PredictRequest;

/// The formats of a JSON request body.
const FORMATS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// `GET /ping` and `GET /health`: 200 when the default model can serve.
pub(crate) async fn ping(State(shared): State<Arc<Shared>>) -> Response {
    let m = &shared.models[0];
    if !m.is_unloaded() && m.server.health().is_ready() {
        (StatusCode::OK, "\n").into_response()
    } else {
        ApiError::mlflow(Rejection::Unloaded(m.name.to_string())).into_response()
    }
}

/// `GET /version`: the modelhost version.
pub(crate) async fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// `POST /invocations`.
pub(crate) async fn invocations(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let entry: &ModelEntry = &shared.models[0];
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let csv = match mime.as_str() {
        "application/json" => false,
        "text/csv" => true,
        _ => {
            return Err(ApiError::mlflow(Rejection::UnsupportedMediaType(
                content_type.to_owned(),
            )));
        }
    };
    let bytes = body(bytes, shared.body_limit).map_err(ApiError::mlflow)?;
    if entry.is_unloaded() {
        return Err(ApiError::mlflow(Rejection::Unloaded(
            entry.name.to_string(),
        )));
    }
    let schema = entry.server.metadata().map_err(ApiError::mlflow)?.schema;
    let (rows, method) = if csv {
        parse_csv(&bytes, &schema, shared.max_rows).map(|rows| (rows, Method::Predict))
    } else {
        codec::check_json_values(&bytes, shared.json_value_budget(schema.len()))
            .and_then(|()| parse_json(&bytes, &schema))
    }
    .map_err(ApiError::mlflow)?;
    if rows.is_empty() {
        return Err(ApiError::mlflow(Rejection::BadRequest(
            "the request has no rows".into(),
        )));
    }
    if rows.len() > shared.max_rows {
        return Err(ApiError::mlflow(Rejection::TooManyRows {
            rows: rows.len(),
            limit: shared.max_rows,
        }));
    }
    let response = shared
        .predict(entry, PredictRequest::rows(rows))
        .await
        .map_err(ApiError::mlflow)?;
    let p = &response.predictions;
    let predictions: Vec<Value> = match (method, p.score_values()) {
        (Method::PredictProba, _) => {
            if !response.output.has_probabilities() {
                return Err(ApiError::mlflow(bad(format!(
                    "model `{}` gives no probabilities: `predict_proba` is not available",
                    response.model
                ))));
            }
            (0..response.len())
                .map(|i| {
                    p.probabilities(i)
                        .map_or(Value::Null, |row| row.iter().copied().collect())
                })
                .collect()
        }
        (Method::Predict, Some(scores)) => scores.iter().copied().map(Value::from).collect(),
        (Method::Predict, None) => (0..response.len())
            .map(|i| Value::from(response.label(i).unwrap_or_default()))
            .collect(),
    };
    Ok(Json(json!({ "predictions": predictions })))
}

fn bad(message: impl Into<String>) -> Rejection {
    Rejection::BadRequest(message.into())
}

/// A JSON value as a raw feature value (no nesting).
fn value(column: &str, v: Value) -> Result<FeatureValue, Rejection> {
    serde_json::from_value(v).map_err(|_| bad(format!("column `{column}` holds a nested value")))
}

/// One row from named columns, dropping columns the schema lacks.
fn row_from_object(
    object: Map<String, Value>,
    schema: &FeatureSchema,
) -> Result<FeatureMap, Rejection> {
    let mut map = FeatureMap::new();
    for (k, v) in object {
        if schema.feature(&k).is_some() {
            let v = value(&k, v)?;
            map.insert(k, v);
        }
    }
    Ok(map)
}

/// Rows from `columns` and row arrays.
fn rows_from_split(
    columns: &[String],
    data: Vec<Value>,
    schema: &FeatureSchema,
) -> Result<Vec<FeatureMap>, Rejection> {
    let keep: Vec<bool> = columns
        .iter()
        .map(|c| schema.feature(c).is_some())
        .collect();
    data.into_iter()
        .enumerate()
        .map(|(i, row)| {
            let Value::Array(values) = row else {
                return Err(bad(format!("row {i} is not an array")));
            };
            if values.len() != columns.len() {
                return Err(bad(format!(
                    "row {i} has {} values for {} columns",
                    values.len(),
                    columns.len()
                )));
            }
            let mut map = FeatureMap::new();
            for ((c, v), &k) in columns.iter().zip(values).zip(&keep) {
                if k {
                    map.insert(c.clone(), value(c, v)?);
                }
            }
            Ok(map)
        })
        .collect()
}

/// `instances` / `inputs`: a list of objects, a list of rows in schema
/// order, or one object of columns.
pub(crate) fn rows_from_tensor_format(
    key: &str,
    v: Value,
    schema: &FeatureSchema,
) -> Result<Vec<FeatureMap>, Rejection> {
    match v {
        Value::Array(items) => {
            let columns: Vec<String> = schema
                .features()
                .iter()
                .map(|f| f.name().to_owned())
                .collect();
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(o) => row_from_object(o, schema),
                    Value::Array(_) => rows_from_split(&columns, vec![item], schema)
                        .map(|mut r| r.pop().unwrap_or_default()),
                    _ => Err(bad(format!(
                        "`{key}` element {i} is neither an object nor a row"
                    ))),
                })
                .collect()
        }
        Value::Object(columns) => {
            let mut n: Option<usize> = None;
            let mut cols = Vec::new();
            for (name, values) in columns {
                let Value::Array(values) = values else {
                    return Err(bad(format!("column `{name}` of `{key}` is not an array")));
                };
                match n {
                    Some(m) if m != values.len() => {
                        return Err(bad(format!(
                            "column `{name}` of `{key}` has {} values, others have {m}",
                            values.len()
                        )));
                    }
                    _ => n = Some(values.len()),
                }
                if schema.feature(&name).is_some() {
                    cols.push((name, values));
                }
            }
            let mut rows = vec![FeatureMap::new(); n.unwrap_or(0)];
            for (name, values) in cols {
                for (row, v) in rows.iter_mut().zip(values) {
                    row.insert(name.clone(), value(&name, v)?);
                }
            }
            Ok(rows)
        }
        _ => Err(bad(format!(
            "`{key}` must be a list or an object of columns"
        ))),
    }
}

/// What `params.predict_method` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Labels (classifiers) or scores (regressors), one per row.
    Predict,
    /// One list of class probabilities per row, in label order: what an
    /// MLflow pyfunc of a scikit-learn classifier logged with
    /// `pyfunc_predict_fn="predict_proba"` answers.
    PredictProba,
}

fn method(params: Option<&Value>) -> Result<Method, Rejection> {
    match params.and_then(|p| p.get("predict_method")) {
        None => Ok(Method::Predict),
        Some(Value::String(s)) if s == "predict" => Ok(Method::Predict),
        Some(Value::String(s)) if s == "predict_proba" => Ok(Method::PredictProba),
        Some(_) => Err(bad(
            "`params.predict_method` must be \"predict\" or \"predict_proba\"",
        )),
    }
}

fn parse_json(
    bytes: &[u8],
    schema: &FeatureSchema,
) -> Result<(Vec<FeatureMap>, Method), Rejection> {
    let body: Map<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| Rejection::MalformedJson(e.to_string()))?;
    let method = method(body.get("params"))?;
    parse_body(body, schema).map(|rows| (rows, method))
}

fn parse_body(
    body: Map<String, Value>,
    schema: &FeatureSchema,
) -> Result<Vec<FeatureMap>, Rejection> {
    let mut found: Vec<(&str, Value)> = Vec::new();
    let mut body = body;
    for key in FORMATS {
        if let Some(v) = body.remove(key) {
            found.push((key, v));
        }
    }
    body.remove("params");
    if let Some(other) = body.keys().next() {
        return Err(bad(format!(
            "unknown key `{other}`: use one of {FORMATS:?} (and optionally `params`)"
        )));
    }
    if found.len() != 1 {
        return Err(bad(format!(
            "the body must have exactly one of {FORMATS:?}, it has {}",
            found.len()
        )));
    }
    let Some((key, v)) = found.pop() else {
        return Err(bad("no input"));
    };
    match key {
        "dataframe_split" => {
            let Value::Object(mut split) = v else {
                return Err(bad("`dataframe_split` must be an object"));
            };
            let columns: Vec<String> = match split.remove("columns") {
                Some(c) => serde_json::from_value(c)
                    .map_err(|_| bad("`dataframe_split.columns` must be a list of strings"))?,
                None => return Err(bad("`dataframe_split` needs `columns`")),
            };
            let Some(Value::Array(data)) = split.remove("data") else {
                return Err(bad("`dataframe_split` needs `data`, a list of rows"));
            };
            rows_from_split(&columns, data, schema)
        }
        "dataframe_records" => {
            let Value::Array(records) = v else {
                return Err(bad("`dataframe_records` must be a list of objects"));
            };
            records
                .into_iter()
                .enumerate()
                .map(|(i, r)| match r {
                    Value::Object(o) => row_from_object(o, schema),
                    _ => Err(bad(format!("record {i} is not an object"))),
                })
                .collect()
        }
        key => rows_from_tensor_format(key, v, schema),
    }
}

/// A CSV body with a header line; each field is read as the type its
/// feature takes (an empty field is absent).
fn parse_csv(
    bytes: &[u8],
    schema: &FeatureSchema,
    max_rows: usize,
) -> Result<Vec<FeatureMap>, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("the CSV body is not UTF-8"))?;
    let mut records = csv_records(text, max_rows.saturating_add(1))?.into_iter();
    let Some(header) = records.next() else {
        return Err(bad("the CSV body has no header line"));
    };
    let columns: Vec<Option<&FeatureKind>> = header
        .iter()
        .map(|name| schema.feature(name).map(|(_, f)| f.kind()))
        .collect();
    records
        .enumerate()
        .map(|(i, fields)| {
            if fields.len() != header.len() {
                return Err(bad(format!(
                    "CSV row {} has {} fields for {} columns",
                    i + 1,
                    fields.len(),
                    header.len()
                )));
            }
            let mut map = FeatureMap::new();
            for ((name, kind), field) in header.iter().zip(&columns).zip(fields) {
                if let Some(kind) = kind {
                    map.insert(name.clone(), csv_value(kind, field));
                }
            }
            Ok(map)
        })
        .collect()
}

/// Reads a CSV field as the feature's kind wants it; anything that does not
/// parse stays a string, so validation names the feature.
fn csv_value(kind: &FeatureKind, field: String) -> FeatureValue {
    let t = field.trim();
    if t.is_empty() {
        return FeatureValue::Null;
    }
    match kind {
        FeatureKind::Categorical { .. } => FeatureValue::Str(field),
        FeatureKind::Boolean => match t {
            "true" | "True" | "TRUE" | "1" => FeatureValue::Bool(true),
            "false" | "False" | "FALSE" | "0" => FeatureValue::Bool(false),
            _ => FeatureValue::Str(field),
        },
        _ => t
            .parse::<i64>()
            .map(FeatureValue::Int)
            .or_else(|_| t.parse::<f64>().map(FeatureValue::Float))
            .unwrap_or(FeatureValue::Str(field)),
    }
}

/// The most fields a CSV line may have.
const MAX_CSV_FIELDS: usize = 4096;

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes,
/// CRLF or LF line ends; blank lines skipped). Stops as soon as there are
/// more than `max_records` records (413) or a record has more than
/// [`MAX_CSV_FIELDS`] fields (400): nothing is built past either limit.
fn csv_records(text: &str, max_records: usize) -> Result<Vec<Vec<String>>, Rejection> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                any = true;
            }
            ',' => {
                if record.len() >= MAX_CSV_FIELDS {
                    return Err(bad(format!(
                        "CSV line {} has more than {MAX_CSV_FIELDS} fields",
                        records.len() + 1
                    )));
                }
                record.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                if any || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    if records.len() >= max_records {
                        return Err(Rejection::RowsOverLimit {
                            limit: max_records.saturating_sub(1),
                        });
                    }
                    records.push(std::mem::take(&mut record));
                }
                any = false;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(bad("the CSV body ends inside a quoted field"));
    }
    if any || !field.is_empty() {
        record.push(field);
        if records.len() >= max_records {
            return Err(Rejection::RowsOverLimit {
                limit: max_records.saturating_sub(1),
            });
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_follow_rfc_4180() {
        let r = csv_records("a,b\r\n\"x, \"\"y\"\"\",2\n\n3,\n", 10).unwrap();
        assert_eq!(
            r,
            vec![vec!["a", "b"], vec!["x, \"y\"", "2"], vec!["3", ""]]
        );
        assert!(csv_records("a,\"b", 10).is_err());
        assert!(csv_records("", 10).unwrap().is_empty());
        // Decoding stops at the limit: the 4th record is refused.
        assert!(matches!(
            csv_records("h\n1\n2\n3\n4\n5\n", 3),
            Err(Rejection::RowsOverLimit { limit: 2 })
        ));
        assert!(matches!(csv_records("h\n1\n2", 3), Ok(r) if r.len() == 3));
        assert!(csv_records(&",".repeat(MAX_CSV_FIELDS + 1), 3).is_err());
    }
}
