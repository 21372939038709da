//! Reference rows from a CSV sample: statistics for drift detection and
//! warm-up rows.

use std::path::Path;

use super::{ImportError, ImportOptions, bounded};
use crate::schema::{FeatureBatch, FeatureKind, FeatureSchema};

/// Most rows read from a reference CSV; later rows are ignored.
pub const MAX_REFERENCE_ROWS: usize = 1_000_000;

/// Reads rows of `schema`'s features from a CSV file (a header line of
/// column names, then comma-separated values; columns in any order,
/// columns the schema does not name are ignored; no quoting), and checks
/// them against the schema.
///
/// Floats parse as numbers, with `nan`/`NaN` or an empty field as NaN
/// (which the schema must allow); categorical values are level names, or
/// level indices; booleans `true`/`false`/`1`/`0`. At most
/// [`MAX_REFERENCE_ROWS`] rows are read.
///
/// # Errors
///
/// [`ImportError::Read`] when the file cannot be read or is over the size
/// cap; [`ImportError::Reference`] naming the line of a missing column, a
/// short row, a value that does not parse, or one the schema rejects.
pub fn read_reference_csv(
    path: impl AsRef<Path>,
    schema: &FeatureSchema,
    options: &ImportOptions,
) -> Result<FeatureBatch, ImportError> {
    let bytes = crate::artifact::read_capped(path.as_ref(), options.max_file_bytes)
        .map_err(ImportError::Read)?;
    parse(&bytes, schema)
}

pub(crate) fn parse(bytes: &[u8], schema: &FeatureSchema) -> Result<FeatureBatch, ImportError> {
    let err = |line: usize, reason: String| ImportError::Reference {
        line,
        reason: bounded(reason),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| err(0, format!("not UTF-8: {e}")))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, head) = lines
        .next()
        .ok_or_else(|| err(1, "the file is empty".into()))?;
    let columns: Vec<&str> = head.split(',').map(str::trim).collect();
    let mut at = Vec::with_capacity(schema.len());
    for f in schema.features() {
        let c = columns
            .iter()
            .position(|c| *c == f.name())
            .ok_or_else(|| err(1, format!("no column `{}`", f.name())))?;
        at.push(c);
    }
    let width = schema.len();
    let mut values = Vec::new();
    let mut n = 0;
    for (i, line) in lines.take(MAX_REFERENCE_ROWS) {
        let line_no = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            return Err(err(
                line_no,
                format!("{} fields, the header has {}", fields.len(), columns.len()),
            ));
        }
        for (f, &c) in schema.features().iter().zip(&at) {
            let s = fields[c];
            let v = match f.kind() {
                FeatureKind::Categorical { levels, .. } => match levels.iter().position(|l| l == s)
                {
                    Some(p) => p as f64,
                    None => s.parse::<f64>().map_err(|_| {
                        err(line_no, format!("`{s}` is not a level of `{}`", f.name()))
                    })?,
                },
                FeatureKind::Boolean => match s {
                    "true" | "True" | "1" => 1.0,
                    "false" | "False" | "0" => 0.0,
                    _ => {
                        return Err(err(
                            line_no,
                            format!("`{s}` is not a boolean for `{}`", f.name()),
                        ));
                    }
                },
                _ if s.is_empty() || s.eq_ignore_ascii_case("nan") => f64::NAN,
                _ => s.parse::<f64>().map_err(|_| {
                    err(line_no, format!("`{s}` is not a number for `{}`", f.name()))
                })?,
            };
            values.push(v);
        }
        n += 1;
    }
    let rows =
        ndarray::Array2::from_shape_vec((n, width), values).map_err(|e| err(0, e.to_string()))?;
    schema
        .validate_encoded_batch(rows)
        .map_err(|e| err(0, format!("rows the schema rejects: {e}")))
}
