#!/usr/bin/env bash
# Side-by-side block I/O: the same frontend (uvdpa-frontend --blk, polled,
# 1 queue) against
#   (a) qemu-storage-daemon's vhost-user-blk export of a raw file, and
#   (b) uvdpad's emulated IFCVF blk VF (emu/ifcvf-blk) on the same file.
#
#   bench/blk_compare.sh [-b BUILD_DIR] [--file PATH] [--seconds S] [--reps N] [--keep]
#
#   -b BUILD_DIR   uvdpa build to use (default: build-bench next to bench/;
#                  make it with: meson setup build-bench --buildtype=release
#                  -Dtests=false && ninja -C build-bench)
#   --file PATH    backing file (default: a new 1 GiB file in the run's temporary
#                  directory, written in full once before the measurements so
#                  that reads find data, not holes)
#   --seconds S    seconds per measurement (default 5)
#   --reps N       interleaved repetitions; the median counts (default 3)
#   --keep         keep the logs (their directory is printed)
#   env QSD        qemu-storage-daemon binary (default: on PATH)
#   Needs taskset (util-linux) and qemu-storage-daemon (Debian: qemu-system-common).
#
# Rows (--no-verify: the figures are the device's, not the pattern
# generator's; the tests verify the data):
#   randread 4k qd1    IOPS and p99 latency
#   randread 4k qd32   IOPS and p99 latency
#   randwrite 4k qd32  IOPS and p99 latency
#   seqwrite 1m qd4    MB/s (10^6 bytes)
#
# Both daemons run for the whole bench under taskset -c 1, each with one
# queue (qsd num-queues=1, uvdpa num_queues 1); the frontend runs on core 0.
# Repetitions are interleaved (rep 1: every row on qsd then on uvdpa, rep 2,
# ...) so that a slow minute on this VM hits both columns; each cell is the
# median of the reps. The uvdpa column reads "n/a" when this build refuses
# `dev add ... mgmtdev emu/ifcvf-blk` (the reason is printed).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build-bench
FILE=""
SECS=5
REPS=3
KEEP=0
# shellcheck disable=SC2034  # KEEP is read by lib.sh's cleanup
while (($#)); do
	case $1 in
	-b) BUILD=${2:?-b needs a directory}; shift 2 ;;
	--file) FILE=${2:?--file needs a path}; shift 2 ;;
	--seconds) SECS=${2:?}; shift 2 ;;
	--reps) REPS=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
bench_setup "the frontend on one, the daemons on the other"
FE=$BUILD/tools/uvdpa-frontend
QSD=${QSD:-$(command -v qemu-storage-daemon || true)}
[[ -x $FE ]] || { echo "$FE is not built" >&2; exit 1; }
[[ -n $QSD ]] || { echo "qemu-storage-daemon not found (Debian package qemu-system-common)" >&2; exit 1; }
bench_init uvdpa-blk-bench
[[ -n $FILE ]] || FILE=$TMP/disk.raw

# kv LINE KEY: the value of KEY=VALUE in LINE.
kv() { sed -n "s/.*[ ^]$2=\([^ ]*\).*/\1/p" <<<" $1"; }

T0=$(date +%s)

# ---- the backing file ----

if [[ ! -e $FILE ]]; then
	truncate -s 1G "$FILE"
	FILL=1
else
	FILL=0
fi
SIZE=$(stat -c %s "$FILE")
((SIZE >= 1 << 30)) || { echo "$FILE is smaller than 1 GiB" >&2; exit 1; }

# ---- the two daemons ----

