#!/usr/bin/env bash
# Control-plane benchmarks: durable writes through the Raft store alone (1 and 3 voters; 1, 64
# and 256 writers) and through the HTTPS API (1 and 64 writers); `tutti dev` time to ready,
# idle RSS and CPU; binary size.
# Usage: bench/run.sh [--quick]
#        Results: bench/results/{store-1,store-3,api}.json and tables on stdout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
bench_build
if [ ${#quick[@]} -gt 0 ]; then secs=0.5; else secs=3; fi
for voters in 1 3; do
  echo "== store: RaftStore durable writes, $voters voter(s)"
  "$TARGET_DIR/examples/store_bench" --seconds "$secs" --writers 1,64,256 --voters "$voters" \
    --json "bench/results/store-$voters.json"
done
echo "== API: creates through HTTPS (kube-rs client)"
"$TARGET_DIR/examples/api_bench" "${quick[@]}" --out bench/results/api.json
