#!/usr/bin/env bash
# Temporal's own server on PostgreSQL, the shape Threada runs on in production, on one
# machine: the pinned server and its SQL tool, built from the Go module proxy into .dev/bin
# (the first build takes several minutes, later ones come from Go's build cache). `make dev`
# and `make test` use the dev server instead (scripts/temporal.sh); the topology test and
# `make bench` use this one.
#
#   scripts/temporal-server.sh install   install temporal-server and temporal-sql-tool if missing;
#                                        print the server's path
#   scripts/temporal-server.sh setup     create the two databases if missing and bring them to
#                                        the server's schema (safe to run again)
#   scripts/temporal-server.sh config    write the server's config into the state dir; print its
#                                        frontend address
#   scripts/temporal-server.sh register  wait until the frontend answers, then register namespace
#                                        default and the search attributes, and wait until
#                                        both can be used (with the pinned Temporal CLI,
#                                        installed by scripts/temporal.sh)
#   scripts/temporal-server.sh start     setup, config, start every service in the background,
#                                        register; print the frontend address
#   scripts/temporal-server.sh stop      stop the server started with that state dir
#
# Options, or the variable in brackets:
#   --pg-url URL            postgres://user[:password]@host[:port] [TEMPORAL_PG_URL,
#                           default postgres://postgres@127.0.0.1:5432]; a database in it is ignored
#   --pg-host, --pg-port, --pg-user, --pg-password   override parts of that URL
#                           (the password is best given as TEMPORAL_PG_PASSWORD: it is read
#                           from the environment and never written to the state dir)
#   --db NAME               [TEMPORAL_DB, default temporal]
#   --visibility-db NAME    [TEMPORAL_VISIBILITY_DB, default temporal_visibility]
#   --state DIR             config, pid and log [TEMPORAL_SERVER_STATE, default .dev/temporal-server]
#   --port N                frontend gRPC [TEMPORAL_PORT, default 7233]; the other services
#                           sit beside it as in Temporal's samples (history N+1, matching N+2,
#                           worker N+6, membership N-300.., HTTP N+10); 0 picks free ports
#   --history-port N, --matching-port N, --worker-port N   override the gRPC ports of the others
#   --shards N              history shards [TEMPORAL_HISTORY_SHARDS, default 4]; fixed once the
#                           database is set up
set -euo pipefail

version=v1.29.1
root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir="$root/.dev/bin"
server="$bin_dir/temporal-server"
sql_tool="$bin_dir/temporal-sql-tool"
stamp="$bin_dir/temporal-server.version"
namespace=default
# The search attributes the workflows set, all Keyword (workflows.SearchAttributeNames; a
# test in internal/temporaltest compares the two).
search_attributes=(TenantId TicketId ActionType Destination ActionStatus AutomationId)

say() { echo "temporal-server.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install() {
	if [ -x "$server" ] && [ -x "$sql_tool" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
		echo "$server"
		return
	fi
	say "installing the Temporal server $version and its SQL tool into .dev/bin (the first build takes several minutes)"
	mkdir -p "$bin_dir"
	local tmp
	tmp=$(mktemp -d)
	GOBIN="$tmp" go install "go.temporal.io/server/cmd/server@$version" "go.temporal.io/server/cmd/tools/sql@$version"
	mv "$tmp/server" "$server"
	mv "$tmp/sql" "$sql_tool"
	rmdir "$tmp"
	echo "$version" >"$stamp"
	echo "$server"
}

# schema_dir finds the versioned PostgreSQL schema shipped in the server's module.
schema_dir() {
	local dir
	dir="$(go env GOMODCACHE)/go.temporal.io/server@$version/schema/postgresql/v12/$1/versioned"
	if [ ! -d "$dir" ]; then
		go mod download "go.temporal.io/server@$version" >/dev/null 2>&1 || true
	fi
	[ -d "$dir" ] || die "no schema at $dir (is go.temporal.io/server@$version in the module cache?)"
	echo "$dir"
}

pg_url=${TEMPORAL_PG_URL:-postgres://postgres@127.0.0.1:5432}
pg_host="" pg_port="" pg_user="" pg_password=${TEMPORAL_PG_PASSWORD:-}
db=${TEMPORAL_DB:-temporal}
visibility_db=${TEMPORAL_VISIBILITY_DB:-temporal_visibility}
state=${TEMPORAL_SERVER_STATE:-$root/.dev/temporal-server}
frontend_port=${TEMPORAL_PORT:-7233}
history_port="" matching_port="" worker_port=""
shards=${TEMPORAL_HISTORY_SHARDS:-4}

parse_args() {
	local host="" port="" user=""
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || die "$1 needs a value"
		case "$1" in
		--pg-url) pg_url=$2 ;;
		--pg-host) host=$2 ;;
		--pg-port) port=$2 ;;
		--pg-user) user=$2 ;;
		--pg-password) pg_password=$2 ;;
		--db) db=$2 ;;
		--visibility-db) visibility_db=$2 ;;
		--state) state=$2 ;;
		--port) frontend_port=$2 ;;
		--history-port) history_port=$2 ;;
		--matching-port) matching_port=$2 ;;
		--worker-port) worker_port=$2 ;;
		--shards) shards=$2 ;;
		*) die "unknown option $1" ;;
		esac
		shift 2
	done
	local re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^:/?]+)(:([0-9]+))?(/[^?]*)?(\?.*)?$'
	[[ $pg_url =~ $re ]] || die "--pg-url must look like postgres://user[:password]@host[:port]"
	pg_user=$(urldecode "${BASH_REMATCH[3]:-postgres}")
	if [ -z "$pg_password" ] && [ -n "${BASH_REMATCH[5]}" ]; then
		pg_password=$(urldecode "${BASH_REMATCH[5]}")
	fi
	pg_host=${BASH_REMATCH[6]}
	pg_port=${BASH_REMATCH[8]:-5432}
	pg_host=${host:-$pg_host} pg_port=${port:-$pg_port} pg_user=${user:-$pg_user}
	for name in "$db" "$visibility_db"; do
		[[ $name =~ ^[a-z_][a-z0-9_]*$ ]] || die "database names are lower-case letters, digits and _; got $name"
	done
	mkdir -p "$state"
	state=$(cd "$state" && pwd)
}

