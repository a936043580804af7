#!/usr/bin/env bash
# Finds a PostgreSQL server for `make dev` and `make test`, starting a project-local one
# when none answers, and prints its maintenance URL (database "postgres").
#
#   scripts/postgres.sh url     print the URL, starting the local cluster if needed
#   scripts/postgres.sh local   the same, always with the project-local cluster
#   scripts/postgres.sh stop    stop the local cluster, if this script started one
#
# Order: $PG_SERVER_URL if set; else 127.0.0.1:5432; else a cluster under .dev/pg on port
# 55432, made with the initdb/pg_ctl found on PATH or in /usr/lib/postgresql/*/bin (as the
# postgres user when run as root, since initdb refuses to run as root).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
local_dir="$root/.dev/pg"
local_port=55432

say() { echo "postgres.sh: $*" >&2; }

answers() { # host port
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h "$1" -p "$2" -t 3
	else
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
	fi
}

find_bin() { # name
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
		return
	fi
	local c
	for c in /usr/lib/postgresql/*/bin/"$1"; do
		[ -x "$c" ] && { echo "$c"; return; }
	done
	return 1
}

as_owner() { # run a command as the owner of the local cluster
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start_local() {
	local initdb pg_ctl
	initdb=$(find_bin initdb) && pg_ctl=$(find_bin pg_ctl) || {
		say "no PostgreSQL answers on 127.0.0.1:5432 and initdb/pg_ctl are not installed."
		say "Install PostgreSQL 15 (Debian: apt-get install postgresql) or set PG_SERVER_URL."
		exit 1
	}
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		say "running as root without a 'postgres' user to run initdb as; create one or run as another user."
		exit 1
	fi
	mkdir -p "$local_dir"
	[ "$(id -u)" = 0 ] && chown postgres "$local_dir"
	if [ ! -f "$local_dir/data/PG_VERSION" ]; then
		say "creating a local cluster in $local_dir/data"
		as_owner "$initdb" -D "$local_dir/data" -U postgres --auth=trust -E UTF8 >"$local_dir/initdb.log" 2>&1 || {
			cat "$local_dir/initdb.log" >&2
			exit 1
		}
	fi
	say "starting the local cluster on 127.0.0.1:$local_port"
	as_owner "$pg_ctl" -D "$local_dir/data" -l "$local_dir/server.log" -w -t 60 \
		-o "-h 127.0.0.1 -p $local_port -k $local_dir -c max_connections=200" start >/dev/null || {
		cat "$local_dir/server.log" >&2
		exit 1
	}
}

case "${1:-url}" in
url)
	if [ -n "${PG_SERVER_URL:-}" ]; then
		echo "$PG_SERVER_URL"
	elif answers 127.0.0.1 5432; then
		echo "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	else
		answers 127.0.0.1 "$local_port" || start_local
		echo "postgres://postgres@127.0.0.1:$local_port/postgres?sslmode=disable"
	fi
	;;
local)
	answers 127.0.0.1 "$local_port" || start_local
	echo "postgres://postgres@127.0.0.1:$local_port/postgres?sslmode=disable"
	;;
stop)
	if [ -f "$local_dir/data/postmaster.pid" ]; then
		as_owner "$(find_bin pg_ctl)" -D "$local_dir/data" -m fast stop
	fi
	;;
*)
	say "usage: postgres.sh url|stop"
	exit 2
	;;
esac
