#!/usr/bin/env bash
# Docker Swarm and tutti side by side, on this machine, with the same locally built nginx
# image (scripts/images.sh), measured in one run:
#
#   converge     `docker service create --replicas N` / `kubectl apply` of a Deployment with
#                N replicas, until N containers run in Docker *and* the orchestrator says so
#                (Swarm: N tasks running; tutti: N pods Running). Then the service / the
#                Deployment is deleted and the time until its containers are gone (tutti: the
#                pause sandboxes too) is reported as `remove`.
#   kill → replacement
#                with 3 replicas, `docker kill` one app container, until a replacement runs
#                and the orchestrator says so. Swarm fails the task and starts a new one after
#                its restart delay (5 s by default; also measured with `--restart-delay 0s`).
#                tutti restarts the container in its pod (restartPolicy Always; the first
#                restart is immediate, later ones back off, so every run kills another pod):
#                until the pod is Ready again with its restart count up by one.
#
# Neither side touches a registry: Swarm gets the image by ID (its executor skips the pull
# for an ID; with a tag it would try the registry first), tutti `imagePullPolicy:
# IfNotPresent`. Both use Docker's default bridge (tutti with --no-pod-network). Readiness
# is polled every 100 ms through the Docker and tutti APIs with curl (cheaper than the CLIs
# on a shared 2-core machine); every time includes its CLI command.
#
# tutti runs as `tutti dev` (release binary, temp data dir, free port) in its own UTS
# namespace, so its node name, and the io.tutti.node label on its containers, is this run's
# own: other tutti instances on the same Docker Engine neither see nor count its pods.
# The Swarm is initialised here (after leaving any previous one) and left at the end.
#
# Writes bench/results/swarm.json (medians, min, max and every run). Needs root and kubectl.
# Usage: bench/swarm.sh [--quick]    full: N = 10 50 100, 3 runs each (7 min on 2 busy cores);
#                                    quick: N = 10, 1 run (30 s after the builds).
# Environment: SKIP_BUILD=1 (use the built binary as it is), BENCH_PROFILE (default release), SWARM_BENCH_SIZES="10 20",
# SWARM_BENCH_RUNS=2, SWARM_BENCH_TIMEOUT=300 (seconds per wait), TUTTI_LOG=warn.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bench/swarm.sh [--quick]" >&2; exit 2; }
QUICK=0
case "${1:-}" in
  --quick) QUICK=1 ;;
  "") ;;
  *) usage ;;
