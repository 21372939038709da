"""Train many small models with random settings and random data, and save
each with the library's own predictions, for tests/import_parity.rs.

Usage: python scripts/parity_sweep.py OUT_DIR [--seed S] [--count N]
                                              [--only xgboost|lightgbm|sklearn]

Where scripts/parity_models.py trains every supported objective once on one
data set, this draws for every model its own data (1 to 27 features named
plainly, with spaces and non-ASCII letters, or not at all; scales from
1e-4 to 1e6, ties, constant columns, up to 40% NaN; up to three
categorical columns of 2 to 40 levels, now and then hundreds, some never
seen in training) and its own settings (depth, leaves, rounds, learning
rate, sampling, growth policy, pruning, parallel trees, missing-value and
categorical handling, boosting mode, objective, 2 to 11 classes, class
labels that are not 0..k-1). The rows predicted include values far
outside the training range and categories training never saw.

Writes into OUT_DIR, per model NAME: NAME.data.csv (rows, encoded as
modelhost encodes them), NAME.schema.json, the model file, NAME.pred.csv,
and manifest.json with one entry per model naming them (the format
scripts/parity_models.py writes, with `data` and `schema` per entry).

The same seed gives the same models for the same library versions.
"""

import json
import os
import sys

import numpy as np
import pandas as pd

ROWS = 1_500
TRAIN = 1_000


def make_data(rng):
    """Random columns: floats of random scale, ties, constants, NaNs; and
    categorical columns (codes) of random sizes."""
    n_float = int(rng.integers(1, 25))
    n_cat = int(rng.integers(0, 4))
    cols = {}
    kinds = []
    for j in range(n_float):
        scale = 10.0 ** rng.uniform(-4, 6)
        shape = rng.integers(0, 5)
        if shape == 0:
            x = rng.normal(size=ROWS) * scale
        elif shape == 1:
            x = np.round(rng.normal(size=ROWS) * 3)  # integers: ties everywhere
        elif shape == 2:
            x = np.full(ROWS, float(rng.normal()))  # constant: never split on
        elif shape == 3:
            x = rng.exponential(size=ROWS) * scale
        else:
            x = np.where(rng.random(ROWS) < 0.5, 0.0, rng.normal(size=ROWS))  # many zeros
        nan_rate = [0.0, 0.0, 0.05, 0.4][rng.integers(0, 4)]
        x = np.where(rng.random(ROWS) < nan_rate, np.nan, x)
        # Rows past training: values far outside the training range.
        tail = rng.random(ROWS) < 0.03
        tail[:TRAIN] = False
        x = np.where(tail, rng.choice([-1e30, 1e30, -3e38, 3e38], size=ROWS), x)
        cols[f"f{j}"] = x
        kinds.append(("float", None))
    for j in range(n_cat):
        # Mostly small vocabularies, now and then one of hundreds.
        levels = int(rng.integers(2, 41) if rng.random() < 0.85 else rng.integers(41, 400))
        # Training sees only some levels; the rows after training all.
        seen = max(1, int(levels * rng.uniform(0.5, 1.0)))
        codes = rng.integers(0, seen, size=ROWS)
        codes[TRAIN:] = rng.integers(0, levels, size=ROWS - TRAIN)
        cols[f"c{j}"] = codes
        kinds.append(("categorical", levels))
    names = list(cols)
    style = pick(rng, ["plain", "plain", "odd", "none"])
    if style == "odd":
        # Spaces, non-ASCII letters, brackets the libraries allow.
        names = [f"Größe {n} (€)" if n.startswith("f") else f"Kategorie {n}" for n in names]
        cols = dict(zip(names, cols.values()))
    order = rng.permutation(len(names))  # categoricals anywhere, not last
    names = [names[i] for i in order]
    kinds = [kinds[i] for i in order]
    numeric = pd.DataFrame({n: np.asarray(cols[n], dtype=np.float64) for n in names})
    X = numeric.to_numpy()
    # A target that uses a few columns (NaN as 0) and the categories.
    w = rng.normal(size=X.shape[1])
    logit = np.nan_to_num(np.clip(X, -5, 5)) @ w
    logit += np.sin(np.nan_to_num(np.clip(X[:, 0], -5, 5)) * 3)
    for j, (k, levels) in enumerate(kinds):
        if k == "categorical":
            logit += rng.normal(size=levels)[X[:, j].astype(int)]
    logit = (logit - logit.mean()) / (logit.std() + 1e-9)
    return names, kinds, X, logit, style == "none"


