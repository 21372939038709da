//! The `Model` trait and the linfa adapter.

#[path = "../examples/common/mod.rs"]
mod common;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use modelhost::model::{ForestClassifier, ModelError, TreeClassifier, TreeLimits, TreeNode};
use modelhost::{Feature, FeatureSchema, LinfaModel, Model, OutputKind, Prediction};
use ndarray::{Array1, Array2, ArrayView2, array};
use proptest::prelude::{ProptestConfig, Strategy};

fn trained() -> (FeatureSchema, DecisionTree<f64, usize>, Array2<f64>) {
    let schema = common::webshop_schema();
    let (rows, labels) = common::webshop_data(2_000, 11, 0.0);
    let x = schema.validate_batch(&rows).unwrap().into_array();
    let tree = DecisionTree::params()
        .max_depth(Some(8))
        .fit(&Dataset::new(x.clone(), Array1::from(labels)))
        .unwrap();
    (schema, tree, x)
}

#[test]
fn adapter_predicts_what_linfa_predicts() {
    let (schema, tree, x) = trained();
    let direct = tree.predict(&x);
    let model = LinfaModel::decision_tree(tree, schema, common::LABELS).unwrap();
    let out = model.predict_batch(x.view()).unwrap();
    assert_eq!(out.len(), x.nrows());
    assert_eq!(out.class_indices().unwrap(), direct.as_slice().unwrap());
    let buys = direct.iter().filter(|&&c| c == 1).count();
    assert!(
        buys > 100 && buys < 1_900,
        "a degenerate model would not test much: {buys} buys"
    );
    assert_eq!(
        out.label(0, model.output()),
        Some(common::LABELS[direct[0]])
    );
    assert!(matches!(
        out.get(0, model.output()),
        Some(Prediction::Class {
            probabilities: None,
            ..
        })
    ));
}

