"""Export a fitted scikit-learn tree model to the JSON that
`modelhost import --format sklearn` reads.

Usage as a script (the model pickled with joblib or pickle):

    python scripts/export_sklearn.py model.pkl model.json [feature names...]

or from Python:

    from export_sklearn import export
    json.dump(export(model, feature_names=[...]), open("model.json", "w"))

Supported: DecisionTreeClassifier/Regressor, RandomForestClassifier/
Regressor, ExtraTreesClassifier/Regressor, GradientBoostingClassifier/
Regressor and HistGradientBoostingClassifier/Regressor (single output).

It reads the public tree attributes (`tree_.children_left`,
`children_right`, `feature`, `threshold`, `missing_go_to_left`, `value`;
`estimators_`, `init_`, `classes_`, `learning_rate`). HistGradientBoosting
has no public tree attributes at all: for it the exporter reads
`_predictors` (each predictor's `nodes` and `raw_left_cat_bitsets`) and
`_baseline_prediction`, which have kept their form since scikit-learn 0.24;
the version written in the file lets modelhost refuse what it does not know.

The format (`modelhost-sklearn-trees`, version 1) is documented in the
modelhost crate's `import` module.
"""

import sys

import numpy as np

FORMAT = "modelhost-sklearn-trees"


def _threshold(v):
    """scikit-learn writes an infinite threshold where a split only sends
    missing values one way (every number goes left); JSON has no infinity,
    and the largest finite double sends every number left just the same
    (only an input of +inf itself would go the other way)."""
    v = float(v)
    if v == float("inf"):
        return sys.float_info.max
    if v == float("-inf"):
        return -sys.float_info.max
    return v


def _counts_in_leaves():
    """Whether classifier trees hold class counts in `tree_.value`, which
    `predict_proba` divides by their sum (scikit-learn before 1.4), or
    the fractions `predict_proba` returns as they are (1.4 and later):
    dividing fractions by their sum again moves some by an ulp, enough to
    flip a tie between two classes."""
    import sklearn

    major, minor = (int(p) for p in sklearn.__version__.split(".")[:2])
    return (major, minor) < (1, 4)


def _tree(tree, group, leaf_width, scale=1.0, normalize=False):
    t = tree.tree_
    left = t.children_left.tolist()
    leaf = [l == -1 for l in left]
    value = t.value[:, 0, :] if leaf_width > 1 else t.value[:, 0, :1]
    value = np.asarray(value, dtype=np.float64)
    if normalize:
        sums = value.sum(axis=1, keepdims=True)
        sums[sums == 0] = 1.0
        value = value / sums
    value = value * scale
    missing = getattr(t, "missing_go_to_left", None)
    missing = [bool(m) for m in missing] if missing is not None else [False] * t.node_count
    return {
        "group": group,
        "left": [-1 if l else int(c) for l, c in zip(leaf, left)],
        "right": [-1 if l else int(c) for l, c in zip(leaf, t.children_right.tolist())],
        "feature": [0 if l else int(f) for l, f in zip(leaf, t.feature.tolist())],
        "threshold": [0.0 if l else _threshold(v) for l, v in zip(leaf, t.threshold.tolist())],
        "missing_left": missing,
        "value": [float(v) for v in value.reshape(-1)],
    }


def _hist_tree(predictor, group, columns, levels):
    nodes = predictor.nodes
    bitsets = predictor.raw_left_cat_bitsets
    out = {"group": group, "left": [], "right": [], "feature": [], "threshold": [],
           "missing_left": [], "value": [], "categories": []}
    for n in nodes:
        leaf = bool(n["is_leaf"])
        out["left"].append(-1 if leaf else int(n["left"]))
        out["right"].append(-1 if leaf else int(n["right"]))
        out["feature"].append(0 if leaf else columns[int(n["feature_idx"])])
        out["threshold"].append(0.0 if leaf else _threshold(n["num_threshold"]))
        out["missing_left"].append(bool(n["missing_go_to_left"]))
        out["value"].append(float(n["value"]) if leaf else 0.0)
        if not leaf and n["is_categorical"]:
            words = bitsets[int(n["bitset_idx"])]
            codes = [w * 32 + b for w, word in enumerate(words) for b in range(32)
                     if int(word) >> b & 1]
            values = levels.get(int(n["feature_idx"]))
            cats = codes if values is None else [_category(values[c]) for c in codes]
            out["categories"].append(cats)
        else:
            out["categories"].append(None)
    return out


def _category(value):
    v = float(value)
    if not (v >= 0 and v == int(v)):
        raise ValueError(f"category {value!r} is not a non-negative integer code")
    return int(v)


def _hist_columns(model, n_features):
    """Where each column the trees split on comes from, and for categorical
    columns the raw value of each ordinal code: scikit-learn re-encodes
    categorical columns (first, with an OrdinalEncoder) before binning."""
    pre = getattr(model, "_preprocessor", None)
    if pre is None:
        return list(range(n_features)), {}
    columns, levels = [], {}
    for name, transformer, mask in pre.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else list(mask)
        for j, original in enumerate(idx):
            if hasattr(transformer, "categories_"):
                levels[len(columns)] = list(transformer.categories_[j])
            columns.append(int(original))
    return columns, levels


