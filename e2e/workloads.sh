#!/usr/bin/env bash
# Workloads run for real on one machine (issue 3): the seed demo with real nginx containers
# in Docker, self-healing, scaling, rollouts with automatic rollback, Jobs, crash loops,
# unschedulable pods, agent re-adoption after kill -9, and logs.
# Needs Docker and the locally built images (scripts/docker.sh, scripts/images.sh).
source "$(dirname "$0")/lib.sh"
docker info >/dev/null 2>&1 || fail "Docker is required: run scripts/docker.sh && scripts/images.sh"
docker image inspect nginx:latest >/dev/null 2>&1 || fail "image nginx:latest missing: run scripts/images.sh"

# Leftovers of an earlier run would confuse the container counts.
docker rm -f $(docker ps -aq --filter label=io.tutti.managed=true) >/dev/null 2>&1 || true

start_dev
grep -q "docker" "$WORK/dev.out" "$WORK/dev.err" || fail "tutti dev did not say it uses the docker driver"
k() { kubectl "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# 1. The seed demo: 3 nginx pods Running, each serving on its pod IP.
t0=$(date +%s%N)
k apply -f "$EXAMPLES/nginx.yaml" >/dev/null
waitv 60 -eq 3 running app=nginx
echo "apply -> 3 Running: $(ms "$t0") ms"
out=$(k get pods -o wide)
node=$(k get nodes -o jsonpath='{.items[0].metadata.name}')
assert_contains "$out" "$node" "get pods -o wide shows the node"
cidr=$(k get node "$node" -o jsonpath='{.spec.podCIDR}')
[ -n "$cidr" ] || fail "node $node has no pod CIDR"
assert_contains "$out" "${cidr%.*}." "get pods -o wide shows pod IPs from the node's pod CIDR $cidr"
for ip in $(k get pods -l app=nginx -o jsonpath='{.items[*].status.podIP}'); do
  curl -sf --max-time 5 "http://$ip/" | grep -qi nginx || fail "nginx does not answer on pod IP $ip"
done
ok "3 nginx pods Running and serving on their pod IPs (from $cidr)"
vip=$(k get svc nginx-service -o jsonpath='{.spec.clusterIP}')
eventually 10 sh -c "curl -sf --max-time 2 http://$vip/ | grep -qi nginx"
ok "nginx-service answers on its cluster IP $vip from the host"

# 2a. docker kill one container: it restarts and serves again.
pod=$(k get pods -l app=nginx -o jsonpath='{.items[0].metadata.name}')
cid=$(docker ps -q --filter "label=io.tutti.pod-name=$pod" --filter "label=io.tutti.container-name=nginx" | head -n1)
[ -n "$cid" ] || fail "no docker container for pod $pod"
docker kill "$cid" >/dev/null
waitv 60 -ge 1 k get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}'
waitv 30 = true k get pod "$pod" -o jsonpath='{.status.containerStatuses[0].ready}'
ip=$(k get pod "$pod" -o jsonpath='{.status.podIP}')
eventually 20 curl -sf --max-time 3 "http://$ip/"
ok "killed container restarted (restartCount $(k get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')) and serves again"

# 2b. Delete a pod: a new one replaces it.
k delete pod "$pod" --wait=false >/dev/null
eventually 60 sh -c "! kubectl get pod $pod >/dev/null 2>&1"
waitv 60 -eq 3 running app=nginx
ok "deleted pod replaced"

# 2c. Scale to 5, then to 1: four pods terminate gracefully.
k scale deploy nginx --replicas=5 >/dev/null
waitv 60 -eq 5 running app=nginx
k scale deploy nginx --replicas=1 >/dev/null
waitv 90 -eq 1 count_pods app=nginx
killing=$(k get events --field-selector reason=Killing -o name | wc -l)
[ "$killing" -ge 4 ] || fail "expected Killing events for the 4 stopped pods, saw $killing"
ok "scaled to 5 and back to 1 (graceful stops: $killing Killing events)"

