# Shared helpers for the end-to-end scripts: start a real `tutti dev`, talk to it with
# kubectl, and assert on what a user sees. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXAMPLES="${EXAMPLES:-$ROOT/../shared/examples}"
TUTTI="${TUTTI_BIN:-$ROOT/target/debug/tutti}"
WORK="$(mktemp -d)"
DEV_PID=""
DEV_CONTAINERS_BEFORE=""

# Docker containers of `tutti dev`'s own node (named after this host), one id per line.
dev_node_containers() {
  command -v docker >/dev/null 2>&1 || return 0
  docker ps -aq --no-trunc --filter label=io.tutti.managed=true --filter "label=io.tutti.node=$(tr "[:upper:]" "[:lower:]" </proc/sys/kernel/hostname)" 2>/dev/null | sort || true
}

cleanup() {
  if [ -n "$DEV_PID" ]; then
    kill "$DEV_PID" 2>/dev/null || true; wait "$DEV_PID" 2>/dev/null || true
    # Docker containers outlive their agent by design (a restart adopts them); remove the ones
    # this run's dev started, such as those of pods still terminating at exit, so the next
    # script starts from the Docker it found.
    local left
    left=$(comm -13 <(echo "$DEV_CONTAINERS_BEFORE") <(dev_node_containers) | grep . || true)
    [ -z "$left" ] || docker rm -f $left >/dev/null 2>&1 || true
  fi
  # Process-driver pods outlive their agent by design; end the ones this run started.
  for pid in $(pgrep -f "$WORK/dev/agent/process" 2>/dev/null); do kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# assert_contains <haystack> <needle> <what>
assert_contains() { grep -qF -- "$2" <<<"$1" || fail "$3: expected to find '$2' in: $1"; }
assert_not_contains() { ! grep -qF -- "$2" <<<"$1" || fail "$3: did not expect '$2' in: $1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_dev: runs `tutti dev` in the background; sets KUBECONFIG, PORT, READY_MS.
start_dev() {
  [ -x "$TUTTI" ] || fail "tutti binary not found at $TUTTI (build it first)"
  PORT="$(free_port)"
  DEV_CONTAINERS_BEFORE=$(dev_node_containers)
  local start_ns; start_ns=$(date +%s%N)
  # shellcheck disable=SC2086 # TUTTI_DEV_ARGS is a list of flags
  TUTTI_LOG=${TUTTI_LOG:-info} "$TUTTI" dev --data-dir "$WORK/dev" --port "$PORT" ${TUTTI_DEV_ARGS:-} >"$WORK/dev.out" 2>"$WORK/dev.err" &
  DEV_PID=$!
  for _ in $(seq 1 400); do
    if curl -ksf "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
      READY_MS=$(( ($(date +%s%N) - start_ns) / 1000000 ))
      export KUBECONFIG="$WORK/dev/kubeconfig.yaml"
      for _ in $(seq 1 100); do [ -s "$KUBECONFIG" ] && return 0; sleep 0.02; done
      fail "kubeconfig not written"
    fi
    kill -0 "$DEV_PID" 2>/dev/null || { cat "$WORK/dev.err" >&2; fail "tutti dev exited"; }
    sleep 0.025
  done
  cat "$WORK/dev.err" >&2
  fail "tutti dev not ready after 10 s"
}

# eventually <seconds> <command...>: retry until the command succeeds.
eventually() {
  local secs=$1; shift
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || { "$@" || true; fail "timed out after ${secs}s: $*"; }
    sleep 0.2
  done
}

# waitv <seconds> <test-operator> <value> <command...>: re-run the command until its output
# compares true against the value (`waitv 60 -eq 3 running app=nginx`).
waitv() {
  local secs=$1 op=$2 want=$3; shift 3
  local end=$(( $(date +%s) + secs )) got
  while :; do
    got=$("$@" 2>/dev/null || true)
    if [ -n "$got" ] && test "$got" "$op" "$want" 2>/dev/null; then return 0; fi
    [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${secs}s waiting for [$*] $op $want (last: '$got')"
    sleep 0.2
  done
}

# running <label-selector>: how many pods with those labels are Running.
running() { kubectl get pods -l "$1" -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c '^Running$' || true; }
# count_pods <label-selector>: how many pods with those labels exist (any phase).
count_pods() { kubectl get pods -l "$1" --no-headers 2>/dev/null | wc -l; }
# containers_named <name>: running docker containers of tutti pods with that container name.
containers_named() { docker ps -q --filter "label=io.tutti.container-name=$1" | wc -l; }
