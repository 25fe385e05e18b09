#!/usr/bin/env bash
# What live migration costs the datapath: the same frontend (uvdpa-frontend,
# 1 queue pair, 64-byte frames in loopback through an emulated VF, every
# frame verified) against
#   direct   emu/ifcvf-net, no dirty logging: the device on the guest's rings
#   hw-log   emu/ifcvf-net, logging from the first frame: the function logs
#   sw-log   emu/ifcvf-net sw-live-migration=1, logging: the software relay
#            copies every RX used entry and logs its buffer
#   shadow   emu/virtio-net shadow-vq=1, no logging: the shadow relay moves
#            every chain both ways
#   shadow-log  the same, logging
# in one run, interleaved (ROUNDS rounds, each case once per round; the
# median is reported). Each row: frames per second at the frontend, the CPU
# the relay threads and the engine thread took (their utime + stime over the
# run's wall time), and the round trip of one frame at a time (--window 1:
# the frontend sends the next frame when the last came back; 1 / rate) with
# what the relay adds to it. uvdpad is pinned to core 1, the frontend to core 0,
# so a relay shares its core with the engine as it would with a busy device.
#
#   bench/migration_relay.sh [-b BUILD_DIR] [--count N] [--rounds N]
#
#   -b BUILD_DIR  uvdpa build (default: build-bench next to bench/, made with
#                 meson setup build-bench --buildtype=release -Dtests=false)
#   --count N     frames per measurement (default 2000000)
#   --rounds N    rounds (default 3)
# Needs taskset. About 1 minute.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-bench
count=2000000
rounds=3
while [ $# -gt 0 ]; do
	case $1 in
	-b) build=$(cd "$2" && pwd); shift 2 ;;
	--count) count=$2; shift 2 ;;
	--rounds) rounds=$2; shift 2 ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "migration_relay.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -d "$build" ] || meson setup "$build" "$top" --buildtype=release -Dtests=false >/dev/null
ninja -C "$build" >/dev/null
command -v taskset >/dev/null || { echo "migration_relay.sh: needs taskset (util-linux)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/uvdpa-relay-bench.XXXXXX)
ud=
cleanup() {
	[ -n "$ud" ] && kill "$ud" 2>/dev/null && wait "$ud" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ctl=$tmp/ctl.sock
taskset -c 1 "$build/tools/uvdpad" -f -s "$ctl" >"$tmp/uvdpad.log" 2>&1 &
ud=$!
for _ in $(seq 100); do [ -S "$ctl" ] && break; sleep 0.05; done
uv() { "$build/tools/uvdpa" -s "$ctl" "$@"; }
uv dev add name direct mgmtdev emu/ifcvf-net
uv dev add name swlog mgmtdev emu/ifcvf-net devargs sw-live-migration=1
uv dev add name shadow mgmtdev emu/virtio-net devargs shadow-vq=1
for d in direct swlog shadow; do uv dev bind $d vhost-user "$tmp/$d.sock"; done

# CPU ticks (utime + stime) of uvdpad's threads whose name starts with $1.
ticks() {
	local t sum=0 name
	for t in /proc/"$ud"/task/*; do
		name=$(cat "$t/comm" 2>/dev/null) || continue
		case $name in
		"$1"*) sum=$((sum + $(awk '{ print $14 + $15 }' "$t/stat"))) ;;
		esac
	done
	echo "$sum"
}

hz=$(getconf CLK_TCK)
# measure CASE SOCKET FRONTEND-ARGS...: one run; appends "pps relay% engine%".
measure() {
	local name=$1 sock=$2
	shift 2
	local r0 e0 t0 t1 r1 e1 out pps
	r0=$(ticks uvdpa-relay)
	e0=$(ticks ifcvf-eng)
	t0=$(date +%s%N)
	out=$(taskset -c 0 "$build/tools/uvdpa-frontend" --socket "$sock" --count "$count" --size 64 \
		--json -q "$@") || { echo "$name: frontend failed: $(echo "$out" | grep '^result')" >&2; exit 1; }
	t1=$(date +%s%N)
	r1=$(ticks uvdpa-relay)
	e1=$(ticks ifcvf-eng)
	pps=$(echo "$out" | grep '^{"result"' | sed -n 's/.*"rx_pps":\([0-9.]*\).*/\1/p')
	# One frame in flight: the round trip.
	out=$(taskset -c 0 "$build/tools/uvdpa-frontend" --socket "$sock" --count 20000 --size 64 \
		--window 1 --json -q "$@") || { echo "$name: frontend (window 1) failed" >&2; exit 1; }
	rtt=$(echo "$out" | grep '^{"result"' | sed -n 's/.*"rx_pps":\([0-9.]*\).*/\1/p' |
		awk '{ printf "%.2f", ($1 > 0 ? 1e6 / $1 : 0) }')
	echo "$name $pps $(awk -v a="$r0" -v b="$r1" -v e="$e0" -v f="$e1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
		'BEGIN { w = (t1 - t0) / 1e9; printf "%.1f %.1f", (b - a) / hz / w * 100, (f - e) / hz / w * 100 }') $rtt" >>"$tmp/results"
}

for ((r = 1; r <= rounds; r++)); do
	measure direct "$tmp/direct.sock"
	measure hw-log "$tmp/direct.sock" --log-check --log-at 0
	measure sw-log "$tmp/swlog.sock" --log-check --log-at 0
	measure shadow "$tmp/shadow.sock"
	measure shadow-log "$tmp/shadow.sock" --log-check --log-at 0
done

echo "uvdpa migration relay cost: 64 B loopback, 1 queue pair, $count frames per run, median of $rounds"
echo "(uvdpad on core 1, uvdpa-frontend on core 0; CPU: % of one core over the run)"
printf '%-11s %10s %9s %9s %9s %9s %9s\n' case Mpps "vs direct" relay-CPU engine-CPU "RTT us" "+RTT us"
python3 - "$tmp/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, pps, relay, eng, rtt = line.split()
    rows.setdefault(name, []).append((float(pps), float(relay), float(eng), float(rtt)))
base = statistics.median(r[0] for r in rows["direct"])
base_rtt = statistics.median(r[3] for r in rows["direct"])
for name in ("direct", "hw-log", "sw-log", "shadow", "shadow-log"):
    r = rows[name]
    pps, relay, eng, rtt = (statistics.median(x[i] for x in r) for i in range(4))
    print("%-11s %10.3f %8.1f%% %8.1f%% %8.1f%% %9.2f %+9.2f" % (name, pps / 1e6, (pps / base - 1) * 100,
                                                            relay, eng, rtt, rtt - base_rtt))
EOF
