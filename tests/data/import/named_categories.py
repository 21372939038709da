"""Makes the named-category fixtures of tests/import.rs: an XGBoost and a
LightGBM model trained on a DataFrame whose `color` column is a pandas
category of strings, so each model file names its categories (XGBoost's
category encoding, LightGBM's `pandas_categorical` line), with the
libraries' predictions for 50 rows.

Usage: python tests/data/import/named_categories.py OUT_DIR
Writes named_cats.csv (f0,color as strings), xgb_named_cats.json,
lgb_named_cats.txt, and NAME.pred.csv (`class,p0,p1`) for each.
"""

import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

out = sys.argv[1]
rng = np.random.default_rng(3)
n = 2_000
# pandas orders string categories lexicographically: blue, green, red, white.
color = pd.Categorical(rng.choice(["red", "green", "blue", "white"], size=n))
f0 = rng.normal(size=n)
y = ((f0 + np.select([color == "red", color == "blue"], [1.5, -1.5], 0.0)
      + rng.logistic(size=n)) > 0).astype(int)
df = pd.DataFrame({"f0": f0, "color": color})
rows = df.iloc[:50]
with open(os.path.join(out, "named_cats.csv"), "w") as f:
    f.write("f0,color\n")
    for a, c in zip(rows["f0"], rows["color"]):
        f.write(f"{a!r},{c}\n")


def preds(name, p):
    with open(os.path.join(out, f"{name}.pred.csv"), "w") as f:
        f.write("class,p0,p1\n")
        for v in np.asarray(p, dtype=np.float64):
            v = float(v)
            f.write(f"{int(v > 0.5)},{1 - v!r},{v!r}\n")


booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "tree_method": "hist",
                     "max_cat_to_onehot": 1, "nthread": 1, "seed": 1},
                    xgb.DMatrix(df, label=y, enable_categorical=True), num_boost_round=6)
booster.save_model(os.path.join(out, "xgb_named_cats.json"))
p = booster.inplace_predict(rows)
preds("xgb_named_cats", p)

model = lgb.train({"objective": "binary", "num_leaves": 7, "num_threads": 1, "seed": 1,
                   "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1},
                  lgb.Dataset(df, label=y), num_boost_round=6)
model.save_model(os.path.join(out, "lgb_named_cats.txt"))
preds("lgb_named_cats", model.predict(rows))
