//! The tree-ensemble kind ([`TreeEnsemble`]): boosted trees and forests
//! imported from XGBoost, LightGBM and scikit-learn.
//!
//! # Payload version 1
//!
//! [`PayloadWriter`] layout, little-endian, counts `u64`:
//!
//! 1. feature count, label count (classifiers only);
//! 2. flags byte: bit 0 inputs rounded to `f32`, bit 1 sums in `f32`,
//!    bit 2 averaged;
//! 3. link byte (0 identity, 1 sigmoid, 2 softmax, 3 exp) and its scale
//!    (`f64`);
//! 4. group count, leaf width, the base margins (`f64s`);
//! 5. tree count, then per tree its first node (`u32`) and group (`u32`);
//! 6. node count, then per node its value (`f64`), word and left child
//!    (`u32` each): 16 bytes, as the engine holds it;
//! 7. category-set count, per set its first word and word count (`u32`
//!    each), then the words (count, `u32` each);
//! 8. the vector-leaf values (`f64s`).
//!
//! Every count is checked against the bytes that remain before anything is
//! allocated for it, and each item decodes into no more memory than it
//! takes in the payload, so the kind stays inside the load's allocation
//! budget. The decoded parts then pass the same checks as an ensemble built
//! by an importer (`Flat::check`: one tree per root, children after their
//! parent, depth, node and tree counts within the [`DecodeLimits`], finite
//! leaf values, thresholds that are not NaN).
//!
//! The legacy bincode codec is not used: the flat layout above reads with
//! the bounded [`PayloadReader`] like every other open kind.

use std::ops::RangeInclusive;
use std::sync::Arc;

use super::kinds::{DecodeLimits, KindDecoder, ModelKind};
use super::payload::{PayloadReader, PayloadWriter};
use super::tree::read_shape;
use super::{Artifact, ArtifactError, ArtifactHeader};
use crate::model::{EnsembleFlat, EnsembleLimits, EnsembleNode, Link, Model, TreeEnsemble};
use crate::schema::FeatureBatch;

/// The payload version [`encode`] writes.
pub(crate) const PAYLOAD_VERSION: u32 = 1;

impl ModelKind {
    /// A tree ensemble imported from XGBoost, LightGBM or scikit-learn
    /// ([`TreeEnsemble`]).
    pub const TREE_ENSEMBLE: Self = Self::from_static("tree_ensemble");
}

/// Encodes an ensemble (payload version 1).
pub(crate) fn encode(model: &TreeEnsemble) -> Vec<u8> {
    let f = model.flat();
    let mut w = PayloadWriter::new();
    w.count(model.schema().len());
    if let Some(labels) = model.output().labels() {
        w.count(labels.len());
    }
    w.u8(u8::from(f.f32_inputs) | u8::from(f.f32_sums) << 1 | u8::from(f.average) << 2);
    let (link, scale) = match f.link {
        Link::Identity => (0, 1.0),
        Link::Sigmoid { scale } => (1, scale),
        Link::Softmax => (2, 1.0),
        Link::Exp => (3, 1.0),
    };
    w.u8(link);
    w.f64(scale);
    w.count(f.groups);
    w.count(f.leaf_width);
    w.f64s(&f.base);
    w.count(f.trees.len());
    for &(root, group) in &f.trees {
        w.u32(root);
        w.u32(group);
    }
    w.count(f.nodes.len());
    for n in &f.nodes {
        w.f64(n.value);
        w.u32(n.word);
        w.u32(n.left);
    }
    w.count(f.cat_sets.len());
    for &(start, len) in &f.cat_sets {
        w.u32(start);
        w.u32(len);
    }
    w.count(f.cat_words.len());
    for &word in &f.cat_words {
        w.u32(word);
    }
    w.f64s(&f.leaf_values);
    w.into_bytes()
}

