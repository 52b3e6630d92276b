#!/usr/bin/env bash
# One command: set up (Debian packages, npm dependencies), build, and run hubgate in front of the Harbor
# named in .env. Without a Harbor it says what to set, and how to start the complete local sandbox instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build

harbor="${HARBOR_URL:-}"
if [ -z "$harbor" ] && [ -f .env ]; then harbor=$(sed -n 's/^HARBOR_URL=//p' .env | tail -n 1); fi
if [ -z "$harbor" ]; then
  cat >&2 <<'MSG'
hubgate needs a Harbor 2.5.5 to front. Copy .env.example to .env and set at least:
  HARBOR_URL                 Harbor's URL (e.g. http://harbor-core)
  HARBOR_ADMIN_PASSWORD      password of hubgate's Harbor admin identity
  OIDC_ISSUER, OIDC_AUDIENCE your Keycloak realm issuer and hubgate's client id
  HUBGATE_CREDENTIAL_SECRET  at least 32 random characters (openssl rand -base64 48)
then run this command again.

No Harbor at hand? `npm run sandbox` starts a complete local stack (hubgate + a Harbor double + a real
docker-registry + redis-server) and prints URLs, a bearer token and registry credentials to try.
MSG
  exit 2
fi
exec node dist/src/main.js
