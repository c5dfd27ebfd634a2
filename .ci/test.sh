#!/usr/bin/env bash
# The project's test command (README.md names it; .ci/run calls it).
# Runs on a fresh machine with no standard input.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0

echo "== toolchain"
cargo --version
rustc --version

echo "== format"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    cargo test --workspace --locked --doc
else
    cargo test --workspace --locked
fi

echo "== no I/O in the core"
./.ci/check-core-deps.sh

echo "== benchmarks compile"
cargo bench -p hyperwire-proto --no-run --locked

echo "OK"
