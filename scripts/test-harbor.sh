#!/usr/bin/env bash
# Real-Harbor test mode: runs the end-to-end suites that make sense against a real Harbor 2.5.5 named by the
# environment, instead of the Harbor double that `npm test` (CI) uses. See "Testing against a real Harbor" in
# README.md and test/support/real-harbor.ts.
#
#   HUBGATE_TEST_HARBOR_URL=http://127.0.0.1:8881 HUBGATE_TEST_HARBOR_ADMIN_PASSWORD=Harbor12345 npm run test:harbor
#   npm run test:harbor -- test/e2e/registry.skopeo.test.ts        # one suite (any jest arguments)
#
# Optional:
#   HUBGATE_TEST_HARBOR_ADMIN_USERNAME   default admin
#   HUBGATE_TEST_HARBOR_RESET            a command run once before the suites, e.g. the kit's
#                                        "/work/shared/harbor-2.5.5/real/reset.sh /work/harbor-home" (about 20 s)
#
#   HUBGATE_TEST_HARBOR_WIPE             owned (default): each suite first deletes the robot$hg-… robots hubgate
#                                        made and the projects they hold; all: every project but library too
#
# Point it at a Harbor that exists for tests (one run at a time): the suites create and delete projects and
# robots with fixed names.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${HUBGATE_TEST_HARBOR_URL:-}" ]; then
  echo "test:harbor: SKIPPED — no real Harbor given. Set HUBGATE_TEST_HARBOR_URL (Harbor core, e.g. http://127.0.0.1:8881)"
  echo "            and HUBGATE_TEST_HARBOR_ADMIN_PASSWORD to run the end-to-end suites against it (README.md,"
  echo "            \"Testing against a real Harbor\"). npm test keeps using the Harbor double."
  exit 0
fi
if [ -z "${HUBGATE_TEST_HARBOR_ADMIN_PASSWORD:-}" ]; then
  echo "test:harbor: HUBGATE_TEST_HARBOR_URL is set but HUBGATE_TEST_HARBOR_ADMIN_PASSWORD is not" >&2
  exit 2
fi

url="${HUBGATE_TEST_HARBOR_URL%/}"
info=$(curl -fsS --max-time 10 "$url/api/v2.0/systeminfo" 2>&1) || {
  echo "test:harbor: the Harbor at $url does not answer GET /api/v2.0/systeminfo: $info" >&2
  exit 2
}
version=$(printf '%s' "$info" | sed -n 's/.*"harbor_version":"\([^"]*\)".*/\1/p')
echo "test:harbor: real Harbor ${version:-(version unknown)} at $url — each suite first deletes earlier hubgate test data (HUBGATE_TEST_HARBOR_WIPE=${HUBGATE_TEST_HARBOR_WIPE:-owned})"

if [ -n "${HUBGATE_TEST_HARBOR_RESET:-}" ]; then
  echo "test:harbor: resetting it first: $HUBGATE_TEST_HARBOR_RESET"
  bash -c "$HUBGATE_TEST_HARBOR_RESET"
fi

# The suites that make sense against a real Harbor. Left out: harbor-double.* (they test the double itself),
# redis.coordination (no Harbor), process (Harbor-independent start-up checks; its drain test injects a hang).
suites=(
  test/e2e/workspaces.e2e.test.ts
  test/e2e/ownership.faults.e2e.test.ts
  test/e2e/registry.skopeo.test.ts
  test/e2e/registry.clients.test.ts
  test/e2e/registry.edges.test.ts
  test/e2e/registry.security.test.ts
  test/e2e/credential-key.e2e.test.ts
  test/e2e/images.e2e.test.ts
  test/e2e/uploads.e2e.test.ts
  test/e2e/limits.e2e.test.ts
  test/e2e/policies.e2e.test.ts
)
# Arguments: test files replace that list; options (-t …) go to jest as they are.
files=()
opts=()
for a in "$@"; do
  case "$a" in
    -*) opts+=("$a") ;;
    *) if [ "${#opts[@]}" -gt 0 ] && [[ "${opts[-1]}" =~ ^-(t|-testNamePattern)$ ]]; then opts+=("$a"); else files+=("$a"); fi ;;
  esac
done
if [ "${#files[@]}" -gt 0 ]; then suites=("${files[@]}"); fi

echo "test:harbor: suites: ${suites[*]}"
# (--selectProjects takes several values: it goes after the files.)
exec npx jest --runInBand --forceExit --verbose "${suites[@]}" --selectProjects e2e "${opts[@]}"
