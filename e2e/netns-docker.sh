#!/usr/bin/env bash
# A Docker Engine per network namespace, for multi-node end-to-end tests: each simulated node
# (a netns on a test bridge, as in cluster.sh) gets its own dockerd, so its containers attach to
# bridges that live in that node's netns and cross-node pod traffic is really routed.
#
# Source it (`source e2e/netns-docker.sh`), or run `bash e2e/netns-docker.sh selftest`.
#
#   nsd_start <host> <netns> [dockerd args...]  start dockerd inside netns <netns> and wait for it
#   nsd_host <host>                  print the DOCKER_HOST value (unix:///run/tutti-e2e/<host>/docker.sock)
#   nsd_docker <host> <args...>      run the docker client against that daemon
#   nsd_netns <host>                 print the netns the daemon was started in
#   nsd_load_images <host> <img>...  copy images from the root daemon (skips identical IDs)
#   nsd_stop <host>                  remove everything of that daemon: containers, dockerd,
#                                    containerd, shims, docker-proxy, cgroups, mounts, its docker
#                                    bridges in the netns, directories. Idempotent; works after
#                                    kill -9 of dockerd. Does not delete the netns itself.
#   nsd_leftovers <host>             print what of that daemon is still there (empty: nothing)
#
# Layout per host: data-root /var/lib/tutti-e2e/<host>/docker, exec-root /run/tutti-e2e/<host>
# (docker.sock, docker.pid, containerd/containerd.sock, runtime-runc/, netns/), log
# $NSD_LOG_DIR/<host>.dockerd.log (default: /var/lib/tutti-e2e/<host>/dockerd.log, removed by
# nsd_stop; point NSD_LOG_DIR at the test's work dir to keep it), containers' cgroups under
# /tutti-e2e/<host>. Storage and cgroup driver, log driver/options are copied from
# /etc/docker/daemon.json. Each dockerd starts its own containerd (config, socket and state under
# exec-root, content under data-root), which needs /run/containerd/containerd.sock to be absent
# (checked). No default docker0 bridge (--bridge=none, or NSD_BIP=<cidr> for one): the node agent
# creates its own user-defined bridge network. The FORWARD policy in the netns is set to DROP, as
# on a stock Docker host (docker sets it only when it had to turn ip_forward on itself, and a new
# netns inherits ip_forward=1 from the root netns here), so tests exercise the ACCEPT rules the
# agent must program. See docs/notes-netns-docker.md for the network recipe.
#
# Functions return non-zero (message on stderr) instead of exiting; they work under set -euo pipefail.

NSD_DATA_BASE="${NSD_DATA_BASE:-/var/lib/tutti-e2e}"
NSD_RUN_BASE="${NSD_RUN_BASE:-/run/tutti-e2e}"
NSD_TIMEOUT="${NSD_TIMEOUT:-60}"
NSD_DAEMON_JSON="${NSD_DAEMON_JSON:-/etc/docker/daemon.json}"
NSD_FORWARD_POLICY="${NSD_FORWARD_POLICY:-DROP}" # "" leaves docker's choice
NSD_START_MS=""                                  # set by nsd_start: time to answer, in ms
# NSD_BIP: a docker0 address (--bip) instead of --bridge=none; NSD_LOG_DIR: where logs go.

