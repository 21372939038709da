//! scikit-learn trees in the JSON `scripts/export_sklearn.py` writes (the
//! format is documented in the [module docs](super)).

use serde::Deserialize;

use super::{
    ImportError, ImportFormat, ImportOptions, Parsed, ProposedFeature, bounded, check_count,
};
use crate::model::{EnsembleSpec, Link, MissingRule, SplitSemantics, TreeSpec};

const FORMAT: ImportFormat = ImportFormat::Sklearn;

/// The `format` field of the files this reader accepts.
pub(crate) const FORMAT_NAME: &str = "modelhost-sklearn-trees";

#[derive(Deserialize)]
struct Doc {
    format: String,
    format_version: u32,
    estimator: String,
    n_features: usize,
    #[serde(default)]
    feature_names: Option<Vec<String>>,
    #[serde(default)]
    classes: Option<Vec<String>>,
    input: String,
    link: String,
    average: bool,
    groups: usize,
    leaf_width: usize,
    base: Vec<f64>,
    trees: Vec<Tree>,
    /// Per feature, the categories seen in training (`HistGradientBoosting*`);
    /// any other category is missing there.
    #[serde(default)]
    known_categories: Option<Vec<Option<Vec<u32>>>>,
}

/// Most category entries the known-category rewrite may write over all
/// splits (64 MiB of `u32`s): each rewritten split lists a feature's known
/// categories, so a short file could otherwise ask for far more.
const MAX_REWRITTEN_CATEGORIES: usize = 1 << 24;

#[derive(Deserialize)]
struct Tree {
    group: usize,
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<usize>,
    threshold: Vec<f64>,
    missing_left: Vec<bool>,
    #[serde(default)]
    categories: Option<Vec<Option<Vec<u32>>>>,
    value: Vec<f64>,
}

fn invalid(reason: String) -> ImportError {
    ImportError::invalid(FORMAT, reason)
}

/// A list the file gives per feature, refused unless it has one entry for
/// each of the `n` features.
fn per_feature<T>(
    list: Option<Vec<T>>,
    n: usize,
    what: &str,
) -> Result<Option<Vec<T>>, ImportError> {
    match list {
        Some(l) if l.len() != n => {
            Err(invalid(format!("{what} for {} features, not {n}", l.len())))
        }
        list => Ok(list),
    }
}

