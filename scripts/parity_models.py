"""Train every supported objective with the real libraries and save, per
model, the model file and the library's own predictions for 10,000 rows.

Usage: python scripts/parity_models.py OUT_DIR [--small] [--xgboost-only PREFIX]

With --small, models are tiny (8 rounds, 5 trees per forest) and only the
first 200 rows and their predictions are written: the fixtures under
tests/data/import/ were made so.

With --xgboost-only PREFIX, only the XGBoost models are trained, named
PREFIX_binary, PREFIX_softprob, ..., and added to the manifest already in
OUT_DIR; the rows must be the ones OUT_DIR's data.csv holds (checked). CI
runs it a second time with XGBoost 2.x to cover both major versions.

Writes into OUT_DIR:
  data.csv            the 10,000 input rows, encoded as modelhost encodes them
                      (floats as themselves, NaN as `nan`; the categorical
                      column as its level index)
  schema.json         the import schema for every model (see src/import)
  manifest.json       one entry per model: name, format, model file,
                      prediction file, task, float32 or not
  NAME.json|.txt      the model as the library saves it
  NAME.pred.csv       the library's predictions: `class,p0..pK-1` for
                      classifiers, `score` otherwise

The data is deterministic (a fixed numpy seed) and has NaNs in two columns
and a categorical column of five levels.
"""

import json
import os
import sys

import numpy as np
import pandas as pd

N_ROWS = 10_000
N_TRAIN = 3_000
LEVELS = ["a", "b", "c", "d", "e"]
FLOATS = ["f0", "f1", "f2", "f3", "f4"]


def make_data(seed=7):
    rng = np.random.default_rng(seed)
    n = N_ROWS
    X = rng.normal(size=(n, len(FLOATS)))
    X[:, 3] = np.round(X[:, 3], 1)  # repeated values: ties with thresholds
    X[:, 4] = np.where(rng.random(n) < 0.2, 0.0, X[:, 4])  # many zeros
    cat = rng.integers(0, len(LEVELS), size=n)
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + (cat == 2) - 0.8 * (cat == 4)
    y_bin = (logit + rng.logistic(size=n) > 0).astype(int)
    y_multi = np.digitize(logit + rng.normal(scale=0.5, size=n), [-1.0, 1.0])
    y_reg = logit + rng.normal(scale=0.3, size=n)
    # NaNs after the targets: missing values the model must route.
    X[rng.random(n) < 0.1, 0] = np.nan
    X[rng.random(n) < 0.05, 1] = np.nan
    df = pd.DataFrame(X, columns=FLOATS)
    df["cat"] = pd.Categorical(cat, categories=list(range(len(LEVELS))))
    return df, cat, y_bin, y_multi, y_reg


def write_preds(path, proba=None, classes=None, scores=None):
    with open(path, "w") as f:
        if scores is not None:
            f.write("score\n")
            for s in np.asarray(scores, dtype=np.float64)[:ROWS_OUT]:
                f.write(f"{float(s)!r}\n")
        else:
            proba = np.asarray(proba, dtype=np.float64)
            k = proba.shape[1]
            f.write("class," + ",".join(f"p{i}" for i in range(k)) + "\n")
            for c, row in list(zip(classes, proba))[:ROWS_OUT]:
                f.write(f"{int(c)}," + ",".join(repr(float(v)) for v in row) + "\n")


SMALL = "--small" in sys.argv
ROUNDS = 8 if SMALL else 40
TREES = 5 if SMALL else 30
ROWS_OUT = 200 if SMALL else N_ROWS


def check_same_rows(out, Xn):
    """The rows this run generated are the ones an earlier run wrote."""
    written = np.genfromtxt(os.path.join(out, "data.csv"), delimiter=",", skip_header=1)
    written = written.reshape(-1, Xn.shape[1])
    if not np.array_equal(written, Xn[: len(written)], equal_nan=True):
        sys.exit("the generated rows differ from data.csv: numpy's generator changed?")


