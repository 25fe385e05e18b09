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
# session's result (all frames back and verified), every device's start and
# stop count in `dev show` (dev_conf_count, dev_close_count), and the CPU
# the daemon takes over 10 s with every device still bound and the sessions
# gone. Goals (issue 10): a fixed thread count (8 devices, 1,024 devices,
# with sessions, under traffic, at the end), own RSS under 100 MB, control
# commands under 10 ms, every session served, an idle daemon under 1 % of a
# CPU. About 70 s (most of it the sessions' --seconds and the 10 s idle).
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
echo "scale: $DEVICES devices, $DEVICES sessions for $SECS s, then 10 s idle (about $((SECS + 30)) s)" >&2
# The first 8 devices, then the rest: the threads must not grow with them.
FEW=$((DEVICES < 8 ? DEVICES : 8))
add_bind_batch "$CTL" 0 "$FEW"
threads_few=$(status "$UD" Threads)
add_bind_batch "$CTL" "$FEW" "$DEVICES"
threads_idle=$(status "$UD" Threads)

record_cmd "frontend (one per device)" "$FRONTEND" --socket "$TMP/dN.sock" --seconds "$SECS" --pps "$PPS" --irq \
	--qsize 64 --mem-mb 2 --drain-ms 3000 --json -q
t0=$(date +%s%N)
for ((i = 0; i < DEVICES; i++)); do
	"$FRONTEND" --socket "$TMP/d$i.sock" --seconds "$SECS" --pps "$PPS" --irq --qsize 64 \
		--mem-mb 2 --drain-ms 3000 --json -q >"$TMP/fe$i.out" 2>&1 </dev/null &
	echo $! >>"$TMP/pids"
	echo $! >>"$TMP/fe.pids"
done
# Sessions connected, and devices started (dev_conf ran: the session's
# device runs); with --times, each device's dev_conf or dev_close time.
dev_count() { # connected|started|conf|close
	"$UVDPA" -s "$CTL" -j dev show 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)["dev"]
what = sys.argv[1]
if what == "connected":
    print(sum(1 for v in d.values() if v.get("connected")))
elif what == "started":
    print(sum(1 for v in d.values() if v.get("dev_conf_count", 0) >= 1))
else:
    for v in d.values():
        if "dev_%s_last_us" % what in v:
            print(v["dev_%s_last_us" % what])' "$1" 2>/dev/null || echo 0
}
n=0 started=0
for ((k = 0; k < 600; k++)); do
	n=$(dev_count connected)
	started=$(dev_count started)
	((started >= DEVICES)) && break
	sleep 0.1
