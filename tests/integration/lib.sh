# shellcheck shell=bash disable=SC2034  # STOP_RC, EXIT_RC, ... are for the callers
# Shared helpers of the integration tests (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"
#   lib_init NAME     # mktemp directory /tmp/NAME.XXXXXX in $TMP, traps
#
# Provides process bookkeeping (spawn, stop_proc, kill_list and the traps
# that kill whatever a test started), scenario runner (run_scenario prints
# PASS/FAIL per scenario; $FAILED counts failures), polling (wait_for,
# check_live), fd/mapping accounting (settle_counts, expect_counts) and DPDK
# testpmd helpers (start_testpmd and its log parsers).
#
# Every process started with spawn is recorded and killed by the traps; all
# files live in $TMP (kept, and its path printed, when a scenario fails;
# UVDPA_KEEP_TMP=1 keeps it always; an interrupted run removes it).

# lib_init NAME: sets TMP, RUN_ID, FAILED and the traps.
lib_init() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	RUN_ID=${TMP##*/}
	RUN_ID=${RUN_ID//./-}
	: >"$TMP/pids"
	: >"$TMP/prefixes"
	FAILED=0
	trap global_cleanup EXIT
	trap 'echo "interrupted" >&2; exit 130' INT TERM
}

# ---- process bookkeeping ----

# True while PID runs (a zombie waiting to be reaped counts as gone).
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[[ -n $st && $st != Z ]]
}

# kill_list FILE: SIGTERM to every live PID in FILE, SIGKILL after 3 s.
kill_list() {
	local pid i any
	[[ -s $1 ]] || return 0
	while read -r pid; do
		if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
	done <"$1"
	for ((i = 0; i < 30; i++)); do
		any=0
		while read -r pid; do
			alive "$pid" && any=1
		done <"$1"
		((any)) || break
		sleep 0.1
	done
	while read -r pid; do
		if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
	done <"$1"
}

global_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	kill_list "$TMP/pids"
	# DPDK runtime directories of the testpmd runs (named after RUN_ID only).
	local p
	while read -r p; do
		[[ -n $p ]] && rm -rf "/var/run/dpdk/$p" "${XDG_RUNTIME_DIR:-/nonexistent}/dpdk/$p"
	done <"$TMP/prefixes"
	if ((FAILED)) || [[ ${UVDPA_KEEP_TMP:-0} == 1 ]]; then
		echo "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}

# spawn NAME CMD...: runs CMD in the background, output in $TMP/NAME.log;
# sets LAST_PID.
spawn() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	echo "$LAST_PID" >>"$TMP/pids"
	echo "$LAST_PID" >>"$TMP/scenario.pids"
	LIVE[$LAST_PID]=$name
}

# Processes that must stay up while a scenario waits for something: wait_for
# fails at once when one of them dies instead of running into its timeout.
declare -A LIVE=()
unwatch() { unset "LIVE[$1]"; }
check_live() {
	local pid rc
	for pid in "${!LIVE[@]}"; do
		alive "$pid" && continue
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		local name=${LIVE[$pid]}
		unwatch "$pid"
		fail "$name (pid $pid) exited unexpectedly with status $rc"
	done
}

# Failure inside a scenario: message, log tails, non-zero exit of the
# scenario's subshell.
fail() {
	echo "    error: $*" >&2
	local f
	for f in "$TMP"/"$SCEN"-*.log "$TMP"/"$SCEN"-*.rec; do
		[[ -f $f ]] || continue
		echo "    --- tail of ${f##*/}" >&2
		tail -n 12 "$f" | sed 's/^/    | /' | tr -d '\033' >&2
	done
	exit 1
}

info() { echo "    $*"; }

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.1 s.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		if "$@"; then
			return 0
		fi
		check_live
		sleep 0.1
	done
	fail "timed out after ${secs}s waiting for: $what"
}

