//! Offline drift: two data sets compared with the monitor's tests, without
//! a server or a monitor (what `modelhost drift` runs).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use super::{Column, DriftReport, DriftThresholds, compare_column};
use crate::Result;
use crate::monitor::MonitorError;
use crate::schema::{FeatureKind, FeatureMap, FeatureSchema, FeatureValue};

/// Bounds on what [`DataSet::from_csv`] reads, so a hostile or mistaken
/// file fails with an error instead of exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvLimits {
    /// Data rows at most (default 1,000,000).
    pub max_rows: usize,
    /// Bytes per line at most (default 64 KiB).
    pub max_line_bytes: usize,
    /// Columns per line at most (default 4,096).
    pub max_columns: usize,
    /// Distinct categorical values outside a feature's vocabulary at most,
    /// per feature (default 10,000).
    pub max_unknown_levels: usize,
}

impl Default for CsvLimits {
    fn default() -> Self {
        Self {
            max_rows: 1_000_000,
            max_line_bytes: 64 << 10,
            max_columns: 4_096,
            max_unknown_levels: 10_000,
        }
    }
}

impl CsvLimits {
    /// Sets the most data rows read.
    #[must_use]
    pub fn max_rows(mut self, rows: usize) -> Self {
        self.max_rows = rows;
        self
    }
}

/// Rows of a data set, by feature, ready for [`compare`].
///
/// Categorical features keep their level names: values outside the schema's
/// vocabulary are kept as levels of their own (drift is exactly where new
/// categories show up), up to [`CsvLimits::max_unknown_levels`]. Missing and
/// non-finite values are dropped per column, as Evidently drops them.
/// Range bounds of the schema are not checked: drift data need not be
/// valid model input.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    rows: usize,
    /// Per feature, the values (level codes for categorical features).
    columns: Vec<Vec<f64>>,
    /// Per feature, the names of the levels beyond the vocabulary.
    extra_levels: Vec<Vec<String>>,
}

/// A value of one cell before it is encoded.
enum Cell<'a> {
    Missing,
    Number(f64),
    Bool(bool),
    Text(&'a str),
}

struct Builder<'s> {
    schema: &'s FeatureSchema,
    ds: DataSet,
    lookups: Vec<HashMap<String, usize>>,
    max_unknown: usize,
}

impl<'s> Builder<'s> {
    fn new(schema: &'s FeatureSchema, max_unknown: usize) -> Self {
        let n = schema.len();
        Self {
            schema,
            ds: DataSet {
                rows: 0,
                columns: vec![Vec::new(); n],
                extra_levels: vec![Vec::new(); n],
            },
            lookups: schema
                .features()
                .iter()
                .map(|f| match f.kind() {
                    FeatureKind::Categorical { levels, .. } => levels
                        .iter()
                        .enumerate()
                        .map(|(i, l)| (l.clone(), i))
                        .collect(),
                    _ => HashMap::new(),
                })
                .collect(),
            max_unknown,
        }
    }

    /// Encodes one cell of feature `j`; `Err` names what is wrong.
    fn push(&mut self, j: usize, cell: Cell<'_>) -> std::result::Result<(), String> {
        let f = &self.schema.features()[j];
        let v = match (f.kind(), cell) {
            (_, Cell::Missing) => f64::NAN,
            (FeatureKind::Categorical { levels, .. }, cell) => {
                let text = match cell {
                    Cell::Text(t) => t.to_owned(),
                    Cell::Number(x) => format!("{x}"),
                    Cell::Bool(b) => b.to_string(),
                    Cell::Missing => unreachable!("handled above"),
                };
                let known = self.lookups[j].len();
                if let Some(&i) = self.lookups[j].get(&text) {
                    i as f64
                } else if known - levels.len() >= self.max_unknown {
                    return Err(format!(
                        "more than {} values outside the vocabulary of {:?}",
                        self.max_unknown,
                        f.name()
                    ));
                } else {
                    self.lookups[j].insert(text.clone(), known);
                    self.ds.extra_levels[j].push(text);
                    known as f64
                }
            }
            (FeatureKind::Boolean, Cell::Bool(b)) => f64::from(u8::from(b)),
            (FeatureKind::Boolean, Cell::Number(x)) if x == 0.0 || x == 1.0 => x,
            (FeatureKind::Boolean, Cell::Text(t)) => match t.trim() {
                "true" | "True" | "TRUE" | "1" => 1.0,
                "false" | "False" | "FALSE" | "0" => 0.0,
                _ => return Err(format!("{:?} is not a boolean", short(t))),
            },
            (_, Cell::Number(x)) => x,
            (_, Cell::Bool(b)) => f64::from(u8::from(b)),
            (_, Cell::Text(t)) => match t.trim() {
                "nan" | "NaN" | "NA" | "null" => f64::NAN,
                t => t
                    .parse::<f64>()
                    .map_err(|_| format!("{:?} is not a number", short(t)))?,
            },
        };
        self.ds.columns[j].push(v);
        Ok(())
    }
}

