//! A random forest: decision trees that vote.

use std::sync::Arc;

use ndarray::ArrayView2;

use super::{Model, ModelError, OutputKind, Predictions, TreeClassifier, check_width, each_row};
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
        let share = 1.0 / self.trees.len() as f64;
        let mut votes = vec![0.0; n * k];
        let mut classes = Vec::with_capacity(n);
        let mut i = 0;
        each_row(rows, |row| {
            let v = &mut votes[i * k..(i + 1) * k];
            for tree in &self.trees {
                v[tree.class_of(row, n == 1)] += 1.0;
            }
            let mut best = 0;
            for j in 1..k {
                if v[j] > v[best] {
                    best = j;
                }
            }
            classes.push(best);
            for x in v.iter_mut() {
                *x *= share;
            }
            i += 1;
        });
        Predictions::classes_with_probabilities(classes, k, votes)
    }
}
