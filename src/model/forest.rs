//! A random forest: decision trees that vote.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2};

use super::{Model, ModelError, OutputKind, Predictions, TreeClassifier, check_width};
use crate::schema::FeatureSchema;

/// Trees over the same schema and labels that vote: the prediction is the
/// class with the most votes (the lowest class index on a tie), and the
/// probabilities are the vote shares.
///
/// linfa-ensemble breaks ties in hash-map order, which is not reproducible;
/// with an odd number of trees and two classes there are no ties.
#[derive(Debug, Clone)]
pub struct ForestClassifier {
    schema: FeatureSchema,
    output: OutputKind,
    trees: Vec<TreeClassifier>,
}

impl ForestClassifier {
    /// A forest of `trees`, each over `schema` and `labels`.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] when there are no trees or a tree has
    /// another schema or other labels.
    pub fn new(
        trees: Vec<TreeClassifier>,
        schema: FeatureSchema,
        labels: Arc<[String]>,
    ) -> Result<Self, ModelError> {
        let output = OutputKind::Classification {
            labels,
            probabilities: true,
        };
        if trees.is_empty() {
            return Err(ModelError::InvalidModel {
                reason: "a forest needs at least one tree".into(),
            });
        }
        if let Some(i) = trees.iter().position(|t| {
            !t.schema().same_encoding(&schema) || t.output().labels() != output.labels()
        }) {
            return Err(ModelError::InvalidModel {
                reason: format!("tree {i} has another schema or other labels than the forest"),
            });
        }
        Ok(Self {
            schema,
            output,
            trees,
        })
    }

    /// The trees.
    #[must_use]
    pub fn trees(&self) -> &[TreeClassifier] {
        &self.trees
    }
}

impl Model for ForestClassifier {
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
        let mut votes = Array2::<f64>::zeros((n, k));
        for tree in &self.trees {
            for (i, row) in rows.rows().into_iter().enumerate() {
                votes[(i, tree.class_of(row))] += 1.0;
            }
        }
        let share = 1.0 / self.trees.len() as f64;
        let mut classes = Vec::with_capacity(n);
        for mut row in votes.rows_mut() {
            let mut best = 0;
            for j in 1..k {
                if row[j] > row[best] {
                    best = j;
                }
            }
            classes.push(best);
            row *= share;
        }
        Predictions::classes(classes, k)?.with_probabilities(votes)
    }
}
