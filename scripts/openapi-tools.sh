#!/usr/bin/env bash
# Installs the Node.js tools pinned in tools/openapi-lint (Redocly CLI, Spectral, Prism)
# from the npm registry when they are missing or older than its package-lock.json, and
# prints the directory of their executables. Used by lint-openapi.sh and by the test that
# replays the README through Prism (api/prism_test.go).
set -euo pipefail
dir="$(cd "$(dirname "$0")/.." && pwd)/tools/openapi-lint"
cd "$dir"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
	echo "openapi-tools.sh: installing the pinned OpenAPI tools (npm ci)" >&2
	# (SCARF_ANALYTICS: one of Prism's dependencies would otherwise report the install.)
	SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error >&2
	touch node_modules
fi
echo "$dir/node_modules/.bin"