QSOCK=$TMP/qsd.sock
USOCK=$TMP/uvdpa.sock
CTL=$TMP/uvdpad.ctl
qcmd=(taskset -c 1 "$QSD" --blockdev "driver=file,node-name=f,filename=$FILE,discard=unmap"
	--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$QSOCK,writable=on,num-queues=1")
record_cmd "qsd" "${qcmd[@]}"
spawn qsd "${qcmd[@]}"
QSD_PID=$LAST_PID
wait_until 15 test -S "$QSOCK" || { echo "qemu-storage-daemon did not listen:" >&2; cat "$TMP/qsd.log" >&2; exit 1; }

UVDPA_NA=""
ucmd=(taskset -c 1 "$UVDPAD" -f -s "$CTL")
record_cmd "uvdpa" "${ucmd[@]}"
spawn uvdpad "${ucmd[@]}"
UD_PID=$LAST_PID
if ! wait_until 15 test -S "$CTL"; then
	UVDPA_NA="uvdpad did not start: $(tail -n1 "$TMP/uvdpad.log")"
else
	add=(dev add name blk0 mgmtdev emu/ifcvf-blk file "$FILE" capacity 1G num_queues 1)
	record_cmd "  then" "$UVDPA" -s "$CTL" "${add[@]}"
	record_cmd "  and" "$UVDPA" -s "$CTL" dev bind blk0 vhost-user "$USOCK"
	if ! "$UVDPA" -s "$CTL" "${add[@]}" >"$TMP/dev-add.log" 2>&1; then
		UVDPA_NA="this build refuses emu/ifcvf-blk: $(tr '\n' ' ' <"$TMP/dev-add.log")"
	elif ! "$UVDPA" -s "$CTL" dev bind blk0 vhost-user "$USOCK" >"$TMP/dev-bind.log" 2>&1 ||
		! wait_until 10 test -S "$USOCK"; then
		UVDPA_NA="dev bind failed: $(tr '\n' ' ' <"$TMP/dev-bind.log")"
	fi
fi
if [[ -n $UVDPA_NA ]]; then
	stop "$UD_PID" TERM
fi

echo "uvdpa vs qemu-storage-daemon, frontend: uvdpa-frontend --blk (polled, 1 queue) on core 0"
echo "build: $BUILD (${BTYPE:-unknown buildtype}); qsd: $("$QSD" --version | head -n1)"
echo "CPUs: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1); $(uname -r)"
echo "file: $FILE ($((SIZE >> 20)) MiB on $(df --output=fstype "$FILE" | tail -n1)); ${SECS} s per measurement, median of $REPS interleaved reps"
[[ -n $UVDPA_NA ]] && echo "uvdpa: n/a ($UVDPA_NA)"

if ((FILL)); then
	echo "writing the file once through qsd (1 MiB sequential writes)..."
	taskset -c 0 "$FE" --blk -q --socket "$QSOCK" --rw write --bs 1m --iodepth 4 --no-verify \
		>"$TMP/fill.log" 2>&1 || { echo "fill failed:" >&2; cat "$TMP/fill.log" >&2; exit 1; }
fi

# ---- measurements ----

# KEY|LABEL|FRONTEND ARGS
ROWS=(
	"rr1|randread 4k qd1|--rw randread --bs 4k --iodepth 1"
	"rr32|randread 4k qd32|--rw randread --bs 4k --iodepth 32"
	"rw32|randwrite 4k qd32|--rw randwrite --bs 4k --iodepth 32"
	"sw1m|seqwrite 1m qd4|--rw write --bs 1m --iodepth 4"
)

# measure KEY SIDE SOCK ARGS: one run; records "KEY SIDE IOPS P99 MBPS
# OTHER%" ("fail" for the figures of a run that failed). OTHER%: CPU that
# processes other than the frontend and the two daemons used meanwhile.
measure() {
	local key=$1 side=$2 sock=$3 args=$4 out line s0 s1 other rc=0
	out=$TMP/$key-$side-$REP.log
	s0=$(cpu_snap children "$QSD_PID" "$UD_PID")
	# shellcheck disable=SC2086  # ARGS is a word list
	taskset -c 0 "$FE" --blk -q --socket "$sock" $args --time "$SECS" --no-verify \
		>"$out" 2>&1 || rc=$?
	s1=$(cpu_snap children "$QSD_PID" "$UD_PID")
	read -r other _ < <(cpu_foreign "$s0" "$s1")
	line=$(grep -m1 '^blk: ' "$out" || true)
	if ((rc == 0)) && [[ -n $line ]]; then
		echo "$key $side $(kv "$line" iops) $(kv "$line" lat_p99_us) $(kv "$line" mbps) $other" >>"$TMP/results"
		printf '  rep %d %-5s %-5s %8s IOPS  p99 %8s us  %8s MB/s  other %s%%\n' "$REP" "$key" \
			"$side" "$(kv "$line" iops)" "$(kv "$line" lat_p99_us)" "$(kv "$line" mbps)" "$other"
	else
		echo "  rep $REP $key $side: FAILED ($(grep -m1 -E 'result|ERR' "$out" || true))"
		echo "$key $side fail fail fail $other" >>"$TMP/results"
	fi
}

echo
echo "measuring:"
for ((REP = 1; REP <= REPS; REP++)); do
	for r in "${ROWS[@]}"; do
		IFS='|' read -r key label args <<<"$r"
		# shellcheck disable=SC2086  # ARGS is a word list
		((REP == 1)) && record_cmd "$label" taskset -c 0 "$FE" --blk -q --socket SOCK $args \
			--time "$SECS" --no-verify
		measure "$key" qsd "$QSOCK" "$args"
		[[ -z $UVDPA_NA ]] && measure "$key" uvdpa "$USOCK" "$args"
	done
done
if [[ -z $UVDPA_NA ]]; then
	alive "$UD_PID" || echo "WARNING: uvdpad exited during the bench (see its log)"
	stop "$UD_PID" TERM
fi
alive "$QSD_PID" || echo "WARNING: qemu-storage-daemon exited during the bench"
stop "$QSD_PID" TERM

# ---- report ----

# med KEY SIDE FIELD(3 iops, 4 p99, 5 mbps): the median over the reps, "-"
# when a rep failed.
med() {
	awk -v k="$1" -v s="$2" -v f="$3" '$1 == k && $2 == s { if ($f == "fail") bad = 1; v[n++] = $f + 0 }
		END {
			if (!n) { print "n/a"; exit }
			if (bad) { print "fail"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			printf "%.1f\n", (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
		}' "$TMP/results"
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}
fmt() {
	if [[ $1 == n/a || $1 == fail ]]; then
		echo "$1"
	else
		awk -v v="$1" -v d="$2" 'BEGIN { printf("%." d "f\n", v) }'
	fi
}

echo
echo "results (median of $REPS):"
echo
printf '%-19s %-6s %12s %12s %8s\n' row figure qsd uvdpa "uvdpa/qsd"
for r in "${ROWS[@]}"; do
	IFS='|' read -r key label _ <<<"$r"
	if [[ $key == sw1m ]]; then
		q=$(med "$key" qsd 5) u=$(med "$key" uvdpa 5)
		printf '%-19s %-6s %12s %12s %8s\n' "$label" "MB/s" "$(fmt "$q" 1)" "$(fmt "$u" 1)" "$(ratio "$u" "$q")"
		continue
	fi
	q=$(med "$key" qsd 3) u=$(med "$key" uvdpa 3)
	printf '%-19s %-6s %12s %12s %8s\n' "$label" "IOPS" "$(fmt "$q" 0)" "$(fmt "$u" 0)" "$(ratio "$u" "$q")"
	q=$(med "$key" qsd 4) u=$(med "$key" uvdpa 4)
	# Latency: lower is better, the ratio is still uvdpa / qsd.
	printf '%-19s %-6s %12s %12s %8s\n' "" "p99 us" "$(fmt "$q" 1)" "$(fmt "$u" 1)" "$(ratio "$u" "$q")"
done
echo
echo "- IOPS and p99 (microseconds, from submission to the completion seen by the polling"
echo "  frontend) and MB/s (10^6 bytes/s) from uvdpa-frontend's summary line."
echo "- ratio = uvdpa / qsd: above 1 is better for IOPS and MB/s, worse for p99."
if awk '$6 > 10 { f = 1 } END { exit !f }' "$TMP/results"; then
	echo "- WARNING: other processes used more than 10% of a CPU during $(awk '$6 > 10' "$TMP/results" |
		wc -l) of the measurements ('other' above): those figures are low; rerun on a quiet machine."
fi
[[ -n $UVDPA_NA ]] && echo "- uvdpa: n/a ($UVDPA_NA)"
echo
echo "command lines (paths under $TMP):"
cat "$TMP/cmds"
echo
echo "total $(($(date +%s) - T0)) s"
