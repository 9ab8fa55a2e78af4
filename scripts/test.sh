#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, docs, unit and integration
# tests (which start real clusters on loopback and use redis-cli, redis-cli
# --pipe and redis-benchmark), and every criterion bench once in test mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features sim -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
cargo build --release --bins
cargo test --release --lib --bins --tests -- --test-threads=2
cargo test --release --benches
# The deterministic simulation (tests/sim.rs, 100 seeds) needs the crate
# built with the `sim` feature, whose binary runs only inside the
# simulation: it goes last, and the normal binaries are put back after it.
cargo test --release --features sim --test sim
cargo build --release --bins
