#!/usr/bin/env bash
# Every benchmark, then the report: runs bench/run.sh, scheduler.sh, cluster.sh, services.sh
# and swarm.sh in turn (each writes bench/results/*.json), carries on past one that fails,
# then regenerates the tables and plots of docs/benchmarks.md with bench/report.py.
#
# Usage: bench/all.sh [--quick]
#   --quick   smoke run: every script with --quick, then `report.py --check`, which only
#             verifies that every result renders; docs/ is left alone.
# Environment: BENCH_PROFILE (default release), the cargo profile the scripts build with;
#             a debug build's numbers are not published either (report.py --check).
# Exits non-zero if any script or the report failed; the summary says which. A script that
# failed leaves its previous results (if any) in place: the date under each table says when
# they were measured.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bench/all.sh [--quick]" >&2; exit 2; }
quick=()
case "${1:-}" in
  --quick) quick=(--quick) ;;
  "") ;;
  *) usage ;;
esac
[ $# -le 1 ] || usage
export BENCH_PROFILE="${BENCH_PROFILE:-release}"

failed=()
summary=()
for name in run scheduler cluster services swarm; do
  script="bench/$name.sh"
  echo "=== $script ${quick[*]} (BENCH_PROFILE=$BENCH_PROFILE)"
  if [ ! -f "$script" ]; then
    echo "error: $script does not exist" >&2
    failed+=("$script (missing)")
    summary+=("missing  $script")
    continue
  fi
  start=$SECONDS
  bash "$script" "${quick[@]}"
  rc=$?
  if [ "$rc" = 0 ]; then
    summary+=("ok       $script ($((SECONDS - start)) s)")
  else
    failed+=("$script (exit $rc)")
    summary+=("FAILED   $script (exit $rc after $((SECONDS - start)) s)")
  fi
done

report=(python3 bench/report.py)
case "$BENCH_PROFILE" in debug | dev) debug=1 ;; *) debug=0 ;; esac
if [ ${#quick[@]} -gt 0 ] || [ "$debug" = 1 ]; then
  report+=(--check)
  echo "=== ${report[*]} (${quick[*]:-BENCH_PROFILE=$BENCH_PROFILE}: docs/benchmarks.md left alone)"
else
  echo "=== ${report[*]}"
fi
"${report[@]}"
rc=$?
if [ "$rc" = 0 ]; then
  summary+=("ok       bench/report.py")
else
  failed+=("bench/report.py (exit $rc)")
  summary+=("FAILED   bench/report.py (exit $rc)")
fi

echo
echo "=== summary"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench/all.sh: ${#failed[@]} step(s) failed: ${failed[*]}" >&2
  exit 1
fi
