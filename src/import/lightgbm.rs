//! LightGBM's text model (`save_model("model.txt")`), 4.x.
//!
//! The layout follows LightGBM's `gbdt_model_text.cpp` and `tree.cpp`: a
//! header of `key=value` lines (`num_class`, `num_tree_per_iteration`,
//! `max_feature_idx`, `objective`, `feature_names`, `feature_infos`,
//! `average_output`), then one `Tree=i` block per tree with
//! `num_leaves`, `split_feature`, `threshold`, `decision_type`,
//! `left_child`/`right_child` (a negative child `c` is leaf `!c`),
//! `leaf_value`, `cat_boundaries`/`cat_threshold`, `is_linear`, and
//! `end of trees`. `decision_type` packs bit 0 categorical, bit 1
//! default-left, bits 2–3 the missing type (0 None, 1 Zero, 2 NaN).

use super::{
    CategoryValues, ImportError, ImportFormat, ImportOptions, Parsed, ProposedFeature, bounded,
    check_count,
};
use crate::model::{EnsembleSpec, Link, MissingRule, SplitSemantics, TreeSpec};

const FORMAT: ImportFormat = ImportFormat::LightGbm;

fn parse_err(line: usize, reason: String) -> ImportError {
    ImportError::Parse {
        format: FORMAT,
        reason: bounded(format!("line {line}: {reason}")),
    }
}

fn invalid(reason: String) -> ImportError {
    ImportError::invalid(FORMAT, reason)
}

fn unsupported(what: String) -> ImportError {
    ImportError::unsupported(FORMAT, what)
}

/// A `Tree=` block's fields, each with the line it was on.
#[derive(Default)]
struct Block<'a> {
    fields: Vec<(&'a str, &'a str, usize)>,
    line: usize,
}

impl<'a> Block<'a> {
    fn get(&self, key: &str) -> Option<(&'a str, usize)> {
        self.fields
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|&(_, v, l)| (v, l))
    }

    fn list<T: std::str::FromStr>(&self, key: &str, n: usize) -> Result<Vec<T>, ImportError> {
        let Some((v, line)) = self.get(key) else {
            return Err(parse_err(self.line, format!("the tree has no `{key}`")));
        };
        let mut out = Vec::with_capacity(n);
        for item in v.split_ascii_whitespace() {
            if out.len() == n {
                return Err(parse_err(line, format!("`{key}` has more than {n} values")));
            }
            out.push(
                item.parse::<T>().map_err(|_| {
                    parse_err(line, format!("`{key}` value `{item}` does not parse"))
                })?,
            );
        }
        if out.len() != n {
            return Err(parse_err(
                line,
                format!("`{key}` has {} values, not {n}", out.len()),
            ));
        }
        Ok(out)
    }

    fn one<T: std::str::FromStr>(&self, key: &str) -> Result<T, ImportError> {
        Ok(self.list::<T>(key, 1)?.remove(0))
    }
}

/// Names the categorical features' levels from the `pandas_categorical`
/// line the Python package writes after the parameters when the model was
/// trained on a DataFrame with category columns: one list per categorical
/// feature, in feature order, each category at its code. `null` (or no
/// line) leaves the codes as levels.
fn name_categories(
    text: &str,
    mut features: Vec<ProposedFeature>,
    options: &ImportOptions,
) -> Result<Vec<ProposedFeature>, ImportError> {
    let Some(line) = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("pandas_categorical:"))
    else {
        return Ok(features);
    };
    let lists: Option<Vec<CategoryValues>> = serde_json::from_str(line.trim())
        .map_err(|e| invalid(format!("pandas_categorical does not parse: {e}")))?;
    let Some(lists) = lists else {
        return Ok(features);
    };
    let categorical = features.iter().filter(|f| f.categorical.is_some()).count();
    if lists.len() != categorical {
        return Err(invalid(format!(
            "pandas_categorical lists {} features, the model has {categorical} categorical features",
            lists.len()
        )));
    }
    for (feature, list) in features
        .iter_mut()
        .filter(|f| f.categorical.is_some())
        .zip(lists)
    {
        check_count(FORMAT, "categories", list.len(), options.max_levels)?;
        // Numbered categories may be given names by the schema file;
        // named ones must keep their order there.
        feature.named = list.are_strings();
        feature.categorical = Some(list.to_levels());
    }
    Ok(features)
}

