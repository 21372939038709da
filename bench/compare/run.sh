#!/usr/bin/env bash
# Side-by-side comparison of modelhost with the usual Python serving stacks and
# furnace-server, on one machine over loopback. See README.md next to this file.
#
#   bench/compare/run.sh [--quick] [--targets LIST] [--warmup S] [--duration S]
#                        [--no-pin] [--skip-install] [--skip-build]
#
#   --quick         2 s warm-up, 5 s measured per run (default 10 s + 20 s)
#   --targets LIST  comma-separated subset of:
#                   fastapi-1,fastapi-2,mlflow,bentoml,furnace,
#                   modelhost-oip,modelhost-mlflow,modelhost-inprocess
#   --no-pin        do not pin the load generator and the servers to
#                   separate CPUs with taskset
#   --skip-install  reuse the virtualenvs as they are
#   --skip-build    reuse the Rust binaries as they are
#
# Environment: CARGO_TARGET_DIR (default bench/compare/target),
# CARGO_BUILD_JOBS (default 2), READY_TIMEOUT (seconds, default 120).
#
# Prints one Markdown table and writes it to bench/compare/results.md. A
# target that fails to build, start, or answer correctly is reported as
# "failed: reason" and the others still run.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$HERE/work
DATA=$WORK/data
REG=$WORK/registry
LOGS=$WORK/logs
RESULTS=$WORK/results.jsonl
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HERE/target}
JOBS=${CARGO_BUILD_JOBS:-2}
READY_TIMEOUT=${READY_TIMEOUT:-120}
REL=$CARGO_TARGET_DIR/release

ALL_TARGETS=fastapi-1,fastapi-2,mlflow,bentoml,furnace,modelhost-oip,modelhost-mlflow,modelhost-inprocess
TARGETS=$ALL_TARGETS
WARMUP=10
DURATION=20
PIN=1
INSTALL=1
BUILD=1
MODE=full
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) WARMUP=2; DURATION=5; MODE=quick ;;
        --targets) TARGETS=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --no-pin) PIN=0 ;;
        --skip-install) INSTALL=0 ;;
        --skip-build) BUILD=0 ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
wants() { [[ ",$TARGETS," == *",$1,"* ]]; }

mkdir -p "$WORK" "$DATA" "$LOGS"
: > "$RESULTS"

