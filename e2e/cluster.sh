#!/usr/bin/env bash
# A real cluster on one machine (issue 4): three managers and two docker agents, each in its
# own network namespace on a bridge, built with the README's commands (`tutti server`,
# `tutti join --manager`, `tutti join`). Checks, in order:
#  1. nginx with 6 replicas spreads over both agents;
#  2. kill -9 of the Raft leader, FAILOVERS times (default 20): a new leader is measured,
#     kubectl keeps working against the survivors, no acknowledged write is lost, pods are
#     never restarted (agents fail over between managers); p50/p99 printed;
#  3. one agent partitioned: its pods are replaced on the other within ~45 s; healed: exactly
#     6 replicas, and the partitioned agent's old containers are stopped;
#  4. kill -9 of an agent and restart: its containers were never restarted;
#  5. majority of managers lost: writes refused with a clear error, stale reads answer;
#     quorum back: writes work again.
# Needs root (namespaces, veth, iptables), Docker and the locally built images.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root for network namespaces"
docker info >/dev/null 2>&1 || fail "Docker is required: run scripts/docker.sh && scripts/images.sh"
docker image inspect nginx:latest >/dev/null 2>&1 || fail "image nginx:latest missing: run scripts/images.sh"
command -v ip >/dev/null || fail "iproute2 (ip) is required"

FAILOVERS=${FAILOVERS:-20}
NET=10.77.0
BR=tt-br0
declare -A IP=([m1]=$NET.11 [m2]=$NET.12 [m3]=$NET.13 [a1]=$NET.21 [a2]=$NET.22)
declare -A PID=()
HOSTS="m1 m2 m3 a1 a2"
export TUTTI_LOG=info,openraft=warn

