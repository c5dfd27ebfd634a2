#!/usr/bin/env bash
# The demo: installs what is missing, starts a throwaway PostgreSQL 15 and hyperd,
# runs a short tour through the blocking client, then stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-servers.sh >/dev/null
cargo run --quiet --locked -p hyperwire-tests --example tour