esac
[ $# -le 1 ] || usage
if [ "$QUICK" = 1 ]; then sizes="10"; runs=1; else sizes="10 50 100"; runs=3; fi
read -r -a SIZES <<<"${SWARM_BENCH_SIZES:-$sizes}"
RUNS=${SWARM_BENCH_RUNS:-$runs}
TIMEOUT=${SWARM_BENCH_TIMEOUT:-300}
# Every tutti kill hits another pod (a second restart of the same container would wait for
# its crash-loop back-off), so there are at least as many replicas as runs.
KILL_REPLICAS=$(( RUNS > 3 ? RUNS : 3 ))

if [ "$(id -u)" != 0 ]; then
  echo "error: bench/swarm.sh needs root: it starts dockerd and builds images (scripts/docker.sh," >&2
  echo "       scripts/images.sh) and initialises, then leaves, a Docker Swarm. Run it as root." >&2
  exit 1
fi
command -v kubectl >/dev/null 2>&1 || { echo "error: kubectl is required and was not found on PATH" >&2; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "error: curl is required and was not found on PATH" >&2; exit 1; }
if ! command -v jq >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null \
    || { echo "error: jq is required (apt-get install jq failed)" >&2; exit 1; }
fi

log() { printf '== %s\n' "$*"; }
started=$SECONDS
log "docker engine and images"
bash scripts/docker.sh
bash scripts/images.sh
# BENCH_PROFILE (default release) picks the cargo profile; the build is the one every
# bench script shares (bench/lib.sh).
source bench/lib.sh
[ -n "${SKIP_BUILD:-}" ] || bench_build
export TUTTI_BIN="$PWD/$TARGET_DIR/tutti" TUTTI_LOG="${TUTTI_LOG:-warn}"
[ -x "$TUTTI_BIN" ] || { echo "error: $TUTTI_BIN not found (unset SKIP_BUILD to build it)" >&2; exit 1; }
built=$SECONDS

# e2e/lib.sh: WORK (temp dir), start_dev, fail; its EXIT trap is replaced by teardown below.
source e2e/lib.sh

NODE="swarm-bench-$$"
SWARM_FILTER='{"label":["com.docker.swarm.service.name=web"]}'
TUTTI_ALL="{\"label\":[\"io.tutti.node=$NODE\"]}"
TUTTI_APP="{\"label\":[\"io.tutti.node=$NODE\",\"io.tutti.kind=container\"]}"
SWARM_OURS=0
GWBRIDGE_BEFORE=1
docker network inspect docker_gwbridge >/dev/null 2>&1 || GWBRIDGE_BEFORE=0

# Stop tutti, leave the swarm, and remove every container this run made, however it ends.
teardown() {
  local rc=$? ids end
  set +e
  trap - EXIT INT TERM
  if [ "$SWARM_OURS" = 1 ]; then
    docker service rm web >/dev/null 2>&1
    end=$((SECONDS + 60))
    while [ -n "$(docker ps -aq --filter label=com.docker.swarm.service.name=web)" ] && [ $SECONDS -lt $end ]; do
      sleep 0.2
    done
    docker swarm leave --force >/dev/null 2>&1
    ids=$(docker ps -aq --filter label=com.docker.swarm.service.name=web)
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
    # The swarm made docker_gwbridge; drop it unless it was there before.
    [ "$GWBRIDGE_BEFORE" = 1 ] || docker network rm docker_gwbridge >/dev/null 2>&1
  fi
  if [ -n "$DEV_PID" ]; then
    kill "$DEV_PID" 2>/dev/null; wait "$DEV_PID" 2>/dev/null; DEV_PID=""
  fi
  # tutti leaves containers running when it stops (it re-adopts them on restart).
  ids=$(docker ps -aq --filter "label=io.tutti.node=$NODE")
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1
  rm -rf "/dev/shm/tutti/$NODE"
  if [ "$rc" != 0 ] && [ -s "$WORK/dev.err" ]; then
    echo "-- last lines of tutti dev's log:" >&2; tail -n 20 "$WORK/dev.err" >&2
  fi
  cleanup # e2e/lib.sh: removes $WORK
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Containers left by an earlier run of this script that was killed before its teardown.
for node in $(docker ps -a --filter label=io.tutti.node --format '{{.Label "io.tutti.node"}}' | grep '^swarm-bench-' | sort -u); do
  if ! kill -0 "${node#swarm-bench-}" 2>/dev/null; then
    docker rm -f $(docker ps -aq --filter "label=io.tutti.node=$node") >/dev/null 2>&1 || true
  fi
done

# ---- observing (curl + jq: a few ms per poll) ----------------------------------------------

now_us() { echo "${EPOCHREALTIME/./}"; }
secs() { printf '%d.%03d' $(($1 / 1000000)) $((($1 / 1000) % 1000)); }
docker_get() { curl -sfG --unix-socket /var/run/docker.sock "http://docker$1" "${@:2}"; }
# running_ids <filters>: IDs of the running containers matching the Docker filters.
running_ids() { docker_get /containers/json --data-urlencode "filters=$1" | jq -r '.[] | select(.State=="running") | .Id'; }
# count_all <filters>: containers matching, in any state.
count_all() { docker_get /containers/json --data-urlencode all=1 --data-urlencode "filters=$1" | jq length; }
swarm_tasks_running() {
  docker_get /tasks --data-urlencode 'filters={"service":["web"],"desired-state":["running"]}' \
    | jq '[.[] | select(.Status.State=="running")] | length'
}
tutti_get() { curl -sf --cacert "$WORK/ca.crt" --cert "$WORK/admin.crt" --key "$WORK/admin.key" "$API$1"; }
tutti_pods() { tutti_get "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb"; }

# The checks measure() polls; WANT, VICTIM, POD and RESTARTS are set by the caller.
swarm_docker_ok() {
  local ids; ids=$(running_ids "$SWARM_FILTER")
  [ "$(grep -c . <<<"$ids")" = "$WANT" ] && { [ -z "$VICTIM" ] || ! grep -q "^$VICTIM" <<<"$ids"; }
}
swarm_api_ok() { [ "$(swarm_tasks_running)" = "$WANT" ]; }
swarm_gone() { [ "$(count_all "$SWARM_FILTER")" = 0 ]; }
tutti_docker_ok() {
  local ids; ids=$(running_ids "$TUTTI_APP")
  [ "$(grep -c . <<<"$ids")" = "$WANT" ] && { [ -z "$VICTIM" ] || ! grep -q "^$VICTIM" <<<"$ids"; }
}
tutti_api_ok() {
  if [ -z "$POD" ]; then
    [ "$(tutti_pods | jq '[.items[] | select(.status.phase=="Running" and .metadata.deletionTimestamp==null)] | length')" = "$WANT" ]
  else
    tutti_get "/api/v1/namespaces/default/pods/$POD" | jq -e --argjson r "$RESTARTS" \
      '.status.containerStatuses[0] | .ready and .state.running != null and .restartCount > $r' >/dev/null
  fi
}
tutti_gone() { [ "$(count_all "$TUTTI_ALL")" = 0 ] && [ "$(tutti_pods | jq '.items | length')" = 0 ]; }

# measure <what> <docker check> <api check>: poll both every 100 ms from T0 until both hold
# at once. Sets BOTH_US, and DOCKER_US / API_US: since when each has held (µs after T0; a
# check that held, failed and held again counts from the last time, so a stale "3 tasks
# running" right after a kill does not count).
measure() {
  local what=$1 dcheck=$2 acheck=$3 end=$((SECONDS + TIMEOUT)) ok
  DOCKER_US="" API_US=""
  while :; do
    ok=1
    if $dcheck; then DOCKER_US=${DOCKER_US:-$(($(now_us) - T0))}; else ok=0 DOCKER_US=""; fi
    if $acheck; then API_US=${API_US:-$(($(now_us) - T0))}; else ok=0 API_US=""; fi
    if [ "$ok" = 1 ]; then BOTH_US=$(($(now_us) - T0)); return 0; fi
    [ $SECONDS -lt $end ] || fail "timed out after ${TIMEOUT}s: $what"
    sleep 0.1
  done
}
# wait_gone <what> <check>: poll until the check holds; sets GONE_US (µs after T0).
wait_gone() {
  local end=$((SECONDS + TIMEOUT))
  until $2; do
    [ $SECONDS -lt $end ] || fail "timed out after ${TIMEOUT}s: $1"
    sleep 0.1
  done
  GONE_US=$(($(now_us) - T0))
}
# record <phase> <N> <system> <total µs> [docker µs] [api µs]
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(secs "$4")" "$(secs "${5:-$4}")" "$(secs "${6:-$4}")" >>"$WORK/results.tsv"
}

# ---- the two systems --------------------------------------------------------------------------

IMAGE_ID=$(docker image inspect --format '{{.Id}}' nginx:latest)

manifest() { # manifest <replicas>
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: $1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:latest
        imagePullPolicy: IfNotPresent
        ports:
        - containerPort: 80
EOF
}

swarm_converge() { # swarm_converge <N> <run>
  WANT=$1 VICTIM="" T0=$(now_us)
  docker service create --detach --quiet --name web --replicas "$1" --no-resolve-image "$IMAGE_ID" >/dev/null
  measure "Swarm: $1 containers of service web running" swarm_docker_ok swarm_api_ok
  record converge "$1" swarm "$BOTH_US" "$DOCKER_US" "$API_US"
  T0=$(now_us)
  docker service rm web >/dev/null
  wait_gone "Swarm: the containers of service web removed" swarm_gone
  record remove "$1" swarm "$GONE_US"
  printf '  swarm N=%-4s run %s/%s: %7s s (docker %s s, tasks %s s); removed in %s s\n' "$1" "$2" "$RUNS" \
    "$(secs "$BOTH_US")" "$(secs "$DOCKER_US")" "$(secs "$API_US")" "$(secs "$GONE_US")"
}

tutti_converge() { # tutti_converge <N> <run>
  manifest "$1" >"$WORK/web.yaml"
  WANT=$1 VICTIM="" POD="" T0=$(now_us)
  kubectl apply -f "$WORK/web.yaml" >/dev/null
  measure "tutti: $1 pods Running and $1 containers running" tutti_docker_ok tutti_api_ok
  record converge "$1" tutti "$BOTH_US" "$DOCKER_US" "$API_US"
  T0=$(now_us)
  kubectl delete deployment web --wait=false >/dev/null
  wait_gone "tutti: the pods of deployment web and their containers removed" tutti_gone
  record remove "$1" tutti "$GONE_US"
  printf '  tutti N=%-4s run %s/%s: %7s s (docker %s s, pods %s s); removed in %s s\n' "$1" "$2" "$RUNS" \
    "$(secs "$BOTH_US")" "$(secs "$DOCKER_US")" "$(secs "$API_US")" "$(secs "$GONE_US")"
}

swarm_kill() { # swarm_kill <system label> [service create flags...]
  local label=$1 r; shift
  WANT=$KILL_REPLICAS VICTIM="" T0=$(now_us)
  docker service create --detach --quiet --name web --replicas "$KILL_REPLICAS" --no-resolve-image "$@" "$IMAGE_ID" >/dev/null
  measure "Swarm: $KILL_REPLICAS containers of service web running" swarm_docker_ok swarm_api_ok
  for r in $(seq 1 "$RUNS"); do
    VICTIM=$(running_ids "$SWARM_FILTER" | head -n1)
    T0=$(now_us)
    docker kill "$VICTIM" >/dev/null
    measure "Swarm: a replacement for killed container ${VICTIM:0:12} running" swarm_docker_ok swarm_api_ok
    record kill "$KILL_REPLICAS" "$label" "$BOTH_US" "$DOCKER_US" "$API_US"
    printf '  %-21s kill run %s/%s: %7s s (container %s s, task %s s)\n' "$label" "$r" "$RUNS" \
      "$(secs "$BOTH_US")" "$(secs "$DOCKER_US")" "$(secs "$API_US")"
  done
  T0=$(now_us)
  docker service rm web >/dev/null
  wait_gone "Swarm: the containers of service web removed" swarm_gone
}

tutti_kill() {
  local pods r
  manifest "$KILL_REPLICAS" >"$WORK/web.yaml"
  WANT=$KILL_REPLICAS VICTIM="" POD="" T0=$(now_us)
  kubectl apply -f "$WORK/web.yaml" >/dev/null
  measure "tutti: $KILL_REPLICAS pods Running" tutti_docker_ok tutti_api_ok
  mapfile -t pods < <(tutti_pods | jq -r '.items[].metadata.name' | sort)
  for r in $(seq 1 "$RUNS"); do
    POD=${pods[$((r - 1))]}
    VICTIM=$(running_ids "{\"label\":[\"io.tutti.node=$NODE\",\"io.tutti.kind=container\",\"io.tutti.pod-name=$POD\"]}")
    [ "$(grep -c . <<<"$VICTIM")" = 1 ] || fail "tutti: expected one running container of pod $POD, found: $VICTIM"
    RESTARTS=$(tutti_get "/api/v1/namespaces/default/pods/$POD" | jq '.status.containerStatuses[0].restartCount')
    T0=$(now_us)
    docker kill "$VICTIM" >/dev/null
    measure "tutti: container of pod $POD running and Ready again after docker kill" tutti_docker_ok tutti_api_ok
    record kill "$KILL_REPLICAS" tutti "$BOTH_US" "$DOCKER_US" "$API_US"
    printf '  %-21s kill run %s/%s: %7s s (container %s s, pod Ready %s s)\n' tutti "$r" "$RUNS" \
      "$(secs "$BOTH_US")" "$(secs "$DOCKER_US")" "$(secs "$API_US")"
  done
  POD="" T0=$(now_us)
  kubectl delete deployment web --wait=false >/dev/null
  wait_gone "tutti: the pods of deployment web and their containers removed" tutti_gone
}

# ---- run ----------------------------------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "Docker Swarm: init (advertise 127.0.0.1)"
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != inactive ]; then
  echo "  leaving the previous swarm"
  docker swarm leave --force >/dev/null
