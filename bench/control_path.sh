#!/usr/bin/env bash
# The control path: how long uvdpad takes to start and stop a device for a
# vhost-user session, and to create and bind many devices.
#
#   bench/control_path.sh [-b BUILD_DIR] [--sessions N] [--devices N]
#
#   -b BUILD_DIR   uvdpa build (default: build-bench next to bench/)
#   --sessions N   sessions of uvdpa-frontend against one emulated VF
#                  (default 1000); each negotiates, moves 64 frames in
#                  loopback, stops its rings and disconnects
#   --devices N    devices for the add + bind part (default 1024)
#
# dev_conf: from the arrival of the vhost-user message that made the device
# startable to the device running (the driver's dev_conf returned), as
# uvdpad reports it in its driver_ok event (conf_us). dev_close: the
# driver's dev_close (close_us in the disconnect event). Both are read from
# `uvdpa -j monitor`, which runs through the whole test. Then N devices are
# added and bound in one batch (`uvdpa -b`): the time, uvdpad's RSS and
# threads after, the control latency of `dev show` among them, and the CPU
# the idle daemon takes over 10 s. About 1 minute. Goals (issue 10): p99 of
# dev_conf and dev_close under 1 ms; an idle daemon with 1,024 devices under
# 1 % of a CPU.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build-bench
SESSIONS=1000
DEVICES=1024
while (($#)); do
	case $1 in
	-b) BUILD=${2:?}; shift 2 ;;
	--sessions) SESSIONS=${2:?}; shift 2 ;;
	--devices) DEVICES=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done
# shellcheck source=lib.sh
. "$HERE/lib.sh"
bench_setup "control path"
bench_init uvdpa-ctl-bench
FRONTEND=$BUILD/tools/uvdpa-frontend


# ---- 1. sessions ----
# The two figures of each session, from the monitor's JSON lines.
extract_times() { # LOG CONF_OUT CLOSE_OUT
	python3 -c '
import json, sys
conf, close = open(sys.argv[2], "w"), open(sys.argv[3], "w")
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    w = e.get("detail", "").split()
    kv = dict(zip(w[0::2], w[1::2]))
    if e.get("event") == "driver_ok" and "conf_us" in kv:
        conf.write(kv["conf_us"] + "\n")
    if e.get("event") == "disconnect" and "close_us" in kv:
        close.write(kv["close_us"] + "\n")
' "$@"
}

# sessions TAG PIN_UVDPAD PIN_FRONTEND: one uvdpad, SESSIONS sessions; leaves
# $TMP/TAG.conf_us and $TMP/TAG.close_us, and "ms fails" in $TMP/TAG.run.
sessions() {
	local tag=$1 ctl=$TMP/$1.ctl sock=$TMP/$1.sock ud mon t0 t1 fails=0 i
	local pin_u=() pin_f=()
	[[ -n $2 ]] && pin_u=(taskset -c "$2")
	[[ -n $3 ]] && pin_f=(taskset -c "$3")
	printf '%s\n' "dev add name vf0 mgmtdev emu/ifcvf-net port loopback" "dev bind vf0 vhost-user $sock" >"$TMP/$tag.conf"
	spawn "$tag-uvdpad" "${pin_u[@]}" "$UVDPAD" -f -s "$ctl" -c "$TMP/$tag.conf"
	ud=$LAST_PID
	wait_until 15 test -S "$sock" || { echo "uvdpad did not bind $sock" >&2; tail "$TMP/$tag-uvdpad.log" >&2; exit 1; }
	spawn "$tag-monitor" "$UVDPA" -s "$ctl" -j monitor
	mon=$LAST_PID
	sleep 0.3
	t0=$(date +%s%N)
	for ((i = 0; i < SESSIONS; i++)); do
		"${pin_f[@]}" "$FRONTEND" --socket "$sock" --count 64 --qsize 64 --mem-mb 4 --drain-ms 500 -q \
			>>"$TMP/$tag-frontend.log" 2>&1 || fails=$((fails + 1))
	done
	t1=$(date +%s%N)
	sleep 0.5
	stop "$mon" TERM
	stop "$ud" TERM
	echo "$(((t1 - t0) / 1000000)) $fails" >"$TMP/$tag.run"
	extract_times "$TMP/$tag-monitor.log" "$TMP/$tag.conf_us" "$TMP/$tag.close_us"
}
sessions pinned 1 0
sessions unpinned "" ""

