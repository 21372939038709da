//! The decision-tree kind: a flat node list with class distributions.
//!
//! linfa's `DecisionTree` serializes as nested boxes, and decoding nested
//! data from untrusted bytes recurses once per level: a payload of ~100k
//! levels overflows the stack (an abort, not an error) even under a byte
//! limit. The artifact therefore stores the tree as a list of nodes with
//! child indices; decoding never recurses, and
//! [`TreeClassifier::new`] checks it is a proper tree within depth and size
//! limits before anything serves.
//!
//! # Payload versions
//!
//! - **1** (artifacts written before kinds were open): bincode of
//!   [`FlatTree`]; no class distributions, so no probabilities.
//! - **2**: [`PayloadWriter`] layout — feature count, label count, a byte
//!   saying whether leaves carry distributions, node count, then per node a
//!   tag (0 leaf: class, then one share per label if distributions; 1 split:
//!   feature, threshold, left, right). Counts and indices are `u64`, values
//!   `f64`.

use std::ops::RangeInclusive;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::kinds::{DecodeLimits, KindDecoder, ModelKind};
use super::payload::{PayloadReader, PayloadWriter};
use super::{ArtifactError, ArtifactHeader, codec};
use crate::model::{Model, TreeClassifier, TreeNode};

/// The payload version [`encode`] writes.
pub(crate) const PAYLOAD_VERSION: u32 = 2;

/// One node of a version-1 payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FlatNode {
    pub feature: u64,
    pub threshold: f64,
    pub impurity_decrease: f64,
    /// Child indices for inner nodes; `None` for leaves.
    pub children: Option<(u64, u64)>,
    /// Class index (leaves).
    pub prediction: u64,
    pub feature_name: String,
}

/// A version-1 payload. Node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FlatTree {
    pub num_features: u64,
    pub nodes: Vec<FlatNode>,
}

fn index(v: u64) -> usize {
    // Out-of-range values become an index no tree has; validation refuses it.
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// Encodes a tree as a version-2 payload.
#[cfg_attr(not(feature = "linfa"), allow(dead_code))]
pub(crate) fn encode(tree: &TreeClassifier) -> Vec<u8> {
    let mut w = PayloadWriter::new();
    w.count(tree.schema().len());
    w.count(tree.output().labels().map_or(0, |l| l.len()));
    w.u8(u8::from(tree.has_probabilities()));
    write_nodes(&mut w, &tree.nodes());
    w.into_bytes()
}

/// Node count, then each node (see the module docs).
pub(crate) fn write_nodes(w: &mut PayloadWriter, nodes: &[TreeNode]) {
    w.count(nodes.len());
    for node in nodes {
        match node {
            TreeNode::Leaf {
                class,
                distribution,
            } => {
                w.u8(0);
                w.count(*class);
                for &p in distribution.iter().flatten() {
                    w.f64(p);
                }
            }
            TreeNode::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                w.u8(1);
                w.count(*feature);
                w.f64(*threshold);
                w.count(*left);
                w.count(*right);
            }
        }
    }
}

/// Reads what [`write_nodes`] wrote; leaves carry `n_labels` shares when
/// `with_probabilities`. The node count is checked against the remaining
/// bytes and the limit before anything is allocated.
pub(crate) fn read_nodes(
    r: &mut PayloadReader<'_>,
    n_labels: usize,
    with_probabilities: bool,
    limits: &DecodeLimits,
) -> Result<Vec<TreeNode>, ArtifactError> {
    // The smallest node is a leaf without distribution: tag and class.
    let n = r.count(9)?;
    if n > limits.tree.max_nodes {
        return Err(ArtifactError::InvalidModel {
            reason: format!(
                "the tree has {n} nodes, more than the limit of {}",
                limits.tree.max_nodes
            ),
        });
    }
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        nodes.push(match r.u8()? {
            0 => TreeNode::Leaf {
                class: index(r.u64()?),
                distribution: if with_probabilities {
                    if n_labels.saturating_mul(8) > r.remaining() {
                        return Err(r.error("truncated"));
                    }
                    Some((0..n_labels).map(|_| r.f64()).collect::<Result<_, _>>()?)
                } else {
                    None
                },
            },
            1 => TreeNode::Split {
                feature: index(r.u64()?),
                threshold: r.f64()?,
                left: index(r.u64()?),
                right: index(r.u64()?),
            },
            t => return Err(r.error(&format!("unknown node tag {t}"))),
        });
    }
    Ok(nodes)
}

