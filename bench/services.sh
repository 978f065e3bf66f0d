#!/usr/bin/env bash
# Service data path benchmark: the userspace proxy on loopback (latency per request direct vs
# through a service VIP, requests/s, time from an endpoint change to the traffic shift).
# Usage: bench/services.sh [--quick]      Results: bench/results/proxy.json and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
mkdir -p bench/results
echo "== building (release)"
cargo build --release -q -p tutti-net --example proxy_bench
echo "== service proxy on loopback"
./target/release/examples/proxy_bench "${quick[@]}" --json bench/results/proxy.json
