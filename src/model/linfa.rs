//! Adapter for fitted linfa models.

use std::fmt;
use std::marker::PhantomData;

use linfa::traits::PredictInplace;
use linfa_trees::DecisionTree;
use ndarray::{Array1, ArrayView2};

use super::ModelError;
use super::{Model, OutputKind, Predictions, check_width};
use crate::schema::FeatureSchema;

/// A target element type a linfa model predicts, and how it becomes
/// [`Predictions`].
pub trait LinfaTarget: Default + Clone + Send + Sync + 'static {
    /// Whether this target is a class (needs [`OutputKind::Classification`]).
    const CLASSIFICATION: bool;

    /// Converts the model's targets for a batch.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidPredictions`] when a value does not fit `output`.
    fn into_predictions(
        targets: Array1<Self>,
        output: &OutputKind,
    ) -> Result<Predictions, ModelError>;
}

fn n_labels(output: &OutputKind) -> Result<usize, ModelError> {
    output
        .labels()
        .map(|l| l.len())
        .ok_or_else(|| ModelError::InvalidPredictions {
            reason: "class targets need a classification output".into(),
        })
}

impl LinfaTarget for usize {
    const CLASSIFICATION: bool = true;
    fn into_predictions(
        targets: Array1<Self>,
        output: &OutputKind,
    ) -> Result<Predictions, ModelError> {
        Predictions::classes(targets.into_raw_vec_and_offset().0, n_labels(output)?)
    }
}

impl LinfaTarget for bool {
    const CLASSIFICATION: bool = true;
    fn into_predictions(
        targets: Array1<Self>,
        output: &OutputKind,
    ) -> Result<Predictions, ModelError> {
        Predictions::classes(
            targets.iter().map(|&b| usize::from(b)).collect(),
            n_labels(output)?,
        )
    }
}

impl LinfaTarget for f64 {
    const CLASSIFICATION: bool = false;
    fn into_predictions(targets: Array1<Self>, _: &OutputKind) -> Result<Predictions, ModelError> {
        Ok(Predictions::scores(targets.into_raw_vec_and_offset().0))
    }
}

impl LinfaTarget for f32 {
    const CLASSIFICATION: bool = false;
    fn into_predictions(targets: Array1<Self>, _: &OutputKind) -> Result<Predictions, ModelError> {
        Ok(Predictions::scores(
            targets.iter().map(|&v| f64::from(v)).collect(),
        ))
    }
}

/// Serves a fitted linfa model: any `M` implementing
/// `PredictInplace<ArrayView2<f64>, Array1<T>>`.
///
/// The adapter checks the row width against the schema before calling linfa
/// (linfa models index columns directly and would panic on a short row), and
/// turns the targets into [`Predictions`].
///
/// # Examples
///
/// ```
/// use linfa::prelude::*;
/// use linfa_trees::DecisionTree;
/// use modelhost::{Feature, FeatureMap, FeatureSchema, LinfaModel, Model};
/// use ndarray::array;
///
/// let schema = FeatureSchema::builder()
///     .feature(Feature::float("basket_value"))
///     .build()?;
/// let data = Dataset::new(array![[1.0], [2.0], [10.0], [11.0]], array![0usize, 0, 1, 1]);
/// let tree = DecisionTree::params().fit(&data).unwrap();
/// let model = LinfaModel::decision_tree(tree, schema.clone(), ["browse", "buy"])?;
///
/// let row = schema.validate(&FeatureMap::new().with("basket_value", 12.0))?;
/// let out = model.predict_batch(row.as_row())?;
/// assert_eq!(out.label(0, model.output()), Some("buy"));
/// # Ok::<(), modelhost::Error>(())
/// ```
pub struct LinfaModel<M, T> {
    model: M,
    schema: FeatureSchema,
    output: OutputKind,
    _target: PhantomData<fn() -> T>,
}

impl<M, T: LinfaTarget> LinfaModel<M, T> {
    /// Wraps a fitted model.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] if `output` does not fit the target type (class
    /// targets need [`OutputKind::Classification`] with at least one label,
    /// `f32`/`f64` targets need [`OutputKind::Regression`]), or a boolean
    /// classifier does not have exactly two labels.
    pub fn new(model: M, schema: FeatureSchema, output: OutputKind) -> Result<Self, ModelError> {
        match (&output, T::CLASSIFICATION) {
            (
                OutputKind::Classification {
                    probabilities: true,
                    ..
                },
                _,
            ) => {
                return Err(ModelError::InvalidModel {
                    reason: "linfa's `predict` gives classes only: the output cannot promise probabilities".into(),
                });
            }
            (OutputKind::Classification { labels, .. }, true) if !labels.is_empty() => {
                if std::any::TypeId::of::<T>() == std::any::TypeId::of::<bool>()
                    && labels.len() != 2
                {
                    return Err(ModelError::InvalidModel {
                        reason: format!(
                            "a boolean classifier needs 2 labels, got {}",
                            labels.len()
                        ),
                    });
                }
            }
            (OutputKind::Regression, false) => {}
            _ => {
                return Err(ModelError::InvalidModel {
                    reason: format!(
                        "output {output:?} does not fit a model predicting {}",
                        std::any::type_name::<T>()
                    ),
                });
            }
        }
        Ok(Self {
            model,
            schema,
            output,
            _target: PhantomData,
        })
    }

    /// The wrapped linfa model.
    #[must_use]
    pub fn inner(&self) -> &M {
        &self.model
    }
}

impl LinfaModel<DecisionTree<f64, usize>, usize> {
    /// Wraps a linfa-trees classification tree whose class `i` is `labels[i]`.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] if the tree splits on a feature index outside
    /// the schema, predicts a class outside `labels`, or `labels` is empty.
    pub fn decision_tree<I, S>(
        tree: DecisionTree<f64, usize>,
        schema: FeatureSchema,
        labels: I,
    ) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let output = OutputKind::classification(labels);
        let n_labels = output.labels().map_or(0, |l| l.len());
        for node in tree.iter_nodes() {
            if let Some(class) = node.prediction() {
                if class >= n_labels {
                    return Err(ModelError::InvalidModel {
                        reason: format!(
                            "tree predicts class {class}, but only {n_labels} labels are given"
                        ),
                    });
                }
            } else {
                let (feature, _, _) = node.split();
                if feature >= schema.len() {
                    return Err(ModelError::InvalidModel {
                        reason: format!(
                            "tree splits on feature {feature}, but the schema has {} features",
                            schema.len()
                        ),
                    });
                }
            }
        }
        Self::new(tree, schema, output)
    }
}

impl<M, T> Model for LinfaModel<M, T>
where
    M: for<'a> PredictInplace<ArrayView2<'a, f64>, Array1<T>> + Send + Sync,
    T: LinfaTarget,
{
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    fn output(&self) -> &OutputKind {
        &self.output
    }

    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        check_width(&self.schema, &rows)?;
        let mut targets = self.model.default_target(&rows);
        if targets.len() != rows.nrows() {
            return Err(ModelError::InvalidPredictions {
                reason: format!("{} targets for {} rows", targets.len(), rows.nrows()),
            });
        }
        self.model.predict_inplace(&rows, &mut targets);
        T::into_predictions(targets, &self.output)
    }
}

impl<M, T> fmt::Debug for LinfaModel<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinfaModel")
            .field("model", &std::any::type_name::<M>())
            .field("target", &std::any::type_name::<T>())
            .field("schema", &self.schema)
            .field("output", &self.output)
            .finish()
    }
}
