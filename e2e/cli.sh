#!/usr/bin/env bash
# tutti's own client against tutti dev: apply (including the seed demo's pre-apps/v1
# manifest), get, describe, delete, version, and errors that name file, document and field.
source "$(dirname "$0")/lib.sh"
start_dev
t() { "$TUTTI" "$@"; }

out=$(t apply -f "$EXAMPLES/seed-demo.yaml" 2>"$WORK/apply.err")
err=$(cat "$WORK/apply.err")
assert_contains "$out" "deployment.apps/nginx created" "seed apply"
assert_contains "$out" "service/nginx-service created" "seed apply"
assert_contains "$err" "Warning" "seed apply warns about defaults"
assert_contains "$err" "apps/v1" "seed apply names the assumed apiVersion"
ok "tutti apply seed-demo.yaml (with a warning about the defaults)"

out=$(t apply -f "$EXAMPLES/seed-demo.yaml" 2>/dev/null)
assert_contains "$out" "deployment.apps/nginx unchanged" "re-apply"
ok "re-apply is unchanged"

out=$(t get deploy,svc)
assert_contains "$out" "deployment.apps/nginx" "tutti get"
assert_contains "$out" "service/nginx-service" "tutti get"
out=$(t get deploy nginx -o yaml)
assert_contains "$out" "apiVersion: apps/v1" "tutti get -o yaml"
assert_contains "$out" "matchLabels" "selector defaulted from the template"
out=$(t get deploy nginx -o json)
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["spec"]["replicas"]==3' <<<"$out" || fail "tutti get -o json"
ok "tutti get (table, yaml, json)"

out=$(t describe deploy nginx)
assert_contains "$out" "Replicas:" "tutti describe"
assert_contains "$out" "Selector:" "tutti describe"
ok "tutti describe"

# A bad second document: the error names the file, the document and the field; the good
# first document is still applied; the exit status says it failed.
cat >"$WORK/mixed.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: good
data: {a: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  selector: {matchLabels: {app: b}}
  template:
    metadata: {labels: {app: b}}
    spec:
      containers:
      - name: web
YAML
if out=$(t apply -f "$WORK/mixed.yaml" 2>&1); then fail "bad manifest accepted"; fi
assert_contains "$out" "mixed.yaml" "error names the file"
assert_contains "$out" "document 2" "error names the document"
assert_contains "$out" "spec.template.spec.containers[0].image: Required value" "error names the field"
t get configmap good >/dev/null || fail "the good document was not applied"
if t get deploy broken >/dev/null 2>&1; then fail "the broken deployment was stored"; fi
ok "errors name file, document and field"

out=$(t delete -f "$EXAMPLES/seed-demo.yaml")
assert_contains "$out" "deployment.apps \"nginx\" deleted" "tutti delete"
out=$(t get deploy 2>&1)
assert_contains "$out" "No resources found" "after delete"
ok "tutti delete -f"

out=$(t version)
assert_contains "$out" "Server Version" "tutti version"
ok "tutti version"
echo "cli e2e: all checks passed"
