#!/usr/bin/env bash
# Build the container images tutti's tests and examples use, from Debian packages only (no
# image registry is reachable on our machines), and load them into the local Docker Engine:
#
#   tutti/pause:latest  the sandbox container: a static C program (scripts/images/pause.c)
#                       in an otherwise empty image; exits on SIGTERM/SIGINT, reaps zombies.
#   busybox:latest      /bin/busybox from busybox-static with its applet links,
#                       /etc/passwd (root, nobody), CMD sh.
#   nginx:latest        a minimal Debian bookworm root file system (debootstrap minbase) with
#                       nginx; logs to stdout/stderr, serves the default page on port 80,
#                       CMD nginx -g 'daemon off;'.
#
# Idempotent: an image already loaded with the current recipe (label io.tutti.recipe) is kept;
# downloaded packages and the nginx root file system are cached under $TUTTI_IMAGE_CACHE
# (default /var/cache/tutti-images), so a rerun after `docker system prune -a` takes seconds.
# Needs root (debootstrap) and a running engine (scripts/docker.sh).
# Usage: scripts/images.sh [--force]
set -euo pipefail
cd "$(dirname "$0")"

RECIPE=1 # bump when an image's recipe changes, to rebuild it everywhere
CACHE="${TUTTI_IMAGE_CACHE:-/var/cache/tutti-images}"
SUITE=bookworm
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { printf '== images: %s\n' "$*"; }
die() { printf 'error: images: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "building images needs root (debootstrap, device nodes)"
timeout 10 docker info >/dev/null 2>&1 || die "Docker is not answering: run scripts/docker.sh first"
mkdir -p "$CACHE"

apt_updated=0
ensure_pkg() { # ensure_pkg <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2"
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null \
    || die "apt-get install $2 failed"
}

# The Debian mirror apt already uses (deb822 .sources or one-line sources.list).
debian_mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

# up_to_date <image>: loaded, built by this recipe, and not forced.
up_to_date() {
  [ "$FORCE" = 0 ] || return 1
  [ "$(docker image inspect --format '{{index .Config.Labels "io.tutti.recipe"}}' "$1" 2>/dev/null)" = "$RECIPE" ]
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# loaded <tag> <previous image id>: report, and drop the image this one replaced (kept if a
# container still uses it).
loaded() {
  log "loaded $1 ($(docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1e6}'))"
  if [ -n "$2" ] && [ "$2" != "$(image_id "$1")" ]; then docker rmi "$2" >/dev/null 2>&1 || true; fi
}

# import_rootfs <dir> <tag> <docker import --change args...>
import_rootfs() {
  local dir=$1 tag=$2 old
  shift 2
  old=$(image_id "$tag")
  tar --numeric-owner -C "$dir" -c . \
    | docker import --change "LABEL io.tutti.recipe=$RECIPE" "$@" - "$tag" >/dev/null \
    || die "docker import $tag failed"
  loaded "$tag" "$old"
}

build_pause() {
  local tag=tutti/pause:latest
  if up_to_date "$tag"; then log "$tag is up to date"; return; fi
  log "building $tag (static C program)"
  ensure_pkg gcc gcc
  local work
  work=$(mktemp -d)
  gcc -static -O2 -s -o "$work/pause" images/pause.c || die "gcc -static pause.c failed (libc6-dev?)"
  import_rootfs "$work" "$tag" --change 'ENTRYPOINT ["/pause"]'
  rm -rf "$work"
}

build_busybox() {
  local tag=busybox:latest
  if up_to_date "$tag"; then log "$tag is up to date"; return; fi
  log "building $tag from busybox-static"
  local deb
  deb=$(ls "$CACHE"/busybox-static_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    (cd "$CACHE" && apt-get download -qq -o APT::Sandbox::User=root busybox-static) || die "apt-get download busybox-static failed"
    deb=$(ls "$CACHE"/busybox-static_*.deb | head -n1)
  fi
  local work root
  work=$(mktemp -d)
  root="$work/rootfs"
  dpkg-deb -x "$deb" "$work/pkg"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,home,proc,sys,dev,run}
  cp "$work/pkg/bin/busybox" "$root/bin/busybox"
  # Every applet as a link to /bin/busybox, at the path busybox itself names.
  "$work/pkg/bin/busybox" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done
  chmod 1777 "$root/tmp" "$root/var/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  import_rootfs "$root" "$tag" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]'
  rm -rf "$work"
}

build_nginx() {
  local tag=nginx:latest
  if up_to_date "$tag"; then log "$tag is up to date"; return; fi
  local tarball="$CACHE/nginx-rootfs-$SUITE-r$RECIPE.tar"
  if [ ! -s "$tarball" ]; then
    ensure_pkg debootstrap debootstrap
    local mirror work
    mirror=$(debian_mirror)
    work=$(mktemp -d "$CACHE/nginx-build.XXXXXX")
    mkdir -p "$CACHE/debs"
    log "debootstrap --variant=minbase --include=nginx $SUITE from $mirror (a few minutes the first time)"
    # --cache-dir keeps the downloaded .debs, so a rebuild does not download again.
    debootstrap --variant=minbase --include=nginx --cache-dir="$CACHE/debs" \
      "$SUITE" "$work/rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed; see $CACHE/debootstrap.log"; }
    local root="$work/rootfs"
    log "configuring nginx (logs to stdout/stderr, daemon off)"
    ln -sf /dev/stdout "$root/var/log/nginx/access.log"
    ln -sf /dev/stderr "$root/var/log/nginx/error.log"
    # Slim: no package caches, docs or man pages in the image.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
    # Docker provides these per container.
    : >"$root/etc/hostname"
    rm -f "$root/etc/resolv.conf"
    log "saving the root file system to $tarball"
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$work"
  else
    log "using cached root file system $tarball"
  fi
  log "importing $tag"
  local old
  old=$(image_id "$tag")
  docker import --change "LABEL io.tutti.recipe=$RECIPE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'EXPOSE 80' \
    --change 'CMD ["nginx", "-g", "daemon off;"]' \
    "$tarball" "$tag" >/dev/null || die "docker import $tag failed"
  loaded "$tag" "$old"
}

start=$(date +%s)
build_pause
build_busybox
build_nginx
log "done in $(($(date +%s) - start)) s: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(tutti/pause|busybox|nginx):' | tr '\n' ' ')"
