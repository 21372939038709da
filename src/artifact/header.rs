//! The artifact header: everything about a model version except its weights.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::kinds::ModelKind;
use crate::deployment::ReferenceStats;
use crate::model::OutputKind;
use crate::schema::FeatureSchema;

/// Metadata of one model version, stored in front of its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ArtifactHeader {
    /// The model's name.
    pub name: String,
    /// The version; `0` until a registry assigns one.
    pub version: u64,
    /// What the payload holds: the kind whose decoder reads it.
    pub model_kind: ModelKind,
    /// The version of that kind's payload layout (1 when absent, as in
    /// artifacts written before kinds named one).
    #[serde(default = "first_payload_version")]
    pub payload_version: u32,
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

fn first_payload_version() -> u32 {
    1
}