pub(crate) fn parse(bytes: &[u8], options: &ImportOptions) -> Result<Parsed, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::Parse {
        format: FORMAT,
        reason: bounded(format!("not UTF-8 text: {e}")),
    })?;
    let limits = options.ensemble_limits();
    let mut header = Block::default();
    let mut trees: Vec<Block<'_>> = Vec::new();
    let mut average_output = false;
    let mut ended = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        if l.is_empty() {
            continue;
        }
        if l == "end of trees" {
            ended = true;
            break;
        }
        if l == "average_output" {
            average_output = true;
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            if trees.is_empty() && line == 1 && l == "tree" {
                continue;
            }
            return Err(parse_err(
                line,
                format!(
                    "`{}` is not key=value",
                    l.chars().take(40).collect::<String>()
                ),
            ));
        };
        if key == "Tree" {
            check_count(FORMAT, "trees", trees.len() + 1, limits.max_trees)?;
            trees.push(Block {
                fields: Vec::new(),
                line,
            });
            continue;
        }
        match trees.last_mut() {
            Some(t) => t.fields.push((key, value, line)),
            None => header.fields.push((key, value, line)),
        }
    }
    if !ended {
        return Err(parse_err(
            text.lines().count(),
            "no `end of trees` line: truncated?".into(),
        ));
    }
    header.line = 1;
    if header.get("version").is_none() {
        return Err(parse_err(
            1,
            "no `version` line: not a LightGBM model".into(),
        ));
    }
    let num_class: usize = header.one("num_class")?;
    let per_iter: usize = header.one("num_tree_per_iteration")?;
    let max_feature: usize = header.one("max_feature_idx")?;
    check_count(FORMAT, "features", max_feature + 1, options.feature_limit())?;
    check_count(FORMAT, "classes", num_class, 1 << 16)?;
    let n_features = max_feature + 1;
    let names: Vec<String> = header.list("feature_names", n_features)?;
    let infos: Vec<String> = header.list("feature_infos", n_features)?;
    let (objective_line, _) = header
        .get("objective")
        .ok_or_else(|| parse_err(1, "no `objective` line".into()))?;
    let mut words = objective_line.split_ascii_whitespace();
    let objective = words.next().unwrap_or("").to_string();
    let param = |name: &str| {
        objective_line
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
    };
    if objective_line.split_ascii_whitespace().any(|w| w == "sqrt") {
        return Err(unsupported(
            "`reg_sqrt` regression (predictions are squared)".into(),
        ));
    }
    let sigmoid = match param("sigmoid") {
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or_else(|| invalid(format!("sigmoid `{s}`")))?,
        None => 1.0,
    };
    let classes = |k: usize| Some((0..k).map(|c| c.to_string()).collect::<Vec<_>>());
    let (classes, link, groups) = match objective.as_str() {
        "binary" => (classes(2), Link::Sigmoid { scale: sigmoid }, 1),
        "multiclass" | "softmax" => (classes(num_class), Link::Softmax, num_class),
        "multiclassova" | "multiclass_ova" | "ova" | "ovr" => (
            classes(num_class),
            Link::Sigmoid { scale: sigmoid },
            num_class,
        ),
        "regression" | "regression_l2" | "regression_l1" | "huber" | "fair" | "quantile"
        | "mape" | "lambdarank" | "rank_xendcg" => (None, Link::Identity, 1),
        "poisson" | "gamma" | "tweedie" => (None, Link::Exp, 1),
        "cross_entropy" | "xentropy" => (None, Link::Sigmoid { scale: 1.0 }, 1),
        other => return Err(unsupported(format!("objective `{other}`"))),
    };
    if per_iter != groups {
        return Err(invalid(format!(
            "num_tree_per_iteration is {per_iter} for {objective} with {groups} outputs"
        )));
    }
    let features = names
        .into_iter()
        .zip(&infos)
        .map(|(name, info)| {
            // Numeric: `[min:max]` or `none`; categorical: the codes seen,
            // `0:4:1:-1`. A row carries the code itself, so the proposed
            // vocabulary is the codes 0..=max, each at its own index.
            let categorical = (!info.starts_with('[') && info != "none").then(|| {
                let max = info
                    .split(':')
                    .filter_map(|c| c.parse::<i64>().ok())
                    .max()
                    .unwrap_or(-1)
                    .min(i64::from(options.ensemble_limits().max_category));
                (0..=max).map(|c| c.to_string()).collect()
            });
            ProposedFeature {
                name,
                categorical,
                named: false,
            }
        })
        .collect::<Vec<_>>();
    let features = name_categories(text, features, options)?;

    let mut total = 0usize;
    let mut specs = Vec::with_capacity(trees.len());
    for (t, block) in trees.iter().enumerate() {
        let leaves: usize = block.one("num_leaves")?;
        if leaves == 0 {
            return Err(invalid(format!("tree {t} has no leaves")));
        }
        let n = leaves.saturating_mul(2) - 1;
        total = total.saturating_add(n);
        check_count(FORMAT, "nodes", total, limits.max_nodes)?;
        if let Some((v, _)) = block.get("is_linear")
            && v.trim() != "0"
        {
            return Err(unsupported(format!(
                "tree {t} is a linear tree (linear_tree=true)"
            )));
        }
        let values: Vec<f64> = block.list("leaf_value", leaves)?;
        let mut spec = TreeSpec::with_nodes(n, 1);
        spec.group = t % groups;
        let inner = leaves - 1;
        for (l, v) in values.iter().enumerate() {
            spec.values[inner + l] = *v;
        }
        if inner > 0 {
            let feature: Vec<usize> = block.list("split_feature", inner)?;
            let threshold: Vec<f64> = block.list("threshold", inner)?;
            let decision: Vec<u8> = block.list("decision_type", inner)?;
            let left: Vec<i64> = block.list("left_child", inner)?;
            let right: Vec<i64> = block.list("right_child", inner)?;
            let num_cat: usize = block.one("num_cat")?;
            check_count(FORMAT, "category splits", num_cat, inner)?;
            let (bounds, words) = if num_cat > 0 {
                let bounds: Vec<usize> = block.list("cat_boundaries", num_cat + 1)?;
                let n_words = bounds.last().copied().unwrap_or(0);
                check_count(
                    FORMAT,
                    "category words",
                    n_words,
                    ((limits.max_category as usize >> 5) + 1) * num_cat,
                )?;
                let words: Vec<u32> = block.list("cat_threshold", n_words)?;
                (bounds, words)
            } else {
                (Vec::new(), Vec::new())
            };
            let child = |c: i64, i: usize| -> Result<usize, ImportError> {
                let node = if c >= 0 {
                    usize::try_from(c).ok().filter(|&c| c < inner)
                } else {
                    usize::try_from(!c)
                        .ok()
                        .filter(|&l| l < leaves)
                        .map(|l| inner + l)
                };
                node.ok_or_else(|| invalid(format!("tree {t} node {i}: child {c} out of range")))
            };
            for i in 0..inner {
                spec.left[i] = Some(child(left[i], i)?);
                spec.right[i] = child(right[i], i)?;
                if feature[i] >= n_features {
                    return Err(invalid(format!(
                        "tree {t} node {i}: split feature {} outside the {n_features} features",
                        feature[i]
                    )));
                }
                spec.feature[i] = feature[i];
                let d = decision[i];
                spec.default_left[i] = d & 2 != 0;
                spec.missing[i] = match (d >> 2) & 3 {
                    0 => MissingRule::AsZero,
                    1 => MissingRule::Zero,
                    2 => MissingRule::Nan,
                    m => return Err(invalid(format!("tree {t} node {i}: missing type {m}"))),
                };
                if d & 1 != 0 {
                    let k = threshold[i];
                    let k = (k >= 0.0 && k.fract() == 0.0 && (k as usize) < num_cat)
                        .then_some(k as usize)
                        .ok_or_else(|| {
                            invalid(format!("tree {t} node {i}: category set {k} out of range"))
                        })?;
                    let (s, e) = (bounds[k], bounds[k + 1]);
                    let set = words.get(s..e).filter(|_| s <= e).ok_or_else(|| {
                        invalid(format!(
                            "tree {t} node {i}: category boundaries out of range"
                        ))
                    })?;
                    let cats: Vec<u32> = set
                        .iter()
                        .enumerate()
                        .flat_map(|(w, &word)| {
                            (0..32)
                                .filter(move |b| word >> b & 1 == 1)
                                .map(move |b| (w * 32 + b) as u32)
                        })
                        .collect();
                    // NaN goes right at LightGBM's categorical splits.
                    spec.default_left[i] = false;
                    spec.categories[i] = Some(cats);
                } else {
                    spec.threshold[i] = threshold[i];
                }
            }
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Err(invalid("the model has no trees".into()));
    }
    if specs.len() % groups != 0 {
        return Err(invalid(format!(
            "{} trees is not a whole number of iterations of {groups}",
            specs.len()
        )));
    }
    Ok(Parsed {
        features,
        classes,
        spec: EnsembleSpec {
            semantics: SplitSemantics::LightGbm,
            groups,
            leaf_width: 1,
            base: vec![0.0; groups],
            average: average_output,
            link,
            trees: specs,
        },
        objective,
        notes: Vec::new(),
    })
}
