#!/usr/bin/env bash
# `make dev`: runs Threada locally. Finds or starts PostgreSQL, creates and migrates the
# database, starts the Temporal dev server, creates a demo tenant and key on the first run
# (kept in .dev/demo.env), then runs a local echo receiver, the worker and the API, with
# their metrics on. Steps that take more than a few seconds say how long they have been
# running. Ctrl-C stops everything it started.
#
# One at a time per checkout: .dev/dev.lock is held while it runs and .dev/dev.pid says
# by whom; a second `make dev` says so (PID and addresses) and exits, touching nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p .dev bin

say() { echo "dev: $*" >&2; }
PROGRESS_PREFIX=dev
# shellcheck source=progress.sh
. scripts/progress.sh

export HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:7233}
export TEMPORAL_UI_URL=${TEMPORAL_UI_URL:-http://127.0.0.1:8233}
echo_addr=${ECHO_ADDR:-127.0.0.1:9080}
api_metrics=${API_METRICS_ADDR:-127.0.0.1:9464}
worker_metrics=${WORKER_METRICS_ADDR:-127.0.0.1:9465}

# The lock is taken before anything else happens, so a second instance changes nothing:
# not the binaries, the database, the demo key nor the Temporal server of the first.
lock=.dev/dev.lock pidfile=.dev/dev.pid
already_running() {
	local pid="unknown" addresses=""
	if [ -s "$pidfile" ]; then
		pid=$(sed -n 1p "$pidfile")
		addresses=$(sed -n '2,$p' "$pidfile")
	fi
	say "make dev is already running in this checkout (PID $pid); not starting a second one."
	[ -n "$addresses" ] && echo "$addresses" | sed 's/^/dev:   /' >&2
	say "stop it with Ctrl-C in its terminal (or kill $pid), then run make dev again."
	exit 1
}
if command -v flock >/dev/null; then
	exec 9>"$lock"
	flock -n 9 || already_running
else
	# Without flock(1): the PID file alone, checked for a live process.
	if [ -s "$pidfile" ] && kill -0 "$(sed -n 1p "$pidfile")" 2>/dev/null; then
		already_running
	fi
fi
cat >"$pidfile" <<EOF
$$
API          http://$HTTP_ADDR (metrics http://$api_metrics/metrics)
worker       metrics http://$worker_metrics/metrics
Temporal     $TEMPORAL_ADDRESS (UI $TEMPORAL_UI_URL)
receiver     http://$echo_addr
EOF

pids=()
cleanup() {
	stop_step_ticker
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -f .dev/temporal.pid ]; then kill "$(cat .dev/temporal.pid)" 2>/dev/null || true; rm -f .dev/temporal.pid; fi
	rm -f "$pidfile"
}
trap cleanup EXIT INT TERM

server=$(step "finding or starting PostgreSQL" scripts/postgres.sh url)
export DATABASE_URL=${DATABASE_URL:-${server%%/postgres\?*}/threada?sslmode=disable}
# Local receivers live on loopback, which action calls may not reach in production.
export ACTIONS_EGRESS_ALLOW_CIDRS=${ACTIONS_EGRESS_ALLOW_CIDRS:-127.0.0.0/8}

# The key that seals webhook signing secrets; made once for this checkout.
if [ -z "${SECRETS_KEY:-}" ]; then
	[ -s .dev/secrets.key ] || (umask 077 && head -c 32 /dev/urandom | base64 >.dev/secrets.key)
	SECRETS_KEY=$(cat .dev/secrets.key)
	export SECRETS_KEY
fi

# The ops credential of the API's Temporal payload codec endpoint, which the dev server's
# UI is pointed at to show sealed payloads; made once for this checkout.
if [ -z "${CODEC_TOKEN:-}" ]; then
	[ -s .dev/codec.token ] || (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >.dev/codec.token)
	CODEC_TOKEN=$(cat .dev/codec.token)
	export CODEC_TOKEN