fi
SWARM_OURS=1
docker swarm init --advertise-addr 127.0.0.1 >/dev/null
[ -z "$(docker ps -aq --filter label=com.docker.swarm.service.name=web)" ] \
  || fail "containers of an earlier service 'web' are still there: docker ps -a --filter label=com.docker.swarm.service.name=web"

log "tutti dev (docker driver, --no-pod-network, node $NODE)"
# tutti names its node after the hostname: give it its own, in its own UTS namespace.
cat >"$WORK/tutti-ns" <<EOF
#!/bin/sh
exec unshare --uts sh -c 'hostname "\$0" && exec "\$@"' "$NODE" "$TUTTI_BIN" "\$@"
EOF
chmod +x "$WORK/tutti-ns"
TUTTI="$WORK/tutti-ns" TUTTI_DEV_ARGS="--runtime docker --no-pod-network"
start_dev
API="https://127.0.0.1:$PORT"
# The admin's credentials, for curl.
for f in clusters.cluster.certificate-authority-data:ca.crt users.user.client-certificate-data:admin.crt \
  users.user.client-key-data:admin.key; do
  path=${f%%:*}
  kubectl config view --raw -o jsonpath="{.${path%%.*}[0].${path#*.}}" | base64 -d >"$WORK/${f#*:}"
  [ -s "$WORK/${f#*:}" ] || fail "no ${path##*.} in $KUBECONFIG"
