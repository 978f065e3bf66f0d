#!/usr/bin/env bash
# The process driver (issue 3): a `runtimeClassName: process` Deployment runs as host
# processes on a node without a container engine, with logs, restarts and graceful stops.
source "$(dirname "$0")/lib.sh"
# A machine without a container engine: point the docker client at nothing.
DOCKER_HOST="unix://$WORK/no-docker.sock" start_dev
grep -q "runtime process (no container engine" "$WORK/dev.out" || fail "tutti dev did not fall back to the process driver: $(cat "$WORK/dev.out")"
k() { kubectl "$@"; }
cat <<'YAML' | k apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: ticker}
spec:
  replicas: 2
  selector: {matchLabels: {app: ticker}}
  template:
    metadata: {labels: {app: ticker}}
    spec:
      runtimeClassName: process
      containers:
      - name: tick
        image: none
        command: ["sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do echo tick $POD_NAME; sleep 1; done"]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
YAML
waitv 60 -eq 2 running app=ticker
pod=$(k get pods -l app=ticker -o jsonpath='{.items[0].metadata.name}')
eventually 20 sh -c "kubectl logs $pod | grep -q 'tick $pod'"
ok "process-driver pods Running; logs: $(k logs "$pod" --tail=1)"
wrapper=$(pgrep -f "tutti_tick_${pod}_" | head -n1 || true)
[ -n "$wrapper" ] || fail "no host process for $pod"
pid=$(pgrep -P "$wrapper" | head -n1 || true)
kill -9 "${pid:-$wrapper}"
eventually 60 sh -c "test \$(kubectl get pods -l app=ticker -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{\"\\n\"}{end}' | awk '{s+=\$1} END {print s+0}') -ge 1"
ok "a killed process is restarted"
k delete deploy ticker >/dev/null
# (The bracket keeps the pattern from matching the shell that runs pgrep.)
eventually 60 sh -c "! pgrep -f 'tutti-proces[s] $WORK/dev/agent/process' >/dev/null"
ok "deleting the deployment stops the processes"
echo "process e2e: all checks passed"
