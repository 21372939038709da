//! A decision-tree classifier stored flat, with class distributions at its
//! leaves.

use std::sync::Arc;

use ndarray::ArrayView2;

use super::{Model, ModelError, OutputKind, Predictions, check_width, each_row};
use crate::schema::FeatureSchema;

/// One node of a [`TreeClassifier`], as given to [`TreeClassifier::new`].
///
/// Nodes are listed parents first: node 0 is the root and every child has a
/// larger index than its parent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TreeNode {
    /// Rows whose `feature` is below `threshold` go `left`, the others
    /// (NaN included) go `right` — linfa-trees' rule.
    Split {
        /// Column of the encoded row.
        feature: usize,
        /// The split value.
        threshold: f64,
        /// Index of the left child.
        left: usize,
        /// Index of the right child.
        right: usize,
    },
    /// A leaf predicting `class`.
    Leaf {
        /// The predicted class index.
        class: usize,
        /// Class shares of the training rows that reached this leaf, one per
        /// label; `None` for trees without probabilities.
        distribution: Option<Vec<f64>>,
    },
}

/// Size limits a tree must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeLimits {
    /// Deepest leaf accepted (the root has depth 0).
    pub max_depth: usize,
    /// Most nodes accepted.
    pub max_nodes: usize,
}

const LEAF: u32 = u32::MAX;

/// A packed node: inner nodes hold feature, threshold and children; leaves
/// (`feature == LEAF`) hold their class in `left` and their leaf number in
/// `right`.
#[derive(Debug, Clone, Copy)]
struct Packed {
    feature: u32,
    threshold: f64,
    left: u32,
    right: u32,
}

/// One node of the layout rows walk: children side by side (`left`, then
/// `left + 1`), 16 bytes. A row goes left when `x < threshold`, right
/// otherwise (NaN included), as in linfa-trees. A leaf has a NaN threshold
/// (splits are finite) and feature 0, so reading its feature is always in
/// bounds and its comparison always fails.
#[derive(Debug, Clone, Copy)]
struct Step {
    threshold: f64,
    feature: u32,
    left: u32,
}

/// A decision-tree classifier that predicts with a loop over a flat node
/// list (no recursion) and, when its leaves carry class distributions,
/// reports them as probabilities.
///
/// linfa-trees keeps only the majority class of each leaf; build this type
/// with [`TreeClassifier::from_linfa`] to add the class shares of the
/// training rows that reach each leaf. The predicted class is always the
/// linfa tree's, so predictions match linfa row for row.
#[derive(Debug, Clone)]
pub struct TreeClassifier {
    schema: FeatureSchema,
    output: OutputKind,
    nodes: Vec<Packed>,
    /// The same tree laid out breadth-first for walking (see [`Step`]).
    walk: Vec<Step>,
    /// For each entry of `walk` that is a leaf, its leaf number (the order
    /// of leaves in `nodes`); 0 for splits.
    leaf_of: Vec<u32>,
    /// The class of each leaf, by leaf number.
    leaf_class: Vec<u32>,
    /// Leaf count × labels, row-major; empty without probabilities.
    distributions: Vec<f64>,
    n_labels: usize,
}

