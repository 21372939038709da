//! The logistic-regression and linear-regression kinds.
//!
//! # Payload version 1
//!
//! - `logistic_regression`: feature count, label count, a form byte; form 0
//!   (binary): negative class, positive class, intercept, one weight per
//!   feature; form 1 (multinomial): column count, the class of each column,
//!   one intercept per column, then features × columns weights, row-major.
//! - `linear_regression`: feature count, intercept, one weight per feature.
//!
//! Counts and classes are `u64`, values `f64`, all little-endian.

use std::ops::RangeInclusive;
use std::sync::Arc;

use super::kinds::{DecodeLimits, KindDecoder, ModelKind};
use super::payload::{PayloadReader, PayloadWriter};
use super::tree::read_shape;
use super::{ArtifactError, ArtifactHeader};
use crate::model::{LinearRegressor, LogisticClassifier, LogisticForm, Model};

impl ModelKind {
    /// A logistic regression, binary or multinomial
    /// ([`LogisticClassifier`]).
    pub const LOGISTIC_REGRESSION: Self = Self::from_static("logistic_regression");
    /// A linear regression ([`LinearRegressor`]).
    pub const LINEAR_REGRESSION: Self = Self::from_static("linear_regression");
}

fn invalid(e: crate::model::ModelError) -> ArtifactError {
    ArtifactError::InvalidModel {
        reason: e.to_string(),
    }
}

fn class(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Encodes a logistic regression (payload version 1).
#[cfg_attr(not(feature = "logistic"), allow(dead_code))]
pub(crate) fn encode_logistic(model: &LogisticClassifier) -> Vec<u8> {
    let mut w = PayloadWriter::new();
    w.count(model.schema().len());
    w.count(model.output().labels().map_or(0, |l| l.len()));
    match model.form() {
        LogisticForm::Binary {
            weights,
            intercept,
            positive,
            negative,
        } => {
            w.u8(0);
            w.count(*negative);
            w.count(*positive);
            w.f64(*intercept);
            for &v in weights {
                w.f64(v);
            }
        }
        LogisticForm::Multinomial {
            weights,
            intercepts,
            classes,
        } => {
            w.u8(1);
            w.count(classes.len());
            for &c in classes {
                w.count(c);
            }
            for &v in intercepts.iter().chain(weights) {
                w.f64(v);
            }
        }
    }
    w.into_bytes()
}

/// Encodes a linear regression (payload version 1).
#[cfg_attr(not(feature = "linear"), allow(dead_code))]
pub(crate) fn encode_linear(model: &LinearRegressor) -> Vec<u8> {
    let mut w = PayloadWriter::new();
    w.count(model.weights().len());
    w.f64(model.intercept());
    for &v in model.weights() {
        w.f64(v);
    }
    w.into_bytes()
}

/// `n` values, checked against the remaining bytes before allocating.
fn values(r: &mut PayloadReader<'_>, n: usize) -> Result<Vec<f64>, ArtifactError> {
    if n.checked_mul(8).is_none_or(|b| b > r.remaining()) {
        return Err(r.error("truncated"));
    }
    (0..n).map(|_| r.f64()).collect()
}

/// The decoder of [`ModelKind::LOGISTIC_REGRESSION`].
#[derive(Debug)]
pub(crate) struct LogisticKind;

impl KindDecoder for LogisticKind {
    fn kind(&self) -> ModelKind {
        ModelKind::LOGISTIC_REGRESSION
    }

    fn payload_versions(&self) -> RangeInclusive<u32> {
        1..=1
    }

    fn decode(
        &self,
        payload: &[u8],
        _payload_version: u32,
        header: &ArtifactHeader,
        _limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError> {
        let labels =
            header
                .output
                .labels()
                .cloned()
                .ok_or_else(|| ArtifactError::InvalidModel {
                    reason: "a logistic regression needs a classification output".into(),
                })?;
        let width = header.schema.len();
        let mut r = PayloadReader::new(payload);
        read_shape(&mut r, width, Some(labels.len()))?;
        let form = match r.u8()? {
            0 => {
                let negative = class(r.u64()?);
                let positive = class(r.u64()?);
                let intercept = r.f64()?;
                LogisticForm::Binary {
                    weights: values(&mut r, width)?,
                    intercept,
                    positive,
                    negative,
                }
            }
            1 => {
                // Each column costs a class, an intercept and `width` weights.
                let c = r.count(16usize.saturating_add(width.saturating_mul(8)))?;
                if c > labels.len() {
                    return Err(r.error(&format!("{c} columns for {} labels", labels.len())));
                }
                let classes = (0..c)
                    .map(|_| r.u64().map(class))
                    .collect::<Result<Vec<_>, _>>()?;
                let intercepts = values(&mut r, c)?;
                LogisticForm::Multinomial {
                    weights: values(&mut r, width * c)?,
                    intercepts,
                    classes,
                }
            }
            f => return Err(r.error(&format!("unknown form {f}"))),
        };
        r.finish()?;
        Ok(Arc::new(
            LogisticClassifier::new(form, header.schema.clone(), labels).map_err(invalid)?,
        ))
    }
}

/// The decoder of [`ModelKind::LINEAR_REGRESSION`].
#[derive(Debug)]
pub(crate) struct LinearKind;

impl KindDecoder for LinearKind {
    fn kind(&self) -> ModelKind {
        ModelKind::LINEAR_REGRESSION
    }

    fn payload_versions(&self) -> RangeInclusive<u32> {
        1..=1
    }

    fn decode(
        &self,
        payload: &[u8],
        _payload_version: u32,
        header: &ArtifactHeader,
        _limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError> {
        if header.output.labels().is_some() {
            return Err(ArtifactError::InvalidModel {
                reason: "a linear regression needs a regression output".into(),
            });
        }
        let width = header.schema.len();
        let mut r = PayloadReader::new(payload);
        read_shape(&mut r, width, None)?;
        let intercept = r.f64()?;
        let weights = values(&mut r, width)?;
        r.finish()?;
        Ok(Arc::new(
            LinearRegressor::new(weights, intercept, header.schema.clone()).map_err(invalid)?,
        ))
    }
}
