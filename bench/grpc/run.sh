#!/usr/bin/env bash
# gRPC beside REST with one C client for both: h2load (nghttp2) sends the
# same single-row request to a release `modelhost serve --grpc-addr` as
# HTTP/1.1 keep-alive OIP JSON (`h2load --h1`) and as gRPC ModelInfer over
# HTTP/2, at 1 and 32 requests in flight. The server runs on CPU 1 and the
# client on CPU 0, so the figures are what the server can do on one core,
# not what a Rust client library costs. BENCHMARKS.md records them.
#
# Usage: bench/grpc/run.sh [seconds per case, default 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
SECONDS_PER_CASE="${1:-10}"
command -v h2load >/dev/null || apt-get install -y -qq nghttp2-client >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }
cargo build --release --features cli,http,grpc,logistic,forest --bin modelhost --example webshop_train

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/release/examples/webshop_train" "$WORK/registry" >/dev/null
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
HTTP_PORT="$(free_port)"
GRPC_PORT="$(free_port)"
taskset -c 1 "$TARGET/release/modelhost" serve --registry "$WORK/registry" \
    --model recommender@tree --addr "127.0.0.1:$HTTP_PORT" --grpc-addr "127.0.0.1:$GRPC_PORT" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$HTTP_PORT/v2/health/ready', timeout=1)" 2>/dev/null && break
    sleep 0.1
done
python3 bench/grpc/bodies.py "$WORK" recommender

REST_URL="http://127.0.0.1:$HTTP_PORT/v2/models/recommender/infer"
GRPC_URL="http://127.0.0.1:$GRPC_PORT/inference.GRPCInferenceService/ModelInfer"
GRPC_HEADERS=(-H "content-type: application/grpc" -H "te: trailers")

# Both requests must succeed before anything is timed: a gRPC error is an
# HTTP 200 with a grpc-status trailer, which h2load would count as a success.
curl -sf -H "content-type: application/json" --data-binary "@$WORK/rest.json" "$REST_URL" \
    | grep -q '"model_version"' || { echo "REST request failed"; exit 1; }
nghttp -v "${GRPC_HEADERS[@]}" -d "$WORK/grpc.bin" "$GRPC_URL" >"$WORK/grpc.out" 2>&1 || true
grep -q "grpc-status: 0" "$WORK/grpc.out" || { echo "gRPC request failed:"; cat "$WORK/grpc.out"; exit 1; }

run() {
    local label="$1"; shift
    local out
    out="$(taskset -c 0 h2load -D "$SECONDS_PER_CASE" --warm-up-time=2 "$@" 2>&1)"
    local rps p status
    rps="$(grep -oP 'finished in [^,]+, \K[0-9.]+(?= req/s)' <<<"$out")"
    status="$(grep -oP 'status codes: \K[0-9]+(?= 2xx)' <<<"$out")"
    # "time for request:  min  max  mean  sd  +/- sd"
    p="$(grep -P '^time for request:' <<<"$out" | awk '{print $6}')"
    printf '%-44s %10s req/s  %9s 2xx  mean latency %s\n' "$label" "$rps" "$status" "$p"
}

echo "modelhost serve on CPU 1 (recommender@tree), h2load on CPU 0, ${SECONDS_PER_CASE} s per case"
run "REST (HTTP/1.1 keep-alive), 1 connection" --h1 -c 1 -m 1 -H "content-type: application/json" -d "$WORK/rest.json" "$REST_URL"
run "gRPC, 1 stream" -c 1 -m 1 "${GRPC_HEADERS[@]}" -d "$WORK/grpc.bin" "$GRPC_URL"
run "REST (HTTP/1.1 keep-alive), 32 connections" --h1 -c 32 -m 1 -H "content-type: application/json" -d "$WORK/rest.json" "$REST_URL"
run "gRPC, 32 connections x 1 stream" -c 32 -m 1 "${GRPC_HEADERS[@]}" -d "$WORK/grpc.bin" "$GRPC_URL"
run "gRPC, 4 connections x 8 streams" -c 4 -m 8 "${GRPC_HEADERS[@]}" -d "$WORK/grpc.bin" "$GRPC_URL"
run "gRPC, 1 connection x 32 streams" -c 1 -m 32 "${GRPC_HEADERS[@]}" -d "$WORK/grpc.bin" "$GRPC_URL"

# Every request the server saw, by outcome (a gRPC error would be an HTTP
# 200 to h2load, so the server's own count is the check).
curl -sf "http://127.0.0.1:$HTTP_PORT/v2/models/recommender/stats" | python3 -c '
import json, sys
stats = json.load(sys.stdin)["model_stats"]
ok = sum(s["inference_stats"]["success"]["count"] for s in stats)
failed = sum(s["inference_stats"]["fail"]["count"] for s in stats)
print(f"server: {ok} inferences succeeded, {failed} failed")
sys.exit(1 if failed else 0)'
