"""The Python side of the tree-ensemble benchmark (benches/ensemble.rs is
the Rust side).

Trains, on deterministic data (20 float features, NaNs in two):
  - an XGBoost binary:logistic model of 500 trees of depth 6, and
  - a LightGBM binary model of 500 trees of 31 leaves,
saves them with 1,000 rows of inputs into OUT_DIR, and times the libraries:
  - one row: XGBoost `inplace_predict` and LightGBM `predict` on a 1-row
    array (median of many calls, after warm-up);
  - 1,000 rows on one thread (`nthread=1`, `num_threads=1`): rows/s;
  - where treelite and tl2cgen import (`pip install treelite tl2cgen`; a C
    compiler is needed), both models compiled to C by TL2cgen: through its
    Python `Predictor` (one row and 1,000 rows, `nthread=1`, a `DMatrix`
    built per call as a caller would), and from C with no Python at all
    (bench/import/tl2cgen_native.c on the generated code: the fastest the
    same trees run as compiled code on this machine).

Usage:
    python bench/import/compare.py OUT_DIR
    MODELHOST_BENCH_MODELS=OUT_DIR cargo bench --all-features --bench ensemble

Both write their figures; BENCHMARKS.md puts them side by side.
"""

import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

N_FEATURES = 20
N_TRAIN = 20_000
N_BATCH = 1_000


def data(seed=11):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_TRAIN + N_BATCH, N_FEATURES))
    y = (X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] + rng.logistic(size=len(X)) > 0).astype(int)
    X[rng.random(len(X)) < 0.05, 4] = np.nan
    X[rng.random(len(X)) < 0.05, 5] = np.nan
    return X, y


def per_call(fn, calls):
    for _ in range(200):
        fn()
    samples = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t)
    return statistics.median(samples) / 1e3  # µs


def throughput(fn, rows, seconds=3.0):
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return rows * n / (time.perf_counter() - start)


