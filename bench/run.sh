#!/usr/bin/env bash
# Control-plane benchmarks: durable writes through the Raft store alone and through the
# HTTPS API (1 and 64 writers), time to ready and idle RSS of `tutti dev`.
# Usage: bench/run.sh [--quick]      Results: bench/results/*.json and a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=()
[ "${1:-}" = "--quick" ] && quick=(--quick)
mkdir -p bench/results
echo "== building (release)"
cargo build --release -q -p tutti-store --example store_bench
cargo build --release -q -p tutti --bin tutti --example api_bench
echo "== store: RaftStore durable writes"
if [ ${#quick[@]} -gt 0 ]; then secs=1; else secs=3; fi
./target/release/examples/store_bench --seconds "$secs" --writers 1,64,256 | tee bench/results/store.txt
echo "== API: creates through HTTPS (kube-rs client)"
./target/release/examples/api_bench "${quick[@]}" --out bench/results/api.json
echo "binary size: $(stat -c %s target/release/tutti | awk '{printf "%.1f MiB", $1/1048576}')"
