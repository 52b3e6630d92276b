#!/usr/bin/env bash
# Validate and unit-test the Prometheus alert rules (CI calls this).
#   promtool check rules  -> syntax, PromQL, templates of every rule
#   promtool test rules   -> the firing / non-firing cases in hubgate-alerts.test.yml
# Also checks that the Helm chart's copy of the rules is identical to the plain file.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v promtool >/dev/null 2>&1; then
  echo "check-rules: promtool not found on PATH (Debian/Ubuntu: apt-get install prometheus)" >&2
  exit 127
fi

promtool check rules deploy/prometheus/hubgate-alerts.yml
promtool test rules deploy/prometheus/hubgate-alerts.test.yml

if ! cmp -s deploy/prometheus/hubgate-alerts.yml helm/hubgate/files/hubgate-alerts.yml; then
  echo "check-rules: helm/hubgate/files/hubgate-alerts.yml differs from deploy/prometheus/hubgate-alerts.yml" >&2
  echo "             copy it: cp deploy/prometheus/hubgate-alerts.yml helm/hubgate/files/hubgate-alerts.yml" >&2
  exit 1
fi
echo "check-rules: OK"
