#!/usr/bin/env bash
# kubectl cordon / drain / uncordon on a one-node `tutti dev` (issue 4): a cordoned node takes
# no new pods; drain evicts through the eviction subresource and a PodDisruptionBudget stops it
# (no replacement can run anywhere); without the budget drain empties the node; uncordon lets
# the pods run again. Needs Docker and the locally built images (scripts/docker.sh, scripts/images.sh).
source "$(dirname "$0")/lib.sh"
docker info >/dev/null 2>&1 || fail "Docker is required: run scripts/docker.sh && scripts/images.sh"
docker image inspect nginx:latest >/dev/null 2>&1 || fail "image nginx:latest missing: run scripts/images.sh"

start_dev
k() { kubectl "$@"; }
step() { echo "--- $*"; }
# phase_count <phase>: nginx pods in that phase.
phase_count() { k get pods -l app=nginx -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c "^$1\$" || true; }
# on_node: nginx pods bound to the node (whatever their phase).
on_node() { k get pods -l app=nginx --field-selector "spec.nodeName=$node" --no-headers 2>/dev/null | wc -l; }

node=$(k get nodes -o name | head -n1)
node=${node#node/}
[ -n "$node" ] || fail "no node registered"

step "apply nginx (3 replicas) and a PodDisruptionBudget minAvailable 2"
k apply -f "$EXAMPLES/nginx.yaml" >/dev/null
cat <<'YAML' | k apply -f - >/dev/null
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: nginx}
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: nginx}
YAML
waitv 60 -eq 3 running app=nginx
waitv 30 -eq 1 k get pdb nginx -o jsonpath='{.status.disruptionsAllowed}'
out=$(k get pdb nginx)
echo "$out"
assert_contains "$out" "ALLOWED DISRUPTIONS" "get pdb columns"
assert_contains "$(sed -n 2p <<<"$out")" "2" "get pdb shows minAvailable"
ok "3 nginx pods Running; the budget allows 1 disruption"

step "kubectl cordon $node"
k cordon "$node"
waitv 10 = true k get node "$node" -o jsonpath='{.spec.unschedulable}'
out=$(k get nodes)
echo "$out"
assert_contains "$out" "SchedulingDisabled" "a cordoned node says so"
k scale deploy nginx --replicas=4 >/dev/null
waitv 30 -eq 1 phase_count Pending
pending=$(k get pods -l app=nginx --field-selector status.phase=Pending -o jsonpath='{.items[0].metadata.name}')
eventually 30 sh -c "kubectl get pod $pending -o jsonpath='{.status.conditions[?(@.type==\"PodScheduled\")].message}' | grep -q 'node(s) were unschedulable'"
echo "pod $pending: $(k get pod "$pending" -o jsonpath='{.status.conditions[?(@.type=="PodScheduled")].message}')"
[ "$(running app=nginx)" -eq 3 ] || fail "running pods must stay where they are"
ok "cordoned: the new pod stays Pending (node(s) were unschedulable), the 3 running ones stay"
k scale deploy nginx --replicas=3 >/dev/null
waitv 30 -eq 3 count_pods app=nginx

step "kubectl drain $node (the budget must refuse)"
set +e
out=$(k drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=20s 2>&1)
rc=$?
set -e
echo "$out" | awk '!seen[$0]++' | sed -e 's/^/    /'
[ "$rc" -ne 0 ] || fail "drain succeeded although the budget allows only one disruption"
assert_contains "$out" "disruption budget" "drain reports the budget"
assert_contains "$out" "evicting pod" "drain used evictions"
waitv 30 -eq 2 running app=nginx
waitv 30 -eq 0 k get pdb nginx -o jsonpath='{.status.disruptionsAllowed}'
echo "budget after the refused drain: $(k get pdb nginx --no-headers)"
ok "drain refused by the budget: one pod evicted (its replacement Pending), 2 kept Running"

step "delete the budget and drain again"
k delete pdb nginx >/dev/null
out=$(k drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout=120s 2>&1) || { echo "$out"; fail "drain without a budget failed"; }
echo "$out" | awk '!seen[$0]++' | sed -e 's/^/    /'
assert_contains "$out" "drained" "drain says the node is drained"
waitv 30 -eq 0 on_node
waitv 30 -eq 0 running app=nginx
waitv 30 -eq 3 phase_count Pending
ok "node drained: no nginx pod on it, 3 replacements Pending"

step "kubectl uncordon $node"
k uncordon "$node"
eventually 10 sh -c "! kubectl get nodes | grep -q SchedulingDisabled"
out=$(k get nodes)
echo "$out"
assert_not_contains "$out" "SchedulingDisabled" "an uncordoned node"
waitv 90 -eq 3 running app=nginx
k get pods -l app=nginx
ok "uncordoned: 3 nginx pods Running again"
# Leave no containers behind: the agent stops the pods of the deleted Deployment.
k delete -f "$EXAMPLES/nginx.yaml" >/dev/null
waitv 60 -eq 0 count_pods app=nginx
echo "PASS: e2e/drain.sh"