done
[ "$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')" = "$NODE" ] \
  || fail "tutti dev's node is not $NODE: $(kubectl get nodes -o name)"
echo "  API ready in ${READY_MS} ms on port $PORT"

for r in $(seq 1 "$RUNS"); do
  for n in "${SIZES[@]}"; do
    log "converge: N=$n, run $r/$RUNS"
    swarm_converge "$n" "$r"
    tutti_converge "$n" "$r"
  done
done
log "kill -> replacement ($KILL_REPLICAS replicas, $RUNS run(s))"
swarm_kill swarm
swarm_kill swarm-restart-delay-0 --restart-delay 0s
tutti_kill
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report -------------------------------------------------------------------------------------

mkdir -p bench/results
jq -Rn \
  --argjson cores "$(nproc)" \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  --arg docker "$(docker version --format '{{.Server.Version}}')" \
  --arg kernel "$(uname -r)" \
  --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  --arg mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" \
  --argjson runs "$RUNS" --argjson kill_replicas "$KILL_REPLICAS" \
  --arg load_start "$load_start" --arg load_end "$load_end" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '
  def r3: (. * 1000 | round) / 1000;
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def stats(f): map(f) | {median: (median | r3), min: min, max: max, runs: .};
  def ratio(a; b): if b > 0 then (a / b * 100 | round) / 100 else null end;
  [inputs | split("\t") | {phase: .[0], n: (.[1] | tonumber), sys: .[2],
     s: (.[3] | tonumber), docker_s: (.[4] | tonumber), api_s: (.[5] | tonumber)}] as $rows
  | def side(phase; n; sys): [$rows[] | select(.phase == phase and .n == n and .sys == sys)];
    def pair(phase; n): (side(phase; n; "swarm") | stats(.s)) as $sw | (side(phase; n; "tutti") | stats(.s)) as $tu
      | {replicas: n, swarm_s: $sw.median, tutti_s: $tu.median, ratio: ratio($tu.median; $sw.median),
         swarm: ($sw + {docker_s: (side(phase; n; "swarm") | map(.docker_s) | median | r3),
                        api_s: (side(phase; n; "swarm") | map(.api_s) | median | r3)}),
         tutti: ($tu + {docker_s: (side(phase; n; "tutti") | map(.docker_s) | median | r3),
                        api_s: (side(phase; n; "tutti") | map(.api_s) | median | r3)})};
    ([$rows[] | select(.phase == "converge") | .n] | unique) as $sizes
  | (side("kill"; $kill_replicas; "swarm") | stats(.s)) as $ks
  | (side("kill"; $kill_replicas; "swarm-restart-delay-0") | stats(.s)) as $k0
  | (side("kill"; $kill_replicas; "tutti") | stats(.s)) as $kt
  | {machine: {cores: $cores, cpu: $cpu, docker_version: $docker, kernel: $kernel,
               loadavg_start: $load_start, loadavg_end: $load_end},
     tutti_commit: $commit, date: $date, mode: $mode, runs: $runs,
     method: "seconds from the CLI command until N app containers run in Docker and the orchestrator reports them (Swarm: tasks running; tutti: pods Running); docker_s / api_s: since when each of the two held; medians over runs",
     converge: [$sizes[] as $n | pair("converge"; $n)],
     remove: [$sizes[] as $n | pair("remove"; $n) | del(.swarm.docker_s, .swarm.api_s, .tutti.docker_s, .tutti.api_s)],
     kill_to_replacement: {replicas: $kill_replicas,
       swarm_s: $ks.median, tutti_s: $kt.median, ratio: ratio($kt.median; $ks.median),
       swarm_restart_delay_0_s: $k0.median, ratio_vs_restart_delay_0: ratio($kt.median; $k0.median),
       swarm: $ks, swarm_restart_delay_0: $k0, tutti: $kt}}