def targets(rng, logit, task):
    noise = rng.normal(scale=0.5, size=len(logit))
    if task == "binary":
        return (logit + noise > rng.normal(scale=0.5)).astype(int)
    if task == "multi":
        k = int(rng.integers(3, 6) if rng.random() < 0.8 else rng.integers(6, 12))
        return np.digitize(logit + noise, np.quantile(logit, np.linspace(0, 1, k + 1)[1:-1]))
    if task == "positive":
        return np.exp(0.5 * (logit + noise))
    if task == "rank":
        return np.digitize(logit + noise, [-0.5, 0.5, 1.5])
    return logit * rng.uniform(0.1, 100) + noise


def frame(names, kinds, X):
    """The rows as a DataFrame whose categorical columns are pandas
    categories over all their levels."""
    df = pd.DataFrame(X, columns=names)
    for n, (k, levels) in zip(names, kinds):
        if k == "categorical":
            df[n] = pd.Categorical(X[:, names.index(n)].astype(int), categories=list(range(levels)))
    return df


def write_rows(path, names, X):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        for row in X:
            f.write(",".join("nan" if np.isnan(v) else repr(float(v)) for v in row) + "\n")


def write_schema(path, names, kinds):
    features = []
    for n, (k, levels) in zip(names, kinds):
        if k == "categorical":
            features.append({"name": n, "type": "categorical",
                             "levels": [f"L{i}" for i in range(levels)]})
        else:
            features.append({"name": n, "type": "float", "allow_non_finite": True})
    with open(path, "w") as f:
        json.dump({"features": features}, f)


def write_preds(path, proba=None, classes=None, scores=None):
    with open(path, "w") as f:
        if scores is not None:
            f.write("score\n")
            for s in np.asarray(scores, dtype=np.float64).reshape(-1):
                f.write(f"{float(s)!r}\n")
        else:
            proba = np.asarray(proba, dtype=np.float64)
            f.write("class," + ",".join(f"p{i}" for i in range(proba.shape[1])) + "\n")
            for c, row in zip(classes, proba):
                f.write(f"{int(c)}," + ",".join(repr(float(v)) for v in row) + "\n")


def pick(rng, options):
    return options[int(rng.integers(0, len(options)))]


