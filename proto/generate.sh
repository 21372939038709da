#!/usr/bin/env bash
# Regenerates src/transport/grpc/proto.rs from proto/inference.proto.
# Needs protoc (Debian: protobuf-compiler). The generated file is checked in,
# so building modelhost with the `grpc` feature needs neither protoc nor this.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p src/transport/grpc
cargo run --quiet --manifest-path proto/generate/Cargo.toml
rustfmt --edition 2024 src/transport/grpc/proto.rs
