//! A flat, non-recursive encoding of linfa-trees decision trees.
//!
//! linfa's `DecisionTree` serializes as nested boxes, and decoding nested
//! data from untrusted bytes recurses once per level: a payload of ~100k
//! levels overflows the stack (an abort, not an error) even under a byte
//! limit. The artifact therefore stores the tree as a list of nodes with
//! child indices. Decoding the list never recurses; [`FlatTree::validate`]
//! checks it is a proper tree within depth and size limits; only then is the
//! linfa tree rebuilt, with recursion bounded by the checked depth.

use linfa_trees::DecisionTree;
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::codec;

/// Limits a decoded tree must respect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeLimits {
    pub max_depth: usize,
    pub max_nodes: usize,
}

/// One node. Children have larger indices than their parent.
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

/// The payload of a decision-tree artifact. Node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FlatTree {
    pub num_features: u64,
    pub nodes: Vec<FlatNode>,
}

impl FlatTree {
    /// Flattens a linfa tree (breadth-first, iteratively).
    pub(crate) fn from_linfa(tree: &DecisionTree<f64, usize>, num_features: usize) -> Self {
        let mut nodes = Vec::new();
        // (node, index of the parent slot to patch, is_right)
        let mut queue =
            std::collections::VecDeque::from([(tree.root_node(), None::<(usize, bool)>)]);
        while let Some((node, parent)) = queue.pop_front() {
            let index = nodes.len();
            if let Some((p, right)) = parent {
                let slot: &mut FlatNode = &mut nodes[p];
                let (l, r) = slot.children.get_or_insert((0, 0));
                if right {
                    *r = index as u64;
                } else {
                    *l = index as u64;
                }
            }
            let (feature, threshold, impurity_decrease) = node.split();
            nodes.push(FlatNode {
                feature: feature as u64,
                threshold,
                impurity_decrease,
                children: None,
                prediction: node.prediction().unwrap_or_default() as u64,
                feature_name: node.feature_name().cloned().unwrap_or_default(),
            });
            if !node.is_leaf() {
                let children = node.children();
                for (right, child) in [(false, children[0]), (true, children[1])] {
                    if let Some(child) = child {
                        queue.push_back((child, Some((index, right))));
                    }
                }
            }
        }
        Self {
            num_features: num_features as u64,
            nodes,
        }
    }

    /// Checks the node list is a tree rooted at 0 that a model of `width`
    /// features and `n_labels` classes can serve, within `limits`. Returns the
    /// depth of every node.
    pub(crate) fn validate(
        &self,
        width: usize,
        n_labels: usize,
        limits: TreeLimits,
    ) -> Result<Vec<usize>, String> {
        let n = self.nodes.len();
        if n == 0 {
            return Err("the tree has no nodes".into());
        }
        if n > limits.max_nodes {
            return Err(format!(
                "the tree has {n} nodes, more than the limit of {}",
                limits.max_nodes
            ));
        }
        if self.num_features != width as u64 {
            return Err(format!(
                "the tree was trained on {} features, the schema has {width}",
                self.num_features
            ));
        }
        let mut depth = vec![usize::MAX; n];
        depth[0] = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            let d = depth[i];
            if d == usize::MAX {
                return Err(format!("node {i} is not reachable from the root"));
            }
            match node.children {
                None => {
                    if node.prediction >= n_labels as u64 {
                        return Err(format!(
                            "leaf {i} predicts class {}, but there are {n_labels} labels",
                            node.prediction
                        ));
                    }
                }
                Some((l, r)) => {
                    if node.feature >= width as u64 {
                        return Err(format!(
                            "node {i} splits on feature {}, but the schema has {width}",
                            node.feature
                        ));
                    }
                    if !node.threshold.is_finite() {
                        return Err(format!("node {i} has a non-finite split value"));
                    }
                    if d + 1 > limits.max_depth {
                        return Err(format!(
                            "the tree is deeper than the limit of {}",
                            limits.max_depth
                        ));
                    }
                    for c in [l, r] {
                        let c = usize::try_from(c)
                            .ok()
                            .filter(|&c| c > i && c < n)
                            .ok_or_else(|| {
                                format!(
                                    "node {i} has child {c}, which is not a later node of the tree"
                                )
                            })?;
                        if depth[c] != usize::MAX {
                            return Err(format!("node {c} has more than one parent"));
                        }
                        depth[c] = d + 1;
                    }
                    if l == r {
                        return Err(format!("node {i} has the same node as both children"));
                    }
                }
            }
        }
        Ok(depth)
    }

    /// Rebuilds the linfa tree. Call only after [`validate`](Self::validate):
    /// the recursion in linfa's (derived) deserializer, and in
    /// [`Nested`]'s serializer, is bounded by the checked depth.
    pub(crate) fn to_linfa(&self, depth: &[usize]) -> Result<DecisionTree<f64, usize>, String> {
        // Re-encode as linfa's own nested serde layout, then decode that.
        // The bytes are ours (built from a validated tree), so this cannot be
        // steered by the input beyond the limits already checked.
        let nested = codec::encode(&NestedTree { tree: self, depth })?;
        codec::decode(&nested)
    }
}

/// Serializes a validated flat tree in the field order of linfa-trees'
/// `DecisionTree` / `TreeNode` derives.
struct NestedTree<'a> {
    tree: &'a FlatTree,
    depth: &'a [usize],
}

struct Nested<'a> {
    tree: &'a FlatTree,
    depth: &'a [usize],
    index: usize,
}

impl Serialize for NestedTree<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("DecisionTree", 2)?;
        st.serialize_field(
            "root_node",
            &Nested {
                tree: self.tree,
                depth: self.depth,
                index: 0,
            },
        )?;
        st.serialize_field("num_features", &(self.tree.num_features as usize))?;
        st.end()
    }
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let node = &self.tree.nodes[self.index];
        let child = |index: u64| Nested {
            tree: self.tree,
            depth: self.depth,
            index: index as usize,
        };
        let mut st = s.serialize_struct("TreeNode", 9)?;
        st.serialize_field("feature_idx", &(node.feature as usize))?;
        st.serialize_field("feature_name", &node.feature_name)?;
        st.serialize_field("split_value", &node.threshold)?;
        st.serialize_field("impurity_decrease", &node.impurity_decrease)?;
        st.serialize_field("left_child", &node.children.map(|(l, _)| child(l)))?;
        st.serialize_field("right_child", &node.children.map(|(_, r)| child(r)))?;
        st.serialize_field("leaf_node", &node.children.is_none())?;
        st.serialize_field("prediction", &(node.prediction as usize))?;
        st.serialize_field("depth", &self.depth[self.index])?;
        st.end()
    }
}
