#!/usr/bin/env bash
# Scale: one uvdpad with many emulated VFs, each with a connected vhost-user
# session moving traffic at the same time.
#
#   bench/scale.sh [-b BUILD_DIR] [--devices N] [--pps N] [--seconds S]
#
#   -b BUILD_DIR   uvdpa build (default: build-bench next to bench/)
#   --devices N    devices and sessions (default 1024)
#   --pps N        frames per second each session sends in loopback and
#                  verifies on return (default 50)
#   --seconds S    how long each session sends (default 30)
#
# One uvdpa-frontend process per session (--irq: it sleeps between frames,
# 2 MiB of guest memory, 64-entry rings). While every session is connected
# and moving frames: uvdpad's threads, its RSS split into guest memory (the
# sessions' shared memory it maps, RssShmem) and its own (RssAnon +
# RssFile), its open fds, and the latency of 200 `dev show` and 200
# `dev vstats show` commands, on one open control connection (the daemon's
# answer time) and with a uvdpa process each (what a user waits for, process
# start included: on 2 CPUs shared with 1,024 frontends). At the end, every
# session's result (all frames back and verified). Goals (issue 10): a fixed
# thread count, own RSS under 100 MB, control commands under 10 ms, every
# session served. About 1 minute (most of it the sessions' --seconds).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build-bench
DEVICES=1024
PPS=50
SECS=30
while (($#)); do
	case $1 in
	-b) BUILD=${2:?}; shift 2 ;;
	--devices) DEVICES=${2:?}; shift 2 ;;
	--pps) PPS=${2:?}; shift 2 ;;
	--seconds) SECS=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done
# shellcheck source=lib.sh
. "$HERE/lib.sh"
bench_setup "scale"
bench_init uvdpa-scale-bench
FRONTEND=$BUILD/tools/uvdpa-frontend
# Each session holds a socket, eventfds and memory fds on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

status() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

CTL=$TMP/ud.ctl
spawn uvdpad "$UVDPAD" -f -s "$CTL"
UD=$LAST_PID
wait_until 15 test -S "$CTL" || { echo "uvdpad did not start" >&2; exit 1; }
for ((i = 0; i < DEVICES; i++)); do
	echo "dev add name d$i mgmtdev emu/ifcvf-net port loopback"
	echo "dev bind d$i vhost-user $TMP/d$i.sock"
done >"$TMP/batch"
"$UVDPA" -s "$CTL" -b "$TMP/batch" >"$TMP/batch.log" 2>&1 || { echo "batch failed" >&2; tail "$TMP/batch.log" >&2; exit 1; }
threads_idle=$(status "$UD" Threads)

t0=$(date +%s%N)
for ((i = 0; i < DEVICES; i++)); do
	"$FRONTEND" --socket "$TMP/d$i.sock" --seconds "$SECS" --pps "$PPS" --irq --qsize 64 \
		--mem-mb 2 --drain-ms 3000 --json -q >"$TMP/fe$i.out" 2>&1 </dev/null &
	echo $! >>"$TMP/pids"
	echo $! >>"$TMP/fe.pids"
done
connected() {
	"$UVDPA" -s "$CTL" -j dev show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
d = d.get("dev", d)
print(sum(1 for v in d.values() if v.get("connected")))' 2>/dev/null || echo 0
}
n=0
for ((k = 0; k < 600; k++)); do
	n=$(connected)
	((n >= DEVICES)) && break
	sleep 0.1
