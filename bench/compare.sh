#!/usr/bin/env bash
# hyperwire against itself: the benchmark binary of an earlier commit and of the
# working tree, run alternately on the same machine (each run starts its own
# servers), hyperwire's clients only, then a table of medians and ratios.
#
#   bash bench/compare.sh OLD_COMMIT [ROUNDS]
#
# Environment: BENCH_ONLY (default: the workloads a refactor must not slow down),
# BENCH_REPS (default 3, per round), CARGO_TARGET_DIR (shared by both builds, so
# the peers compile once). Not part of CI: it takes tens of minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
old=${1:?usage: bench/compare.sh OLD_COMMIT [ROUNDS]}
rounds=${2:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}
export BENCH_ONLY=${BENCH_ONLY:-select_stream,copy_out,roundtrip,pipeline,connect}
export BENCH_REPS=${BENCH_REPS:-3}
export BENCH_CLIENTS="hyperwire,hyperwire (binary),hyperwire (in place),hyperwire (blocking)"
out=$(mktemp -d /tmp/hyperwire-compare.XXXX)

tree=$(mktemp -d /tmp/hyperwire-old.XXXX)
git worktree add --detach "$tree" "$old" >/dev/null
trap 'git worktree remove --force "$tree"' EXIT
(cd "$tree" && cargo build --release --manifest-path bench/Cargo.toml)
cp "$CARGO_TARGET_DIR/release/hyperwire-bench" "$out/bench-old"
cargo build --release --manifest-path bench/Cargo.toml
cp "$CARGO_TARGET_DIR/release/hyperwire-bench" "$out/bench-new"

for round in $(seq "$rounds"); do
    for which in old new; do
        echo "== round $round: $which"
        BENCH_OUT="$out/$which-$round" "$out/bench-$which" >"$out/$which-$round.log" 2>&1
    done
done

python3 - "$out" "$rounds" <<'EOF'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = {}
for which in ("old", "new"):
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{out}/{which}-{r}/results.json")):
            if row.get("status") != "ok":
                continue
            key = (row["workload"], row["server"], row["client"])
            runs.setdefault(key, {}).setdefault(which, []).append(row)
print(f"{'workload':<14}{'server':<8}{'client':<22}{'old ops/s':>12}{'new ops/s':>12}{'ratio':>7}{'old cpu µs':>12}{'new cpu µs':>12}")
for key in sorted(runs):
    both = runs[key]
    if "old" not in both or "new" not in both:
        continue
    ops = {w: statistics.median(r["ops_per_s"] for r in both[w]) for w in both}
    cpu = {w: statistics.median(r["cpu_us_per_op"] for r in both[w]) for w in both}
    print(f"{key[0]:<14}{key[1]:<8}{key[2]:<22}{ops['old']:>12.0f}{ops['new']:>12.0f}{ops['new']/ops['old']:>7.2f}{cpu['old']:>12.3f}{cpu['new']:>12.3f}")
print(f"(medians of {rounds} rounds x BENCH_REPS; raw results in {out})")
EOF
