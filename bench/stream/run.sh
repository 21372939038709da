#!/usr/bin/env bash
# Side-by-side benchmark of event-stream consumers over a local nats-server:
# `modelhost stream` (batcher off and on) against a nats-py + scikit-learn
# consumer doing the same work (per event, and per fetched batch).
#
#   bench/stream/run.sh [--skip-install] [--skip-build]
#
# Environment: CARGO_TARGET_DIR (default target), STREAM_BENCH_EVENTS
# (throughput phase, default 20000), STREAM_BENCH_RATE and
# STREAM_BENCH_SECONDS (latency phase, default 1000 events/s for 10 s).
# Prints one Markdown table. See drive.py for what is measured.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d)
trap 'kill ${NATS_PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
REL=$CARGO_TARGET_DIR/release
VENV=$CARGO_TARGET_DIR/py-stream
INSTALL=1
BUILD=1
for arg in "$@"; do
    case "$arg" in
        --skip-install) INSTALL=0 ;;
        --skip-build) BUILD=0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done
log() { printf '[stream %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "$BUILD" = 1 ]; then
    log "building modelhost (release)"
    (cd "$ROOT" && cargo build --quiet --release --features cli,nats --bin modelhost \
        && cargo build --quiet --release --features logistic,forest \
            --example webshop_train --example compare_export_data)
fi
if [ "$INSTALL" = 1 ] && ! "$VENV/bin/python" -c "import nats, sklearn, pandas" 2>/dev/null; then
    log "installing nats-py and scikit-learn into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        "nats-py==2.12.0" "scikit-learn==1.7.2" "numpy==2.3.5" "pandas==2.3.3"
fi
PY=$VENV/bin/python
NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)

# The consumer on CPU 1, the broker and the driver on CPU 0.
if [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then
    SIDE=(taskset -c 0)
    CONSUMER=(taskset -c 1)
else
    SIDE=()
    CONSUMER=()
fi

log "exporting the webshop data and training the registry"
"$REL/examples/compare_export_data" "$WORK/data" > /dev/null
"$REL/examples/webshop_train" "$WORK/registry" > /dev/null

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=nats://127.0.0.1:$PORT
"${SIDE[@]}" "$NATS_BIN" -js -a 127.0.0.1 -p "$PORT" -sd "$WORK/nats" > /dev/null 2>&1 &
NATS_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

MH=("$REL/modelhost" stream --registry "$WORK/registry" --model recommender@tree --nats "$URL"
    --input bench.events --output bench.predictions --dead-letter bench.dead
    --input-stream BENCH_EVENTS --output-stream BENCH_PREDICTIONS)
PYC=("$PY" "$HERE/consumer.py" "$URL" "$WORK/data")
drive() {
    local name=$1; shift
    log "$name"
    "${SIDE[@]}" "$PY" "$HERE/drive.py" "$URL" "$WORK/data" "$name" -- "${CONSUMER[@]}" "$@"
}
{
    drive "modelhost stream" "${MH[@]}"
    drive "modelhost stream --batch" "${MH[@]}" --batch --batch-max-wait-us 500
    drive "python (nats-py + scikit-learn), per event" "${PYC[@]}"
    drive "python (nats-py + scikit-learn), per fetched batch" "${PYC[@]}" --batch
} | tee "$WORK/results.jsonl" >&2

echo "| consumer | events/s (backlog) | p50 latency | p99 latency |"
echo "|---|---|---|---|"
"$PY" - "$WORK/results.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    t, rate, p50, p99 = r["target"], r["events_per_s"], r["p50_ms"], r["p99_ms"]
    print(f"| {t} | {rate:,} | {p50} ms | {p99} ms |")
PY