/// At most 40 characters of `s`, for messages.
fn short(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}

fn input(row: usize, reason: impl Into<String>) -> crate::Error {
    MonitorError::DriftInput {
        row,
        reason: reason.into(),
    }
    .into()
}

impl DataSet {
    /// A data set of encoded rows (as [`FeatureSchema::validate_encoded`]
    /// takes them: level indices for categorical features, 0/1 for
    /// booleans).
    ///
    /// # Errors
    ///
    /// [`MonitorError::DriftInput`] for a row whose width is not the
    /// schema's, or a level index outside the vocabulary.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::monitor::DataSet;
    /// use modelhost::schema::{Feature, FeatureSchema};
    ///
    /// let schema = FeatureSchema::builder().feature(Feature::float("x")).build()?;
    /// let ds = DataSet::from_rows(&schema, &[vec![1.0], vec![2.0]])?;
    /// assert_eq!(ds.rows(), 2);
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn from_rows(schema: &FeatureSchema, rows: &[Vec<f64>]) -> Result<Self> {
        let mut b = Builder::new(schema, 0);
        for (i, row) in rows.iter().enumerate() {
            if row.len() != schema.len() {
                return Err(input(
                    i,
                    format!(
                        "{} values, the schema has {} features",
                        row.len(),
                        schema.len()
                    ),
                ));
            }
            for (j, &v) in row.iter().enumerate() {
                if let FeatureKind::Categorical { levels, .. } = schema.features()[j].kind()
                    && v.is_finite()
                    && (v < 0.0 || v.fract() != 0.0 || v >= levels.len() as f64)
                {
                    return Err(input(
                        i,
                        format!(
                            "{v} is not a level index of {:?} ({} levels)",
                            schema.features()[j].name(),
                            levels.len()
                        ),
                    ));
                }
                b.ds.columns[j].push(v);
            }
            b.ds.rows += 1;
        }
        Ok(b.ds)
    }

    /// A data set of feature maps; categorical features by level name.
    ///
    /// # Errors
    ///
    /// [`MonitorError::DriftInput`] for a value of the wrong type (text for
    /// a number, a number for a boolean other than 0 or 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::monitor::DataSet;
    /// use modelhost::schema::{Feature, FeatureMap, FeatureSchema};
    ///
    /// let schema = FeatureSchema::builder()
    ///     .feature(Feature::categorical("device", ["mobile", "desktop"]))
    ///     .build()?;
    /// let rows = [FeatureMap::new().with("device", "mobile"), FeatureMap::new().with("device", "tv")];
    /// let ds = DataSet::from_maps(&schema, &rows)?;
    /// assert_eq!(ds.rows(), 2);
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn from_maps(schema: &FeatureSchema, maps: &[FeatureMap]) -> Result<Self> {
        let mut b = Builder::new(schema, CsvLimits::default().max_unknown_levels);
        for (i, map) in maps.iter().enumerate() {
            for j in 0..schema.len() {
                let cell = match map.get(schema.features()[j].name()) {
                    None => Cell::Missing,
                    Some(FeatureValue::Float(x)) => Cell::Number(*x),
                    Some(FeatureValue::Int(x)) => Cell::Number(*x as f64),
                    Some(FeatureValue::Bool(x)) => Cell::Bool(*x),
                    Some(FeatureValue::Str(s)) => Cell::Text(s),
                    Some(_) => Cell::Missing,
                };
                b.push(j, cell).map_err(|r| input(i, r))?;
            }
            b.ds.rows += 1;
        }
        Ok(b.ds)
    }