' <"$WORK/results.tsv" >bench/results/swarm.json

# One table row per line of tab-separated fields.
table() { while IFS=$'\t' read -r a b c d; do printf '  %-24s %22s %22s %12s\n' "$a" "$b" "$c" "$d"; done; }
rows() { jq -r "def mm: \"\\(.median) (\\(.min)-\\(.max))\"; $1 | @tsv" bench/results/swarm.json; }
echo
echo "converge: command -> N containers running and reported; seconds, median (min-max) of $RUNS run(s)"
{ printf 'N\tswarm s\ttutti s\ttutti/swarm\n'; rows '.converge[] | [.replicas, (.swarm | mm), (.tutti | mm), .ratio]'; } | table
echo "remove: delete -> containers gone"
{ printf 'N\tswarm s\ttutti s\ttutti/swarm\n'; rows '.remove[] | [.replicas, (.swarm | mm), (.tutti | mm), .ratio]'; } | table
echo "kill -> replacement running and reported ($KILL_REPLICAS replicas)"
{
  printf 'swarm\tswarm s\ttutti s\ttutti/swarm\n'
  rows '.kill_to_replacement | ["default (restart delay 5s)", (.swarm | mm), (.tutti | mm), .ratio]'
  rows '.kill_to_replacement | ["--restart-delay 0s", (.swarm_restart_delay_0 | mm), (.tutti | mm), .ratio_vs_restart_delay_0]'
} | table
echo
echo "wrote bench/results/swarm.json; builds $((built - started)) s, measurements $((SECONDS - built)) s"