urldecode() { printf '%b' "${1//%/\\x}"; }

# sql runs the server's SQL tool against database $1.
sql() {
	local database=$1
	shift
	SQL_PASSWORD="$pg_password" "$sql_tool" --plugin postgres12 --ep "$pg_host" -p "$pg_port" -u "$pg_user" --db "$database" "$@"
}

setup() {
	install >/dev/null
	local name kind
	for kind in temporal visibility; do
		name=$db
		[ "$kind" = visibility ] && name=$visibility_db
		say "database $name on $pg_host:$pg_port: creating if missing, updating its schema"
		sql "$name" create-database >>"$state/setup.log" 2>&1 || die "creating database $name failed; see $state/setup.log"
		sql "$name" setup-schema -v 0.0 >>"$state/setup.log" 2>&1 || die "setting up $name failed; see $state/setup.log"
		sql "$name" update-schema -d "$(schema_dir "$kind")" >>"$state/setup.log" 2>&1 || die "updating $name failed; see $state/setup.log"
	done
}

taken=" "
# pick_port sets port_out to $1 if given (not 0), else to a free port not picked before,
# below 32768: the server stores membership ports as PostgreSQL smallint.
pick_port() {
	if [ -n "$1" ] && [ "$1" != 0 ]; then
		port_out=$1
	else
		while :; do
			port_out=$((20000 + RANDOM % 12000))
			case "$taken" in *" $port_out "*) continue ;; esac
			answers "$port_out" || break
		done
	fi
	taken+="$port_out "
}

config() {
	local f_grpc f_member f_http h_grpc h_member m_grpc m_member w_grpc w_member p=$frontend_port
	# With a fixed frontend port the others are fixed too, laid out as in Temporal's sample
	# configs (7233: history 7234, matching 7235, worker 7239, membership 6933-6939, HTTP
	# 7243): a restarted server then finds its own addresses in the membership table rather
	# than spending 30 s trying stale ones.
	if [ "$p" != 0 ]; then
		[ "$p" -ge 1024 ] && [ "$p" -le 32700 ] || die "--port must be from 1024 to 32700 (membership ports are stored as smallint), or 0"
		f_member=$((p - 300)) f_http=$((p + 10)) h_member=$((p - 299)) m_member=$((p - 298)) w_member=$((p - 294))
		history_port=${history_port:-$((p + 1))} matching_port=${matching_port:-$((p + 2))} worker_port=${worker_port:-$((p + 6))}
	fi
	pick_port "$p" && f_grpc=$port_out
	answers "$f_grpc" && die "something already answers on 127.0.0.1:$f_grpc; choose another --port"
	pick_port "${f_member:-}" && f_member=$port_out
	pick_port "${f_http:-}" && f_http=$port_out
	pick_port "$history_port" && h_grpc=$port_out
	pick_port "${h_member:-}" && h_member=$port_out
	pick_port "$matching_port" && m_grpc=$port_out
	pick_port "${m_member:-}" && m_member=$port_out
	pick_port "$worker_port" && w_grpc=$port_out
	pick_port "${w_member:-}" && w_member=$port_out
	mkdir -p "$state/config"
	# The password is read from TEMPORAL_PG_PASSWORD when the server starts (the file is a
	# template), so it never lands on disk.
	cat >"$state/config/threada.yaml" <<EOF
# enable-template
# Written by scripts/temporal-server.sh config; rewritten on every start.
log:
  stdout: true
  level: warn

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: $shards
  datastores:
    postgres-default:
      sql:
        pluginName: postgres12
        databaseName: $db
        connectAddr: "$pg_host:$pg_port"
        connectProtocol: tcp
        user: "$pg_user"
        password: {{ env "TEMPORAL_PG_PASSWORD" | quote }}
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    postgres-visibility:
      sql:
        pluginName: postgres12
        databaseName: $visibility_db
        connectAddr: "$pg_host:$pg_port"
        connectProtocol: tcp
        user: "$pg_user"
        password: {{ env "TEMPORAL_PG_PASSWORD" | quote }}
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: 1h

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1

services:
  frontend:
    rpc:
      grpcPort: $f_grpc
      membershipPort: $f_member
      httpPort: $f_http
      bindOnIP: 127.0.0.1
  history:
    rpc:
      grpcPort: $h_grpc
      membershipPort: $h_member
      bindOnIP: 127.0.0.1
  matching:
    rpc:
      grpcPort: $m_grpc
      membershipPort: $m_member
      bindOnIP: 127.0.0.1
  worker:
    rpc:
      grpcPort: $w_grpc
      membershipPort: $w_member
      bindOnIP: 127.0.0.1

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:$f_grpc"
      httpAddress: "127.0.0.1:$f_http"

dcRedirectionPolicy:
  policy: noop

# Priority and fairness between tenants (see the file).
dynamicConfigClient:
  filepath: "$root/deploy/temporal-dynamicconfig.yaml"
  pollInterval: 10s
EOF
	echo "127.0.0.1:$f_grpc" >"$state/address"
	cat "$state/address"
}