_nsd_err() { printf 'netns-docker: %s\n' "$*" >&2; }
_nsd_now_ms() { echo $(($(date +%s%N) / 1000000)); }
_nsd_valid() { # host names become paths and cgroup names: keep them short and plain
  [[ "${1:-}" =~ ^[a-z0-9][a-z0-9-]{0,31}$ ]] || { _nsd_err "bad host name '${1:-}' ([a-z0-9-], at most 32)"; return 1; }
}
_nsd_data() { echo "$NSD_DATA_BASE/$1"; }
_nsd_run() { echo "$NSD_RUN_BASE/$1"; }
_nsd_sock() { echo "$NSD_RUN_BASE/$1/docker.sock"; }
_nsd_log() { if [ -n "${NSD_LOG_DIR:-}" ]; then echo "$NSD_LOG_DIR/$1.dockerd.log"; else echo "$NSD_DATA_BASE/$1/dockerd.log"; fi; }
_nsd_in() { local ns=$1; shift; nsenter --net="/run/netns/$ns" -- "$@"; } # net namespace only
_nsd_ping() { curl -sf --max-time 2 --unix-socket "$(_nsd_sock "$1")" http://docker/_ping >/dev/null 2>&1; }

nsd_host() { _nsd_valid "$1" && echo "unix://$(_nsd_sock "$1")"; }
nsd_docker() { local h=$1; shift; docker -H "unix://$(_nsd_sock "$h")" "$@"; }
nsd_netns() { cat "$(_nsd_data "$1")/netns" 2>/dev/null; }

# _nsd_alive <pid>: a live process, not a zombie (a killed dockerd stays a zombie until reaped,
# and `kill -0` succeeds on zombies; dockerd's own pid-file check would be fooled too).
_nsd_alive() {
  local st
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# _nsd_config <host>: the daemon.json for that host, from the root daemon's: same storage
# driver (+options), cgroup driver (exec-opts), log driver (+options), runtimes.
_nsd_config() {
  local src=$NSD_DAEMON_JSON cgp="/tutti-e2e/$1"
  [ -s "$src" ] || src=/dev/null
  if command -v jq >/dev/null 2>&1; then
    { cat "$src"; echo; } | jq -s --arg cgp "$cgp" '(.[0] // {})
      | with_entries(select(.key | IN("storage-driver","storage-opts","exec-opts","log-driver",
          "log-opts","default-runtime","runtimes","default-ulimits")))
      + {"cgroup-parent": $cgp}'
  else
    python3 - "$src" "$cgp" <<'PY'
import json, sys
txt = open(sys.argv[1]).read().strip()
src = json.loads(txt) if txt else {}
keep = ("storage-driver", "storage-opts", "exec-opts", "log-driver", "log-opts",
        "default-runtime", "runtimes", "default-ulimits")
out = {k: v for k, v in src.items() if k in keep}
out["cgroup-parent"] = sys.argv[2]
print(json.dumps(out, indent=2))
PY
  fi
}

# nsd_start <host> <netns> [extra dockerd args...]
nsd_start() {
  local host=${1:-} ns=${2:-}
  shift 2 || true
  _nsd_valid "$host" || return 1
  [ -e "/run/netns/$ns" ] || { _nsd_err "no network namespace '$ns' (/run/netns/$ns)"; return 1; }
  local d r sock log t0 pid
  d=$(_nsd_data "$host"); r=$(_nsd_run "$host"); sock=$(_nsd_sock "$host"); log=$(_nsd_log "$host")
  t0=$(_nsd_now_ms)
  if _nsd_ping "$host"; then
    NSD_START_MS=0
    return 0 # already running (idempotent)
  fi
  # dockerd 20.10 uses /run/containerd/containerd.sock when that file exists ("system
  # containerd") and starts its own containerd under exec-root only when it does not: then every
  # node's daemon would share one containerd (namespace "moby", shims children of it, outside
  # the node's cleanup). Refuse rather than share silently.
  if [ -e /run/containerd/containerd.sock ] && [ "${NSD_ALLOW_SYSTEM_CONTAINERD:-0}" != 1 ]; then
    _nsd_err "/run/containerd/containerd.sock exists: dockerd would use that shared containerd instead of its own (stop it, or NSD_ALLOW_SYSTEM_CONTAINERD=1)"
    return 1
  fi
  mkdir -p "$d/docker" "$r" "$(dirname "$log")" || return 1
  echo "$ns" >"$d/netns"
  _nsd_config "$host" >"$d/daemon.json" || { _nsd_err "cannot generate $d/daemon.json"; return 1; }
  ip -n "$ns" link set lo up || return 1
  # Stale pid files (dockerd/containerd killed -9): a zombie or reused pid would block a start.
  for f in "$r/docker.pid" "$r/containerd/containerd.pid"; do
    if [ -f "$f" ]; then
      pid=$(cat "$f" 2>/dev/null || true)
      if ! _nsd_alive "$pid" || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$r/"; then rm -f "$f"; fi
    fi
  done
  if [ -f "$r/docker.pid" ]; then _nsd_err "dockerd for $host runs (pid $(cat "$r/docker.pid")) but does not answer"; return 1; fi
  # No default bridge unless NSD_BIP asks for one (e.g. 172.31.1.1/24: unique per host).
  local bridge=--bridge=none
  [ -z "${NSD_BIP:-}" ] || bridge="--bip=$NSD_BIP"
  echo "=== $(date -Is) nsd_start $host in netns $ns" >>"$log"
  # nsenter --net only: dockerd stays in the root mount namespace (unlike `ip netns exec`, which
  # gives it a private one), so its overlay/nsfs mounts are visible and can be cleaned up after
  # a kill -9. setsid: not in the test's process group (Ctrl-C must not half-kill it).
  (
    cd / && exec setsid nsenter --net="/run/netns/$ns" -- dockerd \
      --config-file "$d/daemon.json" \
      --data-root "$d/docker" \
      --exec-root "$r" \
      --pidfile "$r/docker.pid" \
      -H "unix://$sock" \
      $bridge \
      --iptables=true --ip-forward=true \
      "$@" </dev/null >>"$log" 2>&1
  ) &
  local end=$(($(date +%s) + NSD_TIMEOUT)) bg=$!
  disown "$bg" 2>/dev/null || true # no "Killed" job report in the caller when a test kills it
  until _nsd_ping "$host"; do
    if ! _nsd_alive "$bg" && ! _nsd_alive "$(cat "$r/docker.pid" 2>/dev/null)"; then
      tail -n 25 "$log" >&2; _nsd_err "dockerd for $host exited during start (log: $log)"; return 1
    fi
    if [ "$(date +%s)" -ge "$end" ]; then
      tail -n 25 "$log" >&2; _nsd_err "dockerd for $host did not answer within ${NSD_TIMEOUT}s (log: $log)"; return 1
    fi
    sleep 0.05
  done
  timeout 20 docker -H "unix://$sock" info >/dev/null 2>&1 || { tail -n 25 "$log" >&2; _nsd_err "docker info failed for $host"; return 1; }
  if [ -n "$NSD_FORWARD_POLICY" ]; then _nsd_in "$ns" iptables -w -P FORWARD "$NSD_FORWARD_POLICY" || return 1; fi
  NSD_START_MS=$(($(_nsd_now_ms) - t0))
}

# nsd_load_images <host> <image>...: docker save | docker load, only the missing/different ones.
nsd_load_images() {
  local host=$1; shift
  _nsd_valid "$host" || return 1
  local img want have need=()
  for img in "$@"; do
    want=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || { _nsd_err "image $img is not in the root daemon"; return 1; }
    have=$(nsd_docker "$host" image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
    [ "$want" = "$have" ] || need+=("$img")
  done
  [ "${#need[@]}" -gt 0 ] || return 0
  # One stream for all images: shared layers are sent once.
  docker save "${need[@]}" | nsd_docker "$host" load -q >/dev/null || { _nsd_err "loading ${need[*]} into $host failed"; return 1; }
  for img in "${need[@]}"; do
    [ "$(docker image inspect -f '{{.Id}}' "$img")" = "$(nsd_docker "$host" image inspect -f '{{.Id}}' "$img" 2>/dev/null)" ] \
      || { _nsd_err "$img in $host has a different ID after load"; return 1; }
  done
}

# _nsd_pids <host>: pids (not zombies) of that host's dockerd, containerd, shims, docker-proxy,
# runc: those whose command line names its exec-root (dockerd --pidfile, containerd --config,
# shim -address), and docker-proxy processes in its netns (their command line names no path).
_nsd_pids() {
  local host=$1 r ns nsino="" p exe re
  r=$(_nsd_run "$host"); ns=$(nsd_netns "$host" || true)
  [ -n "$ns" ] && [ -e "/run/netns/$ns" ] && nsino=$(stat -L -c %i "/run/netns/$ns" 2>/dev/null || true)
  re=$(printf '%s/' "$r" | sed 's/[].[\*^$()+?{|]/\\&/g')
  for p in $(pgrep -f -- "$re" || true) $(pgrep -x docker-proxy || true); do
    exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
    case "${exe##*/}" in
      dockerd | containerd | containerd-shim* | runc) ;;
      docker-proxy) [ -n "$nsino" ] && [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "net:[$nsino]" ] || continue ;;
      *) continue ;;
    esac
    _nsd_alive "$p" && echo "$p"
  done | sort -un
}

