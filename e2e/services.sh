#!/usr/bin/env bash
# Services across machines (issue 5): one manager and two docker agents, each in its own
# network namespace on a bridge, each agent with its own Docker Engine inside its namespace
# (e2e/netns-docker.sh), so pods really live on different "hosts" and cross-node traffic is
# routed between them. Built with the README's commands. Checks, in order:
#  1. the seed's nginx + nginx-service: a busybox pod reaches http://nginx-service and the
#     full name; 300 requests spread evenly over the replicas, which sit on both nodes; a pod
#     reaches a pod on the other node directly, and keeps its own source address;
#  2. NodePort and LoadBalancer: every node's address answers from the host, wherever the
#     pods are;
#  3. readiness: a replica whose probe fails gets no request 2 s after it is NotReady;
#     2,000 sequential requests during a rolling update: 0 failures;
#  4. DNS: a headless service has one A record per ready pod; a name outside the cluster
#     resolves through the node's upstream; a deleted service stops resolving.
# Needs root (namespaces, veth, iptables), Docker (for images) and the locally built images.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns-docker.sh"
[ "$(id -u)" = 0 ] || fail "needs root for network namespaces"
docker info >/dev/null 2>&1 || fail "Docker is required: run scripts/docker.sh && scripts/images.sh"
for img in tutti/pause:latest busybox:latest nginx:latest; do
  docker image inspect "$img" >/dev/null 2>&1 || fail "image $img missing: run scripts/images.sh"
done
command -v ip >/dev/null || fail "iproute2 (ip) is required"
command -v python3 >/dev/null || fail "python3 is required (the fake upstream DNS server)"

NET=10.79.0
BR=tv-br0
declare -A IP=([m1]=$NET.11 [a1]=$NET.21 [a2]=$NET.22)
declare -A PID=()
HOSTS="m1 a1 a2"
AGENTS="a1 a2"
export TUTTI_LOG=info,openraft=warn,hickory_server=warn
export NSD_LOG_DIR="$WORK"