cli() {
	[ -x "$bin_dir/temporal" ] || "$root/scripts/temporal.sh" install >/dev/null
	"$bin_dir/temporal" --address "$(cat "$state/address")" "$@"
}

register() {
	local addr pid=""
	addr=$(cat "$state/address" 2>/dev/null) || die "no $state/address: run config (or start) first"
	[ -f "$state/server.pid" ] && pid=$(cat "$state/server.pid")
	say "waiting for the frontend on $addr"
	for _ in $(seq 1 300); do
		cli operator cluster health >/dev/null 2>&1 && break
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			die "the server exited; see $state/server.log"
		fi
		sleep 0.2
	done
	cli operator cluster health >/dev/null 2>&1 || die "the frontend did not answer within 60 s; see $state/server.log"
	local out
	if ! out=$(cli operator namespace create --namespace "$namespace" --retention 72h 2>&1); then
		[[ $out == *"already"* ]] || die "registering namespace $namespace: $out"
	fi
	# A new namespace reaches the frontend's and history's caches within a few seconds.
	for _ in $(seq 1 150); do
		cli operator namespace describe --namespace "$namespace" >/dev/null 2>&1 && break
		sleep 0.2
	done
	# One attribute per call: given several names, the CLI registers only the first.
	local sa query=""
	for sa in "${search_attributes[@]}"; do
		query+="${query:+ AND }$sa = 'ready'"
		for _ in $(seq 1 50); do
			if out=$(cli operator search-attribute create --namespace "$namespace" --name "$sa" --type Keyword 2>&1) || [[ $out == *"already"* ]]; then
				break
			fi
			sleep 0.2
		done
	done
	# Ready when a query on every attribute is accepted: the namespace and its attributes are
	# in the frontend's cache, so starts carrying them are accepted too.
	for _ in $(seq 1 150); do
		if cli workflow list --namespace "$namespace" --query "$query" --limit 1 >/dev/null 2>&1; then
			say "namespace $namespace with search attributes ${search_attributes[*]} is ready on $addr"
			return
		fi
		sleep 0.2
	done
	die "namespace $namespace or its search attributes did not become usable: $(cli workflow list --namespace "$namespace" --query "$query" --limit 1 2>&1)"
}

start() {
	if [ -f "$state/server.pid" ] && kill -0 "$(cat "$state/server.pid")" 2>/dev/null; then
		say "already running (pid $(cat "$state/server.pid")) on $(cat "$state/address")"
		cat "$state/address"
		return
	fi
	install >/dev/null
	setup
	config >/dev/null
	say "starting the Temporal server $version on $(cat "$state/address") ($shards history shards, PostgreSQL $pg_host:$pg_port/$db), log in $state/server.log"
	TEMPORAL_PG_PASSWORD="$pg_password" nohup "$server" --root "$state" --config config --env threada --allow-no-auth \
		start --service frontend --service history --service matching --service worker \
		>"$state/server.log" 2>&1 &
	echo $! >"$state/server.pid"
	register
	cat "$state/address"
}

stop() {
	local pid
	pid=$(cat "$state/server.pid" 2>/dev/null) || {
		say "no server.pid in $state: nothing to stop"
		return
	}
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		say "stopped pid $pid"
	fi
	rm -f "$state/server.pid"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
install) install ;;
setup) parse_args "$@" && setup ;;
config) parse_args "$@" && config ;;
register) parse_args "$@" && register ;;
start) parse_args "$@" && start ;;
stop) parse_args "$@" && stop ;;
*)
	say "usage: temporal-server.sh install|setup|config|register|start|stop [options]; see the top of the script"
	exit 2
	;;
esac
