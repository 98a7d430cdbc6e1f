#!/usr/bin/env bash
# Build the stack's two base images from Debian packages, for a site that cannot reach Docker Hub.
#
#   sudo deploy/airgap-base.sh                 # builds stylewave-base/python:3.11-slim and stylewave-base/redis:7
#   export PYTHON_IMAGE=stylewave-base/python:3.11-slim REDIS_IMAGE=stylewave-base/redis:7
#   docker-compose build && docker-compose up   # the compose file passes both on (build arg, Redis image)
#
# It needs root (debootstrap), a Docker engine, and a Debian mirror (DEBIAN_MIRROR, default deb.debian.org);
# nothing is pulled from a registry. The images stand in for the official ones:
#   python  Debian bookworm's Python 3.11 in a venv on PATH (`python`, `pip`), LANG=C.UTF-8, CMD python3
#           (like python:3.11-slim; the interpreter is Debian's 3.11.2 instead of the latest 3.11.x);
#   redis   Debian bookworm's Redis 7.0 with the official image's entrypoint behaviour: runs as user `redis`,
#           umask 0077, WORKDIR/VOLUME /data, and protected mode off, as the official image compiles it,
#           so that other containers on the compose network can connect (like redis:7-alpine).
# Options: --python-tag NAME, --redis-tag NAME, --official-names (also tag python:3.11-slim and
# redis:7-alpine, so an unmodified compose file uses them), --rebuild (debootstrap again).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
python_tag="stylewave-base/python:3.11-slim"
redis_tag="stylewave-base/redis:7"
debian_tag="stylewave-base/debian:bookworm-slim"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
official=0
rebuild=0

while [ $# -gt 0 ]; do
  case "$1" in
    --python-tag) python_tag="$2"; shift 2 ;;
    --redis-tag) redis_tag="$2"; shift 2 ;;
    --official-names) official=1; shift ;;
    --rebuild) rebuild=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

say() { echo "airgap-base: $*"; }

if ! docker info >/dev/null 2>&1; then
  echo 'airgap-base: no Docker engine answers (install docker.io and start dockerd; make deploy-test does both)' >&2
  exit 1
fi

# 1. A minimal Debian root file system, imported as an image (skipped when it exists already).
if [ "$rebuild" = 1 ] || ! docker image inspect "$debian_tag" >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "airgap-base: debootstrap needs root" >&2; exit 1; fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    apt-get -o Acquire::Retries=5 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -qq debootstrap >/dev/null
  fi
  rootfs="$(mktemp -d /var/tmp/stylewave-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  say "debootstrap bookworm (minbase) from $mirror"
  # Three tries: a mirror hiccup mid-download is the usual failure, and debootstrap does not retry.
  for try in 1 2 3; do
    if debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then break; fi
    tail -20 "$rootfs.log" >&2
    if [ "$try" = 3 ]; then say "debootstrap failed 3 times (its log ends above)"; exit 1; fi
    say "debootstrap failed (try $try of 3); again in 20 s"
    rm -rf "$rootfs" && mkdir "$rootfs" && sleep 20
  done
  rm -f "$rootfs.log"
  # What debian:bookworm-slim does: no docs, man pages or translations from later installs, no
  # recommends, an empty apt cache, and the security suite next to the release.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::Retries "5";
EOF
  # As Debian's own Docker images: packages must not try to start services inside a container.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$rootfs/usr/sbin/policy-rc.d"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* \
         "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  say "importing $debian_tag"
  tar -C "$rootfs" --numeric-owner -c . | docker import --change 'CMD ["bash"]' - "$debian_tag" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
fi

# 2. The two bases, each a short Dockerfile on top of it (apt reaches the Debian mirror from the build).
say "building $python_tag"
docker build -q --build-arg BASE="$debian_tag" -t "$python_tag" -f "$here/airgap/python.Dockerfile" "$here/airgap"
say "building $redis_tag"
docker build -q --build-arg BASE="$debian_tag" -t "$redis_tag" -f "$here/airgap/redis.Dockerfile" "$here/airgap"

if [ "$official" = 1 ]; then
  docker tag "$python_tag" python:3.11-slim
  docker tag "$redis_tag" redis:7-alpine
  say "also tagged python:3.11-slim and redis:7-alpine"
fi

cat <<EOF
airgap-base: done. Build and run the stack on these bases with:
  export PYTHON_IMAGE=$python_tag REDIS_IMAGE=$redis_tag
  docker-compose build && docker-compose up
EOF
