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

echo "== servers (PostgreSQL 15/17/18, hyperd, PgBouncer)"
bash .ci/install-servers.sh

echo "== format"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
# One process per test binary: the integration tests start each server once per
# binary (nextest's process per test would start them once per test).
# hwsql is built first: the side-by-side test against psql runs the binary.
cargo build --workspace --locked --bins
cargo test --workspace --locked --no-fail-fast

echo "== no I/O in the core"
./.ci/check-core-deps.sh

echo "== thin adapters"
./.ci/check-adapters.sh

echo "== without default features (core: no rand, no SASLprep; blocking: no TLS; async: no COPY io traits, no deadpool)"
cargo build -p hyperwire-proto --no-default-features --locked
cargo clippy -p hyperwire-blocking --no-default-features --locked -- -D warnings
cargo clippy -p hyperwire-async --no-default-features --locked -- -D warnings

echo "== benchmarks compile"
cargo bench -p hyperwire-proto --no-run --locked

echo "== fuzz smoke run"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
    secs="${HYPERWIRE_FUZZ_SECONDS:-30}"
    for target in backend_decode machine_bytes machine_states machine_ops scram conninfo values hyper_copy engine; do
        # A scratch copy of the corpus: the committed one stays small.
        work=$(mktemp -d)
        log=$(mktemp)
        cp -r "fuzz/corpus/$target/." "$work/"
        (cd fuzz && cargo +nightly fuzz run -O "$target" "$work" -- \
            -max_total_time="$secs" -max_len=4096 -print_final_stats=0 >/dev/null 2>"$log") \
            || { tail -40 "$log"; exit 1; }
        rm -rf "$work" "$log"
        echo "fuzz $target: ${secs}s clean"
    done
else
    echo "nightly not installed: fuzz smoke run skipped"
fi

echo "OK"
