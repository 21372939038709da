//! The artifact header: everything about a model version except its weights.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::deployment::ReferenceStats;
use crate::model::OutputKind;
use crate::schema::FeatureSchema;

/// The kinds of model an artifact can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ModelKind {
    /// A linfa-trees `DecisionTree<f64, usize>` classifier.
    DecisionTreeClassifier,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::DecisionTreeClassifier => "decision_tree_classifier",
        })
    }
}

/// Metadata of one model version, stored in front of its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArtifactHeader {
    /// The model's name.
    pub name: String,
    /// The version; `0` until a registry assigns one.
    pub version: u64,
    /// What the payload holds.
    pub model_kind: ModelKind,
    /// The input contract.
    pub schema: FeatureSchema,
    /// The output kind and label vocabulary.
    pub output: OutputKind,
    /// Evaluation metrics from training, by name (`accuracy`, `precision`,
    /// `recall`, `auc`, ...).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Statistics of the training data, for drift detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Arc<ReferenceStats>>,
    /// Rows the model must predict as recorded before it may serve.
    #[serde(default)]
    pub warmup: Warmup,
    /// Creation time, in seconds since the Unix epoch.
    pub created_at: u64,
    /// Free-form tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Encoded rows and the predictions they must produce.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Warmup {
    /// Encoded rows, in schema order.
    pub rows: Vec<Vec<f64>>,
    /// Expected class index (classifiers) or score (regressors) per row.
    pub expected: Vec<f64>,
}
