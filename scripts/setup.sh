#!/usr/bin/env bash
# Installs what hubgate and its tests need on a fresh Debian machine: the Debian packages the tests and the
# sandbox run for real (docker-registry, redis-server, skopeo, nginx, prometheus's promtool, openssl, curl,
# systemd-analyze, the registry clients the end-to-end tests drive, chromium for the console's browser test), then
# the npm dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(docker-registry redis-server skopeo nginx-light prometheus openssl ca-certificates)
# curl: the Range and security e2e tests' HTTP client; systemd: `systemd-analyze verify` of deploy/hubgate.service.
PACKAGES+=(curl systemd)
# Real registry clients driven by the end-to-end tests (see docs/registry.md).
PACKAGES+=(containerd podman buildah)
# The docker CLI is used only for `docker login` (no daemon). Machines of this kind ship a docker CLI in
# /usr/local/bin; where none is on PATH, Debian's docker.io brings one. With CI=true the tests fail on any tool
# missing (test/support/tools.ts lists each tool's package), so everything they run is installed here.
command -v docker >/dev/null || PACKAGES+=(docker.io)
# Debian's Chromium for the console's browser test (driven by playwright-core; nothing is downloaded at test time).
PACKAGES+=(chromium)
# ApacheBench, the HEAD load generator of `npm run bench` (bench/passthrough.ts); not used by the tests.
PACKAGES+=(apache2-utils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
  fi
fi
# Debian starts some daemons on install where an init system runs; tests start their own on random ports.
for svc in redis-server nginx prometheus docker-registry; do
  if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