def main(out):
    import lightgbm as lgb
    import xgboost as xgb

    os.makedirs(out, exist_ok=True)
    X, y = data()
    train, batch = X[:N_TRAIN], X[N_TRAIN:]
    names = [f"x{i}" for i in range(N_FEATURES)]

    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "tree_method": "hist",
         "nthread": 2, "seed": 1},
        xgb.DMatrix(train, label=y[:N_TRAIN], feature_names=names),
        num_boost_round=500,
    )
    booster.save_model(os.path.join(out, "xgb.json"))
    lgbm = lgb.train(
        {"objective": "binary", "num_leaves": 31, "learning_rate": 0.05, "num_threads": 2,
         "seed": 1, "verbose": -1, "min_data_in_leaf": 5},
        lgb.Dataset(train, label=y[:N_TRAIN], feature_name=names),
        num_boost_round=500,
    )
    lgbm.save_model(os.path.join(out, "lgb.txt"))
    with open(os.path.join(out, "rows.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for row in batch:
            f.write(",".join("nan" if np.isnan(v) else repr(float(v)) for v in row) + "\n")
    with open(os.path.join(out, "schema.json"), "w") as f:
        json.dump({"features": [{"name": n, "type": "float", "allow_non_finite": True}
                                for n in names]}, f)

    one = batch[:1].astype(np.float32)
    one64 = batch[:1]
    booster.set_param({"nthread": 1})
    results = {
        "xgboost": {
            "version": xgb.__version__,
            "one_row_us": per_call(lambda: booster.inplace_predict(one), 5_000),
            "batch_rows_per_s": throughput(lambda: booster.inplace_predict(batch), N_BATCH),
        },
        "lightgbm": {
            "version": lgb.__version__,
            "one_row_us": per_call(lambda: lgbm.predict(one64, num_threads=1), 5_000),
            "batch_rows_per_s": throughput(lambda: lgbm.predict(batch, num_threads=1), N_BATCH),
        },
    }
    expected = {"xgboost": booster.inplace_predict(batch), "lightgbm": lgbm.predict(batch)}
    compiled(out, results, batch, expected)
    with open(os.path.join(out, "python.json"), "w") as f:
        json.dump(results, f, indent=1)
    for lib, r in results.items():
        print(f"{lib:<9} {r['version']:<7} one row {r['one_row_us']:8.1f} µs   "
              f"1,000 rows on one thread {r['batch_rows_per_s']:12,.0f} rows/s")
        if "tl2cgen" in r:
            t = r["tl2cgen"]
            print(f"  tl2cgen {t['version']} (max |diff| from the library {t['max_abs_diff']:.1e})\n"
                  f"    Python Predictor: one row {t['one_row_us']:8.1f} µs, "
                  f"1,000 rows on one thread {t['batch_rows_per_s']:12,.0f} rows/s\n"
                  f"    from C: the same row {t['native_one_row_ns'] / 1e3:6.2f} µs, "
                  f"each of the 1,000 rows in turn {t['native_batch_rows_per_s']:12,.0f} rows/s")


def compiled(out, results, batch, expected):
    """TL2cgen: each model compiled to C, called from Python and from C."""
    try:
        import tl2cgen
        import treelite
    except ImportError:
        print("treelite/tl2cgen not installed: the compiled-model rows are skipped")
        return
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        print(f"no C compiler ({cc}): the compiled-model rows are skipped")
        return
    here = os.path.dirname(os.path.abspath(__file__))
    loaders = {
        "xgboost": lambda: treelite.frontend.load_xgboost_model(os.path.join(out, "xgb.json")),
        "lightgbm": lambda: treelite.frontend.load_lightgbm_model(os.path.join(out, "lgb.txt")),
    }
    flags = ["-O3", "-fPIC", "-std=c99"]
    for lib, load in loaders.items():
        src = os.path.join(out, f"tl2cgen_{lib}")
        shutil.rmtree(src, ignore_errors=True)
        tl2cgen.generate_c_code(load(), src, params={"parallel_comp": 8})
        sources = sorted(f for f in os.listdir(src) if f.endswith(".c"))
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(lambda f: subprocess.run(
                [cc, *flags, "-c", f, "-o", f[:-2] + ".o"], cwd=src, check=True), sources))
        objects = [f[:-2] + ".o" for f in sources]
        with open(os.path.join(src, "header.h")) as f:
            result = "float" if "float* result" in f.read() else "double"
        subprocess.run([cc, "-shared", "-o", "model.so", *objects, "-lm"], cwd=src, check=True)
        subprocess.run([cc, *flags, f"-DRESULT={result}", "-I", src, "-o", os.path.join(src, "native"),
                        os.path.join(here, "tl2cgen_native.c"),
                        *[os.path.join(src, o) for o in objects], "-lm"], check=True)
        predictor = tl2cgen.Predictor(os.path.join(src, "model.so"), nthread=1)
        got = predictor.predict(tl2cgen.DMatrix(batch, dtype="float64")).reshape(-1)
        one = batch[:1]
        native = json.loads(subprocess.run([os.path.join(src, "native"),
                                            os.path.join(out, "rows.csv")],
                                           check=True, capture_output=True, text=True).stdout)
        # The C harness read the rows as the library did.
        first = float(expected[lib].reshape(-1)[0])
        if abs(native["first"] - first) > 1e-5:
            sys.exit(f"{lib}: compiled model from C predicts {native['first']}, "
                     f"the library {first}")
        results[lib]["tl2cgen"] = {
            "version": tl2cgen.__version__,
            "max_abs_diff": float(abs(got - expected[lib].reshape(-1)).max()),
            "one_row_us": per_call(
                lambda: predictor.predict(tl2cgen.DMatrix(one, dtype="float64")), 5_000),
            "batch_rows_per_s": throughput(
                lambda: predictor.predict(tl2cgen.DMatrix(batch, dtype="float64")), N_BATCH),
            "native_one_row_ns": native["one_row_ns"],
            "native_batch_rows_per_s": native["batch_rows_per_s"],
            "native_first": native["first"],
        }


if __name__ == "__main__":
    main(sys.argv[1])