# Pinning: the load generator (single-threaded) on CPU 0, the server on the
# other CPUs, so the two do not take turns on the same core. On a 2-core
# machine the server then has exactly one core.
NCPU=$(nproc)
if [ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset > /dev/null; then
    CLIENT_CPUS=0
    SERVER_CPUS=1-$((NCPU - 1))
    CLIENT=(taskset -c "$CLIENT_CPUS")
    SERVER=(taskset -c "$SERVER_CPUS")
    PINNING="load generator on CPU $CLIENT_CPUS, server on CPU $SERVER_CPUS (taskset)"
else
    CLIENT=()
    SERVER=()
    PINNING="none: load generator and server share all $NCPU CPUs"
fi

# One JSON line per target into $RESULTS.
record() { # target status serves [c1-json] [c32-json] [rss-kib]
    python3 - "$@" >> "$RESULTS" <<'EOF'
import json, sys
a = sys.argv[1:] + [""] * 6
def j(s):
    try:
        return json.loads(s) if s else None
    except ValueError:
        return None
print(json.dumps({"target": a[0], "status": a[1], "serves": a[2],
                  "c1": j(a[3]), "c32": j(a[4]), "rss_kib": int(a[5]) if a[5] else None}))
EOF
}

fail_all() { # reason targets...
    local reason=$1; shift
    for t in "$@"; do wants "$t" && record "$t" "failed: $reason" ""; done
}

# ---------------------------------------------------------------- install
if [ "$INSTALL" = 1 ]; then
    for env in main bentoml; do
        if [ "$env" = main ]; then
            venv=$HERE/.venv; req=$HERE/requirements.txt; lock=$HERE/requirements.lock.txt
        else
            venv=$HERE/.venv-bentoml; req=$HERE/requirements-bentoml.txt; lock=$HERE/requirements-bentoml.lock.txt
        fi
        stamp=$(cat "$req" "$lock" | sha256sum | cut -c1-16)
        if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
            log "virtualenv $env is up to date"
            continue
        fi
        log "installing the $env virtualenv (pip, pinned versions)"
        python3 -m venv "$venv" &&
            "$venv/bin/pip" install -q -r "$req" -c "$lock" > "$LOGS/pip-$env.log" 2>&1 &&
            echo "$stamp" > "$venv/.stamp" ||
            log "pip install for $env failed: see $LOGS/pip-$env.log"
    done
fi
PY=$HERE/.venv/bin/python
PY_BENTO=$HERE/.venv-bentoml/bin/python

# ---------------------------------------------------------------- build
MODELHOST_HTTP=""  # empty: available; otherwise why not
if [ "$BUILD" = 1 ]; then
    log "building modelhost's examples (release)"
    (cd "$ROOT" && cargo build -j"$JOBS" --release \
        --features logistic,forest --example webshop_train --example compare_export_data --example compare_inprocess) \
        > "$LOGS/build-modelhost.log" 2>&1 || log "modelhost examples failed to build: see $LOGS/build-modelhost.log"
    log "building the load generator and the furnace target (release)"
    cargo build -j"$JOBS" --release --manifest-path "$HERE/Cargo.toml" -p compare-loadgen \
        > "$LOGS/build-loadgen.log" 2>&1 || { log "the load generator failed to build: see $LOGS/build-loadgen.log"; exit 1; }
    if wants furnace; then
        cargo build -j"$JOBS" --release --manifest-path "$HERE/Cargo.toml" -p compare-furnace \
            > "$LOGS/build-furnace.log" 2>&1 || log "the furnace target failed to build: see $LOGS/build-furnace.log"
    fi
    if wants modelhost-oip || wants modelhost-mlflow; then
        log "building the modelhost command with --features cli,http"
        if ! (cd "$ROOT" && cargo build -j"$JOBS" --release --features cli,http --bin modelhost) \
            > "$LOGS/build-modelhost-http.log" 2>&1; then
            MODELHOST_HTTP="this checkout cannot build \`modelhost\` with --features cli,http ($(grep -m1 -E '^error' "$LOGS/build-modelhost-http.log" | cut -c1-120))"
        fi
    fi
fi
if [ -z "$MODELHOST_HTTP" ] && { wants modelhost-oip || wants modelhost-mlflow; }; then
    if [ ! -x "$REL/modelhost" ]; then
        MODELHOST_HTTP="no modelhost binary in $REL"
    elif ! "$REL/modelhost" serve --help > /dev/null 2>&1; then
        MODELHOST_HTTP="the modelhost command of this checkout has no \`serve\` subcommand"
    fi
fi
LOADGEN=$REL/loadgen
[ -x "$LOADGEN" ] || { log "no load generator at $LOADGEN"; exit 1; }

# ---------------------------------------------------------------- data and models
log "exporting the training data and training both models"
PREP_OK=1
"$REL/examples/compare_export_data" "$DATA" > "$LOGS/export.log" 2>&1 || PREP_OK=0
rm -rf "$REG"
"$REL/examples/webshop_train" "$REG" > "$LOGS/webshop_train.log" 2>&1 || PREP_OK=0
[ "$PREP_OK" = 1 ] || { log "data export or modelhost training failed: see $LOGS"; exit 1; }
SKLEARN_OK=1
(cd "$HERE/python" && "$PY" train.py "$DATA" "$WORK") > "$LOGS/train.log" 2>&1 || {
    SKLEARN_OK=0
    log "training the scikit-learn tree failed: see $LOGS/train.log"
    fail_all "scikit-learn training failed (see work/logs/train.log)" fastapi-1 fastapi-2 mlflow bentoml furnace
}

# The in-process figures; this also writes modelhost's answers for the check
# customers, which the modelhost HTTP targets must reproduce.
AGREEMENT=""
if [ -x "$REL/examples/compare_inprocess" ]; then
    if wants modelhost-inprocess; then threads=1,32; else threads=""; fi
    log "modelhost in-process (threads: ${threads:-none})"
    "${SERVER[@]}" "$REL/examples/compare_inprocess" --registry "$REG" --data "$DATA" --work "$WORK" \
        --threads "${threads:-1}" --warmup "$([ -n "$threads" ] && echo "$WARMUP" || echo 0)" \
        --duration "$([ -n "$threads" ] && echo "$DURATION" || echo 0.01)" \
        > "$WORK/inprocess.jsonl" 2> "$LOGS/inprocess.log"
    rc=$?
    AGREEMENT=$(grep -m1 agreement "$WORK/inprocess.jsonl" || true)
    if wants modelhost-inprocess; then
        if [ $rc = 0 ]; then
            c1=$(grep '"threads":1,' "$WORK/inprocess.jsonl")
            c32=$(grep '"threads":32,' "$WORK/inprocess.jsonl")
            rss=$(python3 -c 'import json,sys; print(max(json.loads(l).get("peak_rss_kib",0) for l in open(sys.argv[1]) if "threads" in l))' "$WORK/inprocess.jsonl")
            record modelhost-inprocess ok "linfa tree (modelhost artifact), InProcessServer::predict with a FeatureMap; 1/32 caller threads instead of connections" "$c1" "$c32" "$rss"
        else
            record modelhost-inprocess "failed: compare_inprocess exited $rc (see work/logs/inprocess.log)" ""
        fi
    fi
    if [ -f "$WORK/modelhost_check.json" ]; then
        (cd "$HERE/python" && "$PY" train.py modelhost-cases "$DATA" "$WORK" "$WORK/modelhost_check.json") \
            >> "$LOGS/train.log" 2>&1
    fi
else
    fail_all "the compare_inprocess example did not build" modelhost-inprocess modelhost-oip modelhost-mlflow
fi

# ---------------------------------------------------------------- servers
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Every process whose ancestry leads to $1, and $1.
tree_pids() {
    local root=$1 pid stat rest ppid
    declare -A parent=()
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}; pid=${pid%/stat}
        rest=$(cat "$stat" 2> /dev/null) || continue
        rest=${rest##*) }          # after the command name
        ppid=$(echo "$rest" | cut -d' ' -f2)
        parent[$pid]=$ppid
    done
    for pid in "${!parent[@]}"; do
        local p=$pid
        while [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != 1 ]; do
            if [ "$p" = "$root" ]; then echo "$pid"; break; fi
            p=${parent[$p]:-}
        done
    done
}

# Sum of VmHWM (peak resident set) over the process tree, in KiB.
tree_peak_rss() {
    local total=0 pid v
    for pid in $(tree_pids "$1"); do
        v=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2> /dev/null)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

stop_server() {
    local pid=$1
    kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2> /dev/null || return 0
        sleep 0.2
    done
    kill -KILL -- "-$pid" 2> /dev/null || kill -KILL "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
}

# bench TARGET SERVES PATH CASES -- COMMAND... (with @PORT@ in it)
bench() {
    local target=$1 serves=$2 path=$3 cases=$4; shift 5
    local port cmd=() arg pid url waited rc c1 c32 rss
    port=$(free_port)
    for arg in "$@"; do cmd+=("${arg//@PORT@/$port}"); done
    url="http://127.0.0.1:$port$path"
    log "$target: starting on port $port"
    # A session of its own, so that stopping it stops its workers too.
    setsid "${SERVER[@]}" "${cmd[@]}" > "$LOGS/$target.log" 2>&1 &
    pid=$!
    waited=0
    while :; do
        "${CLIENT[@]}" "$LOADGEN" check --url "$url" --cases "$cases" > "$LOGS/$target.check" 2>&1
        rc=$?
        [ $rc = 3 ] || break
        if ! kill -0 "$pid" 2> /dev/null; then rc=exited; break; fi
        if [ "$waited" -ge $((READY_TIMEOUT * 2)) ]; then rc=timeout; break; fi
        sleep 0.5; waited=$((waited + 1))
    done
    case $rc in
        0) ;;
        exited) record "$target" "failed: the server exited during start-up (see work/logs/$target.log)" "$serves"; return ;;
        timeout) stop_server "$pid"; record "$target" "failed: not listening after ${READY_TIMEOUT}s" "$serves"; return ;;
        *) stop_server "$pid"
           record "$target" "failed: wrong or error answers to the check customers: $(grep -m1 -E '^case|loadgen' "$LOGS/$target.check" | cut -c1-160 | tr '|' '/')" "$serves"
           return ;;
    esac
    log "$target: ready after ~$((waited / 2)) s, $(tail -n1 "$LOGS/$target.check")"
    local body=${cases%.json}.body.json
    c1=$("${CLIENT[@]}" "$LOADGEN" run --url "$url" --body "$body" -c 1 --warmup "$WARMUP" --duration "$DURATION" 2>> "$LOGS/$target.log")
    c32=$("${CLIENT[@]}" "$LOADGEN" run --url "$url" --body "$body" -c 32 --warmup "$WARMUP" --duration "$DURATION" 2>> "$LOGS/$target.log")
    rss=$(tree_peak_rss "$pid")
    # Still answering correctly after the load?
    local after=ok
    "${CLIENT[@]}" "$LOADGEN" check --url "$url" --cases "$cases" >> "$LOGS/$target.check" 2>&1 || after="failed: wrong answers after the load"
    stop_server "$pid"
    record "$target" "$after" "$serves" "$c1" "$c32" "$rss"
}

