"""Step 2 of examples/import_recommender.rs: train the webshop recommender
with LightGBM and save it for `modelhost import`.

    python examples/python/train_recommender.py DIR

Reads DIR/train.csv, DIR/holdout.csv and DIR/schema.json (written by
`cargo run --example import_recommender -- export DIR`); writes
DIR/recommender.txt (LightGBM's text model) and DIR/python_predictions.csv
(P(buy) for every holdout customer, for the Rust side to compare).
"""

import json
import os
import sys

import lightgbm as lgb
import pandas as pd


def load(path, schema):
    df = pd.read_csv(path)
    # The categorical feature as the codes of the schema's vocabulary: code
    # i is level i, which is how modelhost encodes it.
    for f in schema["features"]:
        if f["type"] == "categorical":
            df[f["name"]] = df[f["name"]].map({level: i for i, level in enumerate(f["levels"])})
    features = [f["name"] for f in schema["features"]]
    return df[features], df["label"]


def main(out):
    with open(os.path.join(out, "schema.json")) as f:
        schema = json.load(f)
    categorical = [f["name"] for f in schema["features"] if f["type"] == "categorical"]
    X, y = load(os.path.join(out, "train.csv"), schema)
    model = lgb.train(
        {"objective": "binary", "num_leaves": 15, "learning_rate": 0.1, "seed": 1,
         "verbose": -1, "num_threads": 1},
        lgb.Dataset(X, label=y, categorical_feature=categorical),
        num_boost_round=100,
    )
    model.save_model(os.path.join(out, "recommender.txt"))

    X_holdout, y_holdout = load(os.path.join(out, "holdout.csv"), schema)
    p = model.predict(X_holdout)
    accuracy = ((p > 0.5) == (y_holdout == 1)).mean()
    with open(os.path.join(out, "python_predictions.csv"), "w") as f:
        f.write("p_buy\n")
        f.writelines(f"{float(v)!r}\n" for v in p)
    print(f"trained 100 trees; holdout accuracy {accuracy:.3f}")
    print(f"wrote {out}/recommender.txt and {out}/python_predictions.csv")
    print("next: modelhost import --format lightgbm "
          f"{out}/recommender.txt --schema {out}/schema.json --reference {out}/train.csv "
          f"--registry {out}/registry --name recommender")


if __name__ == "__main__":
    main(sys.argv[1])
