//! What a model returns: [`Predictions`] for a batch, [`Prediction`] for a row.

use std::sync::Arc;

use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};

use super::ModelError;

/// What a model outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutputKind {
    /// One class out of `labels`; class index `i` means `labels[i]`.
    Classification {
        /// The label vocabulary, in class-index order.
        labels: Arc<[String]>,
        /// Whether every prediction also carries one probability per label,
        /// in the order of `labels`. Models must produce exactly what this
        /// says, so that metadata built from it never advertises an output
        /// that fails.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        probabilities: bool,
    },
    /// A real-valued score per row.
    Regression,
}

impl OutputKind {
    /// A classification output over `labels`, classes only.
    pub fn classification<I, S>(labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Classification {
            labels: labels.into_iter().map(Into::into).collect(),
            probabilities: false,
        }
    }

    /// A classification output over `labels` whose predictions carry one
    /// probability per label.
    pub fn classification_with_probabilities<I, S>(labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Classification {
            labels: labels.into_iter().map(Into::into).collect(),
            probabilities: true,
        }
    }

    /// Whether predictions carry class probabilities (in label order).
    #[must_use]
    pub fn has_probabilities(&self) -> bool {
        matches!(
            self,
            Self::Classification {
                probabilities: true,
                ..
            }
        )
    }

    /// The label vocabulary of a classifier.
    #[must_use]
    pub fn labels(&self) -> Option<&Arc<[String]>> {
        match self {
            Self::Classification { labels, .. } => Some(labels),
            Self::Regression => None,
        }
    }
}

/// A model's output for a batch of rows.
///
/// Class predictions are indices into the model's label vocabulary (its
/// [`OutputKind`]); the vocabulary itself is not copied into every batch, so
/// methods that name labels take the `OutputKind`. Constructors check the
/// shape (class indices below the label count, probability rows matching it),
/// so a `Predictions` value is always internally consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    inner: Inner,
}

#[derive(Debug, Clone, PartialEq)]
enum Inner {
    Classes {
        n_labels: usize,
        classes: Vec<usize>,
        /// Rows × labels, row-major: row `i` is `[i * n_labels..][..n_labels]`.
        probabilities: Option<Vec<f64>>,
    },
    Scores(Vec<f64>),
}

impl Predictions {
    /// Class predictions as indices into a vocabulary of `n_labels` labels.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidPredictions`] if an index is not below `n_labels`.
    pub fn classes(classes: Vec<usize>, n_labels: usize) -> Result<Self, ModelError> {
        if let Some(&bad) = classes.iter().find(|&&c| c >= n_labels) {
            return Err(ModelError::InvalidPredictions {
                reason: format!("class index {bad} outside {n_labels} labels"),
            });
        }
        Ok(Self {
            inner: Inner::Classes {
                n_labels,
                classes,
                probabilities: None,
            },
        })
    }

    /// Adds per-class probabilities (rows × labels) to class predictions.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidPredictions`] for regression output or a shape that is
    /// not rows × labels.
    pub fn with_probabilities(self, p: Array2<f64>) -> Result<Self, ModelError> {
        let (rows, cols) = p.dim();
        let values = if p.is_standard_layout() {
            let (v, offset) = p.into_raw_vec_and_offset();
            match offset {
                Some(0) | None => v,
                Some(o) => v[o..o + rows * cols].to_vec(),
            }
        } else {
            p.iter().copied().collect()
        };
        self.with_probability_rows(values, rows, cols)
    }

    /// Class predictions with their probabilities given row-major (row `i`
    /// is `probabilities[i * n_labels..(i + 1) * n_labels]`): the shape a
    /// model fills row by row, without building a matrix.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidPredictions`] if a class index is not below
    /// `n_labels`, or `probabilities` does not hold `n_labels` values per
    /// class.
    pub fn classes_with_probabilities(
        classes: Vec<usize>,
        n_labels: usize,
        probabilities: Vec<f64>,
    ) -> Result<Self, ModelError> {
        let rows = classes.len();
        if rows.checked_mul(n_labels) != Some(probabilities.len()) {
            return Err(ModelError::InvalidPredictions {
                reason: format!(
                    "{} probabilities for {rows} rows of {n_labels} labels",
                    probabilities.len()
                ),
            });
        }
        Self::classes(classes, n_labels)?.with_probability_rows(probabilities, rows, n_labels)
    }

