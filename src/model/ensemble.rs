//! A tree ensemble (gradient-boosted trees, random forests, single trees)
//! evaluated natively: the engine behind models trained with XGBoost,
//! LightGBM and scikit-learn.
//!
//! # Layout
//!
//! Every tree of the ensemble lives in one flat array of 16-byte nodes
//! ([`TreeEnsemble`] holds no boxed nodes): a split holds its threshold,
//! its feature and flags packed in one word, and the index of its left
//! child; the right child always follows the left one, so a step down the
//! tree is one comparison and one add. Trees are laid out in preorder, so a
//! child's index is always above its parent's: a check of that, and that
//! every node but the root has exactly one parent, proves the nodes form
//! trees (no cycles, no shared subtrees) without recursion.
//!
//! # Splits
//!
//! A numeric split sends a row left when `x <= threshold`. What a missing
//! value (NaN) does is the split's [`MissingRule`]; a categorical split
//! tests the integer part of `x` against a bitset of categories, and sends
//! NaN along its default direction. The libraries' own comparison rules
//! ([`SplitSemantics`]) are turned into this one when an ensemble is built:
//! XGBoost compares as `f32` with `<`, which for `f32` inputs is exactly
//! `<=` the next `f32` below the threshold.
//!
//! # Evaluation
//!
//! One row walks every tree in order; a batch is cut into blocks of rows
//! that each tree walks in turn, so its nodes stay in cache. Sums are kept
//! per output group in `f64`, or in `f32` for XGBoost, whose own predictor
//! adds in `f32`, so that results agree to the last bits.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2};

use super::{Model, ModelError, OutputKind, Predictions, check_width};
use crate::schema::FeatureSchema;

const FEATURE_MASK: u32 = (1 << 24) - 1;
const LEAF: u32 = 1 << 24;
const DEFAULT_LEFT: u32 = 1 << 25;
const CATEGORICAL: u32 = 1 << 26;
/// Categorical split: categories in the set go right (XGBoost), not left.
const SET_GOES_RIGHT: u32 = 1 << 27;
const MISSING_SHIFT: u32 = 28;
const MISSING_MASK: u32 = 3 << MISSING_SHIFT;
const KNOWN_BITS: u32 =
    FEATURE_MASK | LEAF | DEFAULT_LEFT | CATEGORICAL | SET_GOES_RIGHT | MISSING_MASK;

/// The most features an ensemble may split on (feature indices take 24 bits).
pub const MAX_ENSEMBLE_FEATURES: usize = 1 << 24;

/// Rows a batch is cut into for evaluation.
const BLOCK: usize = 64;

/// Rows a shallow tree walks side by side in a block, and shallow trees
/// one row walks side by side.
const LANES: usize = 8;

/// The deepest tree walked in lockstep (see `Flat::block_sums` and
/// `Flat::row_sums`).
const LOCKSTEP_DEPTH: u16 = 8;

/// What a numeric split does with a missing value (NaN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingRule {
    /// NaN takes the split's default direction (XGBoost, scikit-learn,
    /// LightGBM's `NaN` missing type).
    Nan,
    /// NaN counts as `0.0` and is compared (LightGBM's `None` missing type).
    AsZero,
    /// NaN counts as `0.0`, and zero (|x| ≤ 1e-35) takes the default
    /// direction (LightGBM's `Zero` missing type).
    Zero,
}

impl MissingRule {
    fn bits(self) -> u32 {
        (match self {
            Self::Nan => 0,
            Self::AsZero => 1,
            Self::Zero => 2,
        }) << MISSING_SHIFT
    }
}

/// How the trained library compared a value with a split, turned into the
/// engine's own `x <= threshold` when the ensemble is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitSemantics {
    /// XGBoost: inputs and thresholds are `f32`, left when `x < threshold`;
    /// leaf values are added in `f32`; categories listed at a split go
    /// right.
    Xgboost,
    /// LightGBM: `f64`, left when `x <= threshold`; categories in the set
    /// go left.
    LightGbm,
    /// scikit-learn's `DecisionTree*`, forests and `GradientBoosting*`:
    /// inputs are cast to `f32`, thresholds are `f64`, left when
    /// `x <= threshold`.
    SklearnF32,
    /// scikit-learn's `HistGradientBoosting*`: `f64`, left when
    /// `x <= threshold`; categories in the set go left.
    SklearnF64,
}

/// How summed leaf values (margins) become the output.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Link {
    /// The margin itself (regression, ranking scores, averaged class
    /// distributions).
    Identity,
    /// `1 / (1 + exp(-scale * margin))`: a probability (binary
    /// classification with two labels, or a regression score).
    Sigmoid {
        /// The slope (1 for XGBoost and scikit-learn; LightGBM's `sigmoid`).
        scale: f64,
    },
    /// Softmax over the groups (multiclass).
    Softmax,
    /// `exp(margin)` (Poisson and similar log-link regressions).
    Exp,
}

/// One tree as an importer describes it: parallel per-node arrays, node 0
/// the root. A node is a leaf when `left[i]` is `None`.
#[derive(Debug, Clone, Default)]
pub struct TreeSpec {
    /// The output group (class) this tree adds to; 0 with vector leaves.
    pub group: usize,
    /// Left child of each node; `None` for a leaf.
    pub left: Vec<Option<usize>>,
    /// Right child of each split (ignored for leaves).
    pub right: Vec<usize>,
    /// Split feature (column of the schema).
    pub feature: Vec<usize>,
    /// Split threshold, as the library stores it.
    pub threshold: Vec<f64>,
    /// Where NaN goes.
    pub default_left: Vec<bool>,
    /// What counts as missing.
    pub missing: Vec<MissingRule>,
    /// For a categorical split, the categories of its set (the library's
    /// [`SplitSemantics`] says whether they go left or right).
    pub categories: Vec<Option<Vec<u32>>>,
    /// Leaf values: `leaf_width` values per node (ignored for splits).
    pub values: Vec<f64>,
}

impl TreeSpec {
    /// A tree of `n` nodes, all leaves of value 0, to be filled in.
    #[must_use]
    pub fn with_nodes(n: usize, leaf_width: usize) -> Self {
        Self {
            group: 0,
            left: vec![None; n],
            right: vec![0; n],
            feature: vec![0; n],
            threshold: vec![0.0; n],
            default_left: vec![false; n],
            missing: vec![MissingRule::Nan; n],
            categories: vec![None; n],
            values: vec![0.0; n * leaf_width],
        }
    }

    fn len(&self) -> usize {
        self.left.len()
    }
}

