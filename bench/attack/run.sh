#!/usr/bin/env bash
# Attacks a release `modelhost serve` on loopback the way a hostile client
# would (slowloris, slow bodies, idle connections, memory bombs, overload
# with 1,000 connections) and prints what the server did about each.
# BENCHMARKS.md records the figures.
#
# Usage: bench/attack/run.sh [extra `modelhost serve` flags, e.g. --batch]
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --features cli,http,logistic,forest --bin modelhost --example webshop_train
ulimit -n 8192 2>/dev/null || true

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/release/examples/webshop_train" "$WORK/registry" >/dev/null
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"$TARGET/release/modelhost" serve --registry "$WORK/registry" --model recommender@production \
    --addr "127.0.0.1:$PORT" "$@" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/v2/health/ready', timeout=1)" 2>/dev/null && break
    sleep 0.1
done
echo "modelhost serve $* on 127.0.0.1:$PORT (pid $SERVER_PID), open-file limit $(ulimit -n)"
python3 bench/attack/attack.py "127.0.0.1:$PORT" "$SERVER_PID"

echo "-- SIGTERM on the idle server"
kill -TERM "$SERVER_PID"
start=$(date +%s%N)
while kill -0 "$SERVER_PID" 2>/dev/null; do sleep 0.05; done
echo "stopped $(( ($(date +%s%N) - start) / 1000000 )) ms after SIGTERM"
SERVER_PID=""