impl TreeClassifier {
    /// Checks `nodes` form a tree over `schema` and `labels` within `limits`
    /// and builds the classifier. With distributions, every leaf must have
    /// one of `labels.len()` finite, non-negative shares summing to 1 (within
    /// 1e-6); without, no leaf may have one.
    ///
    /// The check walks the list once, without recursion.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] naming the first problem found.
    pub fn new(
        nodes: &[TreeNode],
        schema: FeatureSchema,
        labels: Arc<[String]>,
        limits: TreeLimits,
    ) -> Result<Self, ModelError> {
        let invalid = |reason: String| ModelError::InvalidModel { reason };
        let n = nodes.len();
        let n_labels = labels.len();
        let width = schema.len();
        if n == 0 {
            return Err(invalid("the tree has no nodes".into()));
        }
        if n_labels == 0 {
            return Err(invalid("a classifier needs at least one label".into()));
        }
        if n > limits.max_nodes || n >= LEAF as usize {
            return Err(invalid(format!(
                "the tree has {n} nodes, more than the limit of {}",
                limits.max_nodes
            )));
        }
        let with_probabilities = matches!(
            nodes.iter().find(|n| matches!(n, TreeNode::Leaf { .. })),
            Some(TreeNode::Leaf {
                distribution: Some(_),
                ..
            })
        );
        let mut depth = vec![usize::MAX; n];
        depth[0] = 0;
        let mut packed = Vec::with_capacity(n);
        let mut distributions = Vec::new();
        let mut leaves = 0u32;
        for (i, node) in nodes.iter().enumerate() {
            let d = depth[i];
            if d == usize::MAX {
                return Err(invalid(format!("node {i} is not reachable from the root")));
            }
            match node {
                TreeNode::Leaf {
                    class,
                    distribution,
                } => {
                    if *class >= n_labels {
                        return Err(invalid(format!(
                            "leaf {i} predicts class {class}, but there are {n_labels} labels"
                        )));
                    }
                    match (distribution, with_probabilities) {
                        (Some(p), true) => {
                            if p.len() != n_labels {
                                return Err(invalid(format!(
                                    "leaf {i} has {} class shares for {n_labels} labels",
                                    p.len()
                                )));
                            }
                            if p.iter().any(|v| !v.is_finite() || *v < 0.0)
                                || (p.iter().sum::<f64>() - 1.0).abs() > 1e-6
                            {
                                return Err(invalid(format!(
                                    "leaf {i} has class shares that are not a distribution"
                                )));
                            }
                            distributions.extend_from_slice(p);
                        }
                        (None, false) => {}
                        _ => {
                            return Err(invalid(
                                "some leaves have class distributions and others not".into(),
                            ));
                        }
                    }
                    packed.push(Packed {
                        feature: LEAF,
                        threshold: 0.0,
                        left: *class as u32,
                        right: leaves,
                    });
                    leaves += 1;
                }
                TreeNode::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    if *feature >= width {
                        return Err(invalid(format!(
                            "node {i} splits on feature {feature}, but the schema has {width}"
                        )));
                    }
                    if !threshold.is_finite() {
                        return Err(invalid(format!("node {i} has a non-finite split value")));
                    }
                    if d + 1 > limits.max_depth {
                        return Err(invalid(format!(
                            "the tree is deeper than the limit of {}",
                            limits.max_depth
                        )));
                    }
                    if left == right {
                        return Err(invalid(format!(
                            "node {i} has the same node as both children"
                        )));
                    }
                    for &c in [left, right] {
                        if c <= i || c >= n {
                            return Err(invalid(format!(
                                "node {i} has child {c}, which is not a later node of the tree"
                            )));
                        }
                        if depth[c] != usize::MAX {
                            return Err(invalid(format!("node {c} has more than one parent")));
                        }
                        depth[c] = d + 1;
                    }
                    packed.push(Packed {
                        feature: *feature as u32,
                        threshold: *threshold,
                        left: *left as u32,
                        right: *right as u32,
                    });
                }
            }
        }
        let (walk, leaf_of, leaf_class) = lay_out(&packed);
        Ok(Self {
            schema,
            output: OutputKind::Classification {
                labels,
                probabilities: !distributions.is_empty(),
            },
            nodes: packed,
            walk,
            leaf_of,
            leaf_class,
            distributions,
            n_labels,
        })
    }

    /// Whether predictions carry class probabilities.
    #[must_use]
    pub fn has_probabilities(&self) -> bool {
        !self.distributions.is_empty()
    }

    /// The nodes, parents first (the form [`TreeClassifier::new`] takes).
    #[must_use]
    pub fn nodes(&self) -> Vec<TreeNode> {
        let k = self.n_labels;
        self.nodes
            .iter()
            .map(|p| {
                if p.feature == LEAF {
                    let leaf = p.right as usize;
                    TreeNode::Leaf {
                        class: p.left as usize,
                        distribution: self
                            .has_probabilities()
                            .then(|| self.distributions[leaf * k..(leaf + 1) * k].to_vec()),
                    }
                } else {
                    TreeNode::Split {
                        feature: p.feature as usize,
                        threshold: p.threshold,
                        left: p.left as usize,
                        right: p.right as usize,
                    }
                }
            })
            .collect()
    }

    /// The class predicted for one row. `alone` says the row is the only
    /// one of its request: it then walks with a branch per split
    /// ([`leaf`](Self::leaf)); rows of a batch walk without
    /// ([`leaf_unpredicted`](Self::leaf_unpredicted)), since a forest's
    /// many trees and distinct rows give the predictor nothing to learn.
    pub(crate) fn class_of(&self, row: &[f64], alone: bool) -> usize {
        let leaf = if alone {
            self.leaf(row)
        } else {
            self.leaf_unpredicted(row)
        };
        self.leaf_class[leaf as usize] as usize
    }

    /// The number of the leaf one row reaches, choosing each child with a
    /// conditional move instead of a branch: every level waits for the
    /// previous node's load, but no mispredicted branch throws work away.
    /// A forest's batch of 64 ran 1.3x faster this way than with
    /// [`leaf`](Self::leaf), one row 1.3x slower (benches/kinds.rs,
    /// `forest31`).
    fn leaf_unpredicted(&self, row: &[f64]) -> u32 {
        let mut at = 0;
        loop {
            let s = self.walk[at];
            if s.threshold.is_nan() {
                return self.leaf_of[at];
            }
            let x = row[s.feature as usize];
            // Right unless `x < threshold`: NaN goes right.
            let right = u8::from(x >= s.threshold) | u8::from(x.is_nan());
            at = s.left as usize + usize::from(right);
        }
    }

    /// The number of the leaf one row reaches.
    ///
    /// Written so that the compiler keeps a branch per split rather than a
    /// conditional move: a predicted branch lets the next node's load start
    /// before the comparison is done (a walk of rows that take similar
    /// paths runs at the predictor's pace, not the loads' latency), and the
    /// leaf test sits off the usual path. A branch-free walk of eight rows
    /// side by side, tried for batches, was 15–30% slower on the benchmark
    /// trees: most rows stop well above the deepest leaf.
    fn leaf(&self, row: &[f64]) -> u32 {
        let mut at = 0;
        loop {
            let s = self.walk[at];
            // A leaf's feature is 0, a column every row has.
            if row[s.feature as usize] < s.threshold {
                at = s.left as usize;
                continue;
            }
            // Only leaves have NaN thresholds (splits are finite).
            if s.threshold.is_nan() {
                return self.leaf_of[at];
            }
            at = s.left as usize + 1;
        }
    }

    /// Flattens a fitted linfa-trees classifier and computes each leaf's
    /// class distribution from `training` rows and their `targets` (class
    /// indices), routed with the tree's own rule. A leaf no training row
    /// reaches gets all its weight on its predicted class.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] when the tree does not fit `schema` or
    /// `labels`, `training` is not rows × schema width, or `targets` does not
    /// have one class below `labels.len()` per row.
    #[cfg(feature = "linfa")]
    #[cfg_attr(docsrs, doc(cfg(feature = "linfa")))]
    pub fn from_linfa(
        tree: &linfa_trees::DecisionTree<f64, usize>,
        schema: FeatureSchema,
        labels: Arc<[String]>,
        training: ArrayView2<'_, f64>,
        targets: Option<&[usize]>,
    ) -> Result<Self, ModelError> {
        let invalid = |reason: String| ModelError::InvalidModel { reason };
        let mut nodes = flatten_linfa(tree);
        let limits = TreeLimits {
            max_depth: usize::MAX,
            max_nodes: usize::MAX,
        };
        let Some(targets) = targets else {
            return Self::new(&nodes, schema, labels, limits);
        };
        let plain = Self::new(&nodes, schema.clone(), labels.clone(), limits)?;
        check_width(&schema, &training)?;
        if targets.len() != training.nrows() {
            return Err(invalid(format!(
                "{} targets for {} training rows",
                targets.len(),
                training.nrows()
            )));
        }
        let k = labels.len();
        let n_leaves = plain.leaf_class.len();
        let mut counts = vec![0.0f64; n_leaves * k];
        for (row, &t) in training.rows().into_iter().zip(targets) {
            if t >= k {
                return Err(invalid(format!("target class {t} outside {k} labels")));
            }
            counts[plain.leaf(&row.to_vec()) as usize * k + t] += 1.0;
        }
        let mut leaf = 0;
        for node in &mut nodes {
            if let TreeNode::Leaf {
                class,
                distribution,
            } = node
            {
                let c = &counts[leaf * k..(leaf + 1) * k];
                let total: f64 = c.iter().sum();
                *distribution = Some(if total > 0.0 {
                    c.iter().map(|v| v / total).collect()
                } else {
                    (0..k).map(|j| f64::from(u8::from(j == *class))).collect()
                });
                leaf += 1;
            }
        }
        Self::new(&nodes, schema, labels, limits)
    }
}