/// An ensemble as an importer describes it, before it is checked and laid
/// out by [`TreeEnsemble::new`].
#[derive(Debug, Clone)]
pub struct EnsembleSpec {
    /// How the library compared values with splits.
    pub semantics: SplitSemantics,
    /// Output groups: 1, or one per class for multiclass models.
    pub groups: usize,
    /// Values per leaf: 1 (each tree adds to its group), or `groups` (each
    /// leaf holds a value per group, as scikit-learn's classifier trees).
    pub leaf_width: usize,
    /// The starting margin of each group.
    pub base: Vec<f64>,
    /// Divide the sum by the number of trees (random forests).
    pub average: bool,
    /// Margin to output.
    pub link: Link,
    /// The trees, in the library's order.
    pub trees: Vec<TreeSpec>,
}

/// Limits an ensemble must keep to; checked before it is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnsembleLimits {
    /// Most trees (default 65,536: 10,000 rounds of a 6-class model fit).
    pub max_trees: usize,
    /// Most nodes over all trees (default 16,777,216: 256 MiB of nodes).
    pub max_nodes: usize,
    /// Deepest leaf (the root has depth 0; default 256).
    pub max_depth: usize,
    /// Largest category value a split may name (default 1,048,575).
    pub max_category: u32,
    /// Most words (32 categories each) over all categorical splits' sets
    /// (default 16,777,216: 64 MiB). A split that names category `c` takes
    /// `c / 32 + 1` words, so a few bytes of a model file can ask for
    /// 128 KiB; this bounds the sum.
    pub max_category_words: usize,
}

impl Default for EnsembleLimits {
    fn default() -> Self {
        Self {
            max_trees: 1 << 16,
            max_nodes: 1 << 24,
            max_depth: 256,
            max_category: (1 << 20) - 1,
            max_category_words: 1 << 24,
        }
    }
}

impl EnsembleLimits {
    /// The default limits (see each field).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most trees.
    #[must_use]
    pub fn max_trees(mut self, n: usize) -> Self {
        self.max_trees = n;
        self
    }

    /// Sets the most nodes over all trees.
    #[must_use]
    pub fn max_nodes(mut self, n: usize) -> Self {
        self.max_nodes = n;
        self
    }

    /// Sets the deepest leaf.
    #[must_use]
    pub fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets the most words over all categorical splits' sets.
    #[must_use]
    pub fn max_category_words(mut self, n: usize) -> Self {
        self.max_category_words = n;
        self
    }
}

/// A packed node (16 bytes): a split's threshold or category-set index, or
/// a leaf's value (scalar leaves); the word with feature and flags; the
/// left child (the right one is `left + 1`), or a vector leaf's offset into
/// the leaf values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node {
    pub(crate) value: f64,
    pub(crate) word: u32,
    pub(crate) left: u32,
}

/// The flat parts of an ensemble, as stored in an artifact payload. Built
/// by [`TreeEnsemble::new`], checked by [`Flat::check`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Flat {
    pub(crate) f32_inputs: bool,
    pub(crate) f32_sums: bool,
    pub(crate) groups: usize,
    pub(crate) leaf_width: usize,
    pub(crate) base: Vec<f64>,
    pub(crate) average: bool,
    pub(crate) link: Link,
    /// Per tree: its first node and its group.
    pub(crate) trees: Vec<(u32, u32)>,
    pub(crate) nodes: Vec<Node>,
    /// Per category set: its first word in `cat_words` and its word count.
    pub(crate) cat_sets: Vec<(u32, u32)>,
    pub(crate) cat_words: Vec<u32>,
    pub(crate) leaf_values: Vec<f64>,
    /// Per tree, its depth (set by [`TreeEnsemble::from_flat`] from the
    /// check; not stored in payloads).
    pub(crate) depths: Vec<u16>,
    /// How one row walks the trees: runs of trees in order (set with
    /// `depths`; not stored in payloads).
    pub(crate) runs: Vec<Run>,
}

/// Trees a row walks the same way, in order: [`LANES`] shallow trees side
/// by side for `depth` steps, or (`depth` 0) `count` trees one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    first: u32,
    count: u32,
    depth: u16,
}

impl Run {
    /// The runs of trees of these depths: every [`LANES`] trees in a row
    /// that are no deeper than [`LOCKSTEP_DEPTH`] walk side by side, the
    /// trees between them one at a time.
    fn plan(depths: &[u16]) -> Vec<Self> {
        let mut runs: Vec<Self> = Vec::new();
        let mut t = 0;
        while t < depths.len() {
            let deepest = depths
                .get(t..t + LANES)
                .and_then(|d| d.iter().copied().max())
                .filter(|&d| d <= LOCKSTEP_DEPTH);
            match (deepest, runs.last_mut()) {
                (Some(depth), _) => {
                    runs.push(Self {
                        first: t as u32,
                        count: LANES as u32,
                        depth: depth.max(1),
                    });
                    t += LANES;
                }
                (None, Some(lone)) if lone.depth == 0 => {
                    lone.count += 1;
                    t += 1;
                }
                (None, _) => {
                    runs.push(Self {
                        first: t as u32,
                        count: 1,
                        depth: 0,
                    });
                    t += 1;
                }
            }
        }
        runs
    }
}

fn invalid(reason: String) -> ModelError {
    ModelError::InvalidModel { reason }
}

