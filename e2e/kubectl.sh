#!/usr/bin/env bash
# kubectl 1.32 drives tutti dev exactly as it drives a Kubernetes cluster (issue 2's checks).
source "$(dirname "$0")/lib.sh"
start_dev
echo "tutti dev ready in ${READY_MS} ms"
k() { kubectl "$@"; }

out=$(k get ns)
assert_contains "$out" "default" "built-in namespaces"
assert_contains "$out" "kube-system" "built-in namespaces"
ok "namespaces"

out=$(k apply -f "$EXAMPLES/nginx.yaml")
assert_contains "$out" "deployment.apps/nginx created" "apply"
assert_contains "$out" "service/nginx-service created" "apply"
ok "kubectl apply creates"

out=$(k get deploy,svc)
assert_contains "$out" "deployment.apps/nginx" "get deploy,svc"
assert_contains "$out" "service/nginx-service" "get deploy,svc"
assert_contains "$out" "CLUSTER-IP" "get deploy,svc"
ok "kubectl get deploy,svc"

out=$(k get deploy nginx -o yaml)
assert_contains "$out" "replicas: 3" "get -o yaml"
assert_contains "$out" "uid:" "get -o yaml"
assert_contains "$out" "kubectl.kubernetes.io/last-applied-configuration" "get -o yaml"
ok "kubectl get -o yaml"

out=$(k describe deploy nginx)
assert_contains "$out" "Name:" "describe"
assert_contains "$out" "Replicas:" "describe"
assert_contains "$out" "nginx" "describe"
ok "kubectl describe"

# Watch in the background while changing things: changes must print live.
k get deploy -w >"$WORK/watch.out" 2>&1 &
WATCH=$!
eventually 5 grep -q nginx "$WORK/watch.out"
k scale deploy nginx --replicas=5 >/dev/null
[ "$(k get deploy nginx -o jsonpath='{.spec.replicas}')" = 5 ] || fail "scale to 5"
ok "kubectl scale"

k label deploy nginx tier=web >/dev/null
k annotate deploy nginx team=core >/dev/null
[ "$(k get deploy nginx -o jsonpath='{.metadata.labels.tier}')" = web ] || fail "label"
[ "$(k get deploy nginx -o jsonpath='{.metadata.annotations.team}')" = core ] || fail "annotate"
ok "kubectl label/annotate"
waitv 5 -ge 2 grep -c nginx "$WORK/watch.out"
kill "$WATCH" 2>/dev/null || true
ok "kubectl get -w prints changes live"

sed 's/image: nginx$/image: nginx:1.27/' "$EXAMPLES/nginx.yaml" >"$WORK/nginx-edited.yaml"
out=$(k apply -f "$WORK/nginx-edited.yaml")
assert_contains "$out" "deployment.apps/nginx configured" "apply edited"
[ "$(k get deploy nginx -o jsonpath='{.spec.template.spec.containers[0].image}')" = nginx:1.27 ] || fail "image not updated"
[ "$(k get deploy nginx -o jsonpath='{.metadata.labels.tier}')" = web ] || fail "apply dropped a label it does not own"
[ "$(k get deploy nginx -o jsonpath='{.spec.template.spec.containers[0].ports[0].containerPort}')" = 80 ] || fail "apply dropped the port"
ok "kubectl apply after editing keeps other fields"

out=$(k apply --server-side -f "$EXAMPLES/nginx.yaml" 2>&1)
assert_contains "$out" "serverside-applied" "server-side apply"
[ "$(k get deploy nginx -o jsonpath='{.spec.template.spec.containers[0].image}')" = nginx ] || fail "ssa image"
ok "kubectl apply --server-side"

out=$(k delete -f "$EXAMPLES/nginx.yaml")
assert_contains "$out" "deployment.apps \"nginx\" deleted" "delete"
out=$(k get deploy 2>&1)
assert_contains "$out" "No resources found" "after delete"
ok "kubectl delete"

out=$(k apply -f "$EXAMPLES/guestbook/")
assert_contains "$out" "created" "guestbook"
out=$(k apply -f "$EXAMPLES/voting-app-k8s/")
assert_contains "$out" "deployment.apps/vote created" "voting app"
assert_contains "$out" "service/db created" "voting app"
ok "guestbook and voting-app apply unchanged"

# Server-side apply: a field dropped from the manifest goes; another manager's value conflicts.
ssa() { # ssa <data yaml> [kubectl flags]
  local data=$1; shift
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: %s\n' "$data" | k apply --server-side "$@" -f -
}
ssa '{k: one, j: x}' >/dev/null
ssa '{k: one}' >/dev/null
out=$(k get configmap ssa -o jsonpath='{.data}')
[ "$out" = '{"k":"one"}' ] || fail "server-side apply without j: data is $out"
out=$(ssa '{k: two}' --field-manager=other 2>&1 || true)
assert_contains "$out" 'conflict with "kubectl"' "server-side apply by another manager"
[ "$(k get configmap ssa -o jsonpath='{.data.k}')" = one ] || fail "a refused apply changed the object"
ssa '{k: two}' --field-manager=other --force-conflicts >/dev/null
[ "$(k get configmap ssa -o jsonpath='{.data.k}')" = two ] || fail "--force-conflicts did not take the field"
k delete configmap ssa >/dev/null
ok "kubectl apply --server-side: dropped fields removed, conflicts refused, --force-conflicts"

# Invalid manifests: refused with the field path, nothing stored.
cat >"$WORK/bad.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
      - name: web
YAML
if out=$(k apply -f "$WORK/bad.yaml" 2>&1); then fail "invalid manifest accepted"; fi
assert_contains "$out" "spec.template.spec.containers[0].image: Required value" "invalid manifest"
if k get deploy bad >/dev/null 2>&1; then fail "invalid object stored"; fi
sed 's/name: web/name: web\n        imagee: x/' "$WORK/bad.yaml" >/dev/null
cat >"$WORK/unknown.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: strict
  labelz: {a: b}
YAML
if out=$(k apply --validate=strict -f "$WORK/unknown.yaml" 2>&1); then fail "unknown field accepted under strict: $out"; fi
assert_contains "$out" "labelz" "strict unknown field"
ok "invalid manifests refused with field paths"

# A v1 List: kubectl validates it on the client against /openapi/v2, then sends each item.
cat >"$WORK/list.yaml" <<'YAML'
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: listed-a}, data: {k: a}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: listed-b}, data: {k: b}}
YAML
out=$(k create -f "$WORK/list.yaml" 2>&1) || fail "kubectl create of a List: $out"
assert_contains "$out" "configmap/listed-a created" "List create"
assert_contains "$out" "configmap/listed-b created" "List create"
out=$(k apply -f "$WORK/list.yaml" 2>&1) || fail "kubectl apply of a List: $out"
assert_contains "$out" "configmap/listed-b configured" "List apply"
k delete -f "$WORK/list.yaml" >/dev/null
ok "kubectl create/apply of a v1 List"

echo "kubectl e2e: all checks passed"
