#!/usr/bin/env bash
# Make a Docker Engine answer on /var/run/docker.sock, for the docker runtime driver's tests
# and the end-to-end scripts. Idempotent: does nothing when `docker info` already works.
#
#   1. installs docker.io, runc and iptables from Debian if dockerd is missing;
#   2. writes /etc/docker/daemon.json (if absent): overlay2 on ext4 here, vfs as a fallback;
#   3. starts dockerd in the background (log: /var/log/dockerd.log) and waits up to 30 s.
#
# Facts about our machines: cgroups v1 (hybrid), no systemd, so dockerd uses cgroupfs and we
# start it by hand; crun refuses hybrid cgroups, runc (Debian's docker.io default) works.
# Once dockerd runs, the iptables FORWARD policy is DROP (see design/READING.md).
set -euo pipefail

log() { printf '== docker: %s\n' "$*"; }
die() { printf 'error: docker: %s\n' "$*" >&2; exit 1; }

answering() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answering; then
  log "engine already answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "starting dockerd needs root (run as root, or start Docker yourself)"

if ! command -v dockerd >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 \
  || ! command -v iptables >/dev/null 2>&1; then
  log "installing docker.io, runc, iptables from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
  apt-get install -y -qq --no-install-recommends docker.io runc iptables containerd >/dev/null \
    || die "apt-get install docker.io runc iptables failed"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd is still missing after installing docker.io"
command -v docker >/dev/null 2>&1 || die "the docker client is missing"

# Storage driver: overlay2 needs the overlay filesystem and a backing fs that supports it
# (ext4/xfs here). vfs always works but copies whole layers (slow, large): fallback only.
if [ ! -f /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  driver=vfs
  if grep -qw overlay /proc/filesystems; then driver=overlay2; fi
  log "writing /etc/docker/daemon.json (storage-driver $driver)"
  cat >/etc/docker/daemon.json <<EOF
{
  "storage-driver": "$driver",
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "2" }
}
EOF
fi

start_dockerd() {
  log "starting dockerd (log: /var/log/dockerd.log)"
  # A stale pid file from a dockerd that died keeps a new one from starting.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  # setsid: its own session, so killing the caller's process group leaves it running.
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
  disown || true
}

wait_answering() {
  for _ in $(seq 1 30); do
    if answering; then return 0; fi
    sleep 1
  done
  return 1
}

if ! pgrep -x dockerd >/dev/null 2>&1; then
  start_dockerd
fi
if ! wait_answering; then
  # overlay2 can fail on unusual backing filesystems: retry once with vfs if that is the cause.
  if grep -q 'overlay' /var/log/dockerd.log 2>/dev/null && grep -q '"overlay2"' /etc/docker/daemon.json \
    && ! pgrep -x dockerd >/dev/null 2>&1; then
    log "overlay2 failed; retrying with the vfs storage driver"
    sed -i 's/"overlay2"/"vfs"/' /etc/docker/daemon.json
    start_dockerd
    wait_answering || die "dockerd did not answer within 30 s; see /var/log/dockerd.log"
  else
    tail -n 20 /var/log/dockerd.log >&2 || true
    die "dockerd did not answer within 30 s; see /var/log/dockerd.log"
  fi
fi

log "engine answering: $(docker info --format 'server {{.ServerVersion}}, storage {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}, runtime {{.DefaultRuntime}}' 2>/dev/null)"
