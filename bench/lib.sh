# shellcheck shell=bash disable=SC2034  # TMP, RUN_ID, LAST_PID, UVDPA, BTYPE are for the callers
# Shared helpers of the bench scripts (sourced, not run): the run's temporary
# directory, process bookkeeping that kills whatever a script started on
# every exit path, polling, and the record of the command lines.
#
#   KEEP=0; . "$HERE/lib.sh"
#   bench_setup "WHY TWO CPUS"                  # BUILD checked, UVDPAD, UVDPA, BTYPE
#   bench_init NAME                             # TMP, RUN_ID, the traps
#   spawn NAME CMD...; stop PID SIGNAL; wait_until SECONDS CMD...
#   record_cmd LABEL CMD...                     # appended to $TMP/cmds
#   cpu_snap PID|children...; cpu_foreign SNAP0 SNAP1  # others' CPU meanwhile
#   pct FILE P; verdict VALUE GOAL              # percentiles, PASS/MISS against a goal
#   ctl_times SOCKET N DEVICES CMD...           # control latency on one connection
#   ctl_proc_times SOCKET N DEVICES CMD...      # ... with a uvdpa process each
#   cpu_pct PID SECONDS                         # a process's CPU, % of one CPU
#   add_bind_batch SOCKET FIRST END             # emulated VFs dFIRST..dEND-1, bound
#
# At exit every recorded process still alive gets SIGTERM, then SIGKILL;
# bench_cleanup_extra runs when the script defines it; $TMP is removed unless
# KEEP=1.

# bench_setup WHY: BUILD made absolute, uvdpad and uvdpa built there
# (UVDPAD, UVDPA), taskset present and 2 CPUs (WHY says what for), BTYPE
# the build's buildtype; exits with a message otherwise.
bench_setup() {
	BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "build directory not found (see --help)" >&2; exit 1; }
	UVDPAD=$BUILD/tools/uvdpad
	UVDPA=$BUILD/tools/uvdpa
	[[ -x $UVDPAD && -x $UVDPA ]] || { echo "$BUILD/tools/uvdpad is not built" >&2; exit 1; }
	command -v taskset >/dev/null || { echo "taskset not found (util-linux)" >&2; exit 1; }
	if [[ $(nproc) -lt 2 ]]; then
		echo "needs 2 CPUs ($1)" >&2
		exit 1
	fi
	BTYPE=$(sed -n 's/.*"name": "buildtype", "value": "\([a-z]*\)".*/\1/p' \
		"$BUILD/meson-info/intro-buildoptions.json" 2>/dev/null || true)
}

