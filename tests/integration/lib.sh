# shellcheck shell=bash disable=SC2034  # STOP_RC, EXIT_RC, ... are for the callers
# Shared helpers of the integration tests (sourced, not run).
#
#   . "$(dirname "$0")/lib.sh"
#   test_init NAME "${1:-}" testpmd python3 ...   # prerequisites, lib_init
#   run_scenario ...; lib_finish
#
# Provides prerequisites that fail (never skip) when something is missing,
# process bookkeeping (spawn, stop_proc, kill_list and the traps that kill
# whatever a test started), scenario runner (run_scenario prints PASS/FAIL
# per scenario; $FAILED counts failures; lib_finish ends the script),
# polling (wait_for, check_live), fd/mapping accounting (settle_counts,
# expect_counts), per-queue share checks, DPDK testpmd helpers
# (start_testpmd and its log parsers), uvdpad helpers (start_uvdpad,
# stop_uvdpad, vstat) and uvdpa-testdev helpers (start_testdev, check_rings,
# traffic_run).
#
# Every process started with spawn is recorded and killed by the traps; all
# files live in $TMP (kept, and its path printed, when a scenario fails;
# UVDPA_KEEP_TMP=1 keeps it always; an interrupted run removes it).

# ---- prerequisites: a missing one fails the test, naming the fix ----

HINT_DPDK="install the Debian package dpdk (scripts/install-deps.sh installs every test dependency)"
HINT_PYTHON="install the Debian package python3 (scripts/install-deps.sh)"

# need_build_dir DIR: sets BUILD (absolute) and the paths of the built programs.
need_build_dir() {
	local dir=${1:-}
	if [[ -z $dir || ! -d $dir ]]; then
		echo "FAIL: build directory '${dir}' not found (usage: ${0##*/} BUILD_DIR)" >&2
		exit 1
	fi
	BUILD=$(cd "$dir" && pwd)
	UVDPAD=$BUILD/tools/uvdpad
	UVDPA=$BUILD/tools/uvdpa
	FRONTEND=$BUILD/tools/uvdpa-frontend
	TESTDEV=$BUILD/tests/backend/uvdpa-testdev
}

# need_built PATH...: each program is built.
need_built() {
	local p
	for p in "$@"; do
		if [[ ! -x $p ]]; then
			echo "FAIL: $p is not built (ninja -C $BUILD)" >&2
			exit 1
		fi
	done
}

# need_program VAR NAME HINT: VAR gets NAME's path (an executable already in
# $VAR wins, e.g. TESTPMD=/opt/dpdk/bin/dpdk-testpmd); fails with HINT when
# there is none.
need_program() {
	local var=$1 name=$2 hint=$3 path
	path=${!var:-}
	[[ -n $path ]] || path=$(command -v "$name" || true)
	if [[ -z $path || ! -x $path ]]; then
		echo "FAIL: $name not found: $hint" >&2
		exit 1
	fi
	printf -v "$var" '%s' "$path"
}

# test_init NAME BUILD_DIR NEED...: the start of a test script. BUILD from
# BUILD_DIR, then each NEED or the test fails naming the fix: testpmd
# (TESTPMD), python3 (PY), testdev (uvdpa-testdev built), uvdpad (uvdpad,
# uvdpa and uvdpa-frontend built; fds compared exactly and only file-backed
# mappings counted, as uvdpad's engine and relay threads create malloc
# arenas on first use); then lib_init NAME.
test_init() {
	local name=$1 need
	need_build_dir "$2"
	shift 2
	for need in "$@"; do
		case $need in
		testpmd) need_program TESTPMD dpdk-testpmd "$HINT_DPDK" ;;
		python3) need_program PY python3 "$HINT_PYTHON" ;;
		testdev) need_built "$TESTDEV" ;;
		uvdpad)
			need_built "$UVDPAD" "$UVDPA" "$FRONTEND"
			MAPS_FILE_ONLY=1
			TP_MBUFS=16384
			;;
		*)
			echo "FAIL: test_init: unknown prerequisite '$need'" >&2
			exit 1
			;;
		esac
	done
	lib_init "$name"
}

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

