#!/usr/bin/env bash
# Thin adapters (DESIGN.md, "two layers"): every protocol rule lives in
# hyperwire-proto. In the adapters' library code (test modules and the hwsql binary
# excluded) there may be no SQLSTATE literal (match the core's SqlState constants,
# or better, let a core rule decide), no message-tag byte literal, and no use of the
# codec's backend decoder. Also prints the adapters' sizes against their targets;
# the example adapter on plain std::net (examples/std-threads) is held to the same
# rules and to at most 400 lines (the README quotes its size).
set -euo pipefail
cd "$(dirname "$0")/.."

adapters=(hyperwire-blocking/src hyperwire-async/src hyperwire-tokio/src hyperwire-async-std/src
    examples/std-threads/src)

# Library code only: each file up to its first #[cfg(test)].
library_code() {
    find "${adapters[@]}" -name '*.rs' -not -path '*/bin/*' | sort | while read -r f; do
        awk -v f="$f" '/#\[cfg\(test\)\]/{exit} {print f ":" FNR ": " $0}' "$f"
    done
}

code=$(library_code)
fail=0
check() {
    local what=$1 pattern=$2
    local hits
    hits=$(grep -P "$pattern" <<<"$code" | grep -vE '^[^:]+:[0-9]+: *//' || true)
    if [ -n "$hits" ]; then
        echo "adapters must not contain $what:" >&2
        echo "$hits" >&2
        fail=1
    fi
}
# Five digits or capitals with at least one digit ("BEGIN" is not a code).
check "SQLSTATE literals" '"(?=[0-9A-Z]*[0-9])[0-9A-Z]{5}"'
check "message-tag byte literals" "b'[A-Za-z]'"
check "the backend decoder" 'codec::backend|BackendMessage'
[ "$fail" -eq 0 ] || exit 1

lines() { find "$@" -name '*.rs' -not -path '*/bin/*' -exec cat {} + | wc -l; }
example=$(lines examples/std-threads/src)
if [ "$example" -gt 400 ]; then
    echo "the example adapter (examples/std-threads) has $example lines: at most 400" >&2
    exit 1
fi
echo "adapters hold no SQLSTATE, message tag or backend decoding"
echo "sizes: hyperwire-blocking library $(lines hyperwire-blocking/src) lines (target 900)," \
    "hyperwire-async $(lines hyperwire-async/src) (target 1500)," \
    "the std::net example $example (at most 400)"
