#!/usr/bin/env bash
# The pgbench yardstick of `make bench`: 16 clients write the rows of a ticket create (see
# scripts/pgbench/) into a throwaway database migrated like the project's, for DURATION
# seconds, as an explicit transaction and as one statement. Prints a table row for each.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
base=${TEST_DATABASE_URL:-$(scripts/postgres.sh url)}
duration=${DURATION:-15}
db=threada_pgbench_$$
url=$(echo "$base" | sed -E "s#/[^/?]*(\?|$)#/$db\1#")
psql -q "$base" -c "CREATE DATABASE $db"
trap 'psql -q "$base" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
DATABASE_URL=$url go run ./api migrate >/dev/null
psql -q "$url" -c "INSERT INTO tenants (id, name, created_at) VALUES ('ten_pgbench', 'pgbench', now())"
for shape in tx cte; do
	tps=$(pgbench -n -c 16 -j 2 -T "$duration" -f "scripts/pgbench/ticket_create_$shape.sql" "$url" 2>/dev/null |
		sed -nE 's/^tps = ([0-9.]+).*/\1/p')
	echo "| pgbench, ticket + message + event, $shape | ${tps%.*} creates/s |"
done
# Issue 21's yardstick, as its reporters ran it: two rows, 16 clients, -j 2, 10 s.
tps=$(pgbench -n -c 16 -j 2 -T "${TWO_ROW_DURATION:-10}" -f scripts/pgbench/ticket_create_two_row.sql "$url" 2>/dev/null |
	sed -nE 's/^tps = ([0-9.]+).*/\1/p')
echo "| pgbench, ticket + message, two-row tx | ${tps%.*} creates/s |"