# lib_finish: prints the figures scenarios appended to $TMP/rates (one
# preformatted line each) and the script's verdict; exits 1 when a scenario
# failed.
lib_finish() {
	if [[ -s $TMP/rates ]]; then
		echo "measured:"
		sed 's/^/    /' "$TMP/rates"
	fi
	if ((FAILED)); then
		echo "FAIL: $FAILED scenario(s) failed"
		exit 1
	fi
	echo "PASS: all scenarios"
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

# ---- per-queue shares ----

# check_queue_shares WHAT MIN_PERCENT COUNT...: every queue's COUNT is at
# least MIN_PERCENT of their sum; prints "q0=N (P%) ...". A queue that only
# trickles (a stalled ring, a steering bug sending everything to queue 0)
# fails this where "more than zero" would pass.
check_queue_shares() {
	local what=$1 min=$2 total=0 v q=0 pct out=""
	shift 2
	for v in "$@"; do total=$((total + ${v:-0})); done
	((total > 0)) || fail "$what: no packets on any queue"
	for v in "$@"; do
		pct=$((100 * ${v:-0} / total))
		out+=" q$q=${v:-0} (${pct}%)"
		((100 * ${v:-0} >= min * total)) ||
			fail "$what: queue $q carried ${v:-0} of $total packets (${pct}%), expected >= ${min}% each:$out"
		q=$((q + 1))
	done
	echo "${out# }"
}

# ---- uvdpad (emulated VFs) ----

# start_uvdpad NAME COMMAND...: uvdpad in the foreground with the commands
# as its -c file, control socket $TMP/NAME.ctl; sets UD_PID, UD_LOG, CTL and
# waits until every vhost-user socket it binds is listening.
start_uvdpad() {
	local name=$1 line sock
	shift
	printf '%s\n' "$@" >"$TMP/$name.conf"
	CTL=$TMP/$name.ctl
	UD_LOG=$TMP/$name.log
	local extra=()
	[[ -n ${UD_EXTRA:-} ]] && read -ra extra <<<"$UD_EXTRA"
	spawn "$name" "$UVDPAD" -f -s "$CTL" ${extra[@]+"${extra[@]}"} -c "$TMP/$name.conf"
	UD_PID=$LAST_PID
	wait_for 15 "uvdpad control socket $CTL" test -S "$CTL"
	wait_for 10 "uvdpad answers" uv_quiet dev show
	for line in "$@"; do
		if [[ $line =~ vhost-user\ ([^ ]+) ]]; then
			sock=${BASH_REMATCH[1]}
			wait_for 5 "socket $sock" test -S "$sock"
		fi
	done
}

uv() { "$UVDPA" -s "$CTL" "$@"; }
uv_quiet() { "$UVDPA" -s "$CTL" "$@" >/dev/null 2>&1; }

# The sanitizers print to stderr, which is the uvdpad log.
check_sanitizers() {
	if grep -qE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: .*Sanitizer' "$1"; then
		grep -m5 -E 'Sanitizer|runtime error:' "$1" | sed 's/^/    | /' >&2
		fail "sanitizer report in ${1##*/}"
	fi
}

# stop_uvdpad: SIGTERM, exit status 0, no sanitizer report.
stop_uvdpad() {
	check_sanitizers "$UD_LOG"
	stop_proc "$UD_PID" TERM 15
	((STOP_RC == 0)) || fail "uvdpad exited with status $STOP_RC on SIGTERM"
	check_sanitizers "$UD_LOG"
	[[ -e $CTL ]] && fail "control socket $CTL left behind"
	true
}

# uvdpad's log lines for device DEV matching WHAT ("dev_conf done", ...).
n_dev() { count_lines "$UD_LOG" "vhost-user: $1: $2"; }
wait_dev() {
	local dev=$1 what=$2 n=$3 secs=${4:-20}
	wait_for "$secs" "$dev: '$what' #$n in the uvdpad log" has_n "$UD_LOG" "vhost-user: $dev: $what" "$n"
}

# The emulated function (emu:N) behind device DEV.
emu_addr() { sed -n "s/.*mgmt-emu: $1: emulated function \([^ ]*\).*/\1/p" "$UD_LOG" | tail -n1; }

# vstat DEV QIDX FIELD: one counter of `uvdpa dev vstats show`.
vstat() {
	uv dev vstats show "$1" qidx "$2" |
		awk -v k="$3" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

# Sum of FIELD over the RX (even) or TX (odd) rings of NQ queue pairs.
vstat_sum() {
	local dev=$1 kind=$2 nq=$3 field=$4 q s=0 v
	for ((q = 0; q < nq; q++)); do
		v=$(vstat "$dev" $((2 * q + (kind == 1))) "$field")
		s=$((s + ${v:-0}))
	done
	echo "$s"
}

# progress DEV: packets the device moved so far (rx ring 0).
progress() { vstat "$1" 0 packets; }

# jget FILE KEY: a value from the frontend's --json result line.
jget() {
	grep -m1 '^{"result"' "$1" | sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" | tr -d '"'
}

# ---- uvdpa-testdev (the fake device over vhost-user) ----

# start_testdev NAME ARGS...: uvdpa-testdev recording to $TMP/NAME.rec;
# sets TD_PID, waits for `ready` (and, unless --client, for the socket,
# which follows --socket).
start_testdev() {
	local name=$1 a client=0 sock="" prev=""
	shift
	for a in "$@"; do
		[[ $a == --client ]] && client=1
		[[ $prev == --socket ]] && sock=$a
		prev=$a
	done
	spawn "$name" "$TESTDEV" --record "$TMP/$name.rec" "$@"
	TD_PID=$LAST_PID
	wait_for 5 "$name ready" has "$TMP/$name.rec" '^ready pid='
	if ((!client)); then
		wait_for 5 "$name socket $sock" test -S "$sock"
	fi
}

# start_looped TD_NAME TP_NAME SOCK: uvdpa-testdev --loopback on SOCK
# (record $TMP/TD_NAME.rec) and testpmd on it ($TMP/TP_NAME.log), forwarding
# for 2 stats samples after dev_conf; sets TD_PID and TP_PID.
start_looped() {
	start_testdev "$1" --socket "$3" --loopback
	start_testpmd "$2" "$3" ",queues=1"
	wait_for 15 "dev_conf" has "$TMP/$1.rec" '^dev_conf$'
	forward_for "$TMP/$2.log" 2
}

# vrings_of REC N: the vring lines recorded for the Nth dev_conf.
vrings_of() {
	awk -v hdr="conf n=$2 " 'index($0, hdr) == 1 { on = 1; next }
		on && /^vring / { print; next } on { exit }' "$1"
}

# check_rings REC CONF_N NRINGS: rings 0..NRINGS-1 ready, with kick and
# call fds, non-zero ring addresses and mappings that agree with the
# session's translation of those addresses (gpa_ok).
check_rings() {
	local rec=$1 n=$2 nr=$3 i line f lines gpa
	lines=$(vrings_of "$rec" "$n")
	for ((i = 0; i < nr; i++)); do
		line=$(grep "^vring $i " <<<"$lines" || true)
		[[ -n $line ]] || fail "dev_conf n=$n has no line for vring $i"
		[[ $(kv "$line" ready) == 1 ]] || fail "vring $i not ready: $line"
		[[ $(kv "$line" gpa_ok) == 1 ]] || fail "vring $i: ring mappings and translations differ: $line"
		[[ $(kv "$line" kickfd) == 1 && $(kv "$line" callfd) == 1 ]] ||
			fail "vring $i: missing kick/call fd: $line"
		[[ $(kv "$line" size) -gt 0 ]] || fail "vring $i: size 0: $line"
		for f in desc avail used; do
			gpa=$(kv "$line" "${f}_gpa")
			[[ -n $gpa && $((gpa)) -ne 0 ]] || fail "vring $i: ${f}_gpa is zero: $line"
		done
	done
}