impl Flat {
    /// Checks everything evaluation relies on: nodes of each tree form one
    /// tree within the limits, indices in range, values finite.
    pub(crate) fn check(
        &self,
        n_features: usize,
        limits: &EnsembleLimits,
    ) -> Result<Vec<u16>, ModelError> {
        if self.groups == 0 || self.groups > 1 << 16 {
            return Err(invalid(format!("{} output groups", self.groups)));
        }
        if self.leaf_width != 1 && self.leaf_width != self.groups {
            return Err(invalid(format!(
                "leaves of {} values for {} groups",
                self.leaf_width, self.groups
            )));
        }
        if self.base.len() != self.groups || self.base.iter().any(|v| !v.is_finite()) {
            return Err(invalid(
                "the base margins are not one finite value per group".into(),
            ));
        }
        if let Link::Sigmoid { scale } = self.link
            && !(scale.is_finite() && scale > 0.0)
        {
            return Err(invalid(format!("a sigmoid scale of {scale}")));
        }
        if self.trees.is_empty() {
            return Err(invalid("the ensemble has no trees".into()));
        }
        if self.trees.len() > limits.max_trees {
            return Err(invalid(format!(
                "{} trees, more than the limit of {}",
                self.trees.len(),
                limits.max_trees
            )));
        }
        if self.nodes.len() > limits.max_nodes {
            return Err(invalid(format!(
                "{} nodes, more than the limit of {}",
                self.nodes.len(),
                limits.max_nodes
            )));
        }
        if n_features > MAX_ENSEMBLE_FEATURES {
            return Err(invalid(format!("{n_features} features")));
        }
        if !self.leaf_values.iter().all(|v| v.is_finite()) {
            return Err(invalid("a leaf value is not finite".into()));
        }
        let mut words = 0usize;
        for &(start, len) in &self.cat_sets {
            if start as usize != words || len as usize > (limits.max_category as usize >> 5) + 1 {
                return Err(invalid(
                    "a category set is out of place or too large".into(),
                ));
            }
            words += len as usize;
        }
        if words != self.cat_words.len() {
            return Err(invalid("the category sets do not cover their words".into()));
        }
        let mut depths = Vec::with_capacity(self.trees.len());
        let mut has_parent = vec![false; 0];
        let mut depth: Vec<u16> = Vec::new();
        for (t, &(start, group)) in self.trees.iter().enumerate() {
            let end = self
                .trees
                .get(t + 1)
                .map_or(self.nodes.len(), |n| n.0 as usize);
            let start = start as usize;
            if start >= end || end > self.nodes.len() {
                return Err(invalid(format!("tree {t} has no nodes")));
            }
            if group as usize >= self.groups || (self.leaf_width > 1 && group != 0) {
                return Err(invalid(format!("tree {t} adds to group {group}")));
            }
            if t == 0 && start != 0 {
                return Err(invalid("the first tree does not start at node 0".into()));
            }
            let n = end - start;
            has_parent.clear();
            has_parent.resize(n, false);
            depth.clear();
            depth.resize(n, 0);
            let mut tree_depth = 0u16;
            for (i, node) in self.nodes[start..end].iter().enumerate() {
                let bad = |what: &str| invalid(format!("tree {t} node {i}: {what}"));
                if node.word & !KNOWN_BITS != 0 {
                    return Err(bad("unknown flags"));
                }
                if node.word & LEAF != 0 {
                    if node.word != LEAF {
                        return Err(bad("a leaf with split flags"));
                    }
                    if node.left as usize != start + i {
                        return Err(bad("a leaf that does not point at itself"));
                    }
                    if self.leaf_width == 1 {
                        if !node.value.is_finite() {
                            return Err(bad("a leaf value is not finite"));
                        }
                    } else if !(node.value >= 0.0
                        && node.value.fract() == 0.0
                        && node.value + self.leaf_width as f64 <= self.leaf_values.len() as f64)
                    {
                        return Err(bad("leaf values out of range"));
                    }
                    tree_depth = tree_depth.max(depth[i]);
                    continue;
                }
                if (node.word & FEATURE_MASK) as usize >= n_features {
                    return Err(bad("split on a feature outside the schema"));
                }
                if (node.word & MISSING_MASK) >> MISSING_SHIFT > 2 {
                    return Err(bad("unknown missing rule"));
                }
                if node.word & CATEGORICAL != 0 {
                    if !(node.value >= 0.0
                        && node.value.fract() == 0.0
                        && (node.value as usize) < self.cat_sets.len())
                    {
                        return Err(bad("category set out of range"));
                    }
                } else if node.word & SET_GOES_RIGHT != 0 {
                    return Err(bad("a numeric split with category flags"));
                } else if node.value.is_nan() {
                    // An infinite threshold is a real split: LightGBM
                    // writes `inf` for one that sends every number left
                    // and only missing values right.
                    return Err(bad("threshold is NaN"));
                }
                let left = node.left as usize;
                // Children come after their parent, side by side, inside the tree.
                if left <= start + i || left + 1 >= end {
                    return Err(bad("children out of range"));
                }
                let d = depth[i] + 1;
                if usize::from(d) > limits.max_depth {
                    return Err(bad(&format!("deeper than {}", limits.max_depth)));
                }
                for c in [left - start, left + 1 - start] {
                    if std::mem::replace(&mut has_parent[c], true) {
                        return Err(bad("a child with two parents"));
                    }
                    depth[c] = d;
                }
            }
            if let Some(orphan) = has_parent.iter().skip(1).position(|p| !p) {
                return Err(invalid(format!(
                    "tree {t} node {} has no parent",
                    orphan + 1
                )));
            }
            depths.push(tree_depth);
        }
        Ok(depths)
    }
}

/// A tree ensemble over a [`FeatureSchema`]: boosted trees, a random
/// forest or a single tree, evaluated natively.
///
/// Built from an [`EnsembleSpec`] by the importers of
/// [`crate::import`], or decoded from an artifact of kind
/// `tree_ensemble`.
///
/// Every tree lives in one flat array of 16-byte nodes (no boxed nodes): a
/// split holds its threshold, its feature and flags in one word, and its
/// left child, with the right child next to it; a leaf holds its value and
/// points at itself. Trees are laid out in preorder and checked without
/// recursion (children after their parent, one parent per node, depth and
/// counts within [`EnsembleLimits`]). A row goes left at a numeric split
/// when `x <= threshold` (each library's own rule, [`SplitSemantics`], is
/// turned into this when the ensemble is built), a missing value (NaN)
/// follows the split's [`MissingRule`] and default direction, and a
/// categorical split tests the value against a bitset. One row walks every
/// tree in order; a batch is cut into blocks of 64 rows that each tree
/// walks in turn, so its nodes stay in cache (shallow trees eight rows side
/// by side, without branches). Sums are `f64`, or `f32` for XGBoost, as its own
/// predictor adds.
#[derive(Debug, Clone)]
pub struct TreeEnsemble {
    schema: FeatureSchema,
    output: OutputKind,
    flat: Arc<Flat>,
}