PYTHON_ENV=(env "COMPARE_MODEL=$WORK/model.pkl" "PYTHONDONTWRITEBYTECODE=1")

if [ "$SKLEARN_OK" = 1 ]; then
    cd "$HERE/python" || exit 1
    wants fastapi-1 && bench fastapi-1 \
        "pickled sklearn tree; FastAPI + pydantic (ranges, enum); uvicorn, 1 worker; POST /predict, one JSON object" \
        /predict "$WORK/cases/fastapi.json" -- \
        "${PYTHON_ENV[@]}" "$HERE/.venv/bin/uvicorn" fastapi_app:app --host 127.0.0.1 --port @PORT@ --workers 1
    wants fastapi-2 && bench fastapi-2 \
        "as fastapi-1, uvicorn with 2 worker processes" \
        /predict "$WORK/cases/fastapi.json" -- \
        "${PYTHON_ENV[@]}" "$HERE/.venv/bin/uvicorn" fastapi_app:app --host 127.0.0.1 --port @PORT@ --workers 2
    wants mlflow && bench mlflow \
        "MLflow sklearn flavor (pickle); mlflow models serve --env-manager local; POST /invocations, dataframe_split (encoded)" \
        /invocations "$WORK/cases/mlflow.json" -- \
        env "PATH=$HERE/.venv/bin:$PATH" "$HERE/.venv/bin/mlflow" models serve -m "$WORK/mlflow_model" \
        --env-manager local -h 127.0.0.1 -p @PORT@
    wants bentoml && bench bentoml \
        "pickled sklearn tree; BentoML service, batchable API (max 64 rows, max_latency_ms 1000), pydantic rows; POST /predict {\"rows\": [...]}" \
        /predict "$WORK/cases/bentoml.json" -- \
        "${PYTHON_ENV[@]}" "BENTOML_HOME=$WORK/bentoml" "BENTOML_DO_NOT_TRACK=True" \
        "$HERE/.venv-bentoml/bin/bentoml" serve bento_service:Recommender --host 127.0.0.1 --port @PORT@
    cd "$HERE" || exit 1
    if wants furnace; then
        if [ -x "$REL/furnace-tree" ]; then
            bench furnace \
                "the same sklearn tree (node arrays) in furnace-server 0.16.2 via its TensorModel trait; OIP v2 POST /v2/models/recommender/infer, 6 tensors [1,1] INT64/FP32" \
                /v2/models/recommender/infer "$WORK/cases/furnace.json" -- \
                "$REL/furnace-tree" --tree "$WORK/tree.json" --port @PORT@
        else
            record furnace "failed: the furnace target did not build (see work/logs/build-furnace.log)" ""
        fi
    fi