done
t1=$(date +%s%N)
((started >= DEVICES)) || echo "WARNING: only $started of $DEVICES devices started after $(((t1 - t0) / 1000000)) ms"
# Each device started once: its dev_conf, all 1,024 starting at once.
dev_count conf >"$TMP/conf_us"
sleep 2
threads=$(status "$UD" Threads)
# While every session runs (started, moving frames).
# Memory: the sessions' guest memory is memfd (shmem) the frontends share
# with uvdpad, counted in RssShmem; uvdpad's own is RssAnon (heap, stacks,
# rings of its own) + RssFile (its binary and libraries). smaps_rollup's
# Private_Clean + Private_Dirty (pages no other process maps) checks it.
rss=$(status "$UD" VmRSS)
shm=$(status "$UD" RssShmem)
anon=$(status "$UD" RssAnon)
file=$(status "$UD" RssFile)
priv=$(awk '$1 == "Private_Clean:" || $1 == "Private_Dirty:" { s += $2 } END { print s }' "/proc/$UD/smaps_rollup")
fds=$(find "/proc/$UD/fd" -mindepth 1 | wc -l)
# Control latency two ways: from one connection kept open (what the daemon
# takes to answer), and with a uvdpa process per command (what a user waits).
ctl_times "$CTL" 200 "$DEVICES" dev show DEV >"$TMP/show_conn_us"
ctl_times "$CTL" 200 "$DEVICES" dev vstats show DEV qidx 0 >"$TMP/vstats_conn_us"
ctl_proc_times "$CTL" 200 "$DEVICES" dev show DEV >"$TMP/show_us"
ctl_proc_times "$CTL" 200 "$DEVICES" dev vstats show DEV qidx 0 >"$TMP/vstats_us"
busy=$(cpu_pct "$UD" 5)
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
# Every device served: uvdpad started and stopped each one once.
served=$("$UVDPA" -s "$CTL" -j dev show | python3 -c '
import json, sys
d = json.load(sys.stdin)["dev"]
print(sum(1 for v in d.values() if v.get("dev_conf_count") == 1 and v.get("dev_close_count") == 1))')
dev_count close >"$TMP/close_us"
sleep 1
idle=$(cpu_pct "$UD" 10)
threads_end=$(status "$UD" Threads)
stop "$UD" TERM

own=$(((anon + file) / 1024))
line() { printf '| %-44s | %-50s | %-9s | %-4s |\n' "$@"; }
echo "uvdpa scale: $DEVICES emulated VFs in one uvdpad, one uvdpa-frontend session each ($PPS frames/s, loopback, verified)"
echo "build: $BUILD (${BTYPE:-?}); $(nproc) CPUs; $(date -u +%Y-%m-%dT%H:%MZ); sessions send for $SECS s"
echo
line figure value goal ""
printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "----------------------------------------------------" "-----------" "------"
line "sessions connected, devices started" "$n, $started of $DEVICES, $(((t1 - t0) / 1000000)) ms after the first start" "" ""
line "sessions PASS (every frame back, verified)" "$pass of $DEVICES ($frames frames, $lost lost)" "all" "$( ((pass == DEVICES)) && echo PASS || echo MISS)"
line "devices started and stopped once (dev show)" "$served of $DEVICES" "all" "$( ((served == DEVICES)) && echo PASS || echo MISS)"
line "threads (8 dev, all, sessions, traffic, end)" "$threads_few, $threads_idle, $threads, $threads_busy, $threads_end" "fixed" \
	"$([[ $threads_few == "$threads_idle" && $threads_idle == "$threads" && $threads == "$threads_busy" && $threads_busy == "$threads_end" ]] && echo PASS || echo MISS)"
line "uvdpad RSS, all" "$((rss / 1024)) MB" "" ""
line "  guest memory mapped (RssShmem)" "$((shm / 1024)) MB" "" ""
line "  its own (RssAnon + RssFile)" "$own MB ($((anon / 1024)) + $((file / 1024)))" "< 100 MB" "$(verdict "$own" 100)"
line "  private pages (smaps_rollup)" "$((priv / 1024)) MB" "" ""
line "uvdpad open fds" "$fds" "" ""
line "uvdpad CPU under traffic" "$busy % of one CPU ($((DEVICES * PPS)) frames/s)" "" ""
for c in show vstats; do
	for how in conn proc; do
		f=$TMP/${c}_us label="dev $c, a uvdpa process each" goal="" v=""
		if [[ $how == conn ]]; then
			f=$TMP/${c}_conn_us label="dev $c, one open connection" goal="< 10 ms" v=$(verdict "$(pct "$f" 99)" 10000)
		fi
		line "$label" "p50 $(pct "$f" 50) us, p99 $(pct "$f" 99) us, max $(pct "$f" 100) us" "$goal" "$v"
	done
done
for c in conf close; do
	line "dev_$c, all $DEVICES at once (dev show)" "p50 $(pct "$TMP/${c}_us" 50) us, p99 $(pct "$TMP/${c}_us" 99) us, max $(pct "$TMP/${c}_us" 100) us" "" ""
done
line "idle CPU, $DEVICES bound, sessions gone, 10 s" "$idle % of one CPU" "< 1 %" "$(verdict "$idle" 1)"