impl TreeEnsemble {
    /// Checks `spec` against the schema, the output and `limits`, and lays
    /// it out flat.
    ///
    /// The output must fit the link: a classification with a
    /// [`Link::Sigmoid`] and one group has two labels; otherwise a
    /// classification has one label per group. A regression has one group.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidModel`] naming the first thing wrong: a child
    /// index out of range or shared, a cycle, a tree deeper or larger than
    /// the limits, a split on a feature the schema does not have, a NaN
    /// threshold (an infinite one is a real split: LightGBM writes `inf`
    /// for a split that sends only missing values right), a leaf value that
    /// is not finite, a category over the limit, an output that does not
    /// fit.
    ///
    /// # Examples
    ///
    /// ```
    /// use modelhost::model::{EnsembleLimits, EnsembleSpec, Link, SplitSemantics, TreeEnsemble, TreeSpec};
    /// use modelhost::{Feature, FeatureSchema, Model, OutputKind};
    ///
    /// let schema = FeatureSchema::builder().feature(Feature::float("x")).build()?;
    /// // x <= 0.5 ? -1 : 1
    /// let mut tree = TreeSpec::with_nodes(3, 1);
    /// tree.left[0] = Some(1);
    /// tree.right[0] = 2;
    /// tree.threshold[0] = 0.5;
    /// tree.values[1] = -1.0;
    /// tree.values[2] = 1.0;
    /// let spec = EnsembleSpec {
    ///     semantics: SplitSemantics::LightGbm,
    ///     groups: 1,
    ///     leaf_width: 1,
    ///     base: vec![0.0],
    ///     average: false,
    ///     link: Link::Identity,
    ///     trees: vec![tree],
    /// };
    /// let model = TreeEnsemble::new(spec, schema, OutputKind::Regression, &EnsembleLimits::new())?;
    /// let p = model.predict_batch(ndarray::array![[0.2], [0.9]].view())?;
    /// assert_eq!(p.score_values(), Some(&[-1.0, 1.0][..]));
    /// # Ok::<(), modelhost::Error>(())
    /// ```
    pub fn new(
        spec: EnsembleSpec,
        schema: FeatureSchema,
        output: OutputKind,
        limits: &EnsembleLimits,
    ) -> Result<Self, ModelError> {
        let flat = lay_out(&spec, limits)?;
        Self::from_flat(flat, schema, output, limits)
    }

    pub(crate) fn from_flat(
        flat: Flat,
        schema: FeatureSchema,
        output: OutputKind,
        limits: &EnsembleLimits,
    ) -> Result<Self, ModelError> {
        let mut flat = flat;
        flat.depths = flat.check(schema.len(), limits)?;
        flat.runs = Run::plan(&flat.depths);
        match (&output, flat.link) {
            (OutputKind::Regression, _) if flat.groups != 1 => {
                return Err(invalid(format!(
                    "a regression has one output group, not {}",
                    flat.groups
                )));
            }
            (OutputKind::Classification { labels, .. }, Link::Sigmoid { .. })
                if flat.groups == 1 && labels.len() != 2 =>
            {
                return Err(invalid(format!(
                    "a binary classifier has two labels, not {}",
                    labels.len()
                )));
            }
            (OutputKind::Classification { labels, .. }, link)
                if !(flat.groups == 1 && matches!(link, Link::Sigmoid { .. }))
                    && labels.len() != flat.groups =>
            {
                return Err(invalid(format!(
                    "{} labels for {} output groups",
                    labels.len(),
                    flat.groups
                )));
            }
            (
                OutputKind::Classification {
                    probabilities: false,
                    ..
                },
                _,
            ) => {
                return Err(invalid(
                    "a tree-ensemble classifier reports probabilities".into(),
                ));
            }
            (OutputKind::Classification { .. }, Link::Exp)
            | (OutputKind::Regression, Link::Softmax) => {
                return Err(invalid(format!("{:?} does not fit the output", flat.link)));
            }
            _ => {}
        }
        Ok(Self {
            schema,
            output,
            flat: Arc::new(flat),
        })
    }

    pub(crate) fn flat(&self) -> &Flat {
        &self.flat
    }

    /// Number of trees.
    #[must_use]
    pub fn n_trees(&self) -> usize {
        self.flat.trees.len()
    }

    /// Number of nodes over all trees.
    #[must_use]
    pub fn n_nodes(&self) -> usize {
        self.flat.nodes.len()
    }

    /// Number of output groups (1, or one per class).
    #[must_use]
    pub fn n_groups(&self) -> usize {
        self.flat.groups
    }

    /// The raw margins (summed leaf values plus base, before the link) of
    /// each row, `rows × groups`.
    ///
    /// # Errors
    ///
    /// [`ModelError::WidthMismatch`] for a matrix of the wrong width.
    pub fn margins(&self, rows: ArrayView2<'_, f64>) -> Result<Array2<f64>, ModelError> {
        check_width(&self.schema, &rows)?;
        let g = self.flat.groups;
        let mut out = vec![0.0; rows.nrows() * g];
        self.flat.sum_into(rows, &mut out);
        Array2::from_shape_vec((rows.nrows(), g), out).map_err(|e| invalid(e.to_string()))
    }
}

impl Flat {
    /// The leaf `row` reaches from `root`. The common split (numeric,
    /// NaN to the default side) is tested inline; the rest in
    /// [`go_left_slow`](Self::go_left_slow).
    #[inline(always)]
    fn walk(&self, root: u32, row: &[f64]) -> u32 {
        let mut at = root;
        let mut node = &self.nodes[at as usize];
        while node.word & LEAF == 0 {
            let w = node.word;
            let x = row[(w & FEATURE_MASK) as usize];
            let left = if w & (CATEGORICAL | MISSING_MASK) == 0 {
                if x <= node.value {
                    true
                } else {
                    x.is_nan() && w & DEFAULT_LEFT != 0
                }
            } else {
                self.go_left_slow(node, x)
            };
            at = node.left + u32::from(!left);
            node = &self.nodes[at as usize];
        }
        at
    }

    #[inline(never)]
    fn go_left_slow(&self, node: &Node, x: f64) -> bool {
        let w = node.word;
        if w & CATEGORICAL != 0 {
            if x.is_nan() {
                return w & DEFAULT_LEFT != 0;
            }
            let (start, len) = self.cat_sets[node.value as usize];
            let in_set = x >= 0.0 && {
                let c = x as u64;
                let word = (c >> 5) as usize;
                word < len as usize && self.cat_words[start as usize + word] >> (c & 31) & 1 == 1
            };
            return in_set != (w & SET_GOES_RIGHT != 0);
        }
        let x = if x.is_nan() { 0.0 } else { x };
        if (w & MISSING_MASK) >> MISSING_SHIFT == 2 && x.abs() <= 1e-35 {
            return w & DEFAULT_LEFT != 0;
        }
        x <= node.value
    }

    #[inline(always)]
    fn add(&self, sums: &mut [f64], group: u32, leaf: u32) {
        let leaf = &self.nodes[leaf as usize];
        if self.leaf_width == 1 {
            let s = &mut sums[group as usize];
            *s += leaf.value;
            if self.f32_sums {
                *s = f64::from(*s as f32);
            }
        } else {
            let start = leaf.value as usize;
            let values = &self.leaf_values[start..start + self.leaf_width];
            for (s, v) in sums.iter_mut().zip(values) {
                *s += v;
                if self.f32_sums {
                    *s = f64::from(*s as f32);
                }
            }
        }
    }

