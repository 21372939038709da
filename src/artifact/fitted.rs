//! Artifacts from fitted linfa models of every built-in kind but trees
//! (see [`Artifact::decision_tree`] for those).

// Each constructor has a feature of its own; imports are shared.
#![cfg_attr(
    not(all(feature = "logistic", feature = "forest", feature = "linear")),
    allow(unused_imports, dead_code)
)]

use std::sync::Arc;

use super::kinds::ModelKind;
use super::{Artifact, ArtifactError};
use crate::model::{
    ForestClassifier, LinearRegressor, LogisticClassifier, LogisticForm, ModelError,
    TreeClassifier, TreeLimits, TreeNode,
};
use crate::schema::{FeatureBatch, FeatureSchema};

type Result<T> = std::result::Result<T, ArtifactError>;

fn labels_of<I, S>(labels: I) -> Arc<[String]>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    labels.into_iter().map(Into::into).collect()
}

impl Artifact {
    /// Packs a binary linfa-logistic classifier whose class `i` is
    /// `labels[i]`; the served model reports the probability of both classes.
    /// `training` is as for [`Artifact::from_model`].
    ///
    /// The threshold is linfa-logistic's default, 0.5 (a threshold set with
    /// `set_threshold` cannot be read back from the fitted model).
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Model`] when the model does not fit `schema` or
    /// `labels`, or `training` follows another schema.
    #[cfg(feature = "logistic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logistic")))]
    pub fn logistic_regression<I, S>(
        name: impl Into<String>,
        model: &linfa_logistic::FittedLogisticRegression<f64, usize>,
        schema: &FeatureSchema,
        labels: I,
        training: &FeatureBatch,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let form = LogisticForm::Binary {
            weights: model.params().to_vec(),
            intercept: model.intercept(),
            positive: model.labels().pos.class,
            negative: model.labels().neg.class,
        };
        Self::logistic(name, form, schema, labels_of(labels), training)
    }

    /// Packs a multinomial linfa-logistic classifier whose class `i` is
    /// `labels[i]`, with softmax probabilities. `training` is as for
    /// [`Artifact::from_model`].
    ///
    /// # Errors
    ///
    /// As [`Artifact::logistic_regression`].
    #[cfg(feature = "logistic")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logistic")))]
    pub fn multinomial_logistic_regression<I, S>(
        name: impl Into<String>,
        model: &linfa_logistic::MultiFittedLogisticRegression<f64, usize>,
        schema: &FeatureSchema,
        labels: I,
        training: &FeatureBatch,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let params = model.params();
        let form = LogisticForm::Multinomial {
            weights: params.rows().into_iter().flatten().copied().collect(),
            intercepts: model.intercept().to_vec(),
            classes: model.classes().to_vec(),
        };
        Self::logistic(name, form, schema, labels_of(labels), training)
    }

    #[cfg(feature = "logistic")]
    fn logistic(
        name: impl Into<String>,
        form: LogisticForm,
        schema: &FeatureSchema,
        labels: Arc<[String]>,
        training: &FeatureBatch,
    ) -> Result<Self> {
        let model = LogisticClassifier::new(form, schema.clone(), labels)?;
        Self::from_model(
            name,
            ModelKind::LOGISTIC_REGRESSION,
            1,
            super::linear::encode_logistic(&model),
            &model,
            training,
        )
    }

    /// Packs a linfa-ensemble random forest whose class `i` is `labels[i]`;
    /// the served model reports vote shares as probabilities. Each tree's
    /// feature subset is mapped back to schema columns. `training` is as for
    /// [`Artifact::from_model`].
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Model`] when a tree does not fit `schema` or
    /// `labels`, or `training` follows another schema.
    #[cfg(feature = "forest")]
    #[cfg_attr(docsrs, doc(cfg(feature = "forest")))]
    pub fn random_forest<I, S>(
        name: impl Into<String>,
        forest: &linfa_ensemble::RandomForest<f64, usize>,
        schema: &FeatureSchema,
        labels: I,
        training: &FeatureBatch,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels = labels_of(labels);
        let limits = TreeLimits {
            max_depth: usize::MAX,
            max_nodes: usize::MAX,
        };
        let mut trees = Vec::with_capacity(forest.models.len());
        for (i, tree) in forest.models.iter().enumerate() {
            let columns = forest
                .model_features
                .get(i)
                .ok_or_else(|| ModelError::InvalidModel {
                    reason: format!("tree {i} has no feature list"),
                })?;
            let mut nodes = crate::model::flatten_linfa(tree);
            for node in &mut nodes {
                if let TreeNode::Split { feature, .. } = node {
                    *feature = *columns
                        .get(*feature)
                        .ok_or_else(|| ModelError::InvalidModel {
                            reason: format!("tree {i} splits on a feature outside its subset"),
                        })?;
                }
            }
            trees.push(TreeClassifier::new(
                &nodes,
                schema.clone(),
                labels.clone(),
                limits,
            )?);
        }
        let model = ForestClassifier::new(trees, schema.clone(), labels)?;
        Self::from_model(
            name,
            ModelKind::RANDOM_FOREST_CLASSIFIER,
            1,
            super::forest::encode(&model),
            &model,
            training,
        )
    }

    /// Packs a linfa-linear regression; the served model outputs scores.
    /// `training` is as for [`Artifact::from_model`].
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Model`] when the model does not fit `schema`, or
    /// `training` follows another schema.
    #[cfg(feature = "linear")]
    #[cfg_attr(docsrs, doc(cfg(feature = "linear")))]
    pub fn linear_regression(
        name: impl Into<String>,
        model: &linfa_linear::FittedLinearRegression<f64>,
        schema: &FeatureSchema,
        training: &FeatureBatch,
    ) -> Result<Self> {
        let model =
            LinearRegressor::new(model.params().to_vec(), model.intercept(), schema.clone())?;
        Self::from_model(
            name,
            ModelKind::LINEAR_REGRESSION,
            1,
            super::linear::encode_linear(&model),
            &model,
            training,
        )
    }
}