    /// Reads a CSV data set: a header naming the columns (every feature of
    /// the schema must be one; others are ignored), then one row per line.
    /// Fields may be quoted with `"` (a doubled `""` inside is a quote; a
    /// quoted field cannot span lines). An empty field, `nan`, `NA` or
    /// `null` is a missing value.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Csv`] naming the line for a missing feature column,
    /// a row of the wrong width, an unparsable value, a line or file over
    /// the [limits](CsvLimits), or bytes that are not UTF-8;
    /// [`MonitorError::Io`]-like reading failures as [`MonitorError::Csv`]
    /// on the line being read.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::monitor::{CsvLimits, DataSet};
    /// use modelhost::schema::{Feature, FeatureSchema};
    ///
    /// let schema = FeatureSchema::builder()
    ///     .feature(Feature::float("price"))
    ///     .feature(Feature::categorical("device", ["mobile", "desktop"]))
    ///     .build()?;
    /// let csv = "id,price,device\n1,9.5,mobile\n2,,\"desktop\"\n";
    /// let ds = DataSet::from_csv(&schema, csv.as_bytes(), CsvLimits::default())?;
    /// assert_eq!(ds.rows(), 2);
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn from_csv(schema: &FeatureSchema, reader: impl Read, limits: CsvLimits) -> Result<Self> {
        let csv = |line: u64, reason: String| -> crate::Error {
            MonitorError::Csv { line, reason }.into()
        };
        let mut r = BufReader::new(reader);
        let mut buf = Vec::new();
        let mut fields: Vec<String> = Vec::new();
        let mut line_no = 0u64;
        // Reads one line into `buf` with the length cap; Ok(false) at end.
        let mut next = |buf: &mut Vec<u8>, line_no: &mut u64| -> Result<bool> {
            buf.clear();
            *line_no += 1;
            let cap = limits.max_line_bytes as u64 + 1;
            let n = (&mut r)
                .take(cap)
                .read_until(b'\n', buf)
                .map_err(|e| csv(*line_no, format!("read failed: {e}")))?;
            if n == 0 {
                return Ok(false);
            }
            if buf.len() as u64 >= cap && buf.last() != Some(&b'\n') {
                return Err(csv(
                    *line_no,
                    format!("line longer than {} bytes", limits.max_line_bytes),
                ));
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            Ok(true)
        };
        if !next(&mut buf, &mut line_no)? {
            return Err(csv(1, "empty file: no header".into()));
        }
        split(&buf, limits.max_columns, &mut fields).map_err(|e| csv(line_no, e))?;
        let header = fields.clone();
        let mut at = Vec::with_capacity(schema.len());
        for f in schema.features() {
            match header.iter().position(|h| h.trim() == f.name()) {
                Some(p) => at.push(p),
                None => {
                    return Err(csv(
                        1,
                        format!("no column {:?} in the header", short(f.name())),
                    ));
                }
            }
        }
        let mut b = Builder::new(schema, limits.max_unknown_levels);
        while next(&mut buf, &mut line_no)? {
            if buf.is_empty() {
                continue;
            }
            if b.ds.rows >= limits.max_rows {
                return Err(csv(
                    line_no,
                    format!("more than {} data rows", limits.max_rows),
                ));
            }
            split(&buf, limits.max_columns, &mut fields).map_err(|e| csv(line_no, e))?;
            if fields.len() != header.len() {
                return Err(csv(
                    line_no,
                    format!("{} fields, the header has {}", fields.len(), header.len()),
                ));
            }
            for (j, &p) in at.iter().enumerate() {
                let t = fields[p].as_str();
                let cell = if t.trim().is_empty() {
                    Cell::Missing
                } else {
                    Cell::Text(t)
                };
                b.push(j, cell).map_err(|e| {
                    csv(
                        line_no,
                        format!("column {:?}: {e}", short(schema.features()[j].name())),
                    )
                })?;
            }
            b.ds.rows += 1;
        }
        Ok(b.ds)
    }

    /// Reads a CSV file as [`from_csv`](Self::from_csv) does.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Io`] when the file cannot be opened, otherwise as
    /// [`from_csv`](Self::from_csv).
    pub fn read_csv(
        schema: &FeatureSchema,
        path: impl AsRef<Path>,
        limits: CsvLimits,
    ) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| MonitorError::Io {
            path: path.to_owned(),
            source: Arc::new(e),
        })?;
        Self::from_csv(schema, file, limits)
    }

    /// Rows read.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Splits one CSV line into `out`.