    /// One row: each tree walked down to its leaf, leaves added in tree
    /// order. A run of [`LANES`] shallow trees (depth up to
    /// [`LOCKSTEP_DEPTH`]) walks side by side with branch-free steps: a
    /// one-row walk decides every split of every tree at one branch, whose
    /// outcomes no predictor learns over thousands of splits, while eight
    /// independent walks overlap each other's load latencies. A deeper,
    /// lopsided tree walks on its own with a branch per split.
    fn row_sums(&self, row: &[f64], sums: &mut [f64]) {
        if self.groups == 1 && self.leaf_width == 1 {
            // One sum, kept in a register from tree to tree: added in
            // memory, each tree's add waits for the last one's store.
            let mut sum = sums[0];
            self.each_leaf(row, |_, leaf| {
                sum += self.nodes[leaf as usize].value;
                if self.f32_sums {
                    sum = f64::from(sum as f32);
                }
            });
            sums[0] = sum;
        } else {
            self.each_leaf(row, |group, leaf| self.add(sums, group, leaf));
        }
    }

    /// Calls `f` with each tree's group and the leaf `row` reaches, in tree
    /// order (see [`row_sums`](Self::row_sums)).
    #[inline(always)]
    fn each_leaf(&self, row: &[f64], mut f: impl FnMut(u32, u32)) {
        for run in &self.runs {
            let (first, count) = (run.first as usize, run.count as usize);
            if run.depth == 0 {
                for &(root, group) in &self.trees[first..first + count] {
                    f(group, self.walk(root, row));
                }
                continue;
            }
            // A lockstep run is LANES trees (`Run::plan`).
            let trees = &self.trees[first..first + count];
            let mut at: [u32; LANES] = std::array::from_fn(|k| trees[k].0);
            // A leaf steps to itself, so after the run's depth in steps
            // every walk rests at its leaf.
            for _ in 0..run.depth {
                for a in &mut at {
                    *a = self.step(*a, row);
                }
            }
            for (&(_, group), &leaf) in trees.iter().zip(&at) {
                f(group, leaf);
            }
        }
    }

    /// One step from node `at` for `row`, decided without branches for the
    /// common split: to a child, or nowhere from a leaf (a leaf points at
    /// itself).
    #[inline(always)]
    fn step(&self, at: u32, row: &[f64]) -> u32 {
        let node = &self.nodes[at as usize];
        let w = node.word;
        let x = row[(w & FEATURE_MASK) as usize];
        let left = if w & (CATEGORICAL | MISSING_MASK) == 0 {
            (x <= node.value) | (x.is_nan() & (w & DEFAULT_LEFT != 0))
        } else {
            self.go_left_slow(node, x)
        };
        let moves = ((w & LEAF) >> 24) ^ 1;
        node.left + (u32::from(!left) & moves)
    }

    /// A block of rows (row-major, `width` values each), tree by tree so
    /// each tree's nodes stay in cache. A shallow tree (depth up to
    /// [`LOCKSTEP_DEPTH`], as XGBoost's depth-limited trees) walks
    /// [`LANES`] rows side by side with branch-free steps until all rest at
    /// their leaves: distinct rows take distinct paths, which a branch per
    /// split would mispredict. A deeper, lopsided tree (LightGBM's
    /// leaf-wise growth) walks each row on its own, so no row waits for the
    /// deepest path.
    fn block_sums(&self, block: &[f64], width: usize, sums: &mut [f64]) {
        let g = self.groups;
        let n = sums.len() / g;
        for (&(root, group), &depth) in self.trees.iter().zip(&self.depths) {
            let mut first = 0;
            if depth <= LOCKSTEP_DEPTH {
                while first + LANES <= n {
                    let mut at = [root; LANES];
                    let rows: [&[f64]; LANES] = std::array::from_fn(|k| {
                        &block[(first + k) * width..(first + k + 1) * width]
                    });
                    // A leaf steps to itself: after `depth` steps every
                    // row rests at its leaf.
                    for _ in 0..depth {
                        for k in 0..LANES {
                            at[k] = self.step(at[k], rows[k]);
                        }
                    }
                    for (k, &leaf) in at.iter().enumerate() {
                        self.add(&mut sums[(first + k) * g..(first + k + 1) * g], group, leaf);
                    }
                    first += LANES;
                }
            }
            for k in first..n {
                let leaf = self.walk(root, &block[k * width..(k + 1) * width]);
                self.add(&mut sums[k * g..(k + 1) * g], group, leaf);
            }
        }
    }

    /// Adds every tree's leaf for every row into `out` (rows × groups),
    /// starting from the base margins; averages when asked.
    fn sum_into(&self, rows: ArrayView2<'_, f64>, out: &mut [f64]) {
        let g = self.groups;
        let width = rows.ncols();
        for sums in out.chunks_exact_mut(g) {
            sums.copy_from_slice(&self.base);
        }
        let mut block = vec![0.0; BLOCK.min(rows.nrows()) * width];
        let mut first = 0;
        while first < rows.nrows() {
            let n = BLOCK.min(rows.nrows() - first);
            // Copy the block row-major (and round to f32 where the library
            // read its inputs as f32), whatever the input's layout.
            for (r, dst) in block.chunks_exact_mut(width).take(n).enumerate() {
                for (d, &x) in dst.iter_mut().zip(rows.row(first + r)) {
                    *d = if self.f32_inputs {
                        f64::from(x as f32)
                    } else {
                        x
                    };
                }
            }
            let sums = &mut out[first * g..(first + n) * g];
            if n == 1 {
                self.row_sums(&block[..width], sums);
            } else {
                self.block_sums(&block[..n * width], width, sums);
            }
            first += n;
        }
        if self.average {
            // Scalar leaves: trees per group (LightGBM averages over
            // iterations); vector leaves: every tree adds to every group.
            let n = if self.leaf_width == 1 {
                self.trees.len() / self.groups
            } else {
                self.trees.len()
            }
            .max(1) as f64;
            for s in out.iter_mut() {
                *s /= n;
            }
        }
    }

    fn sigmoid(&self, m: f64, scale: f64) -> f64 {
        if self.f32_sums {
            let m = m as f32 * scale as f32;
            f64::from(1.0f32 / (1.0f32 + (-m).exp()))
        } else {
            1.0 / (1.0 + (-scale * m).exp())
        }
    }