def xgboost_model(rng, names, kinds, X, logit, out, name, unnamed):
    import xgboost as xgb

    objective, task = pick(rng, [
        ("binary:logistic", "binary"), ("binary:logistic", "binary"),
        ("multi:softprob", "multi"), ("multi:softmax", "multi"),
        ("reg:squarederror", "reg"), ("reg:squarederror", "reg"),
        ("reg:absoluteerror", "reg"), ("reg:pseudohubererror", "reg"),
        ("binary:logitraw", "binary"), ("count:poisson", "positive"),
        ("reg:gamma", "positive"), ("reg:tweedie", "positive"),
        ("rank:pairwise", "rank"), ("rank:ndcg", "rank"),
    ])
    y = targets(rng, logit, task)
    has_cat = any(k == "categorical" for k, _ in kinds)
    method = pick(rng, ["hist", "hist", "approx"] + ([] if has_cat else ["exact"]))
    params = dict(objective=objective, tree_method=method, nthread=1,
                  seed=int(rng.integers(0, 1000)),
                  max_depth=int(rng.integers(1, 11)),
                  eta=float(rng.uniform(0.05, 1.0)),
                  min_child_weight=float(pick(rng, [0.0, 1.0, 5.0])),
                  gamma=float(pick(rng, [0.0, 0.0, 0.5])),
                  subsample=float(pick(rng, [1.0, 0.7])),
                  colsample_bynode=float(pick(rng, [1.0, 0.6])),
                  max_cat_to_onehot=int(pick(rng, [1, 4, 64])),
                  max_bin=int(pick(rng, [16, 256])))
    if method == "exact":
        params["colsample_bynode"] = 1.0  # not supported by the exact method
    if method != "exact" and rng.random() < 0.3:
        params.update(grow_policy="lossguide", max_depth=0, max_leaves=int(rng.integers(2, 64)))
    if rng.random() < 0.2 and objective != "reg:absoluteerror":  # not with adaptive leaves
        params["num_parallel_tree"] = int(rng.integers(2, 5))
    if rng.random() < 0.3 and task in ("binary", "reg"):
        params["base_score"] = float(rng.uniform(0.2, 0.8))
    if task == "multi":
        params["num_class"] = int(y.max()) + 1
    has_cat = any(k == "categorical" for k, _ in kinds)
    # Without names: a bare matrix (XGBoost's categories need a frame).
    df = X if unnamed and not has_cat else frame(names, kinds, X)
    d = xgb.DMatrix(df[:TRAIN] if df is X else df.iloc[:TRAIN], label=y[:TRAIN],
                    enable_categorical=True)
    if task == "rank":
        d.set_group(np.bincount(np.arange(TRAIN) // 25))
    booster = xgb.train(params, d, num_boost_round=int(rng.integers(1, 60)))
    booster.save_model(os.path.join(out, f"{name}.json"))
    raw = booster.inplace_predict(df)
    pred = os.path.join(out, f"{name}.pred.csv")
    if objective == "binary:logistic":
        p = np.asarray(raw, dtype=np.float32)
        write_preds(pred, np.stack([1 - p, p], axis=1), (p > 0.5).astype(int))
        return "classification", True, f"{name}.json", params
    if objective == "multi:softprob":
        write_preds(pred, raw, raw.argmax(axis=1))
        return "classification", True, f"{name}.json", params
    if objective == "multi:softmax":
        booster.set_param({"objective": "multi:softprob"})
        proba = booster.inplace_predict(df)
        write_preds(pred, proba, np.asarray(raw, dtype=int))
        return "classification", True, f"{name}.json", params
    write_preds(pred, scores=raw)
    return "regression", True, f"{name}.json", params


def lightgbm_model(rng, names, kinds, X, logit, out, name, unnamed):
    import lightgbm as lgb

    objective, task = pick(rng, [
        ("binary", "binary"), ("binary", "binary"), ("multiclass", "multi"),
        ("multiclassova", "multi"), ("regression", "reg"), ("regression", "reg"),
        ("regression_l1", "reg"), ("huber", "reg"), ("fair", "reg"), ("quantile", "reg"),
        ("poisson", "positive"), ("gamma", "positive"), ("tweedie", "positive"),
        ("lambdarank", "rank"), ("cross_entropy", "xentropy"),
    ])
    y = (0.1 + 0.8 * targets(rng, logit, "binary")) if task == "xentropy" else targets(rng, logit, task)
    params = dict(objective=objective, num_threads=1, verbose=-1, seed=int(rng.integers(0, 1000)),
                  num_leaves=int(rng.integers(2, 64)),
                  max_depth=int(pick(rng, [-1, -1, 3, 8])),
                  learning_rate=float(rng.uniform(0.05, 1.0)),
                  min_data_in_leaf=int(pick(rng, [1, 5, 20, 100])),
                  min_data_per_group=int(pick(rng, [1, 5, 50])),
                  cat_smooth=float(pick(rng, [0.0, 1.0, 10.0])),
                  max_cat_threshold=int(pick(rng, [1, 4, 32])),
                  max_cat_to_onehot=int(pick(rng, [1, 4, 64])),
                  zero_as_missing=bool(rng.random() < 0.2),
                  use_missing=bool(rng.random() < 0.9),
                  extra_trees=bool(rng.random() < 0.2),
                  max_bin=int(pick(rng, [15, 255])))
    boosting = pick(rng, ["gbdt", "gbdt", "gbdt", "rf", "dart", "goss"])
    params["boosting"] = boosting
    if boosting == "rf":
        params.update(bagging_fraction=0.7, bagging_freq=1, feature_fraction=0.8)
    if task == "multi":
        params["num_class"] = int(y.max()) + 1
    cats = [n for n, (k, _) in zip(names, kinds) if k == "categorical"]
    group = np.bincount(np.arange(TRAIN) // 25) if task == "rank" else None
    if unnamed:
        cats = [j for j, (k, _) in enumerate(kinds) if k == "categorical"]
    d = lgb.Dataset(X[:TRAIN], label=y[:TRAIN], group=group,
                    feature_name="auto" if unnamed else names,
                    categorical_feature=cats or "auto", free_raw_data=False)
    booster = lgb.train(params, d, num_boost_round=int(rng.integers(1, 60)))
    booster.save_model(os.path.join(out, f"{name}.txt"))
    raw = booster.predict(X)
    pred = os.path.join(out, f"{name}.pred.csv")
    if objective == "binary":
        write_preds(pred, np.stack([1 - raw, raw], axis=1), (raw > 0.5).astype(int))
        return "classification", False, f"{name}.txt", params
    if task == "multi":
        write_preds(pred, raw, raw.argmax(axis=1))
        return "classification", False, f"{name}.txt", params
    write_preds(pred, scores=raw)
    return "regression", False, f"{name}.txt", params


def sklearn_model(rng, names, kinds, X, logit, out, name, unnamed):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from export_sklearn import export
    from sklearn import ensemble, tree

    # HistGradientBoosting takes at most 255 categories a column; larger
    # vocabularies stay numeric codes there.
    cats = [j for j, (k, levels) in enumerate(kinds) if k == "categorical" and levels <= 255]
    kind = pick(rng, ["tree", "forest", "extra", "gb", "hgb", "hgb"])
    classify = rng.random() < 0.6
    task = pick(rng, ["binary", "multi"]) if classify else "reg"
    y = targets(rng, logit, task)
    if classify and rng.random() < 0.5:
        # Labels that are not 0..k-1: predict gives labels, the file
        # predicts class indices into classes_.
        y = np.asarray([3, 7, 10, 42, 99, 1000, 1001, 2000, 2001, 5000, 7777, 9999])[y]
    seed = int(rng.integers(0, 1000))
    depth = pick(rng, [None, 1, 4, 12])
    leaf = int(pick(rng, [1, 3, 20]))
    if kind in ("tree", "forest", "extra"):
        common = dict(max_depth=depth, min_samples_leaf=leaf, random_state=seed,
                      max_features=pick(rng, [None, 0.5, "sqrt"]))
        if kind == "tree":
            est = (tree.DecisionTreeClassifier if classify else tree.DecisionTreeRegressor)(
                splitter=pick(rng, ["best", "random"]), **common)
        else:
            cls = {("forest", True): ensemble.RandomForestClassifier,
                   ("forest", False): ensemble.RandomForestRegressor,
                   ("extra", True): ensemble.ExtraTreesClassifier,
                   ("extra", False): ensemble.ExtraTreesRegressor}[(kind, classify)]
            est = cls(n_estimators=int(rng.integers(1, 20)), **common)
        if classify and rng.random() < 0.3:
            est.set_params(class_weight="balanced")
        if not classify:
            est.set_params(criterion=pick(rng, ["squared_error", "absolute_error", "friedman_mse"])
                           if kind == "tree" else "squared_error")
    elif kind == "gb":
        X = np.nan_to_num(X, posinf=3e38, neginf=-3e38)
        common = dict(n_estimators=int(rng.integers(1, 40)), max_depth=pick(rng, [1, 3, 5]),
                      learning_rate=float(rng.uniform(0.05, 1.0)), random_state=seed,
                      subsample=float(pick(rng, [1.0, 0.7])), min_samples_leaf=leaf)
        if classify:
            loss = "exponential" if task == "binary" and rng.random() < 0.3 else "log_loss"
            est = ensemble.GradientBoostingClassifier(loss=loss, **common)
        else:
            est = ensemble.GradientBoostingRegressor(
                loss=pick(rng, ["squared_error", "absolute_error", "huber", "quantile"]),
                **common)
    else:
        common = dict(max_iter=int(rng.integers(1, 40)), learning_rate=float(rng.uniform(0.05, 1.0)),
                      max_leaf_nodes=int(pick(rng, [2, 8, 31, 63])), max_depth=pick(rng, [None, 3]),
                      min_samples_leaf=int(pick(rng, [1, 20])), random_state=seed,
                      categorical_features=cats or None, early_stopping=False,
                      max_bins=int(pick(rng, [16, 255])))
        if any(k == "categorical" and 16 < levels <= 255 for k, levels in kinds):
            common["max_bins"] = 255  # a category per bin
        if classify:
            est = ensemble.HistGradientBoostingClassifier(**common)
        else:
            loss = pick(rng, ["squared_error", "absolute_error", "poisson", "gamma", "quantile"])
            yy = np.abs(y) + 0.1 if loss in ("poisson", "gamma") else y
            y = yy
            est = ensemble.HistGradientBoostingRegressor(
                loss=loss, **({"quantile": 0.3} if loss == "quantile" else {}), **common)
        # Categorical codes above 255 are refused by HGB; ours stay below 40.
    p = est.get_params()
    if kind in ("tree", "forest", "extra") and (
            rng.random() < 0.5 or p.get("criterion") == "absolute_error"
            or p.get("splitter") == "random"):
        # NaN support in these estimators does not cover every setting.
        X = np.nan_to_num(X, nan=0.0)
    X_fit = X
    est.fit(X_fit[:TRAIN], y[:TRAIN])
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(export(est, feature_names=None if unnamed else names), f, allow_nan=False)
    pred = os.path.join(out, f"{name}.pred.csv")
    if classify:
        index = np.searchsorted(est.classes_, est.predict(X))
        write_preds(pred, est.predict_proba(X), index)
        task_name = "classification"
    else:
        write_preds(pred, scores=est.predict(X))
        task_name = "regression"
    params = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
              for k, v in est.get_params().items()}
    params["estimator"] = type(est).__name__
    return task_name, False, f"{name}.json", params, X


def recorded_names(path, library, n):
    """The feature names the model file records (the library may have
    changed them: LightGBM writes spaces as underscores), or the names the
    importer gives unnamed features."""
    if library == "lightgbm":
        with open(path) as f:
            for line in f:
                if line.startswith("feature_names="):
                    return line.strip().split("=", 1)[1].split(" ")
    with open(path) as f:
        doc = json.load(f)
    if library == "xgboost":
        names = doc["learner"].get("feature_names") or []
        return names or [f"f{i}" for i in range(n)]
    return doc.get("feature_names") or [f"x{i}" for i in range(n)]


def main():
    args = sys.argv[1:]
    out = args[0]
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 1
    count = int(args[args.index("--count") + 1]) if "--count" in args else 30
    only = args[args.index("--only") + 1] if "--only" in args else None
    os.makedirs(out, exist_ok=True)
    libraries = [only] if only else ["xgboost", "lightgbm", "sklearn"]
    manifest = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        library = libraries[i % len(libraries)]
        names, kinds, X, logit, unnamed = make_data(rng)
        name = f"sweep{seed}_{i}_{library}"
        if library == "xgboost":
            task, f32, model, params = xgboost_model(rng, names, kinds, X, logit, out, name, unnamed)
        elif library == "lightgbm":
            task, f32, model, params = lightgbm_model(rng, names, kinds, X, logit, out, name, unnamed)
        else:
            task, f32, model, params, X = sklearn_model(rng, names, kinds, X, logit, out, name, unnamed)
        write_rows(os.path.join(out, f"{name}.data.csv"), names, X)
        names = recorded_names(os.path.join(out, model), library, len(names))
        write_schema(os.path.join(out, f"{name}.schema.json"), names, kinds)
        manifest.append({"name": name, "format": library, "task": task, "float32": f32,
                         "model": model, "predictions": f"{name}.pred.csv",
                         "data": f"{name}.data.csv", "schema": f"{name}.schema.json",
                         "settings": params})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(manifest)} models to {out}")


if __name__ == "__main__":
    main()
