//! furnace-server serving the comparison's scikit-learn decision tree.
//!
//! furnace-server runs no model itself: an engine implements its
//! `TensorModel` trait (furnace-burn does it for Burn models, and the
//! `furnace` command of furnace-cli for ONNX files compiled in at build
//! time). A decision tree is not a tensor program, so this engine walks the
//! fitted scikit-learn tree, exported node by node to JSON by `train.py`,
//! exactly as scikit-learn does: features as `f32`, `x <= threshold` goes
//! left. Everything around the model (HTTP, the Open Inference Protocol,
//! input checks against the declared tensors, batching, metrics) is
//! furnace-server's.
//!
//! ```text
//! furnace-tree --tree tree.json --port PORT
//! ```
//!
//! Inputs: one tensor per feature, `[batch, 1]`, named like the modelhost
//! schema: `recency_days`, `frequency`, `device` (0 mobile, 1 desktop,
//! 2 tablet) and `is_returning` (0/1) as INT64, `basket_value` and
//! `product_price` as FP32 (the protocol types furnace takes: FP32, INT64,
//! INT32). Output: `label`, INT64 `[batch, 1]`, 0 = ignore, 1 = buy.

use furnace::{DataType, HostTensor, IoSpec, Model, Server, TensorModel, Values};
use serde::Deserialize;

/// The features in the order the tree was trained on, with their tensor type.
const FEATURES: [(&str, DataType); 6] = [
    ("recency_days", DataType::Int64),
    ("frequency", DataType::Int64),
    ("basket_value", DataType::Fp32),
    ("product_price", DataType::Fp32),
    ("device", DataType::Int64),
    ("is_returning", DataType::Int64),
];

/// scikit-learn's `tree_` arrays; a node is a leaf when `left[i] < 0`.
#[derive(Debug, Deserialize)]
struct Tree {
    feature: Vec<usize>,
    threshold: Vec<f64>,
    left: Vec<i64>,
    right: Vec<i64>,
    /// The majority class of each node.
    class: Vec<i64>,
}

impl Tree {
    fn predict(&self, x: &[f32; 6]) -> i64 {
        let mut node = 0;
        while self.left[node] >= 0 {
            node = if f64::from(x[self.feature[node]]) <= self.threshold[node] {
                self.left[node] as usize
            } else {
                self.right[node] as usize
            };
        }
        self.class[node]
    }
}

#[derive(Debug)]
struct TreeModel(Tree);

impl TensorModel for TreeModel {
    fn name(&self) -> &str {
        "recommender"
    }

    fn backend(&self) -> &str {
        "cpu"
    }

    fn inputs(&self) -> Vec<IoSpec> {
        FEATURES
            .iter()
            .map(|&(name, dtype)| IoSpec::new(name, dtype, &[Some(1)]))
            .collect()
    }

    fn outputs(&self) -> Vec<IoSpec> {
        vec![IoSpec::new("label", DataType::Int64, &[Some(1)])]
    }

    fn run(&self, inputs: Vec<HostTensor>) -> furnace::Result<Vec<HostTensor>> {
        // furnace has checked: six tensors in the declared order and types,
        // each [batch, 1], all with the same batch.
        let batch = inputs[0].batch();
        let labels = (0..batch)
            .map(|row| {
                let mut x = [0f32; 6];
                for (slot, t) in x.iter_mut().zip(&inputs) {
                    *slot = match &t.values {
                        Values::F32(v) => v[row],
                        Values::I64(v) => v[row] as f32,
                    };
                }
                self.0.predict(&x)
            })
            .collect();
        Ok(vec![HostTensor {
            shape: vec![batch, 1],
            values: Values::I64(labels),
        }])
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut tree_path = None;
    let mut port = 8080u16;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--tree" => tree_path = Some(value),
            "--port" => port = value.parse()?,
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let tree: Tree =
        serde_json::from_slice(&std::fs::read(tree_path.ok_or("--tree FILE is required")?)?)?;
    eprintln!(
        "furnace-tree: {} nodes, listening on 127.0.0.1:{port}",
        tree.left.len()
    );
    Server::new()
        .host("127.0.0.1")
        .port(port)
        .model(Model::custom(TreeModel(tree)))
        .serve()
        .await?;
    Ok(())
}
