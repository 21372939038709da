//! XGBoost's JSON model (`save_model("model.json")`), 2.x and 3.x.
//!
//! The layout follows XGBoost's own JSON schema (`doc/model.schema`): a
//! `learner` with `learner_model_param` (`base_score`, `num_class`,
//! `num_feature`), `objective.name`, `feature_names`/`feature_types`, and
//! `gradient_booster` (`gbtree`: `model.trees` and `model.tree_info`). Each
//! tree is parallel arrays; a node is a leaf when its left child is `-1`,
//! and a leaf's value is its `split_conditions` entry.
//!
//! XGBoost 2.x writes the split condition of a categorical split as a bare
//! `NaN`, which is not JSON; [`standard_json`] reads `NaN`, `Infinity` and
//! `-Infinity` outside strings as `null`, and a `null` split condition as
//! NaN (ignored by a categorical split; a NaN threshold or leaf value is
//! refused).

use serde::Deserialize;

use super::{
    CategoryValues, ImportError, ImportFormat, ImportOptions, Parsed, ProposedFeature, bounded,
    check_count,
};
use crate::model::{EnsembleSpec, Link, MissingRule, SplitSemantics, TreeSpec};

const FORMAT: ImportFormat = ImportFormat::Xgboost;

#[derive(Deserialize)]
struct Doc {
    learner: Learner,
}

#[derive(Deserialize)]
struct Learner {
    #[serde(default)]
    feature_names: Vec<String>,
    #[serde(default)]
    feature_types: Vec<String>,
    gradient_booster: Booster,
    learner_model_param: ModelParam,
    objective: Objective,
    #[serde(default)]
    attributes: Option<Attributes>,
}

/// The booster's string attributes; early stopping writes
/// `best_iteration` (0-based).
#[derive(Deserialize)]
struct Attributes {
    #[serde(default)]
    best_iteration: Option<String>,
}

#[derive(Deserialize)]
struct ModelParam {
    base_score: String,
    #[serde(default)]
    num_class: Option<String>,
    num_feature: String,
    #[serde(default)]
    num_target: Option<String>,
}

#[derive(Deserialize)]
struct Objective {
    name: String,
}

#[derive(Deserialize)]
struct Booster {
    name: String,
    #[serde(default)]
    model: Option<GbModel>,
}

#[derive(Deserialize)]
struct GbModel {
    // Defaults, so that a `gblinear` model (weights, no trees) parses as
    // far as its booster's name and is refused by it.
    #[serde(default)]
    trees: Vec<Tree>,
    #[serde(default)]
    tree_info: Vec<i64>,
    /// Per boosting iteration, its first tree (2.x and 3.x); one more
    /// entry than iterations.
    #[serde(default)]
    iteration_indptr: Vec<i64>,
    #[serde(default)]
    gbtree_model_param: Option<GbTreeParam>,
    #[serde(default)]
    cats: Option<Cats>,
}

#[derive(Deserialize)]
struct GbTreeParam {
    #[serde(default)]
    num_parallel_tree: Option<String>,
}

#[derive(Deserialize)]
struct Cats {
    #[serde(default)]
    enc: Vec<CatEnc>,
}

/// One feature's categories as XGBoost 3.1+ stores them: numbers in
/// `values`, or strings as UTF-8 bytes in `values` cut at `offsets` (one
/// more offset than strings).
#[derive(Deserialize)]
struct CatEnc {
    #[serde(default)]
    offsets: Vec<i64>,
    #[serde(default)]
    values: CategoryValues,
}