#[test]
fn adapter_rejects_wrong_widths_instead_of_panicking() {
    let (schema, tree, x) = trained();
    let model = LinfaModel::decision_tree(tree, schema, common::LABELS).unwrap();
    for width in [0, 1, 5, 7, 40] {
        let rows = Array2::<f64>::zeros((3, width));
        match model.predict_batch(rows.view()) {
            Err(ModelError::WidthMismatch { expected: 6, found }) => assert_eq!(found, width),
            other => panic!("width {width}: expected a width error, got {other:?}"),
        }
    }
    // An empty batch of the right width is fine.
    assert!(
        model
            .predict_batch(Array2::<f64>::zeros((0, x.ncols())).view())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn rows_validated_against_another_schema_are_refused() {
    let (schema, tree, _) = trained();
    let model = LinfaModel::decision_tree(tree, schema, common::LABELS).unwrap();
    let other = FeatureSchema::builder()
        .feature(Feature::float("a"))
        .feature(Feature::float("b"))
        .feature(Feature::float("c"))
        .feature(Feature::float("d"))
        .feature(Feature::float("e"))
        .feature(Feature::float("f"))
        .build()
        .unwrap();
    let row = other
        .validate(&modelhost::FeatureMap::from_iter(
            ["a", "b", "c", "d", "e", "f"].map(|n| (n, 1.0)),
        ))
        .unwrap();
    assert!(matches!(
        model.predict_vector(&row),
        Err(ModelError::SchemaMismatch { .. })
    ));
}

#[test]
fn decision_tree_is_checked_against_schema_and_labels() {
    let x = array![[0.0, 1.0], [0.0, 2.0], [0.0, 10.0], [0.0, 11.0]];
    let tree = DecisionTree::params()
        .fit(&Dataset::new(x, array![0usize, 0, 2, 2]))
        .unwrap();
    let narrow = FeatureSchema::builder()
        .feature(Feature::float("only"))
        .build()
        .unwrap();
    let wide = FeatureSchema::builder()
        .feature(Feature::float("a"))
        .feature(Feature::float("b"))
        .build()
        .unwrap();
    // The tree splits on column 1, which a one-feature schema lacks.
    let err = LinfaModel::decision_tree(tree.clone(), narrow, ["x", "y", "z"]).unwrap_err();
    assert!(err.to_string().contains("splits on feature 1"), "{err}");
    // It predicts class 2, which two labels cannot name.
    let err = LinfaModel::decision_tree(tree.clone(), wide.clone(), ["x", "y"]).unwrap_err();
    assert!(err.to_string().contains("class 2"), "{err}");
    assert!(LinfaModel::decision_tree(tree, wide, ["x", "y", "z"]).is_ok());
}

/// A regression "model": the sum of each row.
#[derive(Debug)]
struct RowSum;

impl<'a> linfa::traits::PredictInplace<ArrayView2<'a, f64>, Array1<f64>> for RowSum {
    fn predict_inplace(&self, x: &ArrayView2<'a, f64>, y: &mut Array1<f64>) {
        for (row, out) in x.rows().into_iter().zip(y.iter_mut()) {
            *out = row.sum();
        }
    }
    fn default_target(&self, x: &ArrayView2<'a, f64>) -> Array1<f64> {
        Array1::zeros(x.nrows())
    }
}

#[test]
fn any_predict_inplace_model_can_be_wrapped() {
    let schema = FeatureSchema::builder()
        .feature(Feature::float("a"))
        .feature(Feature::integer("b"))
        .build()
        .unwrap();
    let model: LinfaModel<RowSum, f64> =
        LinfaModel::new(RowSum, schema.clone(), OutputKind::Regression).unwrap();
    let out = model
        .predict_batch(array![[1.5, 2.0], [0.0, -1.0]].view())
        .unwrap();
    assert_eq!(out.score_values(), Some(&[3.5, -1.0][..]));
    // Output kinds must fit the target type.
    let wrong = LinfaModel::<RowSum, f64>::new(RowSum, schema, OutputKind::classification(["a"]));
    assert!(matches!(wrong, Err(ModelError::InvalidModel { .. })));
}

/// A model whose output promises probabilities it does not give.
#[derive(Debug)]
struct Liar {
    schema: FeatureSchema,
    output: OutputKind,
}

impl Model for Liar {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }
    fn output(&self) -> &OutputKind {
        &self.output
    }
    fn predict_batch(
        &self,
        rows: ArrayView2<'_, f64>,
    ) -> Result<modelhost::Predictions, ModelError> {
        modelhost::Predictions::classes(vec![0; rows.nrows()], 2)
    }
}

#[test]
fn a_model_breaking_its_probability_promise_fails_warm_up() {
    let schema = common::webshop_schema();
    let (rows, _) = common::webshop_data(4, 1, 0.0);
    let batch = schema.validate_batch(&rows).unwrap();
    let liar = Liar {
        schema: schema.clone(),
        output: OutputKind::classification_with_probabilities(common::LABELS),
    };
    let expected = modelhost::Predictions::classes(vec![0; 4], 2).unwrap();
    let e = modelhost::Deployment::new("liar", 1, liar)
        .with_warmup(batch, expected)
        .warm_up()
        .unwrap_err();
    assert!(e.to_string().contains("probabilities"), "{e}");

    // linfa's predict gives classes only: the adapter refuses the promise.
    let (schema, tree, _) = trained();
    let e = LinfaModel::<_, usize>::new(
        tree,
        schema,
        OutputKind::classification_with_probabilities(common::LABELS),
    )
    .unwrap_err();
    assert!(matches!(e, ModelError::InvalidModel { .. }), "{e}");
}

/// A tree grown from `shape` (each entry decides whether the next node
/// waiting for children gets split, and on what), parents first, with
/// random class shares at the leaves.
fn random_tree(shape: &[(bool, usize, f64, f64)], width: usize, labels: usize) -> Vec<TreeNode> {
    use std::collections::VecDeque;
    let mut nodes = vec![None::<TreeNode>];
    let mut open = VecDeque::from([0usize]);
    let mut decisions = shape.iter();
    while let Some(i) = open.pop_front() {
        let node = match decisions.next() {
            Some(&(true, feature, threshold, _)) => {
                let (left, right) = (nodes.len(), nodes.len() + 1);
                nodes.extend([None, None]);
                // Visit the right child first now and then, so the order
                // of children in the list varies too.
                if threshold.to_bits() % 2 == 0 {
                    open.extend([left, right]);
                } else {
                    open.extend([right, left]);
                }
                TreeNode::Split {
                    feature: feature % width,
                    threshold,
                    left,
                    right,
                }
            }
            other => {
                let share = other.map_or(0.5, |d| d.3);
                let mut p = vec![(1.0 - share) / (labels - 1) as f64; labels];
                p[i % labels] = share;
                TreeNode::Leaf {
                    class: i % labels,
                    distribution: Some(p),
                }
            }
        };
        nodes[i] = Some(node);
    }
    nodes.into_iter().map(Option::unwrap).collect()
}

/// The leaf `row` reaches, walking `nodes` as given (the reference).
fn reference_leaf(nodes: &[TreeNode], row: &[f64]) -> usize {
    let mut at = 0;
    while let TreeNode::Split {
        feature,
        threshold,
        left,
        right,
    } = &nodes[at]
    {
        at = if row[*feature] < *threshold {
            *left
        } else {
            *right
        };
    }
    at
}

proptest::proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Batches and single rows, of a tree and of a forest of that tree
    /// (each walks them its own way), predict what a plain walk of the
    /// given nodes reaches, NaN and infinities included, for shallow and
    /// deep trees and any batch length.
    #[test]
    fn tree_batches_and_single_rows_agree_with_a_plain_walk(
        shape in proptest::collection::vec(
            (
                proptest::bool::weighted(0.7),
                0..4usize,
                // Whole numbers too, so that rows meet thresholds exactly.
                proptest::prop_oneof![-3.0..3.0f64, (-3..3i32).prop_map(f64::from)],
                0.0..1.0f64,
            ),
            0..120,
        ),
        cells in proptest::collection::vec(
            proptest::prop_oneof![
                6 => -4.0..4.0f64,
                3 => (-4..4i32).prop_map(f64::from),
                1 => proptest::strategy::Just(f64::NAN),
                1 => proptest::strategy::Just(f64::INFINITY),
                1 => proptest::strategy::Just(f64::NEG_INFINITY),
            ],
            0..4 * 40,
        ),
    ) {
        let width = 4;
        let labels = 3;
        let nodes = random_tree(&shape, width, labels);
        let schema = FeatureSchema::builder()
            .feature(Feature::float("a").allow_non_finite())
            .feature(Feature::float("b").allow_non_finite())
            .feature(Feature::float("c").allow_non_finite())
            .feature(Feature::float("d").allow_non_finite())
            .build()
            .unwrap();
        let limits = TreeLimits { max_depth: 200, max_nodes: 1000 };
        let names: std::sync::Arc<[String]> = ["x", "y", "z"].map(String::from).into();
        let tree = TreeClassifier::new(&nodes, schema.clone(), names.clone(), limits).unwrap();
        // A forest of that one tree walks a batch's rows without branches.
        let forest = ForestClassifier::new(vec![tree.clone()], schema, names).unwrap();
        let n = cells.len() / width;
        let rows = Array2::from_shape_vec((n, width), cells[..n * width].to_vec()).unwrap();
        let batch = tree.predict_batch(rows.view()).unwrap();
        let voted = forest.predict_batch(rows.view()).unwrap();
        for (i, row) in rows.rows().into_iter().enumerate() {
            let row = row.to_vec();
            let leaf = reference_leaf(&nodes, &row);
            let TreeNode::Leaf { class, distribution } = &nodes[leaf] else { unreachable!() };
            let one = tree.predict_batch(ArrayView2::from_shape((1, width), &row).unwrap()).unwrap();
            let one_voted = forest
                .predict_batch(ArrayView2::from_shape((1, width), &row).unwrap())
                .unwrap();
            for (p, j) in [(&voted, i), (&one_voted, 0)] {
                proptest::prop_assert_eq!(p.class_indices().unwrap()[j], *class);
            }
            for (p, j) in [(&batch, i), (&one, 0)] {
                proptest::prop_assert_eq!(p.class_indices().unwrap()[j], *class);
                let shares = p.probabilities(j).unwrap().to_vec();
                proptest::prop_assert_eq!(Some(&shares), distribution.as_ref());
            }
        }
    }
}
