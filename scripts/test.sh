#!/usr/bin/env bash
# `make test`: the whole suite, with the race detector, against a real PostgreSQL (found or
# started by scripts/postgres.sh). Tests make and drop their own databases. The output is
# plain `go test`'s (each package's line, every failing test's whole output), and the last
# line counts the tests run, passed, failed and skipped (tools/testsummary).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .dev/bin

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$(scripts/postgres.sh url)}
export TEMPORAL_CLI=${TEMPORAL_CLI:-$(scripts/temporal.sh install)}
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
# The OpenAPI document as integrators' tools see it (skipped, saying so, without Node.js);
# TestREADMEThroughPrism then puts Prism's validating proxy in front of the real API.
scripts/lint-openapi.sh
# axe-core for the console's browser test, which runs in Chromium when it is installed and
# skips, saying why, when it is not (.ci/run installs it and sets CONSOLE_BROWSER_TEST=required).
scripts/console-web.sh install

summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
finish() { # status
	echo "make test: took $((SECONDS / 60))m$((SECONDS % 60))s"
	cat "$summary"
	exit "$1"
}
go build -o .dev/bin/testsummary ./tools/testsummary
status=0
# The two-tenant load test (TestTenantsShareTheEngine) times latencies, so it runs after
# the suite, alone on the machine and without the race detector, in the same summary.
{
	go test -json -race -count=1 -timeout 10m "$@" ./...
	if [ $# -eq 0 ]; then
		THREADA_LOAD_TEST=1 go test -json -count=1 -timeout 10m -run '^TestTenantsShareTheEngine$' ./api
	fi
} 2>&1 | .dev/bin/testsummary -summary "$summary" || status=$?
[ "$status" = 0 ] || finish 1
# A short fuzzing run past the checked-in seeds (api/testdata/fuzz): arbitrary bodies,
# queries and page tokens through the real app never get a 5xx. FUZZTIME=0 skips it.
if [ "${FUZZTIME:-15s}" != "0" ] && [ $# -eq 0 ]; then
	go test -count=1 -run '^$' -fuzz '^FuzzRequests$' -fuzztime "${FUZZTIME:-15s}" ./api || finish 1
fi
finish 0
