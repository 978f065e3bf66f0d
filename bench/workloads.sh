#!/usr/bin/env bash
# Time from `kubectl apply` to all pods Running for N nginx replicas on `tutti dev` with the
# docker driver, and tutti's RSS while they run. Needs Docker and scripts/images.sh.
# Usage: bench/workloads.sh [N ...]   (default: 3 30)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -q -p tutti
export TUTTI_BIN="$PWD/target/release/tutti" TUTTI_LOG=warn
source e2e/lib.sh
docker rm -f $(docker ps -aq --filter label=io.tutti.managed=true) >/dev/null 2>&1 || true
start_dev
printf '%10s %14s %12s\n' replicas "apply->Running" "tutti RSS"
for n in "${@:-3 30}"; do
  for n1 in $n; do
    sed "s/replicas: 3/replicas: $n1/" "$EXAMPLES/nginx.yaml" >"$WORK/n.yaml"
    t0=$(date +%s%N)
    kubectl apply -f "$WORK/n.yaml" >/dev/null
    waitv 300 -eq "$n1" running app=nginx
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    rss=$(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$DEV_PID/status")
    printf '%10s %11s ms %12s\n' "$n1" "$ms" "$rss"
    kubectl delete -f "$WORK/n.yaml" --wait=false >/dev/null
    waitv 300 -eq 0 containers_named nginx
    waitv 120 -eq 0 count_pods app=nginx
  done
done
