//! Linear models: logistic regression (binary and multinomial) and linear
//! regression, evaluated from their coefficients.

use std::sync::Arc;

use ndarray::ArrayView2;

use super::{Model, ModelError, OutputKind, Predictions, check_width, each_row};
use crate::schema::FeatureSchema;

/// How a [`LogisticClassifier`] turns scores into classes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LogisticForm {
    /// One weight per feature: `p = 1 / (1 + exp(-(x·w + b)))` is the
    /// probability of `positive`; `p >= 0.5` predicts it (linfa-logistic's
    /// default threshold), otherwise `negative`.
    Binary {
        /// One weight per feature.
        weights: Vec<f64>,
        /// The intercept `b`.
        intercept: f64,
        /// The class index of the positive class.
        positive: usize,
        /// The class index of the negative class.
        negative: usize,
    },
    /// One column of weights per class: probabilities are the softmax of
    /// `x·W + b`, the prediction the first class with the largest score.
    Multinomial {
        /// Features × columns, row-major.
        weights: Vec<f64>,
        /// One intercept per column.
        intercepts: Vec<f64>,
        /// The class index of each column.
        classes: Vec<usize>,
    },
}

/// A logistic-regression classifier with probabilities.
///
/// Classes no column stands for (absent from the training data) get
/// probability 0.
#[derive(Debug, Clone)]
pub struct LogisticClassifier {
    schema: FeatureSchema,
    output: OutputKind,
    form: LogisticForm,
}

fn finite(values: &[f64], what: &str) -> Result<(), ModelError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(ModelError::InvalidModel {
            reason: format!("the {what} are not all finite"),
        })
    }
}

impl LogisticClassifier {
    /// Checks `form` against `schema` and `labels` and builds the model.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] when a weight count does not match the
    /// schema width, a class is outside `labels` or repeated, or a
    /// coefficient is not finite.
    pub fn new(
        form: LogisticForm,
        schema: FeatureSchema,
        labels: Arc<[String]>,
    ) -> Result<Self, ModelError> {
        let invalid = |reason: String| Err(ModelError::InvalidModel { reason });
        let width = schema.len();
        let k = labels.len();
        match &form {
            LogisticForm::Binary {
                weights,
                intercept,
                positive,
                negative,
            } => {
                if weights.len() != width {
                    return invalid(format!("{} weights for {width} features", weights.len()));
                }
                if positive == negative || *positive >= k || *negative >= k {
                    return invalid(format!(
                        "classes {negative} and {positive} are not two of {k} labels"
                    ));
                }
                finite(weights, "weights")?;
                finite(&[*intercept], "intercepts")?;
            }
            LogisticForm::Multinomial {
                weights,
                intercepts,
                classes,
            } => {
                let c = classes.len();
                if c == 0 || intercepts.len() != c || Some(weights.len()) != width.checked_mul(c) {
                    return invalid(format!(
                        "{} weights and {} intercepts for {width} features and {c} classes",
                        weights.len(),
                        intercepts.len()
                    ));
                }
                let mut seen = vec![false; k];
                for &class in classes {
                    if class >= k || std::mem::replace(&mut seen[class], true) {
                        return invalid(format!("class {class} is outside {k} labels or repeated"));
                    }
                }
                finite(weights, "weights")?;
                finite(intercepts, "intercepts")?;
            }
        }
        Ok(Self {
            schema,
            output: OutputKind::Classification {
                labels,
                probabilities: true,
            },
            form,
        })
    }

    /// The coefficients.
    #[must_use]
    pub fn form(&self) -> &LogisticForm {
        &self.form
    }
}

impl Model for LogisticClassifier {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    fn output(&self) -> &OutputKind {
        &self.output
    }

    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        check_width(&self.schema, &rows)?;
        let k = self.output.labels().map_or(0, |l| l.len());
        let n = rows.nrows();
        let mut classes = Vec::with_capacity(n);
        let mut p = vec![0.0; n * k];
        let mut i = 0;
        match &self.form {
            LogisticForm::Binary {
                weights,
                intercept,
                positive,
                negative,
            } => {
                each_row(rows, |row| {
                    let z = row.iter().zip(weights).map(|(x, w)| x * w).sum::<f64>() + intercept;
                    let pos = 1.0 / (1.0 + (-z).exp());
                    classes.push(if pos >= 0.5 { *positive } else { *negative });
                    p[i * k + *positive] = pos;
                    p[i * k + *negative] = 1.0 - pos;
                    i += 1;
                });
            }
            LogisticForm::Multinomial {
                weights,
                intercepts,
                classes: columns,
            } => {
                let c = columns.len();
                let mut scores = vec![0.0; c];
                each_row(rows, |row| {
                    scores.copy_from_slice(intercepts);
                    for (x, w) in row.iter().zip(weights.chunks_exact(c)) {
                        for (s, w) in scores.iter_mut().zip(w) {
                            *s += x * w;
                        }
                    }
                    let mut best = 0;
                    for j in 1..c {
                        if scores[j] > scores[best] {
                            best = j;
                        }
                    }
                    classes.push(columns[best]);
                    let max = scores[best];
                    let total: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                    for (j, s) in scores.iter().enumerate() {
                        p[i * k + columns[j]] = (s - max).exp() / total;
                    }
                    i += 1;
                });
            }
        }
        Predictions::classes_with_probabilities(classes, k, p)
    }
}

/// A linear regression: `x·w + b` per row, as scores.
#[derive(Debug, Clone)]
pub struct LinearRegressor {
    schema: FeatureSchema,
    output: OutputKind,
    weights: Vec<f64>,
    intercept: f64,
}

impl LinearRegressor {
    /// A linear model with one weight per schema feature.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] when the weight count does not match the
    /// schema or a coefficient is not finite.
    pub fn new(
        weights: Vec<f64>,
        intercept: f64,
        schema: FeatureSchema,
    ) -> Result<Self, ModelError> {
        if weights.len() != schema.len() {
            return Err(ModelError::InvalidModel {
                reason: format!("{} weights for {} features", weights.len(), schema.len()),
            });
        }
        finite(&weights, "weights")?;
        finite(&[intercept], "intercepts")?;
        Ok(Self {
            schema,
            output: OutputKind::Regression,
            weights,
            intercept,
        })
    }

    /// The weights, one per feature.
    #[must_use]
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The intercept.
    #[must_use]
    pub fn intercept(&self) -> f64 {
        self.intercept
    }
}

impl Model for LinearRegressor {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    fn output(&self) -> &OutputKind {
        &self.output
    }

    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        check_width(&self.schema, &rows)?;
        let mut scores = Vec::with_capacity(rows.nrows());
        each_row(rows, |row| {
            let dot: f64 = row.iter().zip(&self.weights).map(|(x, w)| x * w).sum();
            scores.push(dot + self.intercept);
        });
        Ok(Predictions::scores(scores))
    }
}
