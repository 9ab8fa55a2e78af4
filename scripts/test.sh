#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, docs, unit and integration
# tests (which start real clusters on loopback and use redis-cli, redis-cli
# --pipe and redis-benchmark), and every criterion bench once in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
cargo build --release --bins
cargo test --release --lib --bins --tests -- --test-threads=2
cargo test --release --benches
