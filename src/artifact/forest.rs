//! The random-forest kind.
//!
//! # Payload version 1
//!
//! Feature count, label count, tree count, then per tree its nodes as in a
//! version-2 decision-tree payload without distributions (split features
//! are columns of the full schema). Counts are `u64`, values `f64`.

use std::ops::RangeInclusive;
use std::sync::Arc;

use super::kinds::{DecodeLimits, KindDecoder, ModelKind};
use super::payload::{PayloadReader, PayloadWriter};
use super::tree::{read_nodes, read_shape, write_nodes};
use super::{ArtifactError, ArtifactHeader};
use crate::model::{ForestClassifier, Model, TreeClassifier};

impl ModelKind {
    /// A random forest of decision trees voting
    /// ([`ForestClassifier`]).
    pub const RANDOM_FOREST_CLASSIFIER: Self = Self::from_static("random_forest_classifier");
}

/// Encodes a forest (payload version 1).
#[cfg_attr(not(feature = "forest"), allow(dead_code))]
pub(crate) fn encode(forest: &ForestClassifier) -> Vec<u8> {
    let mut w = PayloadWriter::new();
    w.count(forest.schema().len());
    w.count(forest.output().labels().map_or(0, |l| l.len()));
    w.count(forest.trees().len());
    for tree in forest.trees() {
        write_nodes(&mut w, &tree.nodes());
    }
    w.into_bytes()
}

/// The decoder of [`ModelKind::RANDOM_FOREST_CLASSIFIER`].
#[derive(Debug)]
pub(crate) struct ForestKind;

impl KindDecoder for ForestKind {
    fn kind(&self) -> ModelKind {
        ModelKind::RANDOM_FOREST_CLASSIFIER
    }

    fn payload_versions(&self) -> RangeInclusive<u32> {
        1..=1
    }

    fn decode(
        &self,
        payload: &[u8],
        _payload_version: u32,
        header: &ArtifactHeader,
        limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError> {
        let invalid = |e: crate::model::ModelError| ArtifactError::InvalidModel {
            reason: e.to_string(),
        };
        let labels =
            header
                .output
                .labels()
                .cloned()
                .ok_or_else(|| ArtifactError::InvalidModel {
                    reason: "a random forest needs a classification output".into(),
                })?;
        let mut r = PayloadReader::new(payload);
        read_shape(&mut r, header.schema.len(), Some(labels.len()))?;
        // The smallest tree is a count and one leaf: 17 bytes.
        let n = r.count(17)?;
        if n > limits.max_trees {
            return Err(ArtifactError::InvalidModel {
                reason: format!(
                    "the forest has {n} trees, more than the limit of {}",
                    limits.max_trees
                ),
            });
        }
        let mut trees = Vec::with_capacity(n);
        for _ in 0..n {
            let nodes = read_nodes(&mut r, labels.len(), false, limits)?;
            trees.push(
                TreeClassifier::new(&nodes, header.schema.clone(), labels.clone(), limits.tree)
                    .map_err(invalid)?,
            );
        }
        r.finish()?;
        Ok(Arc::new(
            ForestClassifier::new(trees, header.schema.clone(), labels).map_err(invalid)?,
        ))
    }
}