done
t1=$(date +%s%N)
((n >= DEVICES)) || echo "WARNING: only $n of $DEVICES sessions connected after $(((t1 - t0) / 1000000)) ms"
sleep 2
threads=$(status "$UD" Threads)
rss=$(status "$UD" VmRSS)
shm=$(status "$UD" RssShmem)
anon=$(status "$UD" RssAnon)
file=$(status "$UD" RssFile)
fds=$(find "/proc/$UD/fd" -mindepth 1 | wc -l)
# Control latency two ways: from one connection kept open (what the daemon
# takes to answer), and with a uvdpa process per command (what a user waits).
ctl_times() { # SOCKET COMMAND... : one connection, 200 requests, one line of us each
	python3 -c '
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
n = int(sys.argv[2]); devs = int(sys.argv[3]); cmd = sys.argv[4:]
for i in range(200):
    argv = [a.replace("DEV", "d%d" % (i * 5 % devs)) for a in cmd]
    t = time.perf_counter_ns()
    s.sendall((json.dumps({"argv": argv, "json": False, "pretty": False}) + "\n").encode())
    r = json.loads(f.readline())
    assert r["status"] == 0, r
    print((time.perf_counter_ns() - t) // 1000)
' "$@"
}
ctl_times "$CTL" 200 "$DEVICES" dev show DEV >"$TMP/show_conn_us"
ctl_times "$CTL" 200 "$DEVICES" dev vstats show DEV qidx 0 >"$TMP/vstats_conn_us"
: >"$TMP/show_us"
: >"$TMP/vstats_us"
for ((i = 0; i < 200; i++)); do
	d=d$((i * 5 % DEVICES))
	a=$(date +%s%N)
	"$UVDPA" -s "$CTL" dev show "$d" >/dev/null
	b=$(date +%s%N)
	"$UVDPA" -s "$CTL" dev vstats show "$d" qidx 0 >/dev/null
	c=$(date +%s%N)
	echo $(((b - a) / 1000)) >>"$TMP/show_us"
	echo $(((c - b) / 1000)) >>"$TMP/vstats_us"
done
c0=$(sed 's/.*) //' "/proc/$UD/stat" | awk '{ print $12 + $13 }')
sleep 5
c1=$(sed 's/.*) //' "/proc/$UD/stat" | awk '{ print $12 + $13 }')
busy=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (b - a) / hz / 5 * 100 }')
threads_busy=$(status "$UD" Threads)
# Every session ends by itself after --seconds.
while read -r p; do
	wait "$p" 2>/dev/null || true
done <"$TMP/fe.pids"
pass=0 frames=0 lost=0
for ((i = 0; i < DEVICES; i++)); do
	r=$(grep '^{"result"' "$TMP/fe$i.out" || true)
	[[ $r == *'"result":"pass"'* ]] && pass=$((pass + 1))
	frames=$((frames + $(sed -n 's/.*"rx_pkts":\([0-9]*\).*/\1/p' <<<"$r" | head -n1 | awk '{ print $1 + 0 }')))
	lost=$((lost + $(sed -n 's/.*"rx_lost":\([0-9]*\).*/\1/p' <<<"$r" | head -n1 | awk '{ print $1 + 0 }')))
done
threads_end=$(status "$UD" Threads)
stop "$UD" TERM

own=$(((anon + file) / 1024))
echo "uvdpa scale: $DEVICES emulated VFs in one uvdpad, one uvdpa-frontend session each ($PPS frames/s, loopback, verified)"
echo "build: $BUILD (${BTYPE:-?}); $(nproc) CPUs; $(date -u +%Y-%m-%dT%H:%MZ); sessions send for $SECS s"
echo
printf '  %-40s %s\n' "sessions connected" "$n of $DEVICES, $(((t1 - t0) / 1000000)) ms after the first start"
printf '  %-40s %s\n' "sessions PASS (every frame back, verified)" "$pass of $DEVICES ($frames frames verified, $lost lost)"
printf '  %-40s %s\n' "uvdpad threads" "$threads_idle bound and idle, $threads with sessions, $threads_busy under traffic, $threads_end at the end ($(
	[[ $threads_idle == "$threads" && $threads == "$threads_busy" ]] && echo "fixed: PASS" || echo "MISS"))"
printf '  %-40s %s\n' "uvdpad RSS" "$((rss / 1024)) MB: guest memory mapped $((shm / 1024)) MB, own $own MB (goal < 100 MB: $(verdict "$own" 100))"
printf '  %-40s %s\n' "uvdpad open fds" "$fds"
printf '  %-40s %s\n' "uvdpad CPU under traffic" "$busy % of one CPU ($((DEVICES * PPS)) frames/s through the VFs)"
for c in show vstats; do
	for how in conn proc; do
		f=$TMP/${c}_us
		label="dev $c (uvdpa process each)"
		[[ $how == conn ]] && f=$TMP/${c}_conn_us label="dev $c (one open connection)"
		p99=$(pct "$f" 99)
		printf '  %-40s %s\n' "$label" "p50 $(pct "$f" 50) us, p99 $p99 us, max $(pct "$f" 100) us (goal < 10 ms: $(verdict "$p99" 10000))"
	done
done
