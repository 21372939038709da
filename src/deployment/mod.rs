//! [`Deployment`]: one model version, ready to be served, with what travels
//! with it (warm-up rows, the training data's [`ReferenceStats`]).
//!
//! This layer sits between the model and the artifact: an artifact decodes
//! into a `Deployment`, a server serves one, and the monitor reads its
//! reference statistics, without any of them knowing the others.

mod reference;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use ndarray::ArrayView2;

use crate::model::{Model, ModelError, OutputKind, Predictions};
use crate::schema::{FeatureBatch, FeatureSchema};

pub use reference::{FeatureStats, ReferenceStats};

/// One version of a named model with everything needed to serve it: the
/// model, its name and version, and optional warm-up rows with the
/// predictions they must produce.
///
/// A deployment is checked when it is swapped into a server (see
/// [`InProcessServer::swap`](crate::InProcessServer::swap)): warm-up runs then,
/// off the request path, and a failure leaves the serving version untouched.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "linfa")] {
/// use linfa::prelude::*;
/// use linfa_trees::DecisionTree;
/// use modelhost::{Deployment, Feature, FeatureSchema, LinfaModel};
/// use ndarray::array;
///
/// let schema = FeatureSchema::builder().feature(Feature::float("x")).build()?;
/// let tree = DecisionTree::params()
///     .fit(&Dataset::new(array![[0.0], [1.0]], array![0usize, 1]))
///     .unwrap();
/// let model = LinfaModel::decision_tree(tree, schema, ["no", "yes"])?;
/// let deployment = Deployment::new("churn", 3, model);
/// assert_eq!((deployment.name(), deployment.version()), ("churn", 3));
/// assert!(deployment.reference().is_none());
/// # }
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Clone)]
pub struct Deployment {
    pub(crate) name: Arc<str>,
    pub(crate) version: u64,
    pub(crate) model: Arc<dyn Model>,
    pub(crate) output: Arc<OutputKind>,
    pub(crate) warmup: Option<(FeatureBatch, Predictions)>,
    pub(crate) reference: Option<Arc<ReferenceStats>>,
}

impl Deployment {
    /// Version `version` of the model called `name`.
    pub fn new(name: impl Into<Arc<str>>, version: u64, model: impl Model + 'static) -> Self {
        Self::from_arc(name, version, Arc::new(model))
    }

    /// As [`Deployment::new`], for a model already behind an `Arc`.
    pub fn from_arc(name: impl Into<Arc<str>>, version: u64, model: Arc<dyn Model>) -> Self {
        let output = Arc::new(model.output().clone());
        Self {
            name: name.into(),
            version,
            model,
            output,
            warmup: None,
            reference: None,
        }
    }

    /// Rows to predict before the deployment may serve, and the predictions
    /// they must produce (class indices equal; scores within 1e-9, relative).
    #[must_use]
    pub fn with_warmup(mut self, rows: FeatureBatch, expected: Predictions) -> Self {
        self.warmup = Some((rows, expected));
        self
    }

    /// Attaches statistics of the training data: the reference a monitor
    /// measures input and prediction drift against. Artifacts attach the
    /// statistics they carry.
    #[must_use]
    pub fn with_reference(mut self, reference: impl Into<Arc<ReferenceStats>>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// The model's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The model.
    #[must_use]
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// The input contract.
    #[must_use]
    pub fn schema(&self) -> &FeatureSchema {
        self.model.schema()
    }

    /// What the model outputs.
    #[must_use]
    pub fn output(&self) -> &Arc<OutputKind> {
        &self.output
    }

    /// The training data's statistics, where attached.
    #[must_use]
    pub fn reference(&self) -> Option<&Arc<ReferenceStats>> {
        self.reference.as_ref()
    }

    /// Predicts `rows`, turning a panic into [`ModelError::Panicked`] and
    /// checking the row count of the result.
    ///
    /// # Errors
    ///
    /// The model's own errors; [`ModelError::Panicked`] when it panicked;
    /// [`ModelError::InvalidPredictions`] when it returned another number of
    /// predictions than rows.
    pub fn predict(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        let n = rows.nrows();
        let out = catch_unwind(AssertUnwindSafe(|| self.model.predict_batch(rows))).map_err(
            |panic| ModelError::Panicked {
                model: self.name.to_string(),
                version: self.version,
                message: panic_message(&*panic),
            },
        )??;
        if out.len() != n {
            return Err(ModelError::InvalidPredictions {
                reason: format!("{} predictions for {n} rows", out.len()),
            });
        }
        Ok(out)
    }

    /// Runs the warm-up rows, if any.
    ///
    /// # Errors
    ///
    /// [`ModelError::WarmupFailed`] when the model fails on them or predicts
    /// something else than expected.
    pub fn warm_up(&self) -> Result<(), ModelError> {
        let Some((rows, expected)) = &self.warmup else {
            return Ok(());
        };
        let failed = |reason: String| ModelError::WarmupFailed {
            model: self.name.to_string(),
            version: self.version,
            reason,
        };
        if !rows.schema().same_encoding(self.schema()) {
            return Err(failed("warm-up rows follow another schema".into()));
        }
        let got = self
            .predict(rows.rows())
            .map_err(|e| failed(e.to_string()))?;
        if got.len() != expected.len() {
            return Err(failed(format!(
                "{} predictions for {} expected",
                got.len(),
                expected.len()
            )));
        }
        let promised = self.model().output().has_probabilities();
        if !got.is_empty() && got.probabilities(0).is_some() != promised {
            return Err(failed(format!(
                "the output says probabilities {}, the predictions {} them",
                if promised {
                    "are given"
                } else {
                    "are not given"
                },
                if promised { "lack" } else { "carry" }
            )));
        }
        match (got.class_indices(), expected.class_indices()) {
            (Some(g), Some(e)) => {
                if let Some(i) = (0..g.len()).find(|&i| g[i] != e[i]) {
                    return Err(failed(format!(
                        "row {i} predicted class {}, expected {}",
                        g[i], e[i]
                    )));
                }
            }
            (None, None) => {
                let (g, e) = (
                    got.score_values().unwrap_or_default(),
                    expected.score_values().unwrap_or_default(),
                );
                if let Some(i) = (0..g.len()).find(|&i| !close(g[i], e[i])) {
                    return Err(failed(format!(
                        "row {i} predicted {}, expected {}",
                        g[i], e[i]
                    )));
                }
            }
            _ => {
                return Err(failed(
                    "output kind differs from the expected predictions".into(),
                ));
            }
        }
        Ok(())
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("model", &self.model)
            .field("warmup_rows", &self.warmup.as_ref().map(|(r, _)| r.len()))
            .field("reference_rows", &self.reference.as_ref().map(|r| r.rows))
            .finish_non_exhaustive()
    }
}