# bench_init NAME: sets TMP (/tmp/NAME.XXXXXX), RUN_ID and the traps.
bench_init() {
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	RUN_ID=${TMP##*/}
	RUN_ID=${RUN_ID//./-}
	: >"$TMP/pids"
	: >"$TMP/results"
	: >"$TMP/cmds"
	trap cleanup EXIT
	trap 'echo "interrupted" >&2; exit 130' INT TERM
}

alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[[ -n $st && $st != Z ]]
}

# stop PID SIGNAL: signal, wait up to 10 s, then SIGKILL; reaps.
stop() {
	local pid=$1 sig=$2 i
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	# Reaped: its number may be reused by someone else's process now.
	sed -i "/^$pid\$/d" "$TMP/pids"
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	while read -r pid; do
		alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done <"$TMP/pids"
	sleep 0.5
	while read -r pid; do
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done <"$TMP/pids"
	if declare -F bench_cleanup_extra >/dev/null; then
		bench_cleanup_extra
	fi
	if ((${KEEP:-0})); then
		echo "logs kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}

# spawn NAME CMD...: background, output in $TMP/NAME.log; sets LAST_PID.
spawn() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 </dev/null &
	LAST_PID=$!
	echo "$LAST_PID" >>"$TMP/pids"
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s.
wait_until() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# Command lines are recorded as they are run (shell-quoted).
record_cmd() {
	local label=$1
	shift
	local w line=""
	for w in "$@"; do
		if [[ $w =~ ^[A-Za-z0-9_./,=:@%+-]+$ ]]; then
			line+=" $w"
		else
			line+=" $(printf '%q' "$w")"
		fi
	done
	printf '%s:\n   %s\n' "$label" "$line" >>"$TMP/cmds"
}

# CPU accounting over a window: total and steal ticks of the machine, and the
# ticks of the PIDs given (all their threads); "children" stands for this
# shell's children that were waited for (a measurement run in the foreground).
cpu_snap() {
	local pid ours=0 f
	for pid in "$@"; do
		if [[ $pid == children ]]; then
			f=$(cut -d' ' -f16,17 < <(sed 's/.*) /x x /' "/proc/$$/stat"))
		elif ! f=$(cut -d' ' -f14,15 < <(sed 's/.*) /x x /' "/proc/$pid/stat" 2>/dev/null)); then
			continue
		fi
		ours=$((ours + ${f% *} + ${f#* }))
	done
	awk -v o="$ours" '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; tot = b + $5 + $6 + $9; print b, $9, tot, o }' /proc/stat
}

# cpu_foreign "SNAP0" "SNAP1": "FOREIGN% STEAL%" in % of one CPU.
cpu_foreign() {
	awk -v a="$1" -v b="$2" -v n="$(nproc)" 'BEGIN {
		split(a, x, " "); split(b, y, " "); tot = (y[3] - x[3]) / n
		if (tot <= 0) { print "0 0"; exit }
		f = (y[1] - x[1] - (y[4] - x[4])) / tot * 100; if (f < 0) f = 0
		printf "%.0f %.0f\n", f, (y[2] - x[2]) / tot * 100 }'
}

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE, one
# per line ("-" for none).
pct() {
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'
}

# verdict VALUE GOAL: PASS when VALUE is a number below GOAL, else MISS.
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v != "-" && v + 0 < g + 0) ? "PASS" : "MISS" }'; }

# ctl_times SOCKET N DEVICES COMMAND...: N requests on one control connection
# kept open (what the daemon takes to answer, without a uvdpa process per
# command), one line of microseconds each; DEV in COMMAND becomes d0, d5,
# d10, ... (modulo DEVICES).
ctl_times() {
	python3 -c '
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
n = int(sys.argv[2]); devs = int(sys.argv[3]); cmd = sys.argv[4:]
for i in range(n):
    argv = [a.replace("DEV", "d%d" % (i * 5 % devs)) for a in cmd]
    t = time.perf_counter_ns()
    s.sendall((json.dumps({"argv": argv, "json": False, "pretty": False}) + "\n").encode())
    r = json.loads(f.readline())
    assert r["status"] == 0, r
    print((time.perf_counter_ns() - t) // 1000)
' "$@"
}

# ctl_proc_times SOCKET N DEVICES COMMAND...: the same with a uvdpa process
# per command (what a user waits for, process start included).
ctl_proc_times() {
	local sock=$1 n=$2 devs=$3 i a b
	shift 3
	for ((i = 0; i < n; i++)); do
		a=$(date +%s%N)
		"$UVDPA" -s "$sock" "${@//DEV/d$((i * 5 % devs))}" >/dev/null
		b=$(date +%s%N)
		echo $(((b - a) / 1000))
	done
}

# cpu_pct PID SECONDS: the CPU PID takes (user + system, all threads) over
# the next SECONDS, in % of one CPU.
cpu_pct() {
	local c0 c1
	c0=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
	sleep "$2"
	c1=$(sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
	awk -v a="$c0" -v b="$c1" -v s="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }'
}

# add_bind_batch SOCKET FIRST END: one `uvdpa -b` batch that adds the
# emulated VFs dFIRST .. dEND-1 (loopback) and binds each to $TMP/dI.sock.
add_bind_batch() {
	local i
	for ((i = $2; i < $3; i++)); do
		echo "dev add name d$i mgmtdev emu/ifcvf-net port loopback"
		echo "dev bind d$i vhost-user $TMP/d$i.sock"
	done >"$TMP/batch"
	"$UVDPA" -s "$1" -b "$TMP/batch" >"$TMP/batch.log" 2>&1 || { echo "batch failed:" >&2; tail "$TMP/batch.log" >&2; exit 1; }
}