pub(crate) fn parse(bytes: &[u8], options: &ImportOptions) -> Result<Parsed, ImportError> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| ImportError::Parse {
        format: FORMAT,
        reason: bounded(e.to_string()),
    })?;
    if doc.format != FORMAT_NAME {
        return Err(ImportError::Parse {
            format: FORMAT,
            reason: bounded(format!("`format` is `{}`, not `{FORMAT_NAME}`", doc.format)),
        });
    }
    if doc.format_version != 1 {
        return Err(ImportError::Unsupported {
            format: Some(FORMAT),
            what: format!("format version {} (this build reads 1)", doc.format_version),
        });
    }
    let limits = options.ensemble_limits();
    check_count(FORMAT, "features", doc.n_features, options.feature_limit())?;
    check_count(FORMAT, "output groups", doc.groups, 1 << 16)?;
    check_count(FORMAT, "trees", doc.trees.len(), limits.max_trees)?;
    let semantics = match doc.input.as_str() {
        "float32" => SplitSemantics::SklearnF32,
        "float64" => SplitSemantics::SklearnF64,
        other => return Err(invalid(format!("input `{other}` (float32 or float64)"))),
    };
    let link = match doc.link.as_str() {
        "identity" => Link::Identity,
        "logistic" => Link::Sigmoid { scale: 1.0 },
        // GradientBoostingClassifier(loss="exponential"): margins are half
        // log-odds.
        "half_logit" => Link::Sigmoid { scale: 2.0 },
        "softmax" => Link::Softmax,
        "exp" => Link::Exp,
        other => {
            return Err(ImportError::Unsupported {
                format: Some(FORMAT),
                what: bounded(format!("link `{other}`")),
            });
        }
    };
    let features = per_feature(doc.feature_names, doc.n_features, "feature names")?
        .unwrap_or_else(|| (0..doc.n_features).map(|i| format!("x{i}")).collect());
    let any_categorical: Vec<bool> = {
        let mut c = vec![false; doc.n_features];
        for t in &doc.trees {
            for (i, cats) in t.categories.iter().flatten().enumerate() {
                if cats.is_some()
                    && let Some(&f) = t.feature.get(i)
                    && f < c.len()
                {
                    c[f] = true;
                }
            }
        }
        c
    };
    let features = features
        .into_iter()
        .zip(any_categorical)
        .map(|(name, cat)| ProposedFeature {
            name,
            categorical: cat.then(Vec::new),
            named: false,
        })
        .collect();
    let known =
        per_feature(doc.known_categories, doc.n_features, "known categories")?.unwrap_or_default();
    let mut rewritten = 0usize;
    let lw = doc.leaf_width.max(1);
    let mut total = 0usize;
    let mut trees = Vec::with_capacity(doc.trees.len());
    for (t, tree) in doc.trees.into_iter().enumerate() {
        let n = tree.left.len();
        total = total.saturating_add(n);
        check_count(FORMAT, "nodes", total, limits.max_nodes)?;
        if tree.right.len() != n
            || tree.feature.len() != n
            || tree.threshold.len() != n
            || tree.missing_left.len() != n
            || tree.categories.as_ref().is_some_and(|c| c.len() != n)
            || tree.value.len() != n.saturating_mul(lw)
        {
            return Err(invalid(format!(
                "tree {t}: its node arrays differ in length"
            )));
        }
        let index = |v: i64, i: usize| {
            usize::try_from(v)
                .ok()
                .filter(|&c| c < n)
                .ok_or_else(|| invalid(format!("tree {t} node {i}: child {v} out of range")))
        };
        let mut spec = TreeSpec::with_nodes(0, lw);
        spec.group = tree.group;
        spec.left = tree
            .left
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                if l < 0 {
                    Ok(None)
                } else {
                    index(l, i).map(Some)
                }
            })
            .collect::<Result<_, _>>()?;
        spec.right = tree
            .right
            .iter()
            .enumerate()
            .map(|(i, &r)| if tree.left[i] < 0 { Ok(0) } else { index(r, i) })
            .collect::<Result<_, _>>()?;
        for (i, &f) in tree.feature.iter().enumerate() {
            if tree.left[i] >= 0 && f >= doc.n_features {
                return Err(invalid(format!(
                    "tree {t} node {i}: split feature {f} outside the {} features",
                    doc.n_features
                )));
            }
        }
        spec.feature = tree.feature;
        spec.threshold = tree.threshold;
        spec.default_left = tree.missing_left;
        spec.missing = vec![MissingRule::Nan; n];
        spec.categories = tree.categories.unwrap_or_else(|| vec![None; n]);
        spec.values = tree.value;
        for i in 0..n {
            if spec.left[i].is_none() || !spec.default_left[i] {
                continue;
            }
            let (Some(Some(seen)), Some(goes_left)) =
                (known.get(spec.feature[i]), spec.categories[i].as_mut())
            else {
                continue;
            };
            // A category training never saw goes where missing values go;
            // one outside the set goes right. With missing values going
            // left, the children swap: the known categories not going
            // left form the set (now to the left child), and every other
            // value (unknown, negative, NaN) takes the other side.
            rewritten = rewritten.saturating_add(seen.len());
            if rewritten > MAX_REWRITTEN_CATEGORIES {
                return Err(invalid(format!(
                    "tree {t}: known categories rewrite more than {MAX_REWRITTEN_CATEGORIES} \
                     category entries"
                )));
            }
            // Replaced below: sorted in place for the lookups.
            goes_left.sort_unstable();
            let right_set: Vec<u32> = seen
                .iter()
                .copied()
                .filter(|c| goes_left.binary_search(c).is_err())
                .collect();
            let left = spec.left[i].replace(spec.right[i]);
            spec.right[i] = left.unwrap_or_default();
            spec.default_left[i] = false;
            spec.categories[i] = Some(right_set);
        }
        trees.push(spec);
    }
    let classes = doc.classes;
    Ok(Parsed {
        features,
        classes,
        spec: EnsembleSpec {
            semantics,
            groups: doc.groups,
            leaf_width: doc.leaf_width,
            base: doc.base,
            average: doc.average,
            link,
            trees,
        },
        objective: doc.estimator,
        notes: Vec::new(),
    })
}