    fn softmax(&self, row: &mut [f64]) {
        if self.f32_sums {
            let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b as f32));
            let mut sum = 0.0f32;
            for v in row.iter_mut() {
                let e = (*v as f32 - max).exp();
                sum += e;
                *v = f64::from(e);
            }
            for v in row.iter_mut() {
                *v = f64::from(*v as f32 / sum);
            }
        } else {
            let max = row.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let mut sum = 0.0;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
    }
}

impl Model for TreeEnsemble {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    fn output(&self) -> &OutputKind {
        &self.output
    }

    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        check_width(&self.schema, &rows)?;
        let f = &*self.flat;
        let n = rows.nrows();
        let g = f.groups;
        let mut m = vec![0.0; n * g];
        f.sum_into(rows, &mut m);
        match (&self.output, f.link) {
            (OutputKind::Regression, link) => {
                for v in &mut m {
                    *v = match link {
                        Link::Sigmoid { scale } => f.sigmoid(*v, scale),
                        // In f32 where the library sums in f32 (XGBoost's
                        // `expf`).
                        Link::Exp if f.f32_sums => f64::from((*v as f32).exp()),
                        Link::Exp => v.exp(),
                        _ => *v,
                    };
                }
                Ok(Predictions::scores(m))
            }
            (OutputKind::Classification { labels, .. }, Link::Sigmoid { scale }) if g == 1 => {
                let mut probabilities = Vec::with_capacity(n * 2);
                let mut classes = Vec::with_capacity(n);
                for &v in &m {
                    let p = f.sigmoid(v, scale);
                    let q = if f.f32_sums {
                        f64::from(1.0f32 - p as f32)
                    } else {
                        1.0 - p
                    };
                    probabilities.extend([q, p]);
                    classes.push(usize::from(p > 0.5));
                }
                let p = Array2::from_shape_vec((n, 2), probabilities)
                    .map_err(|e| invalid(e.to_string()))?;
                Predictions::classes(classes, labels.len())?.with_probabilities(p)
            }
            (OutputKind::Classification { labels, .. }, link) => {
                let mut classes = Vec::with_capacity(n);
                for row in m.chunks_exact_mut(g) {
                    match link {
                        Link::Softmax => f.softmax(row),
                        Link::Sigmoid { scale } => {
                            for v in row.iter_mut() {
                                *v = f.sigmoid(*v, scale);
                            }
                        }
                        _ => {}
                    }
                    let mut best = 0;
                    for j in 1..g {
                        if row[j] > row[best] {
                            best = j;
                        }
                    }
                    classes.push(best);
                }
                let p = Array2::from_shape_vec((n, g), m).map_err(|e| invalid(e.to_string()))?;
                Predictions::classes(classes, labels.len())?.with_probabilities(p)
            }
        }
    }
}

