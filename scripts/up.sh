#!/usr/bin/env bash
# One command: set up (Debian packages, npm dependencies), build, and run hubgate in front of the Harbor
# named in HARBOR_URL (environment or .env). Without one it starts the embedded sandbox stack (test/sandbox.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build

# glibc malloc setting for blob streaming, read at process start (src/runtime.ts MALLOC_ENV says why).
export MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_:-67108864}"

harbor="${HARBOR_URL:-}"
if [ -z "$harbor" ] && [ -f .env ]; then harbor=$(sed -n 's/^HARBOR_URL=//p' .env | tail -n 1); fi
if [ -z "$harbor" ]; then
  # No Harbor configured: the embedded sandbox stack (Harbor double + real docker-registry and redis-server +
  # a local OIDC issuer with ready users) instead — it prints the console URL and the users to sign in with.
  cat >&2 <<'MSG'
up: no HARBOR_URL (environment or .env), so starting the embedded SANDBOX stack: the Harbor double in front of a
real docker-registry, redis-server and a local OIDC issuer. For a real deployment copy .env.example to .env and
set at least HARBOR_URL, HARBOR_ADMIN_PASSWORD, OIDC_ISSUER, OIDC_AUDIENCE and HUBGATE_CREDENTIAL_SECRET.
MSG
  exec node node_modules/ts-node/dist/bin.js --transpile-only test/sandbox.ts
fi
exec node dist/src/main.js
