#!/usr/bin/env bash
# `make dev`: runs Threada locally. Finds or starts PostgreSQL, creates and migrates the
# database, creates a demo tenant and key on the first run (kept in .dev/demo.env), then
# runs the API in the foreground. Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .dev bin

server=$(scripts/postgres.sh url)
export DATABASE_URL=${DATABASE_URL:-${server%%/postgres\?*}/threada?sslmode=disable}
export HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}

echo "dev: building" >&2
go build -o bin/api ./api

bin/api migrate >/dev/null

demo=.dev/demo.env
if [ -f "$demo" ] && (set -a; . "$demo"; bin/api key verify >/dev/null 2>&1); then
	echo "dev: using the demo key in $demo" >&2
else
	tenant=$(bin/api tenant create --name "Demo" | sed -n 's/.*"tenant_id": "\(.*\)".*/\1/p')
	key=$(bin/api key create --tenant "$tenant" --name "demo" --scopes support.read,support.write,support.actions)
	secret=$(echo "$key" | sed -n 's/.*"api_key": "\(.*\)".*/\1/p')
	umask 077
	printf 'THREADA_API_KEY=%s\nTHREADA_TENANT_ID=%s\n' "$secret" "$tenant" >"$demo"
	echo "dev: created demo tenant $tenant and its key; it is shown only this once:" >&2
	echo "" >&2
	echo "    THREADA_API_KEY=$secret" >&2
	echo "" >&2
	echo "dev: also saved in $demo (git-ignored): run 'source $demo' in your shell." >&2
fi

echo "dev: API on http://$HTTP_ADDR/api/v1/public (OpenAPI at /api/v1/public/openapi.json)" >&2
exec bin/api serve