/// Checks `spec` and lays it out flat in preorder, children side by side.
fn lay_out(spec: &EnsembleSpec, limits: &EnsembleLimits) -> Result<Flat, ModelError> {
    let (f32_inputs, f32_sums) = match spec.semantics {
        SplitSemantics::Xgboost => (true, true),
        SplitSemantics::SklearnF32 => (true, false),
        SplitSemantics::LightGbm | SplitSemantics::SklearnF64 => (false, false),
    };
    if spec.trees.len() > limits.max_trees {
        return Err(invalid(format!(
            "{} trees, more than the limit of {}",
            spec.trees.len(),
            limits.max_trees
        )));
    }
    let total = spec
        .trees
        .iter()
        .map(TreeSpec::len)
        .fold(0usize, usize::saturating_add);
    if total > limits.max_nodes {
        return Err(invalid(format!(
            "{total} nodes, more than the limit of {}",
            limits.max_nodes
        )));
    }
    let base = if spec.semantics == SplitSemantics::Xgboost {
        spec.base.iter().map(|&b| f64::from(b as f32)).collect()
    } else {
        spec.base.clone()
    };
    let mut flat = Flat {
        f32_inputs,
        f32_sums,
        groups: spec.groups,
        leaf_width: spec.leaf_width,
        base,
        average: spec.average,
        link: spec.link,
        trees: Vec::with_capacity(spec.trees.len()),
        nodes: Vec::with_capacity(total),
        cat_sets: Vec::new(),
        cat_words: Vec::new(),
        leaf_values: Vec::new(),
        depths: Vec::new(),
        runs: Vec::new(),
    };
    let lw = spec.leaf_width.max(1);
    let mut stack: Vec<(usize, usize, usize)> = Vec::new();
    let mut visited: Vec<bool> = Vec::new();
    for (t, tree) in spec.trees.iter().enumerate() {
        let n = tree.len();
        let bad = |i: usize, what: &str| invalid(format!("tree {t} node {i}: {what}"));
        if n == 0 {
            return Err(invalid(format!("tree {t} has no nodes")));
        }
        if tree.right.len() != n
            || tree.feature.len() != n
            || tree.threshold.len() != n
            || tree.default_left.len() != n
            || tree.missing.len() != n
            || tree.categories.len() != n
            || tree.values.len() != n.saturating_mul(lw)
        {
            return Err(invalid(format!(
                "tree {t}: its node arrays differ in length"
            )));
        }
        let start = flat.nodes.len();
        let group = u32::try_from(tree.group).map_err(|_| bad(0, "group out of range"))?;
        flat.trees.push((start as u32, group));
        visited.clear();
        visited.resize(n, false);
        // (spec index, flat slot, depth); the root's slot is pushed first.
        flat.nodes.push(Node {
            value: 0.0,
            word: LEAF,
            left: 0,
        });
        stack.clear();
        stack.push((0, start, 0));
        while let Some((i, slot, depth)) = stack.pop() {
            if std::mem::replace(&mut visited[i], true) {
                return Err(bad(i, "reached twice (a cycle or a shared subtree)"));
            }
            if depth > limits.max_depth {
                return Err(bad(i, &format!("deeper than {}", limits.max_depth)));
            }
            let node = match tree.left[i] {
                None => {
                    let values = &tree.values[i * lw..(i + 1) * lw];
                    // Where the library sums in f32, its leaves are f32
                    // too: a value as written in its file (the shortest
                    // decimal that reads back as that f32) is rounded to
                    // it, or the f32 sums drift by an ulp here and there.
                    let leaf = |v: f64| if f32_sums { f64::from(v as f32) } else { v };
                    if values.iter().any(|&v| !leaf(v).is_finite()) {
                        return Err(bad(i, "a leaf value is not finite"));
                    }
                    // A leaf points at itself: a walk that reaches it stays.
                    let own = u32::try_from(slot).map_err(|_| bad(i, "too many nodes"))?;
                    if lw == 1 {
                        Node {
                            value: leaf(values[0]),
                            word: LEAF,
                            left: own,
                        }
                    } else {
                        let offset = flat.leaf_values.len();
                        flat.leaf_values.extend(values.iter().map(|&v| leaf(v)));
                        Node {
                            value: offset as f64,
                            word: LEAF,
                            left: own,
                        }
                    }
                }
                Some(l) => {
                    let r = tree.right[i];
                    if l >= n || r >= n || l == i || r == i || l == r {
                        return Err(bad(i, "a child index out of range"));
                    }
                    let feature = tree.feature[i];
                    if feature >= MAX_ENSEMBLE_FEATURES {
                        return Err(bad(i, "feature index out of range"));
                    }
                    let mut word = feature as u32;
                    if tree.default_left[i] {
                        word |= DEFAULT_LEFT;
                    }
                    let value = match &tree.categories[i] {
                        Some(cats) => {
                            word |= CATEGORICAL;
                            if spec.semantics == SplitSemantics::Xgboost {
                                word |= SET_GOES_RIGHT;
                            }
                            let max = cats.iter().copied().max().unwrap_or(0);
                            if max > limits.max_category {
                                return Err(bad(
                                    i,
                                    &format!(
                                        "category {max} over the limit of {}",
                                        limits.max_category
                                    ),
                                ));
                            }
                            let len = if cats.is_empty() {
                                0
                            } else {
                                (max as usize >> 5) + 1
                            };
                            let first = flat.cat_words.len();
                            if first + len > limits.max_category_words {
                                return Err(bad(
                                    i,
                                    &format!(
                                        "categorical splits' sets take more than the limit of \
                                         {} words",
                                        limits.max_category_words
                                    ),
                                ));
                            }
                            flat.cat_words.resize(first + len, 0);
                            for &c in cats {
                                flat.cat_words[first + (c as usize >> 5)] |= 1 << (c & 31);
                            }
                            flat.cat_sets.push((first as u32, len as u32));
                            (flat.cat_sets.len() - 1) as f64
                        }
                        None => {
                            let t = tree.threshold[i];
                            // Infinite thresholds are real splits (see
                            // `Flat::check`); NaN is not.
                            if t.is_nan() {
                                return Err(bad(i, "threshold is NaN"));
                            }
                            let t = if spec.semantics == SplitSemantics::Xgboost {
                                // x < t for f32 x is x <= the f32 just below t.
                                let below = (t as f32).next_down();
                                if !below.is_finite() {
                                    return Err(bad(i, "threshold is the lowest f32"));
                                }
                                f64::from(below)
                            } else {
                                t
                            };
                            match tree.missing[i] {
                                // NaN counts as 0.0: it goes where 0.0 goes,
                                // which is a default direction.
                                MissingRule::AsZero => {
                                    word &= !DEFAULT_LEFT;
                                    if 0.0 <= t {
                                        word |= DEFAULT_LEFT;
                                    }
                                }
                                rule => word |= rule.bits(),
                            }
                            t
                        }
                    };
                    let left = flat.nodes.len();
                    flat.nodes.push(Node {
                        value: 0.0,
                        word: LEAF,
                        left: 0,
                    });
                    flat.nodes.push(Node {
                        value: 0.0,
                        word: LEAF,
                        left: 0,
                    });
                    stack.push((r, left + 1, depth + 1));
                    stack.push((l, left, depth + 1));
                    Node {
                        value,
                        word,
                        left: left as u32,
                    }
                }
            };
            flat.nodes[slot] = node;
        }
        // Nodes no walk reaches are left out, as the libraries' own walks
        // never see them: XGBoost keeps the nodes pruning deleted in its
        // arrays (`num_deleted`), children of what became a leaf.
    }
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;

    use super::*;
    use crate::schema::Feature;

    fn stump(semantics: SplitSemantics, t: f64) -> EnsembleSpec {
        let mut tree = TreeSpec::with_nodes(3, 1);
        tree.left[0] = Some(1);
        tree.right[0] = 2;
        tree.threshold[0] = t;
        tree.default_left[0] = true;
        tree.values[1] = -1.0;
        tree.values[2] = 1.0;
        EnsembleSpec {
            semantics,
            groups: 1,
            leaf_width: 1,
            base: vec![0.0],
            average: false,
            link: Link::Identity,
            trees: vec![tree],
        }
    }

    fn schema() -> FeatureSchema {
        FeatureSchema::builder()
            .feature(Feature::float("x").allow_non_finite())
            .build()
            .unwrap()
    }

    fn scores(e: &TreeEnsemble, xs: &[f64]) -> Vec<f64> {
        let rows = Array2::from_shape_vec((xs.len(), 1), xs.to_vec()).unwrap();
        e.predict_batch(rows.view())
            .unwrap()
            .score_values()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn xgboost_compares_as_f32_with_less_than() {
        let e = TreeEnsemble::new(
            stump(SplitSemantics::Xgboost, 0.5),
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        )
        .unwrap();
        // 0.5 goes right (x < t is false); NaN takes the default (left);
        // a value that rounds to 0.5 in f32 goes right too.
        assert_eq!(
            scores(&e, &[0.5, 0.49, f64::NAN, 0.5 - 1e-12]),
            [1.0, -1.0, -1.0, 1.0]
        );
    }

    #[test]
    fn lightgbm_compares_f64_with_less_or_equal() {
        let e = TreeEnsemble::new(
            stump(SplitSemantics::LightGbm, 0.5),
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        )
        .unwrap();
        assert_eq!(scores(&e, &[0.5, 0.5 + 1e-12, f64::NAN]), [-1.0, 1.0, -1.0]);
    }

    #[test]
    fn cycles_and_shared_children_are_refused() {
        let mut spec = stump(SplitSemantics::LightGbm, 0.5);
        spec.trees[0].right[0] = 1;
        let err = TreeEnsemble::new(
            spec,
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        );
        assert!(err.unwrap_err().to_string().contains("child"));
        let mut spec = stump(SplitSemantics::LightGbm, 0.5);
        spec.trees[0].left[1] = Some(0);
        spec.trees[0].right[1] = 2;
        let err = TreeEnsemble::new(
            spec,
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        );
        assert!(err.unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn nodes_no_walk_reaches_are_left_out() {
        // XGBoost keeps pruned nodes in its arrays: two children of what
        // became leaf 1, one of them a split pointing back at the root.
        let mut spec = stump(SplitSemantics::Xgboost, 0.5);
        let tree = &mut spec.trees[0];
        tree.left.extend([Some(0), None]);
        tree.right.extend([4, 0]);
        tree.feature.extend([0, 0]);
        tree.threshold.extend([7.0, 0.0]);
        tree.default_left.extend([false, false]);
        tree.missing.extend([MissingRule::Nan, MissingRule::Nan]);
        tree.categories.extend([None, None]);
        tree.values.extend([0.0, 99.0]);
        let e = TreeEnsemble::new(
            spec,
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        )
        .unwrap();
        assert_eq!(e.n_nodes(), 3);
        assert_eq!(scores(&e, &[0.0, 1.0, f64::NAN]), [-1.0, 1.0, -1.0]);
    }

    #[test]
    fn category_sets_are_bounded_in_total_not_only_per_split() {
        // Each split names one category near the largest allowed: a few
        // bytes of a model file, 128 KiB of set words each.
        let mut spec = stump(SplitSemantics::LightGbm, 0.5);
        spec.trees[0].categories[0] = Some(vec![(1 << 20) - 1]);
        spec.trees = vec![spec.trees[0].clone(); 600];
        let err = TreeEnsemble::new(
            spec.clone(),
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("more than the limit of 16777216 words"),
            "{err}"
        );
        // Under a limit it fits, the same trees are built.
        spec.trees.truncate(100);
        assert!(
            TreeEnsemble::new(
                spec,
                schema(),
                OutputKind::Regression,
                &EnsembleLimits::new()
            )
            .is_ok()
        );
    }

    /// A tree grown from `shape`: each entry splits the next waiting node
    /// (or makes it a leaf) on a feature, at a threshold, with NaN to one
    /// side, under a missing rule.
    fn grown(shape: &[(bool, usize, f64, bool, u8)], width: usize, zero: bool) -> TreeSpec {
        let n = 1 + 2 * shape.iter().filter(|d| d.0).count();
        let mut tree = TreeSpec::with_nodes(n, 1);
        let mut open = std::collections::VecDeque::from([0usize]);
        let mut used = 1;
        let mut decisions = shape.iter();
        while let Some(i) = open.pop_front() {
            match decisions.next() {
                Some(&(true, feature, threshold, default_left, rule)) if used + 2 <= n => {
                    tree.left[i] = Some(used);
                    tree.right[i] = used + 1;
                    open.extend([used, used + 1]);
                    used += 2;
                    tree.feature[i] = feature % width;
                    tree.threshold[i] = threshold;
                    tree.default_left[i] = default_left;
                    tree.missing[i] = match rule % 4 {
                        0 | 1 => MissingRule::Nan,
                        2 => MissingRule::AsZero,
                        _ if zero => MissingRule::Zero,
                        _ => MissingRule::Nan,
                    };
                }
                _ => tree.values[i] = threshold_of(i),
            }
        }
        // Nodes never reached by the shape stay leaves; drop them so the
        // spec has exactly the reachable nodes.
        tree.left.truncate(used);
        tree.right.truncate(used);
        tree.feature.truncate(used);
        tree.threshold.truncate(used);
        tree.default_left.truncate(used);
        tree.missing.truncate(used);
        tree.categories.truncate(used);
        tree.values.truncate(used);
        tree
    }

    fn threshold_of(i: usize) -> f64 {
        (i as f64 * 0.37).sin()
    }

    proptest::proptest! {
        /// One row (runs of eight shallow trees walked side by side
        /// without branches, the rest with a branch per split) and the
        /// same row in a batch (walked in blocks, shallow trees eight rows
        /// side by side without branches, the block's last rows with a
        /// branch per split) get the same scores bit for bit, for each
        /// library's semantics, NaN, zeros and values equal to thresholds
        /// included. Up to 19 trees, so one row meets both a run of eight
        /// and trees walked alone.
        #[test]
        fn one_row_and_blocks_agree(
            shapes in proptest::collection::vec(
                proptest::collection::vec(
                    (
                        proptest::bool::weighted(0.75),
                        0..3usize,
                        proptest::prop_oneof![
                            -2.0..2.0f64,
                            (-2..2i32).prop_map(f64::from),
                            proptest::strategy::Just(0.1f64),
                        ],
                        proptest::bool::ANY,
                        0..4u8,
                    ),
                    0..40,
                ),
                1..20,
            ),
            cells in proptest::collection::vec(
                proptest::prop_oneof![
                    4 => -3.0..3.0f64,
                    2 => (-2..2i32).prop_map(f64::from),
                    1 => proptest::strategy::Just(0.1f64),
                    1 => proptest::strategy::Just(f64::NAN),
                    1 => proptest::strategy::Just(-0.0f64),
                ],
                3 * 20,
            ),
            semantics in proptest::sample::select(vec![
                SplitSemantics::Xgboost,
                SplitSemantics::LightGbm,
                SplitSemantics::SklearnF32,
                SplitSemantics::SklearnF64,
            ]),
            average in proptest::bool::ANY,
            // LightGBM's `Zero` rule in some ensembles only, so that
            // others are plain numeric splits throughout.
            zero_rule in proptest::bool::weighted(0.3),
        ) {
            let width = 3;
            let schema = FeatureSchema::builder()
                .feature(Feature::float("a").allow_non_finite())
                .feature(Feature::float("b").allow_non_finite())
                .feature(Feature::float("c").allow_non_finite())
                .build()
                .unwrap();
            let spec = EnsembleSpec {
                semantics,
                groups: 1,
                leaf_width: 1,
                base: vec![0.25],
                average,
                link: Link::Identity,
                trees: shapes.iter().map(|s| grown(s, width, zero_rule)).collect(),
            };
            let e = TreeEnsemble::new(spec, schema, OutputKind::Regression, &EnsembleLimits::new())
                .unwrap();
            let rows = Array2::from_shape_vec((20, width), cells).unwrap();
            let batch = e.predict_batch(rows.view()).unwrap();
            for (i, row) in rows.rows().into_iter().enumerate() {
                let one = e.predict_batch(row.insert_axis(ndarray::Axis(0))).unwrap();
                let (a, b) = (one.score_values().unwrap()[0], batch.score_values().unwrap()[i]);
                proptest::prop_assert_eq!(a.to_bits(), b.to_bits(), "row {} {:?}", i, row);
            }
        }
    }

    #[test]
    fn batch_and_single_rows_agree() {
        let e = TreeEnsemble::new(
            stump(SplitSemantics::LightGbm, 0.5),
            schema(),
            OutputKind::Regression,
            &EnsembleLimits::new(),
        )
        .unwrap();
        let xs: Vec<f64> = (0..200).map(|i| f64::from(i) / 200.0).collect();
        let batch = scores(&e, &xs);
        for (x, b) in xs.iter().zip(batch) {
            assert_eq!(scores(&e, &[*x])[0], b);
        }
    }
}