net_down() {
  for h in $HOSTS; do
    ip netns del "tt-$h" 2>/dev/null || true
    ip link del "tt-$h" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
  iptables -D FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || true
}
cluster_cleanup() {
  for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for n in a1 a2; do
    ids=$(docker ps -aq --filter "label=io.tutti.node=$n" 2>/dev/null || true)
    [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  done
  net_down
  cleanup
}
trap cluster_cleanup EXIT

step() { echo "--- $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

step "network: bridge $BR ($NET.1/24) and a namespace per machine"
net_down
ip link add "$BR" type bridge
ip addr add "$NET.1/24" dev "$BR"
ip link set "$BR" up
# Docker's FORWARD policy is DROP; bridged traffic between our namespaces must pass.
iptables -I FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || true
for h in $HOSTS; do
  ip netns add "tt-$h"
  ip link add "tt-$h" type veth peer name eth0 netns "tt-$h"
  ip link set "tt-$h" master "$BR" up
  ip -n "tt-$h" addr add "${IP[$h]}/24" dev eth0
  ip -n "tt-$h" link set eth0 up
  ip -n "tt-$h" link set lo up
done

# start_manager <name> <args...>: run `tutti <args>` in the manager's namespace.
start_manager() {
  local h=$1; shift
  # `ip netns exec` execs tutti: $! is tutti's pid.
  ip netns exec "tt-$h" "$TUTTI" "$@" >>"$WORK/$h.out" 2>>"$WORK/$h.err" &
  PID[$h]=$!
}
wait_line() { # wait_line <file> <text> <secs>
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  tail -20 "${1%.out}.err" >&2; fail "no '$2' in $1 after $3 s"
}

step "managers: tutti server on m1, tutti join --manager on m2 and m3"
start_manager m1 server --data-dir "$WORK/m1" --listen "${IP[m1]}:6443" --name m1
wait_line "$WORK/m1.out" "join managers with" 30
TW=$(grep "join workers with" "$WORK/m1.out" | sed 's/.*--token //')
TM=$(grep "join managers with" "$WORK/m1.out" | sed 's/.*--token //')
for h in m2 m3; do
  start_manager "$h" join "${IP[m1]}:6443" --manager --token "$TM" --data-dir "$WORK/$h" \
    --node-ip "${IP[$h]}" --node-name "$h"
  wait_line "$WORK/$h.out" "export KUBECONFIG" 90
done
for h in a1 a2; do
  start_manager "$h" join "${IP[m1]}:6443" --token "$TW" --data-dir "$WORK/$h" \
    --node-ip "${IP[$h]}" --node-name "$h" --runtime docker
  wait_line "$WORK/$h.out" "tutti: node $h joined" 60
done

# Client credentials (admin) as files for curl, and a kubeconfig per manager.
KC="$WORK/m1/kubeconfig.yaml"
kubectl --kubeconfig "$KC" config view --raw -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d >"$WORK/admin.crt"
kubectl --kubeconfig "$KC" config view --raw -o jsonpath='{.users[0].user.client-key-data}' | base64 -d >"$WORK/admin.key"
cp "$WORK/m1/pki/ca.crt" "$WORK/ca.crt"
kc_for() { echo "$WORK/$1/kubeconfig.yaml"; }
# put_cm <manager> <name>: create a ConfigMap through that manager (acknowledged on success).
put_cm() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\n' "$2" | kubectl --kubeconfig "$(kc_for "$1")" apply -f -; }
# managers_json <manager>: /tutti/v1/managers as that manager answers it.
managers_json() { curl -sf --max-time 2 --cacert "$WORK/ca.crt" --cert "$WORK/admin.crt" --key "$WORK/admin.key" "https://${IP[$1]}:6443/tutti/v1/managers"; }
# leader_of <manager>: the leader's name as that manager sees it (empty when none).
leader_of() { managers_json "$1" | python3 -c 'import json,sys; print(next((m["name"] for m in json.load(sys.stdin) if m["leader"]), ""))' 2>/dev/null || true; }
voters() { managers_json "$1" | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m["role"]=="voter" and m["reachable"]))' 2>/dev/null || echo 0; }

export KUBECONFIG="$KC"
waitv 30 -eq 3 voters m1
"$TUTTI" node ls
waitv 60 -eq 2 sh -c "kubectl get nodes --no-headers | grep -c ' Ready '"
ok "3 managers (voters) and 2 Ready agents"

step "a worker token rotated on m1 stops working on m2 and m3 too"
old_tw=$TW
TW=$("$TUTTI" token rotate worker --data-dir "$WORK/m1")
[ "$TW" != "$old_tw" ] || fail "rotate printed the old token"
for h in m2 m3; do
  out=$(timeout 60 "$TUTTI" join "${IP[$h]}:6443" --token "$old_tw" --data-dir "$WORK/stranger-$h" \
    --node-name "stranger-$h" --runtime process --log-port 0 2>&1 || true)
  assert_contains "$out" "not a current token" "old worker token refused by $h"
done
ok "rotation on m1 reached every manager"

step "1. nginx with 6 replicas spreads over both agents"
sed 's/replicas: 3/replicas: 6/' "$EXAMPLES/nginx.yaml" | kubectl apply -f - >/dev/null
waitv 120 -eq 6 running app=nginx
on() { kubectl get pods -l app=nginx --field-selector "spec.nodeName=$1,status.phase=Running" --no-headers 2>/dev/null | wc -l; }
[ "$(on a1)" -ge 1 ] && [ "$(on a2)" -ge 1 ] || fail "pods not spread: a1=$(on a1) a2=$(on a2)"
ok "6 Running: a1=$(on a1) a2=$(on a2)"
# nginx containers of the two agents, sorted ids (other Docker users on this host do not count).
agent_nginx() { for n in a1 a2; do docker ps -q --filter "label=io.tutti.node=$n" --filter label=io.tutti.container-name=nginx; done | sort; }
containers_before=$(agent_nginx | tr '\n' ' ')

step "2. kill -9 the Raft leader $FAILOVERS times"
times=()
for i in $(seq 1 "$FAILOVERS"); do
  leader=$(leader_of m1); [ -n "$leader" ] || leader=$(leader_of m2)
  [ -n "$leader" ] || fail "no leader before kill $i"
  survivor=m1; [ "$leader" = m1 ] && survivor=m2
  # An acknowledged write just before the kill must survive it.
  put_cm "$survivor" "before-kill-$i" >/dev/null || fail "write before kill $i failed"
  t0=$(now_ms)
  kill -9 "${PID[$leader]}"; wait "${PID[$leader]}" 2>/dev/null || true
  while :; do
    l=$(leader_of "$survivor")
    if [ -n "$l" ] && [ "$l" != "$leader" ]; then break; fi
    [ $(( $(now_ms) - t0 )) -lt 30000 ] || fail "no new leader 30 s after killing $leader"
    sleep 0.02
  done
  ms=$(( $(now_ms) - t0 )); times+=("$ms")
  kubectl --kubeconfig "$(kc_for "$survivor")" get configmap "before-kill-$i" >/dev/null \
    || fail "acknowledged write before-kill-$i lost"
  kubectl --kubeconfig "$(kc_for "$survivor")" get pods >/dev/null || fail "kubectl failed against $survivor"
  echo "kill $i: leader $leader -> $l in ${ms} ms"
  start_manager "$leader" server --data-dir "$WORK/$leader" --listen "${IP[$leader]}:6443" --name "$leader"
  waitv 60 -eq 3 voters "$l"
done
python3 - "${times[@]}" <<'PY'
import sys
t = sorted(int(x) for x in sys.argv[1:])
q = lambda p: t[min(len(t) - 1, int(round(p * (len(t) - 1))))]
print(f"failover over {len(t)} leader kills: p50 {q(0.5)} ms, p99 {q(0.99)} ms, max {t[-1]} ms")
PY
waitv 60 -eq 6 running app=nginx
containers_after=$(agent_nginx | tr '\n' ' ')
[ "$containers_before" = "$containers_after" ] || fail "containers changed during leader kills: $containers_before -> $containers_after"
ok "same 6 containers throughout; agents followed the managers"
grep -h "switching to manager" "$WORK/a1.err" "$WORK/a2.err" | head -3 || true

step "3. partition agent a1 from everything"
t0=$(now_ms)
ip link set tt-a1 down
waitv 120 -eq 6 sh -c "kubectl get pods -l app=nginx --field-selector spec.nodeName=a2,status.phase=Running --no-headers | wc -l"
replaced_ms=$(( $(now_ms) - t0 ))
ok "a1 partitioned: its pods replaced on a2 after $replaced_ms ms"
a1_containers=$(docker ps -q --filter label=io.tutti.node=a1 --filter label=io.tutti.container-name=nginx | wc -l)
echo "a1 still runs $a1_containers nginx containers while cut off (static stability)"
ip link set tt-a1 up
waitv 90 -eq 0 sh -c "docker ps -q --filter label=io.tutti.node=a1 --filter label=io.tutti.container-name=nginx | wc -l"
waitv 30 -eq 6 count_pods app=nginx
waitv 30 -eq 6 running app=nginx
nginx_containers() { agent_nginx | wc -l; }
if ! (waitv 30 -eq 6 nginx_containers); then
  docker ps --filter label=io.tutti.container-name=nginx --format '{{.Names}} {{.Status}} {{.Label "io.tutti.node"}} {{.Label "io.tutti.pod-name"}}' >&2
  kubectl get pods -l app=nginx -o wide >&2
  fail "not exactly 6 nginx containers after heal"
fi
ok "healed: exactly 6 replicas, a1's stale containers stopped"

step "4. kill -9 agent a2 and restart it"
declare -A started=()
for c in $(docker ps -q --filter label=io.tutti.node=a2); do started[$c]=$(docker inspect -f '{{.State.StartedAt}}' "$c"); done
[ "${#started[@]}" -gt 0 ] || fail "a2 runs no containers"
kill -9 "${PID[a2]}"; wait "${PID[a2]}" 2>/dev/null || true
sleep 3
start_manager a2 join "${IP[m1]}:6443" --data-dir "$WORK/a2" --node-ip "${IP[a2]}" --node-name a2 --runtime docker
wait_line "$WORK/a2.out" "tutti: node a2 joined" 60
sleep 5
waitv 30 -eq 6 running app=nginx
for c in "${!started[@]}"; do
  now=$(docker inspect -f '{{.State.StartedAt}}' "$c" 2>/dev/null) || fail "container $c of a2 is gone after the agent restart"
  [ "$now" = "${started[$c]}" ] || fail "container $c restarted ($now vs ${started[$c]})"
done
restarts=$(kubectl get pods -l app=nginx -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort -u | tr '\n' ' ')
[ "$restarts" = "0 " ] || fail "restart counts: $restarts"
ok "agent restarted: ${#started[@]} containers untouched, restartCount 0"

step "5. majority of managers lost, then back"
leader=$(leader_of m1)
others=(); for h in m1 m2 m3; do [ "$h" = "$leader" ] || others+=("$h"); done
kill -9 "${PID[${others[0]}]}" "${PID[${others[1]}]}"
sleep 2
out=$(put_cm "$leader" no-quorum 2>&1 || true)
assert_contains "$out" "quorum" "a write without quorum is refused with a clear error"
stale=$(kubectl --kubeconfig "$(kc_for "$leader")" get --raw "/api/v1/namespaces/default/pods?resourceVersion=0")
assert_contains "$stale" '"kind":"PodList"' "stale reads answer without quorum"
ok "no quorum: writes refused ($(echo "$out" | tail -1 | cut -c1-100)...), stale reads answer"
for h in "${others[@]}"; do start_manager "$h" server --data-dir "$WORK/$h" --listen "${IP[$h]}:6443" --name "$h"; done
eventually 60 put_cm "$leader" quorum-back
ok "quorum back: writes accepted"
"$TUTTI" node ls --kubeconfig "$(kc_for "$leader")"

step "6. disaster recovery: two managers lost for good, --force-new-cluster on the third"
keep=m1; lost=(m2 m3)
for h in "${lost[@]}"; do kill -9 "${PID[$h]}"; wait "${PID[$h]}" 2>/dev/null || true; done
kill "${PID[$keep]}"; wait "${PID[$keep]}" 2>/dev/null || true
start_manager "$keep" server --data-dir "$WORK/$keep" --listen "${IP[$keep]}:6443" --name "$keep" --force-new-cluster
wait_line "$WORK/$keep.out" "forced a new one-manager cluster" 30
eventually 30 put_cm "$keep" after-recovery
kubectl --kubeconfig "$(kc_for "$keep")" get configmap quorum-back before-kill-1 >/dev/null \
  || fail "data written before the recovery is missing"
ok "one-manager cluster from m1's data: earlier writes present, new writes accepted"
rm -rf "${WORK:?}/m2"
start_manager m2 join "${IP[m1]}:6443" --manager --token "$TM" --data-dir "$WORK/m2" \
  --node-ip "${IP[m2]}" --node-name m2
waitv 90 -eq 2 voters m1
waitv 60 -eq 6 running app=nginx
ok "m2 joined again with a wiped data directory: 2 voters; 6 replicas still running"
"$TUTTI" node ls --kubeconfig "$(kc_for "$keep")"
echo "cluster: all checks passed (failover p50/p99 above; node loss to replacement ${replaced_ms} ms)"
