#!/usr/bin/env bash
# Build modelhost, fill a registry, start `modelhost serve` on a free
# loopback port, and drive it with the Python clients in
# tritonclient_check.py. The server is stopped however the check ends.
#
# Usage: tests/python/run.sh [PYTHON]   (default: python3; it needs
# tritonclient[http,grpc], kserve and requests, as .ci/run installs into a
# venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${1:-python3}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"

echo "-- building modelhost and the examples"
cargo build --all-features --bin modelhost --example webshop_train --example webshop_predict

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/debug/examples/webshop_train" "$WORK/registry" >/dev/null
"$TARGET/debug/examples/webshop_predict" "$WORK/registry" 40 >"$WORK/expected.json"
echo "py-check-token-$RANDOM$RANDOM" >"$WORK/token"

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
PORT="$(free_port)"
GRPC_PORT="$(free_port)"
"$TARGET/debug/modelhost" serve --registry "$WORK/registry" --model recommender@production \
    --addr "127.0.0.1:$PORT" --grpc-addr "127.0.0.1:$GRPC_PORT" --admin-token-file "$WORK/token" --watch-interval-ms 500 \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

echo "-- waiting for 127.0.0.1:$PORT to be ready"
ready=""
for _ in $(seq 1 100); do
    if "$PYTHON" -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$PORT/v2/health/ready', timeout=1).status == 200 else 1)" 2>/dev/null; then
        ready=1
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$ready" ]; then
    echo "modelhost serve did not become ready:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi

echo "-- tritonclient and MLflow checks"
timeout 300 "$PYTHON" tests/python/tritonclient_check.py "127.0.0.1:$PORT" "$WORK/expected.json" "$(cat "$WORK/token")"

echo "-- tritonclient.grpc checks"
timeout 300 "$PYTHON" tests/python/grpc_check.py "127.0.0.1:$GRPC_PORT" "127.0.0.1:$PORT" "$WORK/expected.json" "$(cat "$WORK/token")"

echo "-- KServe client checks (gRPC and V1 REST)"
timeout 300 "$PYTHON" tests/python/kserve_check.py "127.0.0.1:$GRPC_PORT" "127.0.0.1:$PORT" "$WORK/expected.json"