fi

if wants modelhost-oip || wants modelhost-mlflow; then
    if [ -n "$MODELHOST_HTTP" ]; then
        for t in modelhost-oip modelhost-mlflow; do
            wants $t && record $t "skipped: $MODELHOST_HTTP" ""
        done
    elif [ ! -f "$WORK/cases/modelhost-oip.json" ]; then
        fail_all "no check cases (compare_inprocess failed)" modelhost-oip modelhost-mlflow
    else
        for t in modelhost-oip modelhost-mlflow; do
            if [ $t = modelhost-oip ]; then path=/v2/models/recommender/infer; what="OIP v2 POST $path, one named input per feature (raw values)"
            else path=/invocations; what="MLflow-compatible POST /invocations, dataframe_split (raw values)"; fi
            wants $t && bench $t "linfa tree (modelhost artifact); modelhost serve; $what" \
                "$path" "$WORK/cases/$t.json" -- \
                "$REL/modelhost" serve --registry "$REG" --model recommender@tree --addr 127.0.0.1:@PORT@
        done
    fi
fi

# ---------------------------------------------------------------- report
python3 - "$RESULTS" "$HERE/results.md" "$MODE" "$WARMUP" "$DURATION" "$PINNING" "$WORK/sklearn_tree.json" "$AGREEMENT" <<'EOF'
import json, os, platform, sys
results, out, mode, warmup, duration, pinning, tree_file, agreement = sys.argv[1:9]
rows = [json.loads(l) for l in open(results) if l.strip()]
order = ["fastapi-1", "fastapi-2", "mlflow", "bentoml", "furnace",
         "modelhost-oip", "modelhost-mlflow", "modelhost-inprocess"]
