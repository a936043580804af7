#!/usr/bin/env bash
# `make test-topology`: the production shape on one machine (internal/topology): Temporal's
# own server on PostgreSQL, migrations on a throwaway database, two API and two worker
# processes under load while one of each is killed and started again. The pinned server is
# built first (scripts/temporal-server.sh install, minutes the first time); when it cannot
# be built the test skips and says why.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$(scripts/postgres.sh url)}
scripts/temporal.sh install >/dev/null
if ! scripts/temporal-server.sh install >/dev/null; then
	echo "test-topology: the Temporal server could not be built (see above); the test will skip" >&2
fi
THREADA_TOPOLOGY=1 go test -count=1 -timeout 10m -run '^TestTopology$' -v ./internal/topology
