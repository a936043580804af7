# Sourced by scripts whose steps can take a while (dev.sh, temporal.sh).
#
#   step DESCRIPTION COMMAND...
#
# runs COMMAND in the foreground (so Ctrl-C reaches it). When it is still running after 5
# seconds, it prints "<prefix>: DESCRIPTION: Ns so far" to stderr, then every 15 s, and at
# the end how long it took; quick steps print nothing. PROGRESS_PREFIX is the prefix (the
# script's name). Returns COMMAND's status.

step_ticker=""

step() {
	local what=$1 start rc=0 took
	shift
	start=$(date +%s)
	(
		sleep 5
		while kill -0 "$$" 2>/dev/null; do
			echo "${PROGRESS_PREFIX:-progress}: $what: $(($(date +%s) - start))s so far" >&2
			sleep 15
		done
	) >/dev/null &
	step_ticker=$!
	"$@" || rc=$?
	stop_step_ticker
	took=$(($(date +%s) - start))
	if [ "$rc" != 0 ]; then
		echo "${PROGRESS_PREFIX:-progress}: $what: failed after ${took}s" >&2
	elif [ "$took" -ge 5 ]; then
		echo "${PROGRESS_PREFIX:-progress}: $what: done in ${took}s" >&2
	fi
	return "$rc"
}

# stop_step_ticker stops a running step's progress lines; traps call it on Ctrl-C.
stop_step_ticker() {
	if [ -n "$step_ticker" ]; then
		kill "$step_ticker" 2>/dev/null || true
		wait "$step_ticker" 2>/dev/null || true
		step_ticker=""
	fi
}
