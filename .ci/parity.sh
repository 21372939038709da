#!/usr/bin/env bash
# Parity with the real libraries: train every supported objective with
# XGBoost, LightGBM and scikit-learn (pinned), save the models and the
# libraries' own predictions for 10,000 rows, then import each model and
# compare (tests/import_parity.rs): classes identical, probabilities and
# scores within 1e-6; then the same for models of random settings. The
# XGBoost models are trained twice, with 3.x and again with 2.x in a
# virtualenv of its own (prefix `xgb2_`), since both major versions'
# files are served.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${CARGO_TARGET_DIR:-target}"
VENV="$TARGET/py-parity"
PINS=(xgboost-cpu==3.2.0 lightgbm==4.6.0 scikit-learn==1.7.2 numpy==2.3.5 pandas==2.3.3)
check='import xgboost, lightgbm, sklearn, numpy, pandas
assert (xgboost.__version__, lightgbm.__version__, sklearn.__version__, numpy.__version__, pandas.__version__) == ("3.2.0", "4.6.0", "1.7.2", "2.3.5", "2.3.3")'
if ! "$VENV/bin/python" -c "$check" 2>/dev/null; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
fi

VENV2="$TARGET/py-parity-xgb2"
PINS2=(xgboost-cpu==2.1.4 scikit-learn==1.7.2 numpy==2.3.5 pandas==2.3.3)
check2='import xgboost, sklearn; assert (xgboost.__version__, sklearn.__version__) == ("2.1.4", "1.7.2")'
if ! "$VENV2/bin/python" -c "$check2" 2>/dev/null; then
    rm -rf "$VENV2"
    python3 -m venv "$VENV2"
    timeout 900 "$VENV2/bin/pip" install --quiet --disable-pip-version-check "${PINS2[@]}"
fi

OUT="$TARGET/parity-models"
rm -rf "$OUT"
"$VENV/bin/python" scripts/parity_models.py "$OUT"
"$VENV2/bin/python" scripts/parity_models.py "$OUT" --xgboost-only xgb2
MODELHOST_PARITY_DIR="$(cd "$OUT" && pwd)" \
    cargo test --all-features --test import_parity -- --nocapture

# Random settings on random data (scripts/parity_sweep.py): 24 models of
# the three libraries, and 8 more XGBoost ones under 2.x. A fixed seed, so
# a failure reproduces; other seeds are for sweeps by hand.
"$VENV/bin/python" -W ignore scripts/parity_sweep.py "$OUT/sweep" --seed 1 --count 24
"$VENV2/bin/python" -W ignore scripts/parity_sweep.py "$OUT/sweep-xgb2" --seed 1 --count 8 --only xgboost
for dir in sweep sweep-xgb2; do
    MODELHOST_PARITY_DIR="$(cd "$OUT/$dir" && pwd)" \
        cargo test --all-features --test import_parity -- --nocapture
done