# _nsd_cgroups <host>: that host's container cgroup directories (v1 hierarchies and v2).
_nsd_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/tutti-e2e/"$1" /sys/fs/cgroup/tutti-e2e/"$1"; do
    [ -d "$c" ] && echo "$c"
  done
  return 0
}

# _nsd_mounts <host>: mount points under its data or exec root, deepest first.
_nsd_mounts() {
  local d r
  d=$(_nsd_data "$1"); r=$(_nsd_run "$1")
  awk -v d="$d" -v r="$r" '{ m = $5; gsub(/\\040/, " ", m)
      if (m == d || index(m, d "/") == 1 || m == r || index(m, r "/") == 1) print m }' /proc/self/mountinfo \
    | sort -r
}

# nsd_leftovers <host>: anything of that host still present; prints nothing when clean.
nsd_leftovers() {
  local host=$1 p c
  for p in $(_nsd_pids "$host"); do echo "process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120)"; done
  _nsd_mounts "$host" | sed 's/^/mount /'
  for c in $(_nsd_cgroups "$host"); do echo "cgroup $c"; done
  for c in "$(_nsd_data "$host")" "$(_nsd_run "$host")"; do [ -e "$c" ] && echo "directory $c"; done
  return 0
}

# nsd_stop <host>: idempotent; safe after dockerd was killed -9.
nsd_stop() {
  local host=${1:-}
  _nsd_valid "$host" || return 1
  local d r sock ns pid ids="" i p c
  d=$(_nsd_data "$host"); r=$(_nsd_run "$host"); sock=$(_nsd_sock "$host"); ns=$(nsd_netns "$host" || true)

  # 1. Graceful: remove all containers, then SIGTERM dockerd (it stops its containerd).
  if _nsd_ping "$host"; then
    ids=$(timeout 20 docker -H "unix://$sock" ps -aq 2>/dev/null || true)
    # shellcheck disable=SC2086 # a list of ids
    [ -z "$ids" ] || timeout 60 docker -H "unix://$sock" rm -f -v $ids >/dev/null 2>&1 || true
  fi
  pid=$(cat "$r/docker.pid" 2>/dev/null || true)
  if _nsd_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$r/"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do _nsd_alive "$pid" || break; sleep 0.1; done # 20 s
  fi

  # 2. Whatever is left (kill -9 of dockerd leaves shims and containers running): the daemons
  #    first, so nothing restarts anything, then the containers by runc, then by cgroup.
  for p in $(_nsd_pids "$host"); do
    case "$(readlink "/proc/$p/exe" 2>/dev/null)" in */dockerd | */containerd) kill -KILL "$p" 2>/dev/null || true ;; esac
  done
  if command -v runc >/dev/null 2>&1; then
    for c in "$r"/runtime-runc/*; do # one runc root per containerd namespace ("moby")
      [ -d "$c" ] || continue
      for i in $(runc --root "$c" list -q 2>/dev/null); do runc --root "$c" delete -f "$i" >/dev/null 2>&1 || true; done
    done
  fi
  for _ in $(seq 1 50); do # up to 5 s
    local left=0
    for c in $(_nsd_cgroups "$host"); do
      # a frozen (paused) container only dies once thawed
      [ -f "$c/freezer.state" ] && find "$c" -name freezer.state -exec sh -c 'echo THAWED >"$1"' _ {} \; 2>/dev/null
      for p in $(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; left=1; done
    done
    [ "$left" = 1 ] || break
    sleep 0.1
  done
  for p in $(_nsd_pids "$host"); do kill -KILL "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do [ -z "$(_nsd_pids "$host")" ] && break; sleep 0.1; done

  # 3. Shim sockets live outside exec-root: /run/containerd/s/sha256(<containerd address>/<ns>/<id>).
  for c in "$r"/containerd/daemon/io.containerd.runtime.v2.task/*/*; do
    [ -d "$c" ] || continue
    i=$(basename "$c"); p=$(basename "$(dirname "$c")")
    rm -f "/run/containerd/s/$(printf '%s' "$r/containerd/containerd.sock/$p/$i" | sha256sum | cut -d' ' -f1)"
  done

  # 4. Mounts (overlay merged dirs, nsfs netns files, the data-root self bind mount), deepest first.
  for _ in 1 2 3 4 5; do
    local ms
    ms=$(_nsd_mounts "$host")
    [ -n "$ms" ] || break
    while read -r c; do umount "$c" 2>/dev/null || umount -l "$c" 2>/dev/null || true; done <<<"$ms"
  done

  # 5. Cgroups (depth first), docker's bridges in the netns (docker MACs start 02:42), dirs.
  for c in $(_nsd_cgroups "$host"); do
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    rmdir "$(dirname "$c")" 2>/dev/null || true # /tutti-e2e, when no other host uses it
  done
  if [ -n "$ns" ] && [ -e "/run/netns/$ns" ]; then
    ip -n "$ns" -o link show type bridge 2>/dev/null | awk '/link\/ether 02:42:/ { sub(/:$/, "", $2); sub(/@.*/, "", $2); print $2 }' \
      | while read -r c; do ip -n "$ns" link del "$c" 2>/dev/null || true; done
  fi
  if [ -z "$(_nsd_mounts "$host")" ]; then
    rm -rf "$d" "$r"
    rmdir "$NSD_DATA_BASE" "$NSD_RUN_BASE" 2>/dev/null || true
  fi
  local rest
  rest=$(nsd_leftovers "$host")
  [ -z "$rest" ] || { _nsd_err "nsd_stop $host left:"; echo "$rest" >&2; return 1; }
}