    fn with_probability_rows(
        mut self,
        values: Vec<f64>,
        rows: usize,
        cols: usize,
    ) -> Result<Self, ModelError> {
        match &mut self.inner {
            Inner::Classes {
                n_labels,
                classes,
                probabilities,
            } => {
                if (rows, cols) != (classes.len(), *n_labels) {
                    return Err(ModelError::InvalidPredictions {
                        reason: format!(
                            "probabilities have shape ({rows}, {cols}), expected ({}, {n_labels})",
                            classes.len(),
                        ),
                    });
                }
                *probabilities = Some(values);
                Ok(self)
            }
            Inner::Scores(_) => Err(ModelError::InvalidPredictions {
                reason: "regression output has no class probabilities".into(),
            }),
        }
    }

    /// Regression scores.
    #[must_use]
    pub fn scores(scores: Vec<f64>) -> Self {
        Self {
            inner: Inner::Scores(scores),
        }
    }

    /// Number of rows predicted.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.inner {
            Inner::Classes { classes, .. } => classes.len(),
            Inner::Scores(s) => s.len(),
        }
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The class indices (classification only).
    #[must_use]
    pub fn class_indices(&self) -> Option<&[usize]> {
        match &self.inner {
            Inner::Classes { classes, .. } => Some(classes),
            Inner::Scores(_) => None,
        }
    }

    /// The label predicted for row `i`, named by the model's `output`
    /// (classification only).
    #[must_use]
    pub fn label<'o>(&self, i: usize, output: &'o OutputKind) -> Option<&'o str> {
        let class = *self.class_indices()?.get(i)?;
        output.labels()?.get(class).map(String::as_str)
    }

    /// Class probabilities of row `i`, where the model provides them.
    #[must_use]
    pub fn probabilities(&self, i: usize) -> Option<ArrayView1<'_, f64>> {
        match &self.inner {
            Inner::Classes {
                probabilities: Some(p),
                n_labels,
                classes,
            } if i < classes.len() => Some(ArrayView1::from(&p[i * n_labels..(i + 1) * n_labels])),
            _ => None,
        }
    }

    /// The probability of class `class` in every row, in row order, where
    /// the model provides probabilities (what ranking by one label reads).
    #[must_use]
    pub fn probability_column(&self, class: usize) -> Option<Vec<f64>> {
        match &self.inner {
            Inner::Classes {
                probabilities: Some(p),
                n_labels,
                ..
            } if class < *n_labels => {
                Some(p.iter().skip(class).step_by(*n_labels).copied().collect())
            }
            _ => None,
        }
    }

    /// The regression scores (regression only).
    #[must_use]
    pub fn score_values(&self) -> Option<&[f64]> {
        match &self.inner {
            Inner::Scores(s) => Some(s),
            Inner::Classes { .. } => None,
        }
    }

    /// A copy of rows `range` (used to hand each caller of a shared batch its
    /// own rows).
    ///
    /// # Panics
    ///
    /// If `range` is out of bounds.
    #[must_use]
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        let inner = match &self.inner {
            Inner::Classes {
                n_labels,
                classes,
                probabilities,
            } => Inner::Classes {
                n_labels: *n_labels,
                classes: classes[range.clone()].to_vec(),
                probabilities: probabilities
                    .as_ref()
                    .map(|p| p[range.start * n_labels..range.end * n_labels].to_vec()),
            },
            Inner::Scores(s) => Inner::Scores(s[range].to_vec()),
        };
        Self { inner }
    }

    /// Row `i` as an owned [`Prediction`], with labels from `output`.
    #[must_use]
    pub fn get(&self, i: usize, output: &OutputKind) -> Option<Prediction> {
        match &self.inner {
            Inner::Classes {
                classes,
                probabilities,
                n_labels,
            } => classes.get(i).map(|&c| Prediction::Class {
                index: c,
                label: output
                    .labels()
                    .and_then(|l| l.get(c))
                    .cloned()
                    .unwrap_or_default(),
                probabilities: probabilities
                    .as_ref()
                    .map(|p| p[i * n_labels..(i + 1) * n_labels].to_vec()),
            }),
            Inner::Scores(s) => s.get(i).map(|&v| Prediction::Score { value: v }),
        }
    }

    /// Every row as an owned [`Prediction`], with labels from `output`.
    pub fn iter<'a>(
        &'a self,
        output: &'a OutputKind,
    ) -> impl ExactSizeIterator<Item = Prediction> + 'a {
        (0..self.len()).map(move |i| self.get(i, output).expect("index below len"))
    }
}

/// One row's prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Prediction {
    /// A predicted class.
    Class {
        /// The class index.
        index: usize,
        /// Its label.
        label: String,
        /// Per-class probabilities, where the model has them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probabilities: Option<Vec<f64>>,
    },
    /// A regression score.
    Score {
        /// The value.
        value: f64,
    },
}