fi
export TEMPORAL_UI_CODEC_ENDPOINT="http://$HTTP_ADDR/ops/codec/$CODEC_TOKEN"

step "building bin/api and bin/worker (a minute or two the first time, seconds after)" go build -o bin/ ./api ./worker
step "migrating the threada database" bin/api migrate >/dev/null
# The Temporal CLI is built on first use (about 5 minutes; temporal.sh says so as it goes).
scripts/temporal.sh start 9>&-

demo=.dev/demo.env
if [ -f "$demo" ] && grep -q WEBHOOK_SECRET "$demo" && (set -a; . "$demo"; bin/api key verify >/dev/null 2>&1); then
	say "using the demo tenant and key in $demo"
else
	tenant_json=$(bin/api tenant create --name "Demo" --actions-base-url "http://$echo_addr")
	field() { sed -n "s/.*\"$1\": \"\(.*\)\".*/\1/p"; }
	tenant=$(echo "$tenant_json" | field tenant_id)
	signing=$(echo "$tenant_json" | field signing_secret)
	secret=$(bin/api key create --tenant "$tenant" --name "demo" --scopes support.read,support.write,support.actions | field api_key)
	(umask 077 && printf 'THREADA_API_KEY=%s\nTHREADA_TENANT_ID=%s\nWEBHOOK_SECRET=%s\n' "$secret" "$tenant" "$signing" >"$demo")
	say "created the demo tenant $tenant; its API key is shown only this once:"
	echo "" >&2
	echo "    THREADA_API_KEY=$secret" >&2
	echo "" >&2
	say "it is also in $demo (git-ignored): run 'source $demo' in your shell."
	say "(that file also sets THREADA_TENANT_ID, WEBHOOK_SECRET and DATABASE_URL)"
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
	say "created the demo admin key for the console; it is shown only this once:"
	echo "" >&2
	echo "    THREADA_ADMIN_KEY=$admin_key" >&2
	echo "" >&2
	say "it is also in $demo (THREADA_ADMIN_KEY)."
fi

# So that `source .dev/demo.env` also points the CLI (bin/api) at this database. Every line
# exports its variable, so the commands run after sourcing it see them.
sed -i -E '/^(export )?DATABASE_URL=/d; s/^([A-Z_]+=)/export \1/' "$demo" && echo "export DATABASE_URL=$DATABASE_URL" >>"$demo"

# The children do not hold the lock: if this script is killed, the next make dev may start.
(set -a; . "$demo"; exec bin/worker echo-receiver --addr "$echo_addr" --fail-first "${ECHO_FAIL_FIRST:-0}") 9>&- &
pids+=($!)
METRICS_ADDR=$worker_metrics bin/worker 9>&- &
pids+=($!)
METRICS_ADDR=$api_metrics bin/api serve 9>&- &
pids+=($!)

# ready URL: 0 once URL answers 200.
ready() { (exec 3<>"/dev/tcp/${1%%:*}/${1##*:}") 2>/dev/null && curl -fsS -o /dev/null "http://$1/readyz" 2>/dev/null; }
wait_ready() {
	for _ in $(seq 1 300); do
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
		ready "$worker_metrics" && ready "$HTTP_ADDR" && return 0
		sleep 0.2
	done
	return 1
}
if command -v curl >/dev/null; then
	step "waiting for the worker and the API to be ready" wait_ready ||
		say "the worker or the API is not ready yet; see their logs above"
fi
say "echo receiver on http://$echo_addr (prints what it receives)"
say "Temporal UI on $TEMPORAL_UI_URL"
say "API on http://$HTTP_ADDR/api/v1/public (OpenAPI at /api/v1/public/openapi.json)"
say "admin console on http://$HTTP_ADDR/admin (sign in with THREADA_ADMIN_KEY from $demo)"
say "metrics: API http://$api_metrics/metrics, worker http://$worker_metrics/metrics"
say "running; Ctrl-C stops everything"
wait -n "${pids[@]}"