fn split(line: &[u8], max: usize, out: &mut Vec<String>) -> std::result::Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    out.clear();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut started = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && started && cur.trim().is_empty() {
            cur.clear();
            quoted = true;
        } else if c == ',' {
            if out.len() >= max {
                return Err(format!("more than {max} columns"));
            }
            out.push(std::mem::take(&mut cur));
            started = true;
            continue;
        } else {
            cur.push(c);
        }
        started = false;
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    if out.len() >= max {
        return Err(format!("more than {max} columns"));
    }
    out.push(cur);
    Ok(())
}

/// Compares `current` with `reference` feature by feature with
/// Evidently's default tests ([`DriftThresholds::default`]).
///
/// # Errors
///
/// As [`compare_with`].
///
/// # Examples
///
/// ```
/// use modelhost::monitor::{DataSet, compare};
/// use modelhost::schema::{Feature, FeatureSchema};
///
/// let schema = FeatureSchema::builder().feature(Feature::float("x")).build()?;
/// let reference: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i % 50)]).collect();
/// let shifted: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i % 50) + 30.0]).collect();
/// let r = DataSet::from_rows(&schema, &reference)?;
/// let report = compare(&schema, &r, &DataSet::from_rows(&schema, &shifted)?)?;
/// assert!(report.dataset_drift);
/// assert_eq!(report.features[0].test.name(), "ks");
/// # Ok::<(), modelhost::Error>(())
/// ```
pub fn compare(
    schema: &FeatureSchema,
    reference: &DataSet,
    current: &DataSet,
) -> Result<DriftReport> {
    compare_with(schema, reference, current, &DriftThresholds::default())
}

