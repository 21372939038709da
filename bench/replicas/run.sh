#!/usr/bin/env bash
# The multi-replica demo: a local S3 server (SeaweedFS), three
# `modelhost serve` processes following `shop@production` in a registry on
# it, load against all three, and 20 promotions. Prints the requests, the
# failures (there must be none) and the time until every replica served each
# promoted version (p50 and max). The same run is `tests/replicas.rs` in CI.
#
# Usage: bench/replicas/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/object-stores.sh
export MODELHOST_REQUIRE_OBJECT_STORES=1
cargo test --release --features cli,http,s3,azure --test replicas -- --nocapture 2>&1 \
    | grep -E "replicas, poll interval|test result|panicked"
