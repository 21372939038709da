//! What a decoded header must say before anything trusts it.
//!
//! The header is JSON from an untrusted file; decoding only proves it has
//! the right shape. These checks refuse values that decode but would break
//! a later step: a creation time no calendar can print, a version that makes
//! every later swap look stale, labels that cannot name classes one to one,
//! warm-up rows the artifact's own schema rejects, and warm-up expectations
//! that are not class indices.

use std::collections::HashMap;

use super::header::ArtifactHeader;
use crate::model::OutputKind;
use crate::schema::InputError;

/// Latest creation time accepted: 9999-12-31T23:59:59Z, the last second
/// RFC 3339 can write.
pub const MAX_CREATED_AT: u64 = 253_402_300_799;

/// Largest version accepted: 2^53 - 1, the largest integer every JSON
/// reader represents exactly. A version near `u64::MAX` would make every
/// later version look older, so no swap to it could pass the staleness check.
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// Longest label quoted in a [`HeaderError`].
const MAX_QUOTED: usize = 64;

/// Why a header that decodes is still refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// `created_at` is after [`MAX_CREATED_AT`].
    #[error("created_at {created_at} is after the year 9999")]
    CreatedAtOutOfRange {
        /// The value in the header.
        created_at: u64,
    },
    /// `version` is above [`MAX_VERSION`].
    #[error("version {version} is above the largest version {max}")]
    VersionOutOfRange {
        /// The value in the header.
        version: u64,
        /// [`MAX_VERSION`].
        max: u64,
    },
    /// A classifier without labels.
    #[error("a classification output needs at least one label")]
    NoLabels,
    /// A label is the empty string.
    #[error("label {index} is empty")]
    EmptyLabel {
        /// Its position.
        index: usize,
    },
    /// Two classes share a label.
    #[error("label {label:?} is given twice (classes {first} and {second})")]
    DuplicateLabel {
        /// The label (its first 64 bytes).
        label: String,
        /// The first class with it.
        first: usize,
        /// The second.
        second: usize,
    },
    /// Warm-up rows and expectations differ in number.
    #[error("{rows} warm-up rows but {expected} expected predictions")]
    WarmupCount {
        /// Rows.
        rows: usize,
        /// Expectations.
        expected: usize,
    },
    /// A warm-up row breaks the artifact's own schema.
    #[error("warm-up row {row} breaks the artifact's schema: {source}")]
    WarmupRow {
        /// The row.
        row: usize,
        /// What the schema says.
        source: InputError,
    },
    /// A classifier's warm-up expectation is not a class index (a fraction,
    /// negative, or past the last label).
    #[error("warm-up expectation {index} is {value}, not a class index of the {labels} labels")]
    WarmupClass {
        /// Its position.
        index: usize,
        /// The value.
        value: f64,
        /// The number of labels.
        labels: usize,
    },
}

impl ArtifactHeader {
    /// Checks what decoding cannot: see [`HeaderError`].
    pub(crate) fn check(&self) -> Result<(), HeaderError> {
        if self.created_at > MAX_CREATED_AT {
            return Err(HeaderError::CreatedAtOutOfRange {
                created_at: self.created_at,
            });
        }
        if self.version > MAX_VERSION {
            return Err(HeaderError::VersionOutOfRange {
                version: self.version,
                max: MAX_VERSION,
            });
        }
        if let OutputKind::Classification { labels, .. } = &self.output {
            check_labels(labels)?;
        }
        let warmup = &self.warmup;
        if warmup.rows.len() != warmup.expected.len() {
            return Err(HeaderError::WarmupCount {
                rows: warmup.rows.len(),
                expected: warmup.expected.len(),
            });
        }
        if let Some(labels) = self.output.labels() {
            let n = labels.len();
            if let Some((index, &value)) = warmup
                .expected
                .iter()
                .enumerate()
                .find(|&(_, &v)| !(v >= 0.0 && v.fract() == 0.0 && v < n as f64))
            {
                return Err(HeaderError::WarmupClass {
                    index,
                    value,
                    labels: n,
                });
            }
        }
        for (row, values) in warmup.rows.iter().enumerate() {
            self.schema
                .validate_encoded(values)
                .map_err(|source| HeaderError::WarmupRow { row, source })?;
        }
        Ok(())
    }
}

fn check_labels(labels: &[String]) -> Result<(), HeaderError> {
    if labels.is_empty() {
        return Err(HeaderError::NoLabels);
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(labels.len());
    for (index, label) in labels.iter().enumerate() {
        if label.is_empty() {
            return Err(HeaderError::EmptyLabel { index });
        }
        if let Some(&first) = seen.get(label.as_str()) {
            let mut end = label.len().min(MAX_QUOTED);
            while !label.is_char_boundary(end) {
                end -= 1;
            }
            return Err(HeaderError::DuplicateLabel {
                label: label[..end].to_owned(),
                first,
                second: index,
            });
        }
        seen.insert(label, index);
    }
    Ok(())
}