# ---------------------------------------------------------------------------------------------
# Self-test: two netns hosts on a bridge, a dockerd in each, pod subnets routed between them.

_st_net=10.78.0
_st_br=ts-br0
_st_hosts="ts-n1 ts-n2"
declare -A _st_ip=([ts-n1]=10.78.0.11 [ts-n2]=10.78.0.12)
declare -A _st_pod=([ts-n1]=10.244.1.0/24 [ts-n2]=10.244.2.0/24)
_st_pids=()
_st_cluster=10.244.0.0/16
_st_vip=10.96.0.10

_st_root_rule() { # the root namespace's FORWARD must pass frames bridged between our hosts
  local chain=FORWARD
  iptables -w -n -L DOCKER-USER >/dev/null 2>&1 && chain=DOCKER-USER
  iptables -w "$1" "$chain" -i "$_st_br" -o "$_st_br" -j ACCEPT
}

_st_kill_servers() {
  local p
  for p in "${_st_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  _st_pids=()
}
_st_down() {
  local h
  _st_kill_servers
  for h in $_st_hosts; do nsd_stop "$h" || true; done
  for h in $_st_hosts; do
    ip netns del "$h" 2>/dev/null || true
    ip link del "$h" 2>/dev/null || true
  done
  ip link del "$_st_br" 2>/dev/null || true
  while iptables -w -D FORWARD -i "$_st_br" -o "$_st_br" -j ACCEPT 2>/dev/null; do :; done
  while iptables -w -D DOCKER-USER -i "$_st_br" -o "$_st_br" -j ACCEPT 2>/dev/null; do :; done
}