def main(out, xgboost_prefix=None):
    import xgboost as xgb

    os.makedirs(out, exist_ok=True)
    df, cat, y_bin, y_multi, y_reg = make_data()
    tr = slice(0, N_TRAIN)
    numeric = df.copy()
    numeric["cat"] = cat.astype(np.float64)
    Xn = numeric.to_numpy()
    manifest = []
    if xgboost_prefix is not None:
        check_same_rows(out, Xn)
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
    else:
        with open(os.path.join(out, "data.csv"), "w") as f:
            f.write(",".join(numeric.columns) + "\n")
            for row in Xn[:ROWS_OUT]:
                f.write(",".join("nan" if np.isnan(v) else repr(float(v)) for v in row) + "\n")
        schema = {
            "features": [{"name": n, "type": "float", "allow_non_finite": True} for n in FLOATS]
            + [{"name": "cat", "type": "categorical", "levels": LEVELS}],
        }
        with open(os.path.join(out, "schema.json"), "w") as f:
            json.dump(schema, f, indent=1)

    def add(name, fmt, task, f32, model_file):
        manifest.append(
            {"name": name, "format": fmt, "task": task, "float32": f32,
             "model": model_file, "predictions": f"{name}.pred.csv"}
        )

    # XGBoost: the categorical column as a pandas category (codes 0..4).
    qid = np.arange(N_ROWS) // 20
    xgb_models = [
        ("xgb_binary", dict(objective="binary:logistic"), y_bin, "classification"),
        ("xgb_softprob", dict(objective="multi:softprob", num_class=3), y_multi, "classification"),
        ("xgb_softmax", dict(objective="multi:softmax", num_class=3), y_multi, "classification"),
        ("xgb_squarederror", dict(objective="reg:squarederror"), y_reg, "regression"),
        ("xgb_reglogistic", dict(objective="reg:logistic"), 1 / (1 + np.exp(-y_reg)), "regression"),
        ("xgb_absoluteerror", dict(objective="reg:absoluteerror"), y_reg, "regression"),
        ("xgb_pseudohuber", dict(objective="reg:pseudohubererror"), y_reg, "regression"),
        ("xgb_logitraw", dict(objective="binary:logitraw"), y_bin, "regression"),
        ("xgb_poisson", dict(objective="count:poisson"), np.abs(y_reg), "regression"),
        ("xgb_gamma", dict(objective="reg:gamma"), np.abs(y_reg) + 0.1, "regression"),
        ("xgb_tweedie", dict(objective="reg:tweedie"), np.abs(y_reg), "regression"),
        ("xgb_squaredlog", dict(objective="reg:squaredlogerror"), np.abs(y_reg), "regression"),
        ("xgb_quantile", dict(objective="reg:quantileerror", quantile_alpha=0.3), y_reg,
         "regression"),
        # Survival times, censored ones negative; predicts the hazard ratio.
        ("xgb_cox", dict(objective="survival:cox"),
         np.where(y_bin == 1, 1, -1) * (np.abs(y_reg) + 0.1), "regression"),
        ("xgb_pairwise", dict(objective="rank:pairwise"), y_multi, "regression"),
        ("xgb_ndcg", dict(objective="rank:ndcg"), y_multi, "regression"),
    ]
    for name, params, y, task in xgb_models:
        if xgboost_prefix is not None:
            name = name.replace("xgb", xgboost_prefix, 1)
        params = dict(params, max_depth=5, eta=0.3, tree_method="hist", nthread=1, seed=1,
                      max_cat_to_onehot=1)
        d = xgb.DMatrix(df.iloc[tr], label=y[tr], enable_categorical=True)
        if params["objective"].startswith("rank:"):
            d.set_group(np.bincount(qid[tr]))
        booster = xgb.train(params, d, num_boost_round=ROUNDS)
        booster.save_model(os.path.join(out, f"{name}.json"))
        raw = booster.inplace_predict(df)
        if params["objective"] == "binary:logistic":
            p = np.asarray(raw, dtype=np.float32)
            proba = np.stack([1 - p, p], axis=1)
            write_preds(os.path.join(out, f"{name}.pred.csv"), proba, (p > 0.5).astype(int))
        elif params["objective"] == "multi:softprob":
            write_preds(os.path.join(out, f"{name}.pred.csv"), raw, raw.argmax(axis=1))
        elif params["objective"] == "multi:softmax":
            # softmax predicts classes; the probabilities come from softprob
            # output of the same booster.
            booster.set_param({"objective": "multi:softprob"})
            proba = booster.inplace_predict(df)
            write_preds(os.path.join(out, f"{name}.pred.csv"), proba, np.asarray(raw, dtype=int))
        else:
            write_preds(os.path.join(out, f"{name}.pred.csv"), scores=raw)
        add(name, "xgboost", task, True, f"{name}.json")

    # Early stopping through the scikit-learn wrapper: the file keeps every
    # tree and records best_iteration. Booster.inplace_predict uses every
    # tree, XGBClassifier.predict_proba those up to the best iteration.
    name = f"{xgboost_prefix or 'xgb'}_early_stopped"
    clf = xgb.XGBClassifier(n_estimators=200, max_depth=4, learning_rate=0.3, tree_method="hist",
                            n_jobs=1, random_state=1, enable_categorical=True,
                            max_cat_to_onehot=1, early_stopping_rounds=5)
    clf.fit(df.iloc[tr], y_bin[tr], eval_set=[(df.iloc[N_TRAIN:], y_bin[N_TRAIN:])], verbose=False)
    booster = clf.get_booster()
    assert clf.best_iteration + 1 < booster.num_boosted_rounds(), "early stopping did not stop early"
    clf.save_model(os.path.join(out, f"{name}.json"))
    p = np.asarray(booster.inplace_predict(df), dtype=np.float32)
    write_preds(os.path.join(out, f"{name}.pred.csv"), np.stack([1 - p, p], axis=1),
                (p > 0.5).astype(int))
    add(name, "xgboost", "classification", True, f"{name}.json")
    proba = clf.predict_proba(df)
    write_preds(os.path.join(out, f"{name}_best.pred.csv"), proba, proba.argmax(axis=1))
    manifest.append(dict(manifest[-1], name=f"{name}_best", predictions=f"{name}_best.pred.csv",
                         best_iteration=True))

    if xgboost_prefix is not None:
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
        print(f"added {len(xgb_models) + 2} XGBoost {xgb.__version__} models to {out}")
        return

    import lightgbm as lgb

    # LightGBM: the categorical column by index; NaN and zero missing types.
    lgb_models = [
        ("lgb_binary", dict(objective="binary"), y_bin, "classification"),
        ("lgb_multiclass", dict(objective="multiclass", num_class=3), y_multi, "classification"),
        ("lgb_regression", dict(objective="regression"), y_reg, "regression"),
        ("lgb_zero_missing", dict(objective="regression", zero_as_missing=True), y_reg, "regression"),
        ("lgb_lambdarank", dict(objective="lambdarank"), y_multi, "regression"),
        ("lgb_ova", dict(objective="multiclassova", num_class=3), y_multi, "classification"),
        ("lgb_poisson", dict(objective="poisson"), np.abs(y_reg), "regression"),
        ("lgb_tweedie", dict(objective="tweedie"), np.abs(y_reg), "regression"),
        ("lgb_xentropy", dict(objective="cross_entropy"), 0.1 + 0.8 * y_bin, "regression"),
        ("lgb_rf", dict(objective="binary", boosting="rf", bagging_fraction=0.7, bagging_freq=1,
                        feature_fraction=0.8), y_bin, "classification"),
    ]
    for name, params, y, task in lgb_models:
        params = dict(params, num_leaves=15, learning_rate=0.2, num_threads=1, seed=1,
                      verbose=-1, min_data_per_group=5, cat_smooth=1)
        group = np.bincount(qid[tr]) if params["objective"] == "lambdarank" else None
        d = lgb.Dataset(Xn[tr], label=y[tr], group=group, feature_name=list(numeric.columns),
                        categorical_feature=["cat"], free_raw_data=False)
        booster = lgb.train(params, d, num_boost_round=ROUNDS)
        booster.save_model(os.path.join(out, f"{name}.txt"))
        raw = booster.predict(Xn)
        if params["objective"] == "binary":
            proba = np.stack([1 - raw, raw], axis=1)
            write_preds(os.path.join(out, f"{name}.pred.csv"), proba, (raw > 0.5).astype(int))
        elif params["objective"] in ("multiclass", "multiclassova"):
            write_preds(os.path.join(out, f"{name}.pred.csv"), raw, raw.argmax(axis=1))
        else:
            write_preds(os.path.join(out, f"{name}.pred.csv"), scores=raw)
        add(name, "lightgbm", task, False, f"{name}.txt")

    # LightGBM trained on a DataFrame whose categorical column is a pandas
    # category: the file ends with its `pandas_categorical` line.
    name = "lgb_pandas_category"
    booster = lgb.train(dict(objective="binary", num_leaves=15, learning_rate=0.2, num_threads=1,
                             seed=1, verbose=-1),
                        lgb.Dataset(df.iloc[tr], label=y_bin[tr]), num_boost_round=ROUNDS)
    booster.save_model(os.path.join(out, f"{name}.txt"))
    raw = booster.predict(df)
    write_preds(os.path.join(out, f"{name}.pred.csv"), np.stack([1 - raw, raw], axis=1),
                (raw > 0.5).astype(int))
    add(name, "lightgbm", "classification", False, f"{name}.txt")

    # scikit-learn, through the exporter shipped in scripts/.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from export_sklearn import export
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor,
                                  GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    filled = np.nan_to_num(Xn)  # GradientBoosting* refuses NaN
    sk_models = [
        ("sk_tree_clf", DecisionTreeClassifier(max_depth=8, random_state=1), y_multi, Xn),
        ("sk_tree_reg", DecisionTreeRegressor(max_depth=8, random_state=1), y_reg, Xn),
        ("sk_forest_clf", RandomForestClassifier(n_estimators=TREES, max_depth=8, random_state=1), y_multi, Xn),
        ("sk_forest_reg", RandomForestRegressor(n_estimators=TREES, max_depth=8, random_state=1), y_reg, Xn),
        ("sk_extra_clf", ExtraTreesClassifier(n_estimators=TREES, max_depth=8, random_state=1), y_bin, Xn),
        ("sk_extra_reg", ExtraTreesRegressor(n_estimators=TREES, max_depth=8, random_state=1), y_reg, Xn),
        ("sk_gb_binary", GradientBoostingClassifier(n_estimators=ROUNDS, random_state=1), y_bin, filled),
        ("sk_gb_multi", GradientBoostingClassifier(n_estimators=ROUNDS, random_state=1), y_multi, filled),
        ("sk_gb_reg", GradientBoostingRegressor(n_estimators=ROUNDS, random_state=1), y_reg, filled),
        ("sk_hgb_binary", HistGradientBoostingClassifier(max_iter=ROUNDS, categorical_features=[5], random_state=1), y_bin, Xn),
        ("sk_hgb_multi", HistGradientBoostingClassifier(max_iter=ROUNDS, categorical_features=[5], random_state=1), y_multi, Xn),
        ("sk_hgb_reg", HistGradientBoostingRegressor(max_iter=ROUNDS, categorical_features=[5], random_state=1), y_reg, Xn),
    ]
    for name, est, y, X in sk_models:
        est.fit(X[tr], y[tr])
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(export(est, feature_names=list(numeric.columns)), f, allow_nan=False)
        if hasattr(est, "predict_proba"):
            write_preds(os.path.join(out, f"{name}.pred.csv"), est.predict_proba(X), est.predict(X))
            task = "classification"
        else:
            write_preds(os.path.join(out, f"{name}.pred.csv"), scores=est.predict(X))
            task = "regression"
        add(name, "sklearn", task, False, f"{name}.json")
        if X is filled:
            manifest[-1]["data"] = "data_filled.csv"
    with open(os.path.join(out, "data_filled.csv"), "w") as f:
        f.write(",".join(numeric.columns) + "\n")
        for row in filled[:ROWS_OUT]:
            f.write(",".join(repr(float(v)) for v in row) + "\n")

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(manifest)} models to {out}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--small"]
    prefix = None
    if "--xgboost-only" in args:
        i = args.index("--xgboost-only")
        prefix = args[i + 1]
        del args[i : i + 2]
    main(args[0], prefix)