impl Artifact {
    /// Packs a [`TreeEnsemble`] (as the importers of [`crate::import`]
    /// build it) as an artifact of kind [`ModelKind::TREE_ENSEMBLE`].
    ///
    /// With `reference` (validated rows of the model's schema, such as a
    /// sample of its training data), the artifact records their statistics
    /// for drift detection and its first rows, with the model's predictions
    /// of them, as warm-up rows that a load must reproduce. Without it the
    /// artifact has neither.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Model`] when `reference` follows another schema or
    /// the model fails on it.
    pub fn tree_ensemble(
        name: impl Into<String>,
        model: &TreeEnsemble,
        reference: Option<&FeatureBatch>,
    ) -> Result<Self, ArtifactError> {
        let payload = encode(model);
        match reference {
            Some(batch) => Self::from_model(
                name,
                ModelKind::TREE_ENSEMBLE,
                PAYLOAD_VERSION,
                payload,
                model,
                batch,
            ),
            None => {
                let empty = FeatureBatch::new(
                    ndarray::Array2::zeros((0, model.schema().len())),
                    model.schema().clone(),
                );
                let mut artifact = Self::from_model(
                    name,
                    ModelKind::TREE_ENSEMBLE,
                    PAYLOAD_VERSION,
                    payload,
                    model,
                    &empty,
                )?;
                artifact.header_mut().reference = None;
                Ok(artifact)
            }
        }
    }
}

/// The ensemble limits a load keeps to.
pub(crate) fn limits(limits: &DecodeLimits) -> EnsembleLimits {
    EnsembleLimits::new()
        .max_trees(limits.max_trees)
        .max_nodes(limits.max_ensemble_nodes)
        .max_depth(limits.tree.max_depth)
}

/// The decoder of [`ModelKind::TREE_ENSEMBLE`].
#[derive(Debug)]
pub(crate) struct EnsembleKind;

impl KindDecoder for EnsembleKind {
    fn kind(&self) -> ModelKind {
        ModelKind::TREE_ENSEMBLE
    }

    fn payload_versions(&self) -> RangeInclusive<u32> {
        1..=PAYLOAD_VERSION
    }

    fn decode(
        &self,
        payload: &[u8],
        _payload_version: u32,
        header: &ArtifactHeader,
        limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError> {
        let mut r = PayloadReader::new(payload);
        read_shape(
            &mut r,
            header.schema.len(),
            header.output.labels().map(|l| l.len()),
        )?;
        let flags = r.u8()?;
        if flags & !7 != 0 {
            return Err(r.error(&format!("unknown flags {flags:#x}")));
        }
        let link = match (r.u8()?, r.f64()?) {
            (0, _) => Link::Identity,
            (1, scale) => Link::Sigmoid { scale },
            (2, _) => Link::Softmax,
            (3, _) => Link::Exp,
            (l, _) => return Err(r.error(&format!("unknown link {l}"))),
        };
        let groups = r.count(8)?;
        let leaf_width = r.count(0)?;
        let base = r.f64s()?;
        let n_trees = r.count(8)?;
        let bounded = |r: &PayloadReader<'_>, what: &str, n: usize, max: usize| {
            if n > max {
                Err(ArtifactError::InvalidModel {
                    reason: format!("{n} {what}, more than the limit of {max}")
                        + &format!(" (at byte {})", payload.len() - r.remaining()),
                })
            } else {
                Ok(())
            }
        };
        bounded(&r, "trees", n_trees, limits.max_trees)?;
        let mut trees = Vec::with_capacity(n_trees);
        for _ in 0..n_trees {
            trees.push((r.u32()?, r.u32()?));
        }
        let n_nodes = r.count(16)?;
        bounded(&r, "nodes", n_nodes, limits.max_ensemble_nodes)?;
        let mut nodes = Vec::with_capacity(n_nodes);
        for _ in 0..n_nodes {
            nodes.push(EnsembleNode {
                value: r.f64()?,
                word: r.u32()?,
                left: r.u32()?,
            });
        }
        let n_sets = r.count(8)?;
        let mut cat_sets = Vec::with_capacity(n_sets);
        for _ in 0..n_sets {
            cat_sets.push((r.u32()?, r.u32()?));
        }
        let n_words = r.count(4)?;
        let mut cat_words = Vec::with_capacity(n_words);
        for _ in 0..n_words {
            cat_words.push(r.u32()?);
        }
        let leaf_values = r.f64s()?;
        r.finish()?;
        let flat = EnsembleFlat {
            f32_inputs: flags & 1 != 0,
            f32_sums: flags & 2 != 0,
            average: flags & 4 != 0,
            groups,
            leaf_width,
            base,
            link,
            trees,
            nodes,
            cat_sets,
            cat_words,
            leaf_values,
            depths: Vec::new(),
            runs: Vec::new(),
        };
        let model = TreeEnsemble::from_flat(
            flat,
            header.schema.clone(),
            header.output.clone(),
            &self::limits(limits),
        )?;
        Ok(Arc::new(model))
    }
}
