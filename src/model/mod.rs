//! The prediction interface ([`Model`]) and its adapters.
//!
//! A [`Model`] predicts a batch of validated, encoded rows and declares the
//! [`FeatureSchema`] those rows follow and the [`OutputKind`] it produces.
//! With the `linfa` feature (on by default), [`LinfaModel`] wraps any fitted
//! linfa model that implements `PredictInplace` over `f64` matrices, with a
//! ready-made constructor for linfa-trees' `DecisionTree`. [`TreeClassifier`]
//! is a flat decision tree that also reports the class distribution of the
//! leaf each row reaches; [`ForestClassifier`], [`LogisticClassifier`] and
//! [`LinearRegressor`] serve random forests, logistic and linear regressions
//! from their parameters; [`TreeEnsemble`] evaluates the boosted trees and
//! forests that XGBoost, LightGBM and scikit-learn train.

mod ensemble;
mod error;
mod forest;
mod linear;
#[cfg(feature = "linfa")]
mod linfa;
mod predictions;
mod tree;

use std::fmt;

use ndarray::ArrayView2;

use crate::schema::{FeatureBatch, FeatureSchema, FeatureVector};

#[cfg(feature = "linfa")]
#[cfg_attr(docsrs, doc(cfg(feature = "linfa")))]
pub use self::linfa::{LinfaModel, LinfaTarget};
pub use ensemble::{
    EnsembleLimits, EnsembleSpec, Link, MAX_ENSEMBLE_FEATURES, MissingRule, SplitSemantics,
    TreeEnsemble, TreeSpec,
};
pub(crate) use ensemble::{Flat as EnsembleFlat, Node as EnsembleNode};
pub use error::ModelError;
pub use forest::ForestClassifier;
pub use linear::{LinearRegressor, LogisticClassifier, LogisticForm};
pub use predictions::{OutputKind, Prediction, Predictions};
#[cfg(feature = "forest")]
pub(crate) use tree::flatten_linfa;
pub use tree::{TreeClassifier, TreeLimits, TreeNode};

/// A model that predicts batches of rows encoded by its [`FeatureSchema`].
///
/// Implementations must be `Send + Sync`: one model value serves every thread.
/// `predict_batch` receives rows × `schema().len()` matrices; implementations
/// should call [`check_width`] (or otherwise refuse other widths) rather than
/// index out of bounds.
pub trait Model: Send + Sync + fmt::Debug {
    /// The input contract.
    fn schema(&self) -> &FeatureSchema;

    /// What the model outputs.
    fn output(&self) -> &OutputKind;

    /// Predicts every row of `rows`, returning one prediction per row.
    ///
    /// # Errors
    ///
    /// [`ModelError::WidthMismatch`] for a matrix of the wrong width, or any error
    /// of the model itself.
    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError>;

    /// Predicts one validated row, after checking it was validated against
    /// this model's schema.
    ///
    /// # Errors
    ///
    /// [`ModelError::SchemaMismatch`] if the row follows another schema; otherwise
    /// as [`Model::predict_batch`].
    fn predict_vector(&self, row: &FeatureVector) -> Result<Predictions, ModelError> {
        check_schema(self.schema(), row.schema())?;
        self.predict_batch(row.as_row())
    }

    /// Predicts a validated batch, after checking its schema.
    ///
    /// # Errors
    ///
    /// As [`predict_vector`](Self::predict_vector).
    fn predict_features(&self, batch: &FeatureBatch) -> Result<Predictions, ModelError> {
        check_schema(self.schema(), batch.schema())?;
        self.predict_batch(batch.rows())
    }
}

/// Checks that `rows` has exactly as many columns as `schema` has features.
///
/// # Errors
///
/// [`ModelError::WidthMismatch`] otherwise.
pub fn check_width(schema: &FeatureSchema, rows: &ArrayView2<'_, f64>) -> Result<(), ModelError> {
    if rows.ncols() == schema.len() {
        Ok(())
    } else {
        Err(ModelError::WidthMismatch {
            expected: schema.len(),
            found: rows.ncols(),
        })
    }
}

/// Calls `f` with each row of `rows` as a slice: borrowed from a
/// standard-layout matrix (the usual case), copied into one reused buffer
/// otherwise. Models index slices far more cheaply than strided views.
pub(crate) fn each_row(rows: ArrayView2<'_, f64>, mut f: impl FnMut(&[f64])) {
    let width = rows.ncols();
    match rows.as_slice() {
        Some(all) if width > 0 => all.chunks_exact(width).for_each(f),
        _ => {
            let mut buf = Vec::with_capacity(width);
            for row in rows.rows() {
                buf.clear();
                buf.extend(row.iter().copied());
                f(&buf);
            }
        }
    }
}

/// Checks that input validated against `found` is encoded as `expected` wants.
pub(crate) fn check_schema(
    expected: &FeatureSchema,
    found: &FeatureSchema,
) -> Result<(), ModelError> {
    if expected.same_encoding(found) {
        Ok(())
    } else {
        Err(ModelError::SchemaMismatch {
            expected: expected.fingerprint(),
            found: found.fingerprint(),
        })
    }
}
