#!/usr/bin/env bash
# `make bench`: the benchmark reports (see docs/benchmarks.md), on throwaway databases of a
# real PostgreSQL. Rate limits and other throttles are off; nothing else runs meanwhile.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-$(scripts/postgres.sh url)}
export THREADA_BENCH=1
# The actions table runs on the dev server and on Temporal's own server on PostgreSQL.
scripts/temporal.sh install >/dev/null
scripts/temporal-server.sh install >/dev/null ||
	echo "bench.sh: the Temporal server could not be built; the actions table covers the dev server only" >&2
echo "Yardstick for the ticket writes below: pgbench, 16 clients, the same rows (scripts/pgbench/)"
pgbench_out=$(scripts/pgbench.sh)
echo "$pgbench_out"
PGBENCH_CREATES=$(echo "$pgbench_out" | sed -nE 's/^\| pgbench, .*, cte \| ([0-9]+) creates.*/\1/p')
PGBENCH_TWO_ROW=$(echo "$pgbench_out" | sed -nE 's/^\| pgbench, .*, two-row tx \| ([0-9]+) creates.*/\1/p')
export PGBENCH_CREATES PGBENCH_TWO_ROW
go test -count=1 -timeout 30m -run '^TestBenchReport$' -v ./api 2>&1 | grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS$'
# The admin console's pages (issue 13), in a tenant with 1,000 automations and 100,000 actions.
go test -count=1 -timeout 10m -run '^TestBenchConsole$' -v ./api 2>&1 | grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS$'
echo
echo "Authentication and rate limiting per request, warm key cache (Go benchmark)"
go test -count=1 -run '^$' -bench '^BenchmarkAuthChain$' -benchmem ./api
echo
echo "Rule evaluation: N enabled automations with typical conditions against one event (ns/automation)"
go test -count=1 -run '^$' -bench '^BenchmarkEvaluate$' -benchmem ./internal/rules
echo
echo "Rule budget: the costliest conditions that compile, each run until the budget stops it"
go test -count=1 -run '^$' -bench '^BenchmarkCostliestCondition$' -benchmem ./internal/rules
echo
echo "Fairness: tenant B's set_fields rule while tenant A's worst allowed rule works through 200 events (one worker)"
go test -count=1 -run '^TestTenantsTakeTurns$' -v ./internal/automations | grep -e 'latency' -e FAIL
echo
echo "Outbox catch-up by rule kind (issue 21): the engine consuming a backlog of 20,000 ticket.created events, each its own ticket"
echo "| the tenant's rule on ticket.created | workers | events | time | events/s | PostgreSQL CPU per event | engine CPU per event |"
echo "|---|---|---|---|---|---|---|"
go test -count=1 -timeout 20m -run '^TestOutboxCatchUp$' -v ./internal/automations | grep -e '^|' -e FAIL
