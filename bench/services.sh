#!/usr/bin/env bash
# Service data path benchmark: the userspace proxy on loopback (latency per request direct vs
# through a service VIP, requests/s, time from an endpoint change to the traffic shift).
# Usage: bench/services.sh [--quick]      Results: bench/results/proxy.json and a table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
bench_build
echo "== service proxy on loopback"
"$TARGET_DIR/examples/proxy_bench" "${quick[@]}" --json bench/results/proxy.json