echo "uvdpa control path: $SESSIONS sessions of uvdpa-frontend (64 frames each, loopback) on one emulated VF"
echo "build: $BUILD (${BTYPE:-?}); $(nproc) CPUs; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "pinned: uvdpad on CPU 1, the frontend on CPU 0 (as in the throughput benches); unpinned: where the scheduler puts them"
echo
printf '%-10s %-9s %6s %6s %6s %6s %6s %7s  %s\n' phase placement n min p50 p99 max goal "(us)"
for ph in conf close; do
	for tag in pinned unpinned; do
		f=$TMP/$tag.${ph}_us
		p99=$(pct "$f" 99)
		printf '%-10s %-9s %6s %6s %6s %6s %6s %7s  %s\n' "dev_$ph" "$tag" "$(wc -l <"$f")" "$(pct "$f" 0)" \
			"$(pct "$f" 50)" "$p99" "$(pct "$f" 100)" "<1000" "$(verdict "$p99" 1000)"
	done
done
for tag in pinned unpinned; do
	read -r ms fails <"$TMP/$tag.run"
	echo "$tag: $SESSIONS sessions in $ms ms (frontend process start included), $fails failed"
	(($(wc -l <"$TMP/$tag.conf_us") == SESSIONS && $(wc -l <"$TMP/$tag.close_us") == SESSIONS && fails == 0)) ||
		echo "WARNING: $tag: not one dev_conf and one dev_close figure per session"
done

# ---- 2. many devices ----
CTL2=$TMP/ud2.ctl
spawn uvdpad2 "$UVDPAD" -f -s "$CTL2"
UD2=$LAST_PID
wait_until 15 test -S "$CTL2" || { echo "uvdpad did not start" >&2; exit 1; }
for ((i = 0; i < DEVICES; i++)); do
	echo "dev add name d$i mgmtdev emu/ifcvf-net port loopback"
	echo "dev bind d$i vhost-user $TMP/d$i.sock"
done >"$TMP/batch"
rss0=$(awk '/^VmRSS/ { print $2 }' "/proc/$UD2/status")
t0=$(date +%s%N)
"$UVDPA" -s "$CTL2" -b "$TMP/batch" >"$TMP/batch.log" 2>&1 || { echo "batch failed:" >&2; tail "$TMP/batch.log" >&2; exit 1; }
t1=$(date +%s%N)
bound=$("$UVDPA" -s "$CTL2" -j dev show | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("dev", d); print(len(d))')
rss1=$(awk '/^VmRSS/ { print $2 }' "/proc/$UD2/status")
threads=$(awk '/^Threads/ { print $2 }' "/proc/$UD2/status")
fds=$(find "/proc/$UD2/fd" -mindepth 1 | wc -l)
: >"$TMP/show_us"
for ((i = 0; i < 200; i++)); do
	a=$(date +%s%N)
	"$UVDPA" -s "$CTL2" dev show "d$((i * 5 % DEVICES))" >/dev/null
	b=$(date +%s%N)
	echo $(((b - a) / 1000)) >>"$TMP/show_us"
done
c0=$(sed 's/.*) //' "/proc/$UD2/stat" | awk '{ print $12 + $13 }')
sleep 10
c1=$(sed 's/.*) //' "/proc/$UD2/stat" | awk '{ print $12 + $13 }')
idle=$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz / 10 * 100 }')
stop "$UD2" TERM

echo
echo "$DEVICES devices: dev add + dev bind (vhost-user, listening) in one uvdpa -b batch"
printf '  %-34s %s\n' "time" "$(((t1 - t0) / 1000000)) ms for $((DEVICES * 2)) commands"
printf '  %-34s %s\n' "devices listed by dev show" "$bound"
printf '  %-34s %s\n' "uvdpad RSS" "$((rss0 / 1024)) MB before, $((rss1 / 1024)) MB after"
printf '  %-34s %s\n' "uvdpad threads / open fds" "$threads / $fds"
printf '  %-34s %s\n' "dev show (uvdpa process included)" "p50 $(pct "$TMP/show_us" 50) us, p99 $(pct "$TMP/show_us" 99) us over 200"
printf '  %-34s %s\n' "idle CPU over 10 s" "$idle % of one CPU (goal < 1 %: $(verdict "$idle" 1))"