root_rule() { # the root namespace forwards frames bridged between our hosts
  local chain=FORWARD
  iptables -w -n -L DOCKER-USER >/dev/null 2>&1 && chain=DOCKER-USER
  iptables -w "$1" "$chain" -i "$BR" -o "$BR" -j ACCEPT
}
net_down() {
  for h in $HOSTS; do
    ip netns del "tv-$h" 2>/dev/null || true
    ip link del "tv-$h" 2>/dev/null || true
    rm -rf "/etc/netns/tv-$h"
  done
  ip link del "$BR" 2>/dev/null || true
  while root_rule -D 2>/dev/null; do :; done
}
services_cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then # keep the machines' logs of a failed run
    rm -rf /tmp/tutti-e2e-services && mkdir -p /tmp/tutti-e2e-services
    cp "$WORK"/*.out "$WORK"/*.err "$WORK"/*.log /tmp/tutti-e2e-services/ 2>/dev/null || true
    echo "logs of the machines: /tmp/tutti-e2e-services" >&2
  fi
  for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${UPSTREAM_PID:-}" ] && kill -9 "$UPSTREAM_PID" 2>/dev/null || true
  for h in $AGENTS; do nsd_stop "$h" >/dev/null 2>&1 || true; done
  net_down
  cleanup
}
trap services_cleanup EXIT

step() { echo "--- $*"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

step "network: bridge $BR ($NET.1/24), a namespace per machine, a Docker Engine per agent"
net_down
ip link add "$BR" type bridge
ip addr add "$NET.1/24" dev "$BR"
ip link set "$BR" up
root_rule -I
for h in $HOSTS; do
  ip netns add "tv-$h"
  ip link add "tv-$h" type veth peer name eth0 netns "tv-$h"
  ip link set "tv-$h" master "$BR" up
  ip -n "tv-$h" addr add "${IP[$h]}/24" dev eth0
  ip -n "tv-$h" link set eth0 up
  ip -n "tv-$h" link set lo up
  # `ip netns exec` shows this file as the machine's /etc/resolv.conf: the agents' DNS
  # servers forward names outside the cluster to the fake upstream below.
  mkdir -p "/etc/netns/tv-$h"
  echo "nameserver $NET.1" >"/etc/netns/tv-$h/resolv.conf"
done

# The "upstream" resolver of the machines: outside.example. is 10.1.2.3, the rest NXDOMAIN.
python3 -u -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
while True:
    q, a = s.recvfrom(512)
    i, labels = 12, []
    while q[i]: labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype, name = struct.unpack(">H", q[i + 1:i + 3])[0], ".".join(labels).lower()
    ours, ans = name == "outside.example", b""
    if ours and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("10.1.2.3")
    flags = 0x8180 if ours else 0x8183
    hdr = struct.pack(">HHHHHH", struct.unpack(">H", q[:2])[0], flags, 1, 1 if ans else 0, 0, 0)
    s.sendto(hdr + q[12:i + 5] + ans, a)' "$NET.1" >"$WORK/upstream.log" 2>&1 &
UPSTREAM_PID=$!

t0=$(now_ms)
for h in $AGENTS; do nsd_start "$h" "tv-$h" || fail "dockerd in tv-$h did not start"; done
for h in $AGENTS; do nsd_load_images "$h" tutti/pause:latest busybox:latest nginx:latest || fail "loading images into $h"; done
ok "two Docker Engines with images in $(( $(now_ms) - t0 )) ms"

start_host() { # start_host <name> <env...> -- <tutti args...>
  local h=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  # `ip netns exec` execs env, which execs tutti: $! is tutti's pid.
  ip netns exec "tv-$h" env "${envs[@]}" "$TUTTI" "$@" >>"$WORK/$h.out" 2>>"$WORK/$h.err" &
  PID[$h]=$!
}
wait_line() { # wait_line <file> <text> <secs>
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  tail -20 "${1%.out}.err" >&2; fail "no '$2' in $1 after $3 s"
}

# in_pod <node> <pod> <command...>: run a command in the pod's (first) container.
in_pod() {
  local node=$1 pod=$2; shift 2
  local id
  id=$(nsd_docker "$node" ps -q --filter "label=io.tutti.pod-name=$pod" --filter label=io.tutti.kind=container | sed -n 1p)
  [ -n "$id" ] || { echo "no container of pod $pod on $node" >&2; return 1; }
  nsd_docker "$node" exec "$id" "$@"
}
ready_pods() { # ready_pods <selector>: names of Ready pods
  kubectl get pods -l "$1" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\n"}{end}' | awk '$2=="True"{print $1}'
}
count_ready() { ready_pods "$1" | wc -l; }
ready_nodes() { kubectl get nodes --no-headers | grep -c ' Ready '; }
# logged <pod> <regex>: how many of the pod's log lines match.
logged() { kubectl logs "$1" | grep -cE "$2"; }
# serves <url> <text>: the URL answers with a page containing the text.
serves() { curl -sf --max-time 2 "$1" | grep -q "$2"; }
lb_ips() { kubectl get svc "$1" -o jsonpath='{.status.loadBalancer.ingress[*].ip}' | wc -w; }
loop_done() { in_pod a1 client cat /tmp/loop.out 2>/dev/null | wc -l; }
gone_from_dns() { # nslookup exits 1 on NXDOMAIN: read its output, not its status
  local out; out=$(in_pod a1 client nslookup "$1" 2>&1 || true)
  grep -q NXDOMAIN <<<"$out"
}
# in_pod_bg <node> <pod> <command...>: the same, detached.
in_pod_bg() {
  local node=$1 pod=$2; shift 2
  local id
  id=$(nsd_docker "$node" ps -q --filter "label=io.tutti.pod-name=$pod" --filter label=io.tutti.kind=container | sed -n 1p)
  [ -n "$id" ] || { echo "no container of pod $pod on $node" >&2; return 1; }
  nsd_docker "$node" exec -d "$id" "$@"
}
pod_ip() { kubectl get pod "$1" -o jsonpath='{.status.podIP}'; }
pod_node() { kubectl get pod "$1" -o jsonpath='{.spec.nodeName}'; echo; }

step "cluster: tutti server on m1, tutti join on a1 and a2 (docker, each its own engine)"
start_host m1 TUTTI_LOG="$TUTTI_LOG" -- server --data-dir "$WORK/m1" --listen "${IP[m1]}:6443" --name m1
wait_line "$WORK/m1.out" "join workers with" 30
TW=$(grep "join workers with" "$WORK/m1.out" | sed 's/.*--token //')
for h in $AGENTS; do
  start_host "$h" DOCKER_HOST="$(nsd_host "$h")" -- join "${IP[m1]}:6443" --token "$TW" \
    --data-dir "$WORK/$h" --node-ip "${IP[$h]}" --node-name "$h" --runtime docker
  wait_line "$WORK/$h.out" "tutti: node $h joined" 60
done
export KUBECONFIG="$WORK/m1/kubeconfig.yaml"
waitv 60 -eq 2 ready_nodes
for h in $AGENTS; do
  wait_line "$WORK/$h.err" "service proxy and cluster DNS serving" 60
  cidr=$(kubectl get node "$h" -o jsonpath='{.spec.podCIDR}')
  [ -n "$cidr" ] || fail "node $h has no pod CIDR"
  waitv 20 -eq 1 sh -c "ip -n tv-$h route show proto 116 | wc -l"
  echo "  $h: pod CIDR $cidr; routes: $(ip -n "tv-$h" route show proto 116 | tr '\n' ';')"
done
ok "2 Ready agents, each with its own pod CIDR"

step "1. the seed's nginx and nginx-service, a busybox client on a1"
kubectl apply -f "$EXAMPLES/nginx.yaml" >/dev/null
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  nodeSelector: {kubernetes.io/hostname: a1}
  containers:
  - {name: client, image: busybox, imagePullPolicy: Never, command: ["sleep", "100000"]}
EOF
waitv 120 -eq 3 count_ready app=nginx
waitv 60 -eq 1 count_ready app=client
nodes_used=$(for p in $(ready_pods app=nginx); do pod_node "$p"; done | sort -u | tr '\n' ' ')
[ "$nodes_used" = "a1 a2 " ] || fail "nginx replicas not on both nodes: $nodes_used"
for p in $(ready_pods app=nginx) client; do
  case "$(pod_ip "$p")" in 10.244.*) ;; *) fail "pod $p has IP '$(pod_ip "$p")', not one from the pod range";; esac
done
out=$(in_pod a1 client wget -qO- http://nginx-service) || fail "wget http://nginx-service failed"
assert_contains "$out" "Welcome to nginx" "http://nginx-service from the client"
out=$(in_pod a1 client wget -qO- http://nginx-service.default.svc.cluster.local) || fail "wget of the full name failed"
assert_contains "$out" "Welcome to nginx" "http://nginx-service.default.svc.cluster.local"
ok "the client reaches nginx-service by short and full name"

client_ip=$(pod_ip client)
remote=$(for p in $(ready_pods app=nginx); do if [ "$(pod_node "$p")" = a2 ]; then echo "$p"; fi; done | sed -n 1p)
in_pod a1 client wget -qO- "http://$(pod_ip "$remote")/pod-to-pod" >/dev/null 2>&1 || true # a 404 still answers
waitv 10 -ge 1 logged "$remote" "^$client_ip .*GET /pod-to-pod"
ok "a1's client reached $remote on a2 directly at $(pod_ip "$remote"), seen from its own address $client_ip"

before=$(for p in $(ready_pods app=nginx); do echo "$p $(kubectl logs "$p" | grep -c 'GET / ')"; done)
in_pod a1 client sh -c 'i=0; while [ $i -lt 300 ]; do wget -qO- http://nginx-service >/dev/null || exit 1; i=$((i+1)); done' \
  || fail "a request of the 300 failed"
spread=""
for p in $(ready_pods app=nginx); do
  was=$(awk -v p="$p" '$1==p{print $2}' <<<"$before")
  got=$(( $(kubectl logs "$p" | grep -c 'GET / ') - ${was:-0} ))
  spread="$spread $p@$(pod_node "$p")=$got"
  [ "$got" -ge 60 ] || fail "uneven spread over 300 requests:$spread"
done
ok "300 requests spread over the replicas:$spread"

step "2. NodePort and LoadBalancer answer on every node, from the host"
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: nginx-nodeport}
spec:
  type: NodePort
  selector: {app: nginx}
  ports: [{port: 80, targetPort: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: nginx-lb}
spec:
  type: LoadBalancer
  selector: {app: nginx}
  ports: [{port: 8080, targetPort: 80}]
EOF
for h in $AGENTS; do
  eventually 10 serves "http://${IP[$h]}:30080/" "Welcome to nginx"
done
ok "http://<node>:30080 answers on a1 (${IP[a1]}) and a2 (${IP[a2]})"
waitv 20 -eq 2 lb_ips nginx-lb
for h in $AGENTS; do
  eventually 10 serves "http://${IP[$h]}:8080/" "Welcome to nginx"
done
ok "LoadBalancer: ingress $(kubectl get svc nginx-lb -o jsonpath='{.status.loadBalancer.ingress[*].ip}'), port 8080 answers on both"

step "3. readiness: an unready replica stops getting requests; a rolling update loses none"
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: whoami}
spec:
  replicas: 3
  selector: {matchLabels: {app: whoami}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: whoami}}
    spec:
      containers:
      - name: whoami
        image: busybox
        imagePullPolicy: Never
        command: ["sh", "-c", "mkdir -p /www && hostname >/www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          exec: {command: ["test", "-f", "/tmp/ready"]}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: whoami}
spec:
  selector: {app: whoami}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: whoami-headless}
spec:
  clusterIP: None
  selector: {app: whoami}
  ports: [{name: http, port: 8080}]
EOF
waitv 120 -eq 3 count_ready app=whoami
victim=$(ready_pods app=whoami | sed -n 1p)
in_pod "$(pod_node "$victim")" "$victim" rm -f /tmp/ready
t_unready=""
for _ in $(seq 1 100); do
  ready_pods app=whoami | grep -qx "$victim" || { t_unready=$(now_ms); break; }
  sleep 0.1
done
[ -n "$t_unready" ] || fail "$victim never became NotReady"
last_hit=0; hits=0; n=0
end=$(( t_unready + 4000 ))
while [ "$(now_ms)" -lt "$end" ]; do
  who=$(in_pod a1 client wget -qO- http://whoami 2>/dev/null || echo FAILED)
  n=$((n + 1))
  [ "$who" = FAILED ] && fail "a request failed while $victim was unready"
  if [ "$who" = "$victim" ]; then hits=$((hits + 1)); last_hit=$(now_ms); fi
done
late=0; [ "$last_hit" -gt 0 ] && late=$(( last_hit - t_unready ))
[ "$late" -lt 2000 ] || fail "$victim still answered ${late} ms after it was NotReady"
ok "$victim NotReady: last request it served came ${late} ms later ($hits of $n requests in the 4 s after)"
in_pod "$(pod_node "$victim")" "$victim" touch /tmp/ready
waitv 30 -eq 3 count_ready app=whoami

in_pod a1 client rm -f /tmp/loop.out
in_pod_bg a1 client sh -c 'i=0; f=0; while [ $i -lt 2000 ]; do timeout 5 wget -qO /dev/null http://whoami || f=$((f+1)); i=$((i+1)); done; echo "$i $f" >/tmp/loop.out'
sleep 1
t_roll=$(now_ms)
old_pods=$(ready_pods app=whoami | sort | tr '\n' ' ')
kubectl rollout restart deployment/whoami >/dev/null
kubectl rollout status deployment/whoami --timeout=180s >/dev/null || fail "rolling update did not finish"
roll_ms=$(( $(now_ms) - t_roll ))
waitv 300 -eq 1 loop_done
read -r total failed <<<"$(in_pod a1 client cat /tmp/loop.out)"
new_pods=$(ready_pods app=whoami | sort | tr '\n' ' ')
[ "$old_pods" != "$new_pods" ] || fail "the rollout replaced no pod"
[ "$total" -eq 2000 ] || fail "the request loop stopped at $total"
[ "$failed" -eq 0 ] || fail "$failed of 2000 requests failed during the rolling update"
ok "2000 sequential requests while the rollout ran (${roll_ms} ms): 0 failed"

step "4. DNS: headless services, names outside the cluster, deleted services"
waitv 30 -eq 3 count_ready app=whoami
want=$(for p in $(ready_pods app=whoami); do pod_ip "$p"; echo; done | sort | tr '\n' ' ')
got=""
for _ in $(seq 1 30); do
  got=$(in_pod a1 client nslookup whoami-headless.default.svc.cluster.local 2>/dev/null \
    | awk '/^Address/ && $2 !~ /:53$/ {print $2}' | sort -u | tr '\n' ' ')
  [ "$got" = "$want" ] && break
  sleep 0.5
done
[ "$got" = "$want" ] || fail "headless A records '$got', want the ready pods' '$want'"
ok "whoami-headless: one A record per ready pod ($got)"
out=$(in_pod a1 client nslookup outside.example 2>&1 || true)
assert_contains "$out" "10.1.2.3" "outside.example through the node's upstream"
ok "outside.example resolves through the upstream (10.1.2.3)"
out=$(in_pod a1 client nslookup nginx-service.default.svc.cluster.local 2>&1 || true)
assert_contains "$out" "$(kubectl get svc nginx-service -o jsonpath='{.spec.clusterIP}')" "nginx-service's A record"
kubectl delete service nginx-service >/dev/null
t_del=$(now_ms)
eventually 10 gone_from_dns nginx-service.default.svc.cluster.local
ok "a deleted service stops resolving ($(( $(now_ms) - t_del )) ms)"

echo
echo "services e2e: all checks passed"