/// Reads and checks the feature and label counts a payload starts with.
pub(crate) fn read_shape(
    r: &mut PayloadReader<'_>,
    width: usize,
    n_labels: Option<usize>,
) -> Result<(), ArtifactError> {
    let features = r.u64()?;
    if features != width as u64 {
        return Err(ArtifactError::InvalidModel {
            reason: format!("the model was trained on {features} features, the schema has {width}"),
        });
    }
    if let Some(n_labels) = n_labels {
        let labels = r.u64()?;
        if labels != n_labels as u64 {
            return Err(ArtifactError::InvalidModel {
                reason: format!("the model has {labels} classes, but there are {n_labels} labels"),
            });
        }
    }
    Ok(())
}

fn decode_v2(
    payload: &[u8],
    width: usize,
    n_labels: usize,
    limits: &DecodeLimits,
) -> Result<Vec<TreeNode>, ArtifactError> {
    let mut r = PayloadReader::new(payload);
    read_shape(&mut r, width, Some(n_labels))?;
    let with_probabilities = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(r.error("the distribution flag is neither 0 nor 1")),
    };
    let nodes = read_nodes(&mut r, n_labels, with_probabilities, limits)?;
    r.finish()?;
    Ok(nodes)
}
fn decode_v1(payload: &[u8], width: usize) -> Result<Vec<TreeNode>, ArtifactError> {
    let flat: FlatTree =
        codec::decode(payload).map_err(|reason| ArtifactError::Payload { reason })?;
    if flat.num_features != width as u64 {
        return Err(ArtifactError::InvalidModel {
            reason: format!(
                "the tree was trained on {} features, the schema has {width}",
                flat.num_features
            ),
        });
    }
    Ok(flat
        .nodes
        .iter()
        .map(|n| match n.children {
            None => TreeNode::Leaf {
                class: index(n.prediction),
                distribution: None,
            },
            Some((l, r)) => TreeNode::Split {
                feature: index(n.feature),
                threshold: n.threshold,
                left: index(l),
                right: index(r),
            },
        })
        .collect())
}

/// The decoder of [`ModelKind::DECISION_TREE_CLASSIFIER`].
#[derive(Debug)]
pub(crate) struct TreeKind;

impl KindDecoder for TreeKind {
    fn kind(&self) -> ModelKind {
        ModelKind::DECISION_TREE_CLASSIFIER
    }

    fn payload_versions(&self) -> RangeInclusive<u32> {
        1..=PAYLOAD_VERSION
    }

    fn decode(
        &self,
        payload: &[u8],
        payload_version: u32,
        header: &ArtifactHeader,
        limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError> {
        let labels =
            header
                .output
                .labels()
                .cloned()
                .ok_or_else(|| ArtifactError::InvalidModel {
                    reason: "a decision-tree classifier needs a classification output".into(),
                })?;
        let width = header.schema.len();
        let nodes = if payload_version == 1 {
            decode_v1(payload, width)?
        } else {
            decode_v2(payload, width, labels.len(), limits)?
        };
        let tree = TreeClassifier::new(&nodes, header.schema.clone(), labels, limits.tree)
            .map_err(|e| ArtifactError::InvalidModel {
                reason: e.to_string(),
            })?;
        Ok(Arc::new(tree))
    }
}