# stop_proc PID SIGNAL SECONDS: signals PID, waits for it to exit, reaps it and
# sets STOP_RC to its exit status.
stop_proc() {
	local pid=$1 sig=$2 secs=$3 i
	unwatch "$pid"
	kill "-$sig" "$pid" 2>/dev/null || true
	# (stderr off: bash would report a deliberately killed job as "Killed")
	{
		for ((i = 0; i < secs * 10; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
	} 2>/dev/null
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		fail "pid $pid did not exit within ${secs}s of SIG$sig"
	fi
	STOP_RC=0
	wait "$pid" 2>/dev/null || STOP_RC=$?
}

# wait_exit PID SECONDS WHAT: waits for a process that ends by itself, reaps
# it and sets EXIT_RC; kills it and fails after SECONDS.
wait_exit() {
	local pid=$1 secs=$2 what=$3 i
	unwatch "$pid"
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || break
		check_live
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		fail "$what (pid $pid) still running after ${secs}s"
	fi
	EXIT_RC=0
	wait "$pid" 2>/dev/null || EXIT_RC=$?
}

# Runs a scenario function in a subshell with its own cleanup; prints PASS/FAIL.
run_scenario() {
	local fn=$1 title=$2 rc=0
	echo "[$fn] $title"
	(
		SCEN=$fn
		: >"$TMP/scenario.pids"
		trap 'rc=$?; kill_list "$TMP/scenario.pids"; exit $rc' EXIT
		"$fn"
	) &
	echo "$!" >>"$TMP/pids"
	wait $! || rc=$?
	if ((rc == 0)); then
		echo "PASS: $fn: $title"
	else
		echo "FAIL: $fn: $title"
		FAILED=$((FAILED + 1))
	fi
}

# ---- log parsing ----

count_lines() { grep -c -- "$2" "$1" 2>/dev/null || true; }
# has FILE REGEX: FILE exists and has a matching line (polled by wait_for).
has() { grep -q -- "$2" "$1" 2>/dev/null; }
# has_n FILE REGEX N: FILE has at least N matching lines.
has_n() { (($(count_lines "$1" "$2") >= $3)); }

# kv LINE KEY: the value of KEY=VALUE in LINE.
kv() { sed -n "s/.*[ ^]$2=\([^ ]*\).*/\1/p" <<<" $1"; }

# ---- fd and mapping accounting ----

fdcount() { ls "/proc/$1/fd" | wc -l; }
# All mappings; with MAPS_FILE_ONLY=1 only file-backed ones (guest memory,
# logs, memfds: what a session maps), so that a multi-threaded process's
# lazily created malloc arenas (anonymous) do not count as leaks.
mapcount() {
	if [[ ${MAPS_FILE_ONLY:-0} == 1 ]]; then
		awk '$5 != 0' "/proc/$1/maps" | wc -l
	else
		wc -l <"/proc/$1/maps"
	fi
}

# settle_counts PID: waits until the fd and mapping counts are stable over
# 0.3 s and prints "FDS MAPS".
settle_counts() {
	local a b i
	a="$(fdcount "$1") $(mapcount "$1")"
	for ((i = 0; i < 20; i++)); do
		sleep 0.3
		b="$(fdcount "$1") $(mapcount "$1")"
		[[ $a == "$b" ]] && break
		a=$b
	done
	echo "$b"
}

# expect_counts PID "FDS MAPS" WHAT: the counts come back within 3 s.
expect_counts() {
	local pid=$1 want=$2 what=$3 now i
	for ((i = 0; i < 30; i++)); do
		now="$(fdcount "$pid") $(mapcount "$pid")"
		[[ $now == "$want" ]] && return 0
		sleep 0.1
	done
	echo "    fds of pid $pid now:" >&2
	ls -l "/proc/$pid/fd" | sed 's/^/    | /' >&2
	fail "$what: fds/maps of pid $pid are '$now', expected '$want' (leak)"
}

# ---- DPDK testpmd ----

# start_testpmd NAME SOCKET VDEV_EXTRA [TESTPMD_ARGS...]: io forwarding with
# --tx-first, stats every second; sets TP_PID.
# TP_EAL overrides the core list (for a second concurrent instance),
# TP_MBUFS the mbuf pool size (default 8192).
start_testpmd() {
	local name=$1 sock=$2 extra=$3 prefix="${RUN_ID}-$1"
	shift 3
	echo "$prefix" >>"$TMP/prefixes"
	# Line-buffered stdout: the periodic statistics are polled from the log.
	spawn "$name" stdbuf -oL "$TESTPMD" ${TP_EAL:--l 0,1} --no-pci --no-huge -m 512 \
		--file-prefix="$prefix" --vdev "net_virtio_user0,path=$sock$extra" -- \
		--auto-start --stats-period=1 --forward-mode=io --tx-first \
		--total-num-mbufs="${TP_MBUFS:-8192}" "$@"
	TP_PID=$LAST_PID
}

# Final (accumulated) testpmd counters: tp_total LOG RX-packets|TX-packets
tp_total() {
	awk -v f="$2:" '/Accumulated forward statistics/ { on = 1 }
		on && $1 == f { print $2; exit }' "$1"
}

# Per-queue forwarded packets: tp_queue_rx LOG QUEUE
tp_queue_rx() {
	awk -v q="Queue= $2 ->" 'index($0, "Forward Stats for RX Port= 0/" q) { on = 1; next }
		on && $1 == "RX-packets:" { print $2; exit }' "$1"
}

# Mpps from the periodic "Rx-pps" samples: "AVG PEAK N" over non-zero samples
# (the first one is skipped: it covers start-up).
tp_mpps() {
	awk '/Rx-pps:/ { n++; if (n > 1 && $2 > 0) { s += $2; c++; if ($2 > m) m = $2 } }
		END { if (c) printf "%.2f %.2f %d\n", s / c / 1e6, m / 1e6, c; else print "0 0 0" }' "$1"
}

last_rx_pps() { awk '/Rx-pps:/ { v = $2 } END { print v + 0 }' "$1"; }
n_rx_pps() { count_lines "$1" 'Rx-pps:'; }
samples_ge() { (($(n_rx_pps "$1") >= $2)); }

# Lets testpmd forward until it printed N more stats samples.
forward_for() {
	local log=$1 n=$2 start
	start=$(n_rx_pps "$log")
	wait_for $((n + 10)) "$n more testpmd stats samples in ${log##*/}" \
		samples_ge "$log" $((start + n))
}
