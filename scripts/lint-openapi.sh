#!/usr/bin/env bash
# Lints api/openapi.yaml with the tools integrators run on it: Redocly CLI's `recommended`
# ruleset and Spectral's `spectral:oas`, at the versions pinned in tools/openapi-lint
# (installed from the npm registry into its node_modules on first use). Errors fail;
# warnings are printed (the README lists the ones that remain, and why).
# Without Node.js it skips, saying so, unless REQUIRE_OPENAPI_LINT=1 (.ci/run sets it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/tools/openapi-lint"
say() { echo "lint-openapi.sh: $*" >&2; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ "${REQUIRE_OPENAPI_LINT:-}" = 1 ]; then
		say "Node.js and npm are needed to lint the OpenAPI document (apt-get install nodejs npm)"
		exit 1
	fi
	say "SKIPPED: Node.js is not installed, so the OpenAPI document was not linted (install nodejs and npm to run Redocly and Spectral)"
	exit 0
fi
"$root/scripts/openapi-tools.sh" >/dev/null
cd "$dir"
export NO_UPDATE_NOTIFIER=1 REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
echo "Redocly (recommended):"
rc=0
out=$(npx --no-install redocly lint "$root/api/openapi.yaml" --config redocly.yaml --format=summary 2>&1) || rc=$?
# (Its banner about Node.js 20's end of life is dropped; Node 20 is what Debian ships.)
echo "$out" | grep -v -e '║' -e '╔' -e '╚' -e '^$' || true
[ "$rc" = 0 ] || { say "Redocly found errors (details: cd tools/openapi-lint && npx redocly lint ../../api/openapi.yaml)"; exit 1; }
echo "Spectral (spectral:oas):"
npx --no-install spectral lint "$root/api/openapi.yaml" --ruleset .spectral.yaml --fail-severity error
