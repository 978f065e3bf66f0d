#!/usr/bin/env bash
# Hollow nodes (issue 6): `tutti agent --hollow N` next to a `tutti dev`, then a Deployment
# scheduled over them. Checks: every hollow node registers and is Ready; 500 replicas are
# placed over the hollow nodes and reported Running with addresses; scaling to 0 removes
# them; the nodes go NotReady once the hollow agent stops renewing their leases.
# Prints the times and the hollow agent's memory.
source "$(dirname "$0")/lib.sh"
N=${HOLLOW_NODES:-100}
REPLICAS=${HOLLOW_REPLICAS:-500}
HOLLOW_PID=""
trap 'kill -9 "$HOLLOW_PID" 2>/dev/null || true; cleanup' EXIT
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
ready_hollow() {
  kubectl get nodes -l tutti.dev/hollow=true -o jsonpath='{range .items[*]}{range .status.conditions[?(@.type=="Ready")]}{.status}{"\n"}{end}{end}' | grep -c '^True$' || true
}
TUTTI_DEV_ARGS="--runtime process --no-pod-network" start_dev

t0=$(now_ms)
"$TUTTI" agent --hollow "$N" --kubeconfig "$KUBECONFIG" >"$WORK/hollow.out" 2>"$WORK/hollow.err" &
HOLLOW_PID=$!
disown "$HOLLOW_PID"
waitv 60 -eq "$N" ready_hollow
ok "$N hollow nodes Ready in $(( $(now_ms) - t0 )) ms"

kubectl apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: hollow-web}
spec:
  replicas: $REPLICAS
  selector: {matchLabels: {app: hollow-web}}
  template:
    metadata: {labels: {app: hollow-web}}
    spec:
      nodeSelector: {tutti.dev/hollow: "true"}
      containers:
      - name: web
        image: nginx
        resources: {requests: {cpu: 100m, memory: 128Mi}}
YAML
t1=$(now_ms)
waitv 180 -eq "$REPLICAS" running app=hollow-web
took=$(( $(now_ms) - t1 ))
per_node=$(kubectl get pods -l app=hollow-web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | awk '{print $1}' | sort -n)
nodes_used=$(wc -l <<<"$per_node")
most=$(tail -1 <<<"$per_node")
[ "$nodes_used" -eq "$N" ] || fail "$REPLICAS replicas landed on $nodes_used of $N hollow nodes"
[ "$most" -le $(( REPLICAS / N + 2 )) ] || fail "uneven placement: one node holds $most pods"
ips=$(kubectl get pods -l app=hollow-web -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}' | sort -u | grep -c . || true)
[ "$ips" -eq "$REPLICAS" ] || fail "$ips distinct pod IPs for $REPLICAS pods"
rss=$(awk '/VmRSS/{print $2}' "/proc/$HOLLOW_PID/status")
ok "$REPLICAS replicas Running over all $N hollow nodes (at most $most per node) in $took ms ($(( REPLICAS * 1000 / (took + 1) )) pods/s); hollow agent RSS $(( rss / 1024 )) MiB"

kubectl scale deployment hollow-web --replicas=0 >/dev/null
waitv 120 -eq 0 count_pods app=hollow-web
ok "scaled to 0: every hollow pod gone"

kill -9 "$HOLLOW_PID"; HOLLOW_PID=""
t2=$(now_ms)
waitv 60 -eq 0 ready_hollow
ok "hollow agent killed: its nodes NotReady after $(( $(now_ms) - t2 )) ms (lease expiry)"
echo "hollow e2e: all checks passed"