# A TCP server that answers any request with an HTTP response naming the peer's address.
_st_peer_server() { # <addr> <port>
  exec /usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
while True:
    c, a = s.accept(); c.settimeout(2)
    try:
        c.recv(4096); c.sendall(("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n%s\n" % a[0]).encode())
    except Exception: pass
    c.close()' "$1" "$2"
}

# A DNS server answering A queries for *.svc.cluster.local with 10.96.0.99 (NODATA for other
# types of those names, NXDOMAIN otherwise); it logs "<name> <client address>" to stdout.
_st_dns_server() { # <addr>
  exec /usr/bin/python3 -u -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
while True:
    q, a = s.recvfrom(512)
    i, labels = 12, []
    while q[i]: labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype, name = struct.unpack(">H", q[i + 1:i + 3])[0], ".".join(labels)
    print(name, a[0])
    ours, ans = name.endswith(".svc.cluster.local"), b""
    if ours and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("10.96.0.99")
    hdr = struct.pack(">HHHHHH", struct.unpack(">H", q[:2])[0], 0x8180 if ours else 0x8183, 1, 1 if ans else 0, 0, 0)
    s.sendto(hdr + q[12:i + 5] + ans, a)' "$1"
}

_st_fail() { echo "FAIL: $*" >&2; exit 1; }
_st_ok() { echo "ok: $*"; }
_st_expect() { # <what> <want> <got>; busybox httpd reports IPv4 peers as [::ffff:a.b.c.d]
  local got=${3#[}; got=${got%]}; got=${got#::ffff:}
  [ "$2" = "$got" ] || _st_fail "$1: want '$2', got '$3'"
  _st_ok "$1: $got"
}

nsd_selftest() {
  set -euo pipefail
  [ "$(id -u)" = 0 ] || _st_fail "needs root"
  docker image inspect busybox:latest >/dev/null 2>&1 || _st_fail "busybox:latest missing in the root daemon: run scripts/docker.sh && scripts/images.sh"
  local t_all h other i ms t0
  t_all=$(_nsd_now_ms)
  # NSD_SELFTEST_KEEP=1: leave everything up on failure, to look around; NSD_SELFTEST_HOLD=1:
  # also on success, skipping the teardown. Then `bash e2e/netns-docker.sh selftest-down`.
  if [ "${NSD_SELFTEST_KEEP:-0}" = 1 ] || [ "${NSD_SELFTEST_HOLD:-0}" = 1 ]; then trap '_st_kill_servers' EXIT; else trap _st_down EXIT; fi
  _st_down

  echo "--- network: $_st_br ($_st_net.1/24), netns ts-n1 ($_st_net.11), ts-n2 ($_st_net.12)"
  ip link add "$_st_br" type bridge
  ip addr add "$_st_net.1/24" dev "$_st_br"
  ip link set "$_st_br" up
  _st_root_rule -I
  for h in $_st_hosts; do
    ip netns add "$h"
    ip link add "$h" type veth peer name eth0 netns "$h"
    ip link set "$h" master "$_st_br" up
    ip -n "$h" addr add "${_st_ip[$h]}/24" dev eth0
    ip -n "$h" link set eth0 up
    ip -n "$h" link set lo up
  done

  echo "--- a dockerd in each netns (started in parallel)"
  t0=$(_nsd_now_ms)
  local tmp
  tmp=$(mktemp -d)
  for h in $_st_hosts; do
    (nsd_start "$h" "$h" && echo "$NSD_START_MS" >"$tmp/$h.ms") &
  done
  for h in $_st_hosts; do wait -n || _st_fail "nsd_start failed"; done
  for h in $_st_hosts; do echo "timing: dockerd $h answered after $(cat "$tmp/$h.ms") ms"; done
  rm -rf "$tmp"
  echo "timing: both daemons ready after $(($(_nsd_now_ms) - t0)) ms"
  [ "$(nsd_docker ts-n1 info -f '{{.Driver}} {{.CgroupDriver}}')" = "$(docker info -f '{{.Driver}} {{.CgroupDriver}}')" ] \
    || _st_fail "storage/cgroup driver differ from the root daemon's"
  # containerd of each daemon: its own instance, address, state and root.
  for h in $_st_hosts; do
    pgrep -f "containerd --config $NSD_RUN_BASE/$h/containerd/containerd.toml" >/dev/null || _st_fail "no managed containerd for $h"
    grep -q "^root = \"$NSD_DATA_BASE/$h/docker/containerd/daemon\"" "$NSD_RUN_BASE/$h/containerd/containerd.toml" || _st_fail "containerd root of $h"
  done
  _st_ok "own containerd per daemon (address, root, state under the host's dirs); same storage/cgroup driver as root"

  echo "--- images"
  t0=$(_nsd_now_ms)
  nsd_load_images ts-n1 busybox:latest & i=$!
  nsd_load_images ts-n2 busybox:latest
  wait "$i"
  echo "timing: busybox loaded into both in $(($(_nsd_now_ms) - t0)) ms"
  t0=$(_nsd_now_ms)
  nsd_load_images ts-n1 busybox:latest
  echo "timing: second load (skipped, same ID) $(($(_nsd_now_ms) - t0)) ms"

  echo "--- per-node pod network, routes, rules, service VIP"
  for h in $_st_hosts; do
    other=ts-n1; [ "$h" = ts-n1 ] && other=ts-n2
    local pod=${_st_pod[$h]}
    nsd_docker "$h" network create -d bridge --subnet "$pod" --gateway "${pod%.0/24}.1" \
      -o com.docker.network.bridge.name=tutti0 \
      -o com.docker.network.bridge.enable_ip_masquerade=false tutti0 >/dev/null
    _nsd_in "$h" sysctl -qw net.ipv4.ip_forward=1
    _nsd_in "$h" ip route add "${_st_pod[$other]}" via "${_st_ip[$other]}" dev eth0
    _nsd_in "$h" iptables -w -t nat -A POSTROUTING -s "$pod" ! -d "$_st_cluster" ! -o tutti0 -j MASQUERADE
    # The VIP on a dummy device; kernels without CONFIG_DUMMY (ours) refuse the type: then on
    # lo, which routes the same (a /32 in the local table).
    local vdev=tutti0-svc
    if _nsd_in "$h" ip link add "$vdev" type dummy 2>/dev/null; then
      _nsd_in "$h" ip link set "$vdev" up
    else
      vdev=lo
    fi
    _nsd_in "$h" ip addr add "$_st_vip/32" dev "$vdev"
    echo "$h: service VIP $_st_vip/32 on $vdev"
  done
  # The inbound ACCEPT only on ts-n1 for now: ts-n2's is added after proving it is needed.
  _nsd_in ts-n1 iptables -w -I DOCKER-USER -o tutti0 -j ACCEPT

  echo "--- containers"
  local cgi='mkdir -p /www/cgi-bin && echo hello-from-$(hostname) >/www/index.html && printf "#!/bin/sh\necho Content-Type: text/plain\necho\necho \$REMOTE_ADDR\n" >/www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www'
  nsd_docker ts-n2 run -d --name web --hostname web2 --network tutti0 busybox sh -c "$cgi" >/dev/null
  nsd_docker ts-n1 run -d --name web --hostname web1 --network tutti0 -p 8080:80 busybox sh -c "$cgi" >/dev/null
  nsd_docker ts-n1 run -d --name cli --network tutti0 busybox sleep 600 >/dev/null
  local ip_web2 ip_cli ip_web1
  ip_web2=$(nsd_docker ts-n2 inspect -f '{{.NetworkSettings.Networks.tutti0.IPAddress}}' web)
  ip_web1=$(nsd_docker ts-n1 inspect -f '{{.NetworkSettings.Networks.tutti0.IPAddress}}' web)
  ip_cli=$(nsd_docker ts-n1 inspect -f '{{.NetworkSettings.Networks.tutti0.IPAddress}}' cli)
  echo "web on ts-n2: $ip_web2; web on ts-n1: $ip_web1 (published 8080); cli on ts-n1: $ip_cli"
  # a listener on the service VIP in ts-n1's netns (a userspace proxy stands here later), and
  # one in the root namespace, and one on ts-n2's node IP (a NodePort stands here later)
  (exec nsenter --net=/run/netns/ts-n1 -- bash -c "$(declare -f _st_peer_server); _st_peer_server $_st_vip 80") & _st_pids+=($!)
  (exec nsenter --net=/run/netns/ts-n2 -- bash -c "$(declare -f _st_peer_server); _st_peer_server ${_st_ip[ts-n2]} 30080") & _st_pids+=($!)
  _st_peer_server "$_st_net.1" 18080 & _st_pids+=($!)
  cexec() { nsd_docker ts-n1 exec cli "$@"; }
  eventually_http() { # <what> <cmd...>: first try may race the servers' start
    local k
    for k in $(seq 1 50); do "${@:2}" >/dev/null 2>&1 && return 0; sleep 0.1; done
    _st_fail "$1"
  }
  # busybox 1.35 (Debian) wget segfaults with -T: use the timeout applet instead.
  eventually_http "web on ts-n2 local" nsd_docker ts-n2 exec web timeout 2 wget -qO- http://127.0.0.1/

  echo "--- checks"
  if cexec timeout 2 wget -qO- "http://$ip_web2/" >/dev/null 2>&1; then
    _st_fail "pod->pod across nodes worked WITHOUT the DOCKER-USER accept on ts-n2 (FORWARD policy not DROP?)"
  fi
  _st_ok "without '-I DOCKER-USER -o tutti0 -j ACCEPT' on ts-n2, ts-n1's pod cannot reach ts-n2's pod (FORWARD policy DROP)"
  _nsd_in ts-n2 iptables -w -I DOCKER-USER -o tutti0 -j ACCEPT
  _st_expect "pod ts-n1 -> pod ts-n2 (http://$ip_web2/)" "hello-from-web2" "$(cexec timeout 5 wget -qO- "http://$ip_web2/")"
  _st_expect "source seen by ts-n2's pod (no masquerade between pod subnets)" "$ip_cli" "$(cexec timeout 5 wget -qO- "http://$ip_web2/cgi-bin/ip")"
  _st_expect "node ts-n1 (netns) -> pod ts-n2, source = ts-n1's node IP" "${_st_ip[ts-n1]}" \
    "$(_nsd_in ts-n1 curl -sf --max-time 5 "http://$ip_web2/cgi-bin/ip")"
  _st_expect "pod ts-n2 -> pod ts-n1 (reverse direction)" "$ip_web2" \
    "$(nsd_docker ts-n2 exec web timeout 5 wget -qO- "http://$ip_web1/cgi-bin/ip")"
  eventually_http "VIP listener" _nsd_in ts-n1 curl -sf --max-time 1 "http://$_st_vip/"
  _st_expect "pod ts-n1 -> service VIP $_st_vip on ts-n1's $vdev (source = pod IP)" "$ip_cli" "$(cexec timeout 5 wget -qO- "http://$_st_vip/")"
  # cluster DNS: the pod's resolv.conf names docker's embedded DNS (127.0.0.11, user-defined
  # networks), which forwards to --dns from inside the pod's netns, so the query reaches the VIP
  # with the pod's IP as source; containers joining with --network container:<pause> share it.
  _nsd_in ts-n1 bash -c "$(declare -f _st_dns_server); _st_dns_server $_st_vip" >"$NSD_RUN_BASE/ts-n1/dns.log" 2>&1 & _st_pids+=($!)
  nsd_docker ts-n1 run -d --name pause --network tutti0 --dns "$_st_vip" --dns-search default.svc.cluster.local \
    --dns-search svc.cluster.local --dns-option ndots:5 busybox sleep 600 >/dev/null
  local ip_pause got
  ip_pause=$(nsd_docker ts-n1 inspect -f '{{.NetworkSettings.Networks.tutti0.IPAddress}}' pause)
  got=$(nsd_docker ts-n1 run --rm --network container:pause busybox sh -c \
    'grep -q "^nameserver 127.0.0.11" /etc/resolv.conf && nslookup -type=a web.default.svc.cluster.local' 2>&1 || true)
  case "$got" in *"Address: 10.96.0.99"*) ;; *) _st_fail "DNS through the VIP from a pod: $got" ;; esac
  grep -q "^web.default.svc.cluster.local $ip_pause\$" "$NSD_RUN_BASE/ts-n1/dns.log" || _st_fail "DNS query not seen from $ip_pause: $(cat "$NSD_RUN_BASE/ts-n1/dns.log")"
  _st_ok "pod (container:pause) -> docker embedded DNS -> --dns $_st_vip: answered, query came from the pod IP $ip_pause"
  eventually_http "node port listener" _nsd_in ts-n2 curl -sf --max-time 1 "http://${_st_ip[ts-n2]}:30080/"
  _st_expect "pod ts-n1 -> ts-n2's node IP:30080 (masqueraded to ts-n1's node IP)" "${_st_ip[ts-n1]}" \
    "$(cexec timeout 5 wget -qO- "http://${_st_ip[ts-n2]}:30080/")"
  eventually_http "root listener" curl -sf --max-time 1 "http://$_st_net.1:18080/"
  _st_expect "pod ts-n1 -> root namespace $_st_net.1 (masqueraded to ts-n1's node IP)" "${_st_ip[ts-n1]}" \
    "$(cexec timeout 5 wget -qO- "http://$_st_net.1:18080/")"
  _st_expect "root namespace -> ts-n2 ${_st_ip[ts-n2]}:30080 (a listener in the node's netns, as a NodePort)" "$_st_net.1" \
    "$(curl -sf --max-time 5 "http://${_st_ip[ts-n2]}:30080/")"
  _st_expect "root namespace -> ts-n1 ${_st_ip[ts-n1]}:8080 (published port)" "hello-from-web1" \
    "$(curl -sf --max-time 5 "http://${_st_ip[ts-n1]}:8080/")"
  _st_expect "source seen behind the published port (root's bridge IP, DNAT only)" "$_st_net.1" \
    "$(curl -sf --max-time 5 "http://${_st_ip[ts-n1]}:8080/cgi-bin/ip")"
  _st_expect "netns ts-n2 -> ts-n1 ${_st_ip[ts-n1]}:8080 (published port from another node)" "hello-from-web1" \
    "$(_nsd_in ts-n2 curl -sf --max-time 5 "http://${_st_ip[ts-n1]}:8080/")"

  if [ "${NSD_SELFTEST_HOLD:-0}" = 1 ]; then
    echo "NSD_SELFTEST_HOLD=1: left running; tear down with: bash $0 selftest-down"
    return 0
  fi

  echo "--- teardown (ts-n1's dockerd killed -9 first, with containers running)"
  kill -9 "$(cat "$NSD_RUN_BASE/ts-n1/docker.pid")"
  sleep 0.5
  _st_kill_servers
  for h in $_st_hosts; do
    t0=$(_nsd_now_ms)
    nsd_stop "$h" || _st_fail "nsd_stop $h"
    echo "timing: nsd_stop $h $(($(_nsd_now_ms) - t0)) ms"
    nsd_stop "$h" || _st_fail "nsd_stop $h (second time)"
  done
  _st_down
  trap - EXIT
  local rest=""
  rest+=$(grep -E " ($NSD_DATA_BASE|$NSD_RUN_BASE)(/| )" /proc/self/mountinfo || true)
  rest+=$(ip -o link show | awk -F': ' '{print $2}' | grep '^ts-' || true)
  rest+=$(ip netns list | grep '^ts-' || true)
  rest+=$(pgrep -af "tutti-e2e/ts-" | grep -v pgrep || true)
  rest+=$(ls -d /sys/fs/cgroup/*/tutti-e2e/ts-* 2>/dev/null || true)
  rest+=$(ls -d "$NSD_DATA_BASE"/ts-* "$NSD_RUN_BASE"/ts-* 2>/dev/null || true)
  rest+=$(iptables -w -S | grep -- "$_st_br" || true)
  [ -z "$rest" ] || _st_fail "left behind: $rest"
  _st_ok "nothing left: no processes, mounts, cgroups, dirs, links, netns, iptables rules"
  echo "selftest passed in $(($(_nsd_now_ms) - t_all)) ms"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    selftest) nsd_selftest ;;
    selftest-down) _st_down ;;
    stop) shift; for h in "$@"; do nsd_stop "$h"; done ;;
    *) echo "usage: bash $0 selftest | selftest-down | stop <host>..." >&2; exit 2 ;;
  esac
fi