rows.sort(key=lambda r: order.index(r["target"]) if r["target"] in order else 99)

def us(v):
    if v is None or v != v:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.1f} µs" if v >= 10 else f"{v:.2f} µs"

def rps(v):
    return "–" if v is None else f"{v:,.0f}"

def status(r, errors):
    s = r["status"]
    if errors:
        first = next((c["first_error"] for c in (r.get("c1"), r.get("c32")) if c and c.get("first_error")), "")
        s += f"; {errors} errors during the load (first: {first[:100]})"
    return s.replace("|", "/")

lines = []
lines.append(f"| target | p50 (1 conn) | p99 (1 conn) | req/s (1 conn) | req/s (32 conn) | p99 (32 conn) | errors | peak RSS | status |")
lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    c1, c32 = r.get("c1") or {}, r.get("c32") or {}
    errors = (c1.get("errors") or 0) + (c32.get("errors") or 0) if (c1 or c32) else None
    rss = r.get("rss_kib")
    lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["target"], us(c1.get("p50_us")), us(c1.get("p99_us")), rps(c1.get("rps")),
        rps(c32.get("rps")), us(c32.get("p99_us")),
        "–" if errors is None else errors,
        "–" if not rss else f"{rss / 1024:.0f} MiB", status(r, errors)))

tree = {}
if os.path.exists(tree_file):
    tree = json.load(open(tree_file))
agree = json.loads(agreement) if agreement else {}
notes = [
    f"Mode: {mode} ({warmup} s warm-up, {duration} s measured per run); {os.cpu_count()} CPUs; pinning: {pinning}.",
    "Latency is client-side, from writing the request to reading the last byte of the answer, over keep-alive HTTP/1.1 on 127.0.0.1 "
    "(bench/compare/loadgen); for modelhost-inprocess it is one `predict` call and the connections are caller threads. "
    "Peak RSS: VmHWM summed over the server's process tree (for modelhost-inprocess: the benchmark process itself).",
    "Model: the webshop recommender, depth 8, trained on the same 8,000 encoded rows (seed 2). "
    + (f"scikit-learn tree ({tree.get('nodes')} nodes, {tree.get('leaves')} leaves, depth {tree.get('depth')}) for FastAPI, MLflow, BentoML and furnace; "
       if tree else "")
    + "modelhost's own linfa tree (recommender@tree) for the modelhost rows: same data and depth, not the same tree"
    + (f" (the two agree on {agree['agreement_with_sklearn'] * 100:.1f}% of {agree['holdout_rows']} holdout customers)." if agree else "."),
]
body = "\n".join(lines)
text = "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\nWhat each target serves:\n\n" + "\n".join(
    f"- **{r['target']}**: {r['serves']}" for r in rows if r.get("serves")) + "\n"
open(out, "w").write(text)
print(text)
EOF
