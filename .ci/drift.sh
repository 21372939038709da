#!/usr/bin/env bash
# Drift parity on held-out data: generate data sets with a fresh random seed
# (printed, so a failure can be replayed with DRIFT_SEED=...), run Evidently
# 0.7.23 on them, run `modelhost drift` on the same files, and fail on any
# difference in test, verdict or dataset drift (scores are compared too,
# within 1e-9 relative).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
TARGET="${CARGO_TARGET_DIR:-target}"
VENV="${DRIFT_VENV:-$TARGET/py-evidently}"
REQS=tests/python/requirements-drift.txt

# Reuse the venv only if Evidently imports at the pinned version.
if ! "$VENV/bin/python" -c "import evidently, sys; sys.exit(evidently.__version__ != '0.7.23')" 2>/dev/null; then
    echo "== creating $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS"
fi

SEED="${DRIFT_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "== held-out drift data, seed $SEED (replay with DRIFT_SEED=$SEED)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" tests/python/drift_fixture.py --out "$WORK" --seed "$SEED"

echo "== modelhost drift on the same files"
# A copy of the binary, so another build into a shared target directory
# cannot swap it underneath the comparison.
BIN="$WORK/modelhost"
for _ in 1 2 3; do
    cargo build --quiet --all-features --bin modelhost
    cp "$TARGET/debug/modelhost" "$BIN"
    "$BIN" drift --help >/dev/null 2>&1 && break
done
for dir in "$WORK"/*/; do
    name="$(basename "$dir")"
    "$BIN" drift --schema "$dir/schema.json" --reference "$dir/reference.csv" \
        --current "$dir/current.csv" --json --html "$dir/report.html" >"$dir/ours.json"
    "$BIN" drift --schema "$dir/schema.json" --reference "$dir/reference.csv" \
        --current "$dir/current.csv" | sed "s/^/  $name: /"
done

"$VENV/bin/python" - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
failures, compared, worst = [], 0, (0.0, "")
for name in sorted(os.listdir(work)):
    d = os.path.join(work, name)
    if not os.path.isfile(os.path.join(d, "expected.json")):
        continue
    exp = json.load(open(os.path.join(d, "expected.json")))
    ours = json.load(open(os.path.join(d, "ours.json")))
    by_name = {f["name"]: f for f in ours["features"]}
    for c in exp["columns"]:
        o = by_name[c["name"]]
        compared += 1
        where = f"{name}/{c['name']}"
        if o["test"] != c["test"]:
            failures.append(f"{where}: test {o['test']} vs Evidently {c['test']}")
        if (o["verdict"] == "drift") != c["drifted"]:
            failures.append(f"{where}: verdict {o['verdict']} vs Evidently drifted={c['drifted']} "
                            f"(score {o['score']} vs {c['score']}, threshold {c['threshold']})")
        a, b = o["score"], c["score"]
        err = 0.0 if a == b else abs(a - b) / max(abs(b), 1e-300)
        tol = 1e-9
        if err > worst[0]:
            worst = (err, where)
        if err > tol:
            failures.append(f"{where}: score {a} vs Evidently {b} (relative error {err:.2e})")
    if ours["dataset_drift"] != exp["dataset_drift"]:
        failures.append(f"{name}: dataset drift {ours['dataset_drift']} vs Evidently {exp['dataset_drift']}")
print(f"compared {compared} columns; largest relative score error {worst[0]:.2e} at {worst[1]}")
for f in failures:
    print("MISMATCH", f)
print(f"drift parity: {compared - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
