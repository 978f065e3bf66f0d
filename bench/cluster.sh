#!/usr/bin/env bash
# End to end at scale: a real `tutti server` with 5,000 hollow nodes (`tutti agent --hollow`),
# then pods created through the API: 10,000 and 150,000 pods, each as bare pods (64 writers)
# and as a Deployment (~7 min in all on 2 cores). Reports pods/s from create to bound and to
# Running, API latency p50/p99 while it happens, watch delay, LIST of every pod, server RSS
# and CPU.
# Usage: bench/cluster.sh [--quick] [cluster_bench options: --nodes N --runs pods:N,deployment:N,...]
#        Results: bench/results/cluster.json and a table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_build
echo "== tutti server + hollow nodes"
"$TARGET_DIR/examples/cluster_bench" "$@" --json bench/results/cluster.json