def export(model, feature_names=None):
    """The JSON document (a dict) describing `model`."""
    import sklearn
    from sklearn import ensemble, tree

    name = type(model).__name__
    n_features = int(model.n_features_in_)
    if feature_names is None and hasattr(model, "feature_names_in_"):
        feature_names = [str(f) for f in model.feature_names_in_]
    classes = [str(c) for c in model.classes_] if hasattr(model, "classes_") else None
    doc = {
        "format": FORMAT,
        "format_version": 1,
        "sklearn_version": sklearn.__version__,
        "estimator": name,
        "n_features": n_features,
        "feature_names": feature_names,
        "classes": classes,
        "input": "float32",
        "average": False,
        "link": "identity",
    }
    k = len(classes) if classes else 1
    if getattr(model, "n_outputs_", 1) != 1:
        raise ValueError("only single-output models are supported")

    if isinstance(model, (tree.DecisionTreeClassifier, ensemble.RandomForestClassifier,
                          ensemble.ExtraTreesClassifier)):
        trees = [model] if isinstance(model, tree.DecisionTreeClassifier) else model.estimators_
        doc.update(groups=k, leaf_width=k, base=[0.0] * k, average=True,
                   trees=[_tree(t, 0, k, normalize=_counts_in_leaves()) for t in trees])
    elif isinstance(model, (tree.DecisionTreeRegressor, ensemble.RandomForestRegressor,
                            ensemble.ExtraTreesRegressor)):
        trees = [model] if isinstance(model, tree.DecisionTreeRegressor) else model.estimators_
        doc.update(groups=1, leaf_width=1, base=[0.0], average=True,
                   trees=[_tree(t, 0, 1) for t in trees])
    elif isinstance(model, (ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor)):
        init = model.init_
        lr = float(model.learning_rate)
        if isinstance(model, ensemble.GradientBoostingClassifier):
            exponential = model.loss == "exponential"
            if model.loss != "log_loss" and not exponential:
                raise ValueError(f"loss {model.loss!r} is not supported")
            if init == "zero":
                prior = None
            elif type(init).__name__ == "DummyClassifier":
                eps = np.finfo(np.float32).eps
                prior = np.clip(np.asarray(init.class_prior_, dtype=np.float64), eps, 1 - eps)
            else:
                raise ValueError("only the default (prior) or 'zero' init is supported")
            if k == 2:
                # The exponential loss's link is half the logit: its
                # margins are half log-odds, its probability expit(2 m).
                half = 0.5 if exponential else 1.0
                base = [0.0] if prior is None else [half * float(np.log(prior[1] / (1 - prior[1])))]
                doc.update(groups=1, link="half_logit" if exponential else "logistic")
            else:
                logp = np.zeros(k) if prior is None else np.log(prior)
                base = [float(v) for v in logp - logp.mean()]
                doc.update(groups=k, link="softmax")
        else:
            if init == "zero":
                base = [0.0]
            elif type(init).__name__ == "DummyRegressor":
                base = [float(np.asarray(init.constant_).reshape(-1)[0])]
            else:
                raise ValueError("only the default or 'zero' init is supported")
            doc.update(groups=1)
        stages = model.estimators_
        doc.update(leaf_width=1, base=base,
                   trees=[_tree(stages[i, j], j, 1, scale=lr)
                          for i in range(stages.shape[0]) for j in range(stages.shape[1])])
    elif isinstance(model, (ensemble.HistGradientBoostingClassifier,
                            ensemble.HistGradientBoostingRegressor)):
        per_iter = int(model.n_trees_per_iteration_)
        loss = model.loss
        if isinstance(model, ensemble.HistGradientBoostingClassifier):
            link = "logistic" if per_iter == 1 else "softmax"
        elif loss in ("squared_error", "absolute_error", "quantile"):
            link = "identity"
        elif loss in ("poisson", "gamma"):
            link = "exp"
        else:
            raise ValueError(f"loss {loss!r} is not supported")
        columns, levels = _hist_columns(model, n_features)
        base = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        # The categories seen in training, per categorical column: any
        # other category is treated as missing when predicting.
        known = [None] * n_features
        for j, values in levels.items():
            known[columns[j]] = [_category(v) for v in values if not np.isnan(float(v))]
        doc.update(known_categories=known)
        doc.update(input="float64", groups=per_iter, leaf_width=1, link=link,
                   base=[float(v) for v in base],
                   trees=[_hist_tree(p, j, columns, levels) for it in model._predictors for j, p in enumerate(it)])
    else:
        raise ValueError(f"{name} is not supported")
    return doc


def main(argv):
    import json
    import pickle

    if len(argv) < 3:
        print(__doc__)
        return 2
    with open(argv[1], "rb") as f:
        model = pickle.load(f)
    names = argv[3:] or None
    with open(argv[2], "w") as f:
        json.dump(export(model, feature_names=names), f, allow_nan=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
