#!/usr/bin/env bash
# Invariant 1: hyperwire-proto depends on no runtime or socket crate and uses no
# std networking, clock or thread API.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p hyperwire-proto -e normal --prefix none --locked)
for banned in tokio async-std async-io mio socket2 futures-io smol; do
    if grep -E "^${banned} v" <<<"$tree"; then
        echo "hyperwire-proto must not depend on ${banned}" >&2
        exit 1
    fi
done
if grep -rnE 'std::(net|time|thread)|extern crate std' hyperwire-proto/src; then
    echo "hyperwire-proto must not use std::net, std::time or std::thread" >&2
    exit 1
fi
grep -q '^#!\[no_std\]' hyperwire-proto/src/lib.rs || { echo "hyperwire-proto must be #![no_std]" >&2; exit 1; }
echo "core is free of runtimes, sockets, clocks and threads"
