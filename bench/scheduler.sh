#!/usr/bin/env bash
# Scheduler placement core: pods/s and per-pod latency p50/p99 placing 10,000 pods one at a
# time on 500 / 5,000 / 15,000-node snapshots (fit + nodeSelector + taints; anti-affinity +
# topology spread), single-threaded, fixed seed.
# Usage: bench/scheduler.sh [--quick]      Results: bench/results/scheduler.json and a table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
bench_build
echo "== placement core (one thread)"
"$TARGET_DIR/examples/sched_bench" "${quick[@]}" --json bench/results/scheduler.json
