#!/usr/bin/env bash
# `make dev`: runs Threada locally. Finds or starts PostgreSQL, creates and migrates the
# database, starts the Temporal dev server, creates a demo tenant and key on the first run
# (kept in .dev/demo.env), then runs a local echo receiver, the worker and the API.
# Ctrl-C stops everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .dev bin

server=$(scripts/postgres.sh url)
export DATABASE_URL=${DATABASE_URL:-${server%%/postgres\?*}/threada?sslmode=disable}
export HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:7233}
export TEMPORAL_UI_URL=${TEMPORAL_UI_URL:-http://127.0.0.1:8233}
# Local receivers live on loopback, which action calls may not reach in production.
export ACTIONS_EGRESS_ALLOW_CIDRS=${ACTIONS_EGRESS_ALLOW_CIDRS:-127.0.0.0/8}
echo_addr=${ECHO_ADDR:-127.0.0.1:9080}

# The key that seals webhook signing secrets; made once for this checkout.
if [ -z "${SECRETS_KEY:-}" ]; then
	[ -s .dev/secrets.key ] || (umask 077 && head -c 32 /dev/urandom | base64 >.dev/secrets.key)
	SECRETS_KEY=$(cat .dev/secrets.key)
	export SECRETS_KEY
fi

echo "dev: building" >&2
go build -o bin/ ./api ./worker
bin/api migrate >/dev/null
scripts/temporal.sh start

demo=.dev/demo.env
if [ -f "$demo" ] && grep -q WEBHOOK_SECRET "$demo" && (set -a; . "$demo"; bin/api key verify >/dev/null 2>&1); then
	echo "dev: using the demo tenant and key in $demo" >&2
else
	tenant_json=$(bin/api tenant create --name "Demo" --actions-base-url "http://$echo_addr")
	field() { sed -n "s/.*\"$1\": \"\(.*\)\".*/\1/p"; }
	tenant=$(echo "$tenant_json" | field tenant_id)
	signing=$(echo "$tenant_json" | field signing_secret)
	secret=$(bin/api key create --tenant "$tenant" --name "demo" --scopes support.read,support.write,support.actions | field api_key)
	(umask 077 && printf 'THREADA_API_KEY=%s\nTHREADA_TENANT_ID=%s\nWEBHOOK_SECRET=%s\n' "$secret" "$tenant" "$signing" >"$demo")
	echo "dev: created the demo tenant $tenant; its API key is shown only this once:" >&2
	echo "" >&2
	echo "    THREADA_API_KEY=$secret" >&2
	echo "" >&2
	echo "dev: it is also in $demo (git-ignored): run 'source $demo' in your shell." >&2
	echo "dev: (that file also sets THREADA_TENANT_ID, WEBHOOK_SECRET and DATABASE_URL)" >&2
fi

# The admin console's demo key: every scope of the demo tenant, made once (also for a demo
# env from before the console) and kept in the demo env as THREADA_ADMIN_KEY.
admin_key=$(set -a; . "$demo"; echo "${THREADA_ADMIN_KEY:-}")
if [ -z "$admin_key" ] || ! THREADA_API_KEY="$admin_key" bin/api key verify >/dev/null 2>&1; then
	demo_tenant=$(set -a; . "$demo"; echo "$THREADA_TENANT_ID")
	admin_key=$(bin/api key create --tenant "$demo_tenant" --name "console admin" \
		--scopes admin.keys,admin.automations,admin.actions,admin.settings,admin.audit,support.read,support.write,support.actions |
		sed -n 's/.*"api_key": "\(.*\)".*/\1/p')
	sed -i -E '/^(export )?THREADA_ADMIN_KEY=/d' "$demo"
	(umask 077 && echo "THREADA_ADMIN_KEY=$admin_key" >>"$demo")
	echo "dev: created the demo admin key for the console; it is shown only this once:" >&2
	echo "" >&2
	echo "    THREADA_ADMIN_KEY=$admin_key" >&2
	echo "" >&2
	echo "dev: it is also in $demo (THREADA_ADMIN_KEY)." >&2
fi

# So that `source .dev/demo.env` also points the CLI (bin/api) at this database. Every line
# exports its variable, so the commands run after sourcing it see them.
sed -i -E '/^(export )?DATABASE_URL=/d; s/^([A-Z_]+=)/export \1/' "$demo" && echo "export DATABASE_URL=$DATABASE_URL" >>"$demo"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -f .dev/temporal.pid ]; then kill "$(cat .dev/temporal.pid)" 2>/dev/null || true; rm -f .dev/temporal.pid; fi
}
trap cleanup EXIT INT TERM

(set -a; . "$demo"; exec bin/worker echo-receiver --addr "$echo_addr" --fail-first "${ECHO_FAIL_FIRST:-0}") &
pids+=($!)
bin/worker &
pids+=($!)
echo "dev: echo receiver on http://$echo_addr (prints what it receives)" >&2
echo "dev: Temporal UI on $TEMPORAL_UI_URL" >&2
echo "dev: API on http://$HTTP_ADDR/api/v1/public (OpenAPI at /api/v1/public/openapi.json)" >&2
echo "dev: admin console on http://$HTTP_ADDR/admin (sign in with THREADA_ADMIN_KEY from $demo)" >&2
bin/api serve &
pids+=($!)
wait -n "${pids[@]}"