# 3. A bad image with auto-rollback: the rollout stalls and rolls back by itself.
k scale deploy nginx --replicas=2 >/dev/null
waitv 60 -eq 2 running app=nginx
k annotate deploy nginx tutti.dev/auto-rollback=true >/dev/null
k patch deploy nginx -p '{"spec":{"progressDeadlineSeconds":10}}' >/dev/null
k set image deploy/nginx nginx=busybox-that-fails >/dev/null
eventually 90 sh -c "kubectl get events --field-selector reason=RolledBack -o jsonpath='{.items[*].message}' | grep -q ."
waitv 60 = nginx k get deploy nginx -o jsonpath='{.spec.template.spec.containers[0].image}'
waitv 60 -eq 2 running app=nginx
ok "auto-rollback: $(k get events --field-selector reason=RolledBack -o jsonpath='{.items[0].message}')"
k set image deploy/nginx nginx=nginx:latest >/dev/null
eventually 60 sh -c "kubectl rollout status deploy/nginx --timeout=5s"
k rollout undo deploy/nginx >/dev/null
waitv 60 = nginx k get deploy nginx -o jsonpath='{.spec.template.spec.containers[0].image}'
ok "kubectl rollout undo"

# 4a. A Job runs to completion.
cat <<'YAML' | k apply -f - >/dev/null
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: busybox, command: ["sh", "-c", "echo computing; sleep 1; echo done"]}
YAML
waitv 60 = 1 k get job pi -o jsonpath='{.status.succeeded}'
logs=$(k logs job/pi)
assert_contains "$logs" "done" "kubectl logs of the job's pod"
ok "job completed; kubectl logs shows its output"

# 4b. A crash-looping pod shows CrashLoopBackOff.
cat <<'YAML' | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "echo about to fail; exit 3"]}
YAML
eventually 60 sh -c "kubectl get pod crasher -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -q CrashLoopBackOff"
assert_contains "$(k get pod crasher -o jsonpath='{.status.containerStatuses[0].lastState.terminated.exitCode}')" "3" "exit code"
assert_contains "$(k logs crasher --previous)" "about to fail" "logs --previous"
ok "CrashLoopBackOff with the exit code and --previous logs"

# 4c. A pod asking for 100 CPUs stays Pending with the explanation.
cat <<'YAML' | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - name: c
    image: busybox
    resources: {requests: {cpu: "100"}}
YAML
eventually 30 sh -c "kubectl get pod huge -o jsonpath='{.status.conditions[?(@.type==\"PodScheduled\")].message}' | grep -q 'Insufficient cpu'"
msg=$(k get pod huge -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')
assert_contains "$msg" "0/1 nodes are available: 1 Insufficient cpu" "unschedulable message"
[ "$(k get pod huge -o jsonpath='{.status.phase}')" = Pending ] || fail "huge pod is not Pending"
ok "100-CPU pod Pending: $msg"
k delete pod huge crasher --wait=false >/dev/null

# 5. kill -9 with 10 pods running, restart: no container restarts.
k scale deploy nginx --replicas=10 >/dev/null
waitv 90 -eq 10 running app=nginx
before=$(docker ps -q --filter label=io.tutti.container-name=nginx | sort | tr '\n' ' ')
restarts_of() { k get pods -l app=nginx -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' | awk '{s+=$1} END {print s+0}'; }
restarts_before=$(restarts_of)
kill -9 "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
TUTTI_LOG=warn "$TUTTI" dev --data-dir "$WORK/dev" --port "$PORT" >>"$WORK/dev.out" 2>>"$WORK/dev.err" &
DEV_PID=$!
eventually 30 curl -ksf "https://127.0.0.1:$PORT/readyz"
sleep 5 # let the restarted agent reconcile a few rounds before judging
waitv 30 -eq 10 running app=nginx
after=$(docker ps -q --filter label=io.tutti.container-name=nginx | sort | tr '\n' ' ')
[ "$before" = "$after" ] || fail "containers changed across the restart: before [$before] after [$after]"
[ "$(restarts_of)" = "$restarts_before" ] || fail "restart counts changed across the restart: $restarts_before -> $(restarts_of)"
ok "kill -9 and restart: all 10 containers re-adopted, none restarted"
k delete -f "$EXAMPLES/nginx.yaml" >/dev/null
waitv 90 -eq 0 containers_named nginx
ok "deleting the deployment stops every container"
echo "workloads e2e: all checks passed"