/// The categories of feature `feature`, in code order, and whether they
/// are names (strings) rather than numbers: a schema file may give numbered
/// categories names of its own, but must keep named ones in their order.
fn category_names(
    enc: &CatEnc,
    feature: usize,
    options: &ImportOptions,
) -> Result<(Vec<String>, bool), ImportError> {
    let bad = |what: &str| invalid(format!("feature {feature}: category encoding {what}"));
    if enc.offsets.is_empty() {
        check_count(FORMAT, "categories", enc.values.len(), options.max_levels)?;
        return Ok((enc.values.to_levels(), enc.values.are_strings()));
    }
    check_count(
        FORMAT,
        "categories",
        enc.offsets.len() - 1,
        options.max_levels,
    )?;
    let bytes = enc
        .values
        .to_bytes()
        .ok_or_else(|| bad("holds a value that is not a byte"))?;
    let ordered = enc.offsets.first() == Some(&0)
        && enc.offsets.windows(2).all(|w| w[0] <= w[1])
        && usize::try_from(enc.offsets[enc.offsets.len() - 1]).ok() == Some(bytes.len());
    if !ordered {
        return Err(bad("has offsets that do not cut its bytes in order"));
    }
    let levels = enc
        .offsets
        .windows(2)
        .map(|w| {
            std::str::from_utf8(&bytes[w[0] as usize..w[1] as usize])
                .map(str::to_string)
                .map_err(|_| bad("holds a category that is not UTF-8"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((levels, true))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

impl Flag {
    fn on(&self) -> bool {
        match self {
            Self::Bool(b) => *b,
            Self::Int(i) => *i != 0,
        }
    }
}

#[derive(Deserialize)]
struct Tree {
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<i64>,
    #[serde(deserialize_with = "nan_for_null")]
    split_conditions: Vec<f64>,
    default_left: Vec<Flag>,
    #[serde(default)]
    split_type: Vec<i64>,
    #[serde(default)]
    categories: Vec<i64>,
    #[serde(default)]
    categories_nodes: Vec<i64>,
    #[serde(default)]
    categories_segments: Vec<i64>,
    #[serde(default)]
    categories_sizes: Vec<i64>,
    #[serde(default)]
    tree_param: Option<TreeParam>,
}

#[derive(Deserialize)]
struct TreeParam {
    #[serde(default)]
    size_leaf_vector: Option<String>,
}

fn invalid(reason: String) -> ImportError {
    ImportError::invalid(FORMAT, reason)
}

fn unsupported(what: String) -> ImportError {
    ImportError::unsupported(FORMAT, what)
}

/// `"0.5"`, `"5E-1"` or `"[5E-1,2E-1]"`: one value or one per class.
fn base_scores(s: &str) -> Result<Vec<f64>, ImportError> {
    let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| invalid(format!("base_score `{s}` is not a list of finite numbers")))
        })
        .collect()
}

fn count(s: &str, what: &str) -> Result<usize, ImportError> {
    s.trim()
        .parse::<usize>()
        .map_err(|_| invalid(format!("{what} `{s}` is not a count")))
}

fn logit(p: f64) -> Result<f64, ImportError> {
    if p > 0.0 && p < 1.0 {
        // In f32, as XGBoost takes it: -log(1/p - 1).
        let p = p as f32;
        Ok(f64::from(-(1.0f32 / p - 1.0).ln()))
    } else {
        Err(invalid(format!(
            "base_score {p} is not a probability strictly between 0 and 1"
        )))
    }
}

/// Numbers, with `null` (a non-standard `NaN` or infinity in the file, see
/// [`standard_json`]) read as NaN.
fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let values: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// `bytes` with each `NaN`, `Infinity` and `-Infinity` outside a string
/// replaced by `null`; borrowed when there is none (as in XGBoost 3.x
/// files).
fn standard_json(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let (mut in_string, mut escaped) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if let Some(t) = matches!(b, b'-' | b'I' | b'N')
            .then(|| TOKENS.iter().find(|t| bytes[i..].starts_with(t)))
            .flatten()
        {
            let out = out.get_or_insert_with(|| {
                let mut v = Vec::with_capacity(bytes.len() + bytes.len() / 8);
                v.extend_from_slice(&bytes[..i]);
                v
            });
            out.extend_from_slice(b"null");
            i += t.len();
            continue;
        }
        if let Some(out) = &mut out {
            out.push(b);
        }
        i += 1;
    }
    match out {
        Some(v) => std::borrow::Cow::Owned(v),
        None => std::borrow::Cow::Borrowed(bytes),
    }
}

fn log_of_mean(m: f64) -> Result<f64, ImportError> {
    if m > 0.0 {
        // In f32, as XGBoost takes it (`logf` of its float base_score).
        Ok(f64::from((m as f32).ln()))
    } else {
        Err(invalid(format!(
            "base_score {m} is not a positive mean for a log link"
        )))
    }
}

pub(crate) fn parse(bytes: &[u8], options: &ImportOptions) -> Result<Parsed, ImportError> {
    let bytes = standard_json(bytes);
    let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| ImportError::Parse {
        format: FORMAT,
        reason: bounded(e.to_string()),
    })?;
    let learner = doc.learner;
    let limits = options.ensemble_limits();
    let booster = match learner.gradient_booster.name.as_str() {
        "gbtree" => learner.gradient_booster,
        other => {
            return Err(unsupported(format!(
                "booster `{other}` (only gbtree; dart and gblinear are not served)"
            )));
        }
    };
    let model = booster
        .model
        .ok_or_else(|| invalid("gradient_booster has no model".into()))?;
    let n_features = count(&learner.learner_model_param.num_feature, "num_feature")?;
    check_count(FORMAT, "features", n_features, options.feature_limit())?;
    if let Some(t) = &learner.learner_model_param.num_target
        && count(t, "num_target")? > 1
    {
        return Err(unsupported("multi-target models".into()));
    }
    let num_class = match &learner.learner_model_param.num_class {
        Some(c) => count(c, "num_class")?,
        None => 0,
    };
    let objective = learner.objective.name;
    let base = base_scores(&learner.learner_model_param.base_score)?;
    let groups = num_class.max(1);
    check_count(FORMAT, "classes", groups, 1 << 16)?;
    let base_for = |f: &dyn Fn(f64) -> Result<f64, ImportError>| -> Result<Vec<f64>, ImportError> {
        let v = match base.len() {
            1 => vec![base[0]; groups],
            n if n == groups => base.clone(),
            n => {
                return Err(invalid(format!(
                    "base_score has {n} values for {groups} output groups"
                )));
            }
        };
        v.into_iter().map(f).collect()
    };
    let identity = |v: f64| Ok(v);
    let (classes, link, base) = match objective.as_str() {
        "binary:logistic" => (
            Some(vec!["0".to_string(), "1".to_string()]),
            Link::Sigmoid { scale: 1.0 },
            base_for(&logit)?,
        ),
        "multi:softprob" | "multi:softmax" => {
            if num_class < 2 {
                return Err(invalid(format!("{objective} with num_class {num_class}")));
            }
            (
                Some((0..num_class).map(|c| c.to_string()).collect()),
                Link::Softmax,
                base_for(&identity)?,
            )
        }
        "reg:squarederror"
        | "reg:absoluteerror"
        | "reg:pseudohubererror"
        | "reg:squaredlogerror"
        // One quantile (several are a multi-target model, refused above).
        | "reg:quantileerror"
        | "rank:pairwise"
        | "rank:ndcg"
        | "rank:map" => (None, Link::Identity, base_for(&identity)?),
        "reg:logistic" => (None, Link::Sigmoid { scale: 1.0 }, base_for(&logit)?),
        // The margin itself (base_score is stored as a margin too).
        "binary:logitraw" => (None, Link::Identity, base_for(&identity)?),
        // Log links: base_score is a mean, taken to margin space by ln.
        // Cox regression predicts the hazard ratio, exp of the margin.
        "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" => {
            (None, Link::Exp, base_for(&log_of_mean)?)
        }
        other => return Err(unsupported(format!("objective `{other}`"))),
    };
    if classes.is_none() && groups != 1 {
        return Err(invalid(format!("{objective} with num_class {num_class}")));
    }

    // Features: names and types from the file, levels from the 3.x
    // category encoding where it names them.
    let mut features = Vec::with_capacity(n_features);
    for i in 0..n_features {
        let name = learner
            .feature_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("f{i}"));
        let (categorical, named) = match learner.feature_types.get(i).map(String::as_str) {
            Some("c") => match model.cats.as_ref().and_then(|c| c.enc.get(i)) {
                Some(e) => {
                    let (levels, named) = category_names(e, i, options)?;
                    (Some(levels), named)
                }
                None => (Some(Vec::new()), false),
            },
            _ => (None, false),
        };
        features.push(ProposedFeature {
            name,
            categorical,
            named,
        });
    }

    check_count(FORMAT, "trees", model.trees.len(), limits.max_trees)?;
    if model.tree_info.len() != model.trees.len() {
        return Err(invalid(format!(
            "tree_info has {} entries for {} trees",
            model.tree_info.len(),
            model.trees.len()
        )));
    }
    let (served, notes) = served_trees(learner.attributes.as_ref(), &model, groups, options)?;
    let mut total = 0usize;
    let mut trees = Vec::with_capacity(served);
    for (t, (tree, &group)) in model
        .trees
        .iter()
        .zip(&model.tree_info)
        .enumerate()
        .take(served)
    {
        if let Some(p) = &tree.tree_param
            && let Some(s) = &p.size_leaf_vector
            && count(s, "size_leaf_vector")? > 1
        {
            return Err(unsupported(format!(
                "tree {t} has vector leaves (multi-target trees)"
            )));
        }
        let n = tree.left_children.len();
        total = total.saturating_add(n);
        check_count(FORMAT, "nodes", total, limits.max_nodes)?;
        if tree.right_children.len() != n
            || tree.split_indices.len() != n
            || tree.split_conditions.len() != n
            || tree.default_left.len() != n
            || !(tree.split_type.is_empty() || tree.split_type.len() == n)
        {
            return Err(invalid(format!(
                "tree {t}: its node arrays differ in length"
            )));
        }
        let group = usize::try_from(group)
            .ok()
            .filter(|&g| g < groups)
            .ok_or_else(|| invalid(format!("tree {t} is for group {group}, not below {groups}")))?;
        let mut spec = TreeSpec::with_nodes(n, 1);
        spec.group = group;
        let index = |v: i64, what: &str, i: usize| {
            usize::try_from(v)
                .ok()
                .filter(|&c| c < n)
                .ok_or_else(|| invalid(format!("tree {t} node {i}: {what} {v} out of range")))
        };
        for i in 0..n {
            if tree.left_children[i] == -1 {
                spec.values[i] = tree.split_conditions[i];
                continue;
            }
            spec.left[i] = Some(index(tree.left_children[i], "left child", i)?);
            spec.right[i] = index(tree.right_children[i], "right child", i)?;
            spec.feature[i] = usize::try_from(tree.split_indices[i])
                .ok()
                .filter(|&f| f < n_features)
                .ok_or_else(|| {
                    invalid(format!(
                        "tree {t} node {i}: split feature {} outside the {n_features} features",
                        tree.split_indices[i]
                    ))
                })?;
            spec.threshold[i] = tree.split_conditions[i];
            spec.default_left[i] = tree.default_left[i].on();
            spec.missing[i] = MissingRule::Nan;
        }
        // Categorical splits: the listed categories go right.
        let m = tree.categories_nodes.len();
        if tree.categories_segments.len() != m || tree.categories_sizes.len() != m {
            return Err(invalid(format!(
                "tree {t}: category arrays differ in length"
            )));
        }
        for k in 0..m {
            let node = index(tree.categories_nodes[k], "categorical node", k)?;
            let start = usize::try_from(tree.categories_segments[k]).ok();
            let size = usize::try_from(tree.categories_sizes[k]).ok();
            let cats = match (start, size) {
                (Some(s), Some(z)) => s.checked_add(z).and_then(|e| tree.categories.get(s..e)),
                _ => None,
            }
            .ok_or_else(|| invalid(format!("tree {t} node {node}: categories out of range")))?;
            let cats = cats
                .iter()
                .map(|&c| {
                    u32::try_from(c)
                        .ok()
                        .filter(|&c| c <= limits.max_category)
                        .ok_or_else(|| {
                            invalid(format!("tree {t} node {node}: category {c} out of range"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if spec.left[node].is_none() {
                return Err(invalid(format!(
                    "tree {t} node {node}: a leaf with categories"
                )));
            }
            spec.categories[node] = Some(cats);
        }
        for (i, &st) in tree.split_type.iter().enumerate() {
            if st == 1 && spec.left[i].is_some() && spec.categories[i].is_none() {
                spec.categories[i] = Some(Vec::new());
            } else if st != 0 && st != 1 {
                return Err(invalid(format!("tree {t} node {i}: split type {st}")));
            }
        }
        trees.push(spec);
    }
    Ok(Parsed {
        features,
        classes,
        spec: EnsembleSpec {
            semantics: SplitSemantics::Xgboost,
            groups,
            leaf_width: 1,
            base,
            average: false,
            link,
            trees,
        },
        objective,
        notes,
    })
}

/// How many of the file's trees are served, and a note when the file
/// records an early-stopping best iteration before its last: XGBoost's
/// `Booster` predicts with every tree, its scikit-learn wrapper with the
/// trees up to the best iteration ([`ImportOptions::best_iteration`]
/// chooses).
fn served_trees(
    attributes: Option<&Attributes>,
    model: &GbModel,
    groups: usize,
    options: &ImportOptions,
) -> Result<(usize, Vec<String>), ImportError> {
    let all = model.trees.len();
    let Some(best) = attributes.and_then(|a| a.best_iteration.as_deref()) else {
        return Ok((all, Vec::new()));
    };
    let best = count(best, "best_iteration")?;
    let end = if model.iteration_indptr.is_empty() {
        // Files without the index: a fixed number of trees per iteration.
        let parallel = match model
            .gbtree_model_param
            .as_ref()
            .and_then(|p| p.num_parallel_tree.as_deref())
        {
            Some(n) => count(n, "num_parallel_tree")?.max(1),
            None => 1,
        };
        best.checked_add(1)
            .and_then(|i| i.checked_mul(groups))
            .and_then(|i| i.checked_mul(parallel))
    } else {
        let ptr = &model.iteration_indptr;
        let ordered = ptr.first() == Some(&0)
            && ptr.windows(2).all(|w| w[0] <= w[1])
            && usize::try_from(ptr[ptr.len() - 1]).ok() == Some(all);
        if !ordered {
            return Err(invalid(format!(
                "iteration_indptr of {} entries does not index the {all} trees in order",
                ptr.len()
            )));
        }
        best.checked_add(1)
            .and_then(|i| ptr.get(i))
            .and_then(|&e| usize::try_from(e).ok())
    }
    .filter(|&e| e <= all)
    .ok_or_else(|| invalid(format!("best_iteration {best} is past the model's trees")))?;
    if end == all {
        return Ok((all, Vec::new()));
    }
    let note = if options.only_best_iteration() {
        format!(
            "served the {end} of {all} trees up to best_iteration {best} (early stopping), \
             as XGBoost's scikit-learn wrapper predicts"
        )
    } else {
        format!(
            "the file records best_iteration {best} (early stopping): all {all} trees are \
             served, as Booster.predict and inplace_predict do; XGBClassifier and \
             XGBRegressor predict with the first {end}, which importing with \
             best_iteration (`--best-iteration`) serves"
        )
    };
    Ok((
        if options.only_best_iteration() {
            end
        } else {
            all
        },
        vec![note],
    ))
}
