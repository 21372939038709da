#!/usr/bin/env bash
# Parity with the real libraries: train every supported objective with
# XGBoost, LightGBM and scikit-learn (pinned), save the models and the
# libraries' own predictions for 10,000 rows, then import each model and
# compare (tests/import_parity.rs): classes identical, probabilities and
# scores within 1e-6.
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

OUT="$TARGET/parity-models"
rm -rf "$OUT"
"$VENV/bin/python" scripts/parity_models.py "$OUT"
MODELHOST_PARITY_DIR="$(cd "$OUT" && pwd)" \
    cargo test --all-features --test import_parity -- --nocapture
