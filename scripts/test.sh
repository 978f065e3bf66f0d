#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs unit/integration tests
# (cargo nextest), the end-to-end scripts under e2e/ against the real binary, Docker and kubectl,
# and every benchmark in its one-minute --quick mode.
# Usage: scripts/test.sh            (everything)
#        scripts/test.sh --unit     (cargo tests only)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: installing $1 needs root (run as root or install it yourself)" >&2
    exit 1
  fi
}
apt_updated=0
ensure_pkg() { # ensure_pkg <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  need_root "$2"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

log "prerequisites"
command -v cargo >/dev/null || { echo "error: cargo (Rust 1.95+) is required" >&2; exit 1; }
ensure_pkg curl curl
ensure_pkg python3 python3
if ! cargo nextest --version >/dev/null 2>&1; then cargo install --locked cargo-nextest; fi
if ! command -v kubectl >/dev/null 2>&1; then
  # kubectl is the reference client of the e2e tests. Debian 12 ships it as a package
  # only in newer releases; fail with a clear message rather than skip.
  echo "error: kubectl (1.32) is required for the end-to-end tests and was not found on PATH" >&2
  exit 1
fi

log "docker engine and test images (built locally from Debian packages)"
bash scripts/docker.sh
bash scripts/images.sh

log "build"
# A one-shot build gains nothing from the incremental cache, which would add ~3.6 GB
# to target/ (CI machines' disks can be small). Set CARGO_INCREMENTAL=1 to keep it.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
cargo build --workspace --all-targets
cargo build -p tutti

log "unit and integration tests"
# Panic messages, not backtraces, at the end of a failing test's output: CI keeps the tail.
RUST_BACKTRACE=0 cargo nextest run --workspace --no-fail-fast

if [ "${1:-}" = "--unit" ]; then exit 0; fi

log "end-to-end"
export TUTTI_BIN="$PWD/target/debug/tutti"
passed=0; failed=0
for t in e2e/*.sh; do
  args=()
  case "$(basename "$t")" in
    lib.sh) continue ;;                  # sourced by the others
    netns-docker.sh) args=(selftest) ;;  # a library too; its selftest checks its claims
  esac
  echo "-- $t ${args[*]}"
  if bash "$t" "${args[@]}"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $t"; fi
done
echo
echo "e2e: $passed passed, $failed failed"

log "benchmarks, smoke runs"
# Every bench/ script in its --quick mode on the debug build above, so none of them rots;
# their numbers are not published (bench/report.py --check only renders them).
bench=0
BENCH_PROFILE=debug bash bench/all.sh --quick || bench=1
[ "$bench" = 0 ] || echo "FAILED: bench/all.sh --quick"
[ "$failed" = 0 ] && [ "$bench" = 0 ]