/// The walking layout of checked nodes: breadth-first from the root, so
/// each split's children sit side by side; with each walk entry's leaf
/// number and each leaf's class. Iterative.
fn lay_out(nodes: &[Packed]) -> (Vec<Step>, Vec<u32>, Vec<u32>) {
    let mut walk = Vec::with_capacity(nodes.len());
    let mut leaf_of = Vec::with_capacity(nodes.len());
    let mut leaf_class = vec![0; nodes.iter().filter(|p| p.feature == LEAF).count()];
    // Nodes of `nodes` waiting for their place, in walk order.
    let mut queue = std::collections::VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        let p = nodes[i];
        if p.feature == LEAF {
            leaf_class[p.right as usize] = p.left;
            leaf_of.push(p.right);
            walk.push(Step {
                threshold: f64::NAN,
                feature: 0,
                left: 0,
            });
        } else {
            // The children take the next two places after those waiting.
            let left = (walk.len() + queue.len() + 1) as u32;
            queue.push_back(p.left as usize);
            queue.push_back(p.right as usize);
            leaf_of.push(0);
            walk.push(Step {
                threshold: p.threshold,
                feature: p.feature,
                left,
            });
        }
    }
    (walk, leaf_of, leaf_class)
}

/// The nodes of a linfa-trees classifier, breadth-first (children after
/// their parent), without distributions. Iterative.
#[cfg(feature = "linfa")]
pub(crate) fn flatten_linfa(tree: &linfa_trees::DecisionTree<f64, usize>) -> Vec<TreeNode> {
    // Breadth-first, iteratively; children get later indices.
    let mut nodes: Vec<TreeNode> = Vec::new();
    let mut queue = std::collections::VecDeque::from([(tree.root_node(), None)]);
    while let Some((node, parent)) = queue.pop_front() {
        let index = nodes.len();
        if let Some((p, is_right)) = parent
            && let TreeNode::Split { left, right, .. } = &mut nodes[p]
        {
            *(if is_right { right } else { left }) = index;
        }
        let children = node.children();
        match (node.is_leaf(), children[0], children[1]) {
            (false, Some(l), Some(r)) => {
                let (feature, threshold, _) = node.split();
                nodes.push(TreeNode::Split {
                    feature,
                    threshold,
                    left: 0,
                    right: 0,
                });
                queue.push_back((l, Some((index, false))));
                queue.push_back((r, Some((index, true))));
            }
            _ => nodes.push(TreeNode::Leaf {
                class: node.prediction().unwrap_or_default(),
                distribution: None,
            }),
        }
    }
    nodes
}

impl Model for TreeClassifier {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    fn output(&self) -> &OutputKind {
        &self.output
    }

    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        check_width(&self.schema, &rows)?;
        let k = self.n_labels;
        let n = rows.nrows();
        let mut classes = Vec::with_capacity(n);
        if !self.has_probabilities() {
            each_row(rows, |row| {
                classes.push(self.leaf_class[self.leaf(row) as usize] as usize);
            });
            return Predictions::classes(classes, k);
        }
        let mut probabilities = vec![0.0; n * k];
        let mut out = probabilities.chunks_exact_mut(k);
        each_row(rows, |row| {
            let leaf = self.leaf(row) as usize;
            classes.push(self.leaf_class[leaf] as usize);
            let shares = &self.distributions[leaf * k..(leaf + 1) * k];
            if let Some(dst) = out.next() {
                if let ([a, b], [x, y]) = (&mut *dst, shares) {
                    // Binary classifiers: two stores beat a call to copy 16 bytes.
                    (*a, *b) = (*x, *y);
                } else {
                    dst.copy_from_slice(shares);
                }
            }
        });
        Predictions::classes_with_probabilities(classes, k, probabilities)
    }
}
