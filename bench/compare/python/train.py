"""Train the scikit-learn twin of the tree recommender and write every
artifact the Python and furnace targets serve, plus their check cases.

    python train.py DATA_DIR WORK_DIR
        DATA_DIR holds train.csv, check.csv, holdout.csv from
        `cargo run --example compare_export_data -- DATA_DIR`.
    python train.py modelhost-cases DATA_DIR WORK_DIR LABELS_JSON
        writes the check cases of the modelhost HTTP targets, with the
        predictions of the modelhost model (LABELS_JSON, from the
        compare_inprocess example) as the expected classes.

The tree: DecisionTreeClassifier(max_depth=8, random_state=0) on the same
8,000 encoded rows as modelhost's `recommender@tree` (the tree of
webshop_train: linfa-trees, depth 8, seed 2). Same data and depth; the two
CART implementations may still pick different splits where candidates tie,
so the structure is not guaranteed identical: compare_inprocess reports how
often the two agree on the holdout.
"""

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

FEATURES = ["recency_days", "frequency", "basket_value", "product_price", "device", "is_returning"]
INTS = {"recency_days", "frequency", "device", "is_returning"}
DEVICES = ["mobile", "desktop", "tablet"]


def load(path):
    frame = pd.read_csv(path)
    x = frame[FEATURES].copy()
    for c in INTS:
        x[c] = x[c].astype("int64")
    return x, frame["label"].to_numpy()


def raw(row):
    """An encoded row back to the feature values a client sends."""
    return {
        "recency_days": int(row["recency_days"]),
        "frequency": int(row["frequency"]),
        "basket_value": float(row["basket_value"]),
        "product_price": float(row["product_price"]),
        "device": DEVICES[int(row["device"])],
        "is_returning": bool(row["is_returning"]),
    }


def bodies(row):
    """The request body of each target for one customer."""
    r = raw(row)
    enc = [int(row[c]) if c in INTS else float(row[c]) for c in FEATURES]

    def oip(types):
        return {
            "inputs": [
                {"name": c, "shape": [1, 1] if types.get("_2d") else [1], "datatype": types[c], "data": [v]}
                for c, v in zip(FEATURES, [r[c] for c in FEATURES] if types.get("_raw") else enc)
            ]
        }

    return {
        # FastAPI + pydantic: one customer as a JSON object, raw values.
        "fastapi": r,
        # MLflow scoring server: pandas split orientation, encoded values
        # (the sklearn model's signature is the encoded frame).
        "mlflow": {"dataframe_split": {"columns": FEATURES, "data": [enc]}},
        # BentoML batchable API: a list of customers (here one).
        "bentoml": {"rows": [r]},
        # furnace: OIP v2, one [1, 1] tensor per feature, encoded.
        "furnace": oip(
            {
                "_2d": True,
                "recency_days": "INT64",
                "frequency": "INT64",
                "basket_value": "FP32",
                "product_price": "FP32",
                "device": "INT64",
                "is_returning": "INT64",
            }
        ),
        # modelhost over HTTP, OIP v2: one named input per feature, raw
        # values, checked against the model's schema by the server.
        "modelhost-oip": oip(
            {
                "_raw": True,
                "recency_days": "INT64",
                "frequency": "INT64",
                "basket_value": "FP64",
                "product_price": "FP64",
                "device": "BYTES",
                "is_returning": "BOOL",
            }
        ),
        # modelhost over HTTP, MLflow-compatible /invocations, raw values.
        "modelhost-mlflow": {"dataframe_split": {"columns": FEATURES, "data": [[r[c] for c in FEATURES]]}},
    }


def write_cases(work, check_x, expected, targets):
    cases_dir = work / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    per_target = {t: [] for t in targets}
    for (_, row), label in zip(check_x.iterrows(), expected):
        b = bodies(row)
        for t in targets:
            per_target[t].append({"body": b[t], "expected": int(label)})
    for t, cases in per_target.items():
        (cases_dir / f"{t}.json").write_text(json.dumps(cases, indent=1))
        # The body the load generator repeats: the first check customer.
        (cases_dir / f"{t}.body.json").write_text(json.dumps(cases[0]["body"]))


def main():
    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    x, y = load(data / "train.csv")
    # Fitted on the frame, as usual; MLflow passes frames with these column
    # names, the FastAPI and BentoML services numpy rows in FEATURES order.
    clf = DecisionTreeClassifier(max_depth=8, random_state=0).fit(x, y)

    with open(work / "model.pkl", "wb") as f:
        pickle.dump(clf, f)

    # The tree node by node, for furnace (see furnace/src/main.rs).
    t = clf.tree_
    tree = {
        "feature": [max(int(f), 0) for f in t.feature],
        "threshold": [float(v) for v in t.threshold],
        "left": [int(v) for v in t.children_left],
        "right": [int(v) for v in t.children_right],
        "class": [int(clf.classes_[np.argmax(v)]) for v in t.value[:, 0, :]],
    }
    (work / "tree.json").write_text(json.dumps(tree))

    hx, hy = load(data / "holdout.csv")
    holdout_pred = clf.predict(hx)
    (work / "sklearn_holdout.json").write_text(json.dumps([int(v) for v in holdout_pred]))

    cx, _ = load(data / "check.csv")
    check_pred = clf.predict(cx)
    (work / "sklearn_check.json").write_text(json.dumps([int(v) for v in check_pred]))
    write_cases(work, cx, check_pred, ["fastapi", "mlflow", "bentoml", "furnace"])

    # The MLflow model: the same fitted estimator, with the encoded frame as
    # its signature (MLflow enforces column names and types).
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow_dir = work / "mlflow_model"
    if mlflow_dir.exists():
        import shutil

        shutil.rmtree(mlflow_dir)
    mlflow.sklearn.save_model(
        clf,
        str(mlflow_dir),
        signature=infer_signature(x, clf.predict(x)),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
    )

    summary = {
        "nodes": int(t.node_count),
        "leaves": int(t.n_leaves),
        "depth": int(t.max_depth),
        "holdout_accuracy": float((holdout_pred == hy).mean()),
    }
    (work / "sklearn_tree.json").write_text(json.dumps(summary))
    print(f"sklearn tree: {summary}")


def modelhost_cases():
    data, work, labels = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
    cx, _ = load(data / "check.csv")
    expected = json.loads(labels.read_text())
    write_cases(work, cx, expected, ["modelhost-oip", "modelhost-mlflow"])


if __name__ == "__main__":
    if sys.argv[1] == "modelhost-cases":
        modelhost_cases()
    else:
        main()