/// Compares `current` with `reference` feature by feature, with the tests
/// and thresholds of `thresholds`.
///
/// # Errors
///
/// [`MonitorError::InvalidConfig`] for thresholds out of range;
/// [`MonitorError::DriftInput`] when a data set was built for a schema of
/// another width.
pub fn compare_with(
    schema: &FeatureSchema,
    reference: &DataSet,
    current: &DataSet,
    thresholds: &DriftThresholds,
) -> Result<DriftReport> {
    if let Some(reason) = thresholds.problem() {
        return Err(MonitorError::InvalidConfig { reason }.into());
    }
    for ds in [reference, current] {
        if ds.columns.len() != schema.len() {
            return Err(input(
                0,
                format!(
                    "data set of {} features, the schema has {}",
                    ds.columns.len(),
                    schema.len()
                ),
            ));
        }
    }
    let mut features = Vec::with_capacity(schema.len());
    for (j, f) in schema.features().iter().enumerate() {
        let (categorical, labels) = match f.kind() {
            FeatureKind::Categorical { levels, .. } => (true, Some(levels)),
            FeatureKind::Boolean => (true, None),
            _ => (false, None),
        };
        let (r, mut c) = (&reference.columns[j], current.columns[j].clone());
        let mut names: Vec<String> = labels.cloned().unwrap_or_default();
        if let Some(levels) = labels {
            // Unknown levels: the reference's codes stand; the current's
            // are renumbered by name after them.
            names.extend(reference.extra_levels[j].iter().cloned());
            let mut by_name: HashMap<&str, usize> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect();
            let mut extra = Vec::new();
            let remap: Vec<usize> = current.extra_levels[j]
                .iter()
                .map(|n| {
                    *by_name.entry(n.as_str()).or_insert_with(|| {
                        extra.push(n.clone());
                        levels.len() + reference.extra_levels[j].len() + extra.len() - 1
                    })
                })
                .collect();
            for v in &mut c {
                if v.is_finite() && *v >= levels.len() as f64 {
                    *v = remap[*v as usize - levels.len()] as f64;
                }
            }
            names.extend(extra);
        }
        let mut d = compare_column(
            f.name(),
            categorical,
            &Column::new(r.iter().copied()),
            &Column::new(c),
            thresholds,
        );
        if labels.is_some() {
            d.distribution.labels = d
                .distribution
                .values
                .iter()
                .map(|&v| names.get(v as usize).cloned().unwrap_or_default())
                .collect();
        } else if matches!(f.kind(), FeatureKind::Boolean) {
            d.distribution.labels = d
                .distribution
                .values
                .iter()
                .map(|&v| if v == 0.0 { "false" } else { "true" }.to_owned())
                .collect();
        }
        features.push(d);
    }
    let mut report = DriftReport {
        model: String::new(),
        version: 0,
        window: 0,
        rows: current.rows as u64,
        kept_rows: current.rows as u64,
        complete: true,
        window_rows: current.rows as u64,
        warnings: Vec::new(),
        features,
        prediction: None,
        drifted: 0,
        drift_share: 0.0,
        dataset_drift: false,
    };
    report.tally(thresholds.dataset_share);
    report.warn_small();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Feature;

    fn schema() -> FeatureSchema {
        FeatureSchema::builder()
            .feature(Feature::float("x"))
            .feature(Feature::categorical("c", ["a", "b"]))
            .build()
            .unwrap()
    }

    #[test]
    fn csv_errors_name_the_line_and_stay_bounded() {
        let s = schema();
        let err = |text: &str, limits: CsvLimits| {
            DataSet::from_csv(&s, text.as_bytes(), limits)
                .unwrap_err()
                .to_string()
        };
        assert!(err("", CsvLimits::default()).contains("no header"));
        assert!(err("x\n1\n", CsvLimits::default()).contains("no column \"c\""));
        assert!(err("x,c\n1,a\n2\n", CsvLimits::default()).contains("line 3"));
        assert!(err("x,c\nabc,a\n", CsvLimits::default()).contains("not a number"));
        assert!(err("x,c\n1,\"a\n", CsvLimits::default()).contains("not closed"));
        let long = format!("x,c\n{},a\n", "1".repeat(100));
        let small = CsvLimits {
            max_line_bytes: 50,
            ..CsvLimits::default()
        };
        assert!(err(&long, small).contains("longer than 50"));
        assert!(err("x,c\n1,a\n2,b\n", CsvLimits::default().max_rows(1)).contains("more than 1"));
        let huge = format!("x,c\n{},a\n", "9x".repeat(5_000));
        let e = err(&huge, CsvLimits::default());
        assert!(e.len() < 300, "{e}");
        assert!(err("x,c\n\u{0}\u{ff},a\n", CsvLimits::default()).len() < 300);
        let bytes: &[u8] = b"x,c\n1,\xff\n";
        assert!(DataSet::from_csv(&s, bytes, CsvLimits::default()).is_err());
    }

    /// Arbitrary bytes never panic the reader, and errors stay short.
    #[test]
    fn arbitrary_bytes_do_not_panic() {
        let s = schema();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"x,c\n\r\"ab0123456789.-e \xff\x00";
        for round in 0..2_000 {
            let len = round % 200;
            let mut bytes = b"x,c\n".to_vec();
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                bytes.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            match DataSet::from_csv(&s, bytes.as_slice(), CsvLimits::default()) {
                Ok(ds) => {
                    let _ = compare(&s, &ds, &ds).unwrap();
                }
                Err(e) => assert!(e.to_string().len() < 300, "{e}"),
            }
        }
    }

    #[test]
    fn unknown_levels_are_matched_by_name_across_data_sets() {
        let s = schema();
        let r =
            DataSet::from_csv(&s, "x,c\n1,a\n2,z\n3,b\n".as_bytes(), CsvLimits::default()).unwrap();
        let c =
            DataSet::from_csv(&s, "x,c\n1,y\n2,z\n3,z\n".as_bytes(), CsvLimits::default()).unwrap();
        let report = compare(&s, &r, &c).unwrap();
        let d = &report.features[1].distribution;
        assert_eq!(d.labels, vec!["a", "b", "z", "y"]);
        assert_eq!(d.current, vec![0.0, 0.0, 2.0 / 3.0, 1.0 / 3.0]);
    }
}
