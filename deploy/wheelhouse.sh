#!/usr/bin/env bash
# Fill deploy/wheelhouse/ with every wheel the image needs, so that `docker build` installs offline from it.
#
#   deploy/wheelhouse.sh [PYTHON [PYTHON_IMAGE]]
#
# Two passes. First PYTHON (default python3) on this host downloads the wheels of the image's platform
# (CPython 3.11, x86-64 Linux), taking them from pip's configured indexes and find-links first (a local
# mirror, if the host has one: torch and its CUDA libraries are several GB), else from PyPI. Then, when a
# Docker engine answers, pip inside PYTHON_IMAGE (default $PYTHON_IMAGE or python:3.11-slim) completes the
# set with what that exact interpreter's markers ask for (for example `async-timeout` below Python 3.11.3),
# reusing the wheels already there. The folder is ignored by git; the Dockerfile copies it.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
image="${2:-${PYTHON_IMAGE:-python:3.11-slim}}"
dest=deploy/wheelhouse

platforms=(--platform linux_x86_64 --platform manylinux1_x86_64 --platform manylinux2010_x86_64 --platform manylinux2014_x86_64)
for minor in $(seq 5 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done

requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
"$python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
  >"$requirements"
echo "setuptools>=77" >>"$requirements"   # the build backend of `pip wheel .` in the image

# pip retries each request (--retries) and gives up on a stalled one (--timeout, seconds).
retry=(--retries 10 --timeout 60)
"$python" -m pip download --quiet --disable-pip-version-check "${retry[@]}" --dest "$dest" --only-binary=:all: \
  --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none "${platforms[@]}" \
  -r "$requirements"
if docker image inspect "$image" >/dev/null 2>&1; then
  cp "$requirements" "$dest/.requirements.txt"
  # The host's network and CA bundle, so that a TLS-inspecting proxy trusted here is trusted there too.
  certs=()
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    certs=(-v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro -e PIP_CERT=/host-ca.crt)
  fi
  docker run --rm --network host --user "$(id -u):$(id -g)" -e HOME=/tmp "${certs[@]}" \
    -v "$PWD/$dest:/wheelhouse" "$image" \
    pip download --quiet --disable-pip-version-check "${retry[@]}" --dest /wheelhouse --find-links /wheelhouse \
      --only-binary=:all: -r /wheelhouse/.requirements.txt
  rm -f "$dest/.requirements.txt"
else
  echo "wheelhouse: image $image not found; skipped the check against its interpreter" >&2
fi
echo "wheelhouse: $(ls "$dest"/*.whl | wc -l) wheels, $(du -sh "$dest" | cut -f1) in $dest"
