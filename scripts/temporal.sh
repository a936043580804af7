#!/usr/bin/env bash
# The Temporal dev server for `make dev` and `make test`, from the Temporal CLI pinned below
# and built from the Go module proxy into .dev/bin (the first build takes about 5 minutes
# on 2 cores, and says so while it runs; later ones come from Go's build cache).
#
#   scripts/temporal.sh install   install the pinned CLI if it is missing; print its path
#   scripts/temporal.sh start     start a dev server on 127.0.0.1:7233 (UI on :8233) with the
#                                 project's search attributes, priority and fairness between
#                                 tenants (deploy/temporal-dynamicconfig.yaml) and state in
#                                 .dev/temporal.db, unless one already answers there
set -euo pipefail

version=v1.5.1
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.dev/bin/temporal"
stamp="$root/.dev/bin/temporal.version"
port=${TEMPORAL_PORT:-7233}
ui_port=${TEMPORAL_UI_PORT:-8233}

say() { echo "temporal.sh: $*" >&2; }
PROGRESS_PREFIX=temporal.sh
# shellcheck source=progress.sh
. "$root/scripts/progress.sh"
trap stop_step_ticker EXIT

install() {
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
		echo "$bin"
		return
	fi
	say "building the Temporal CLI $version from the Go module proxy into .dev/bin: the first build takes about 5 minutes (later ones come from Go's build cache)"
	mkdir -p "$root/.dev/bin"
	step "building the Temporal CLI $version (about 5 minutes the first time)" \
		env GOBIN="$root/.dev/bin" go install "github.com/temporalio/cli/cmd/temporal@$version"
	echo "$version" >"$stamp"
	echo "$bin"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	if answers "$port"; then
		say "something already answers on 127.0.0.1:$port; using it as Temporal"
		return
	fi
	install >/dev/null
	say "starting the Temporal dev server on 127.0.0.1:$port (UI http://127.0.0.1:$ui_port), log in .dev/temporal.log"
	# The UI reads sealed payloads through the API's codec endpoint (make dev sets it).
	codec=()
	if [ -n "${TEMPORAL_UI_CODEC_ENDPOINT:-}" ]; then codec=(--ui-codec-endpoint "$TEMPORAL_UI_CODEC_ENDPOINT"); fi
	"$bin" server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui_port" "${codec[@]}" \
		--db-filename "$root/.dev/temporal.db" \
		--search-attribute TenantId=Keyword --search-attribute TicketId=Keyword --search-attribute ActionType=Keyword \
		--search-attribute Destination=Keyword --search-attribute ActionStatus=Keyword --search-attribute AutomationId=Keyword \
		--dynamic-config-value matching.useNewMatcher=true --dynamic-config-value matching.enableFairness=true \
		--dynamic-config-value matching.numTaskqueueReadPartitions=1 --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
		>"$root/.dev/temporal.log" 2>&1 &
	echo $! >"$root/.dev/temporal.pid"
	step "waiting for the Temporal dev server to answer" wait_port "$port" || {
		say "the dev server did not come up; see .dev/temporal.log"
		exit 1
	}
}

# wait_port waits up to 60 s for something to answer on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 1 300); do
		answers "$1" && return
		sleep 0.2
	done
	return 1
}

case "${1:-}" in
install) install ;;
start) start ;;
*)
	say "usage: temporal.sh install|start"
	exit 2
	;;
esac
