#!/usr/bin/env bash
# Side-by-side throughput: the same frontend (DPDK testpmd, net_virtio_user,
# 1 queue pair, one forwarding lcore) against
#   (a) DPDK's own vhost backend (a second testpmd with net_vhost0), and
#   (b) uvdpad with an emulated IFCVF VF (port sink / source / loopback).
#
#   bench/compare_dpdk.sh [-b BUILD_DIR] [--reps N] [--cases LIST] [--data FILE] [--no-profile]
#                         [--no-extra] [--keep] [--rx-size 60] [--warmup S]
#                         [--seconds S] [--quiet-wait S] [--retries N] [--budget S]
#
#   -b BUILD_DIR   uvdpa build to use (default: build-bench next to bench/;
#                  make it with: meson setup build-bench --buildtype=release
#                  -Dtests=false && ninja -C build-bench)
#   --reps N       repetitions (default 3), interleaved: every case on every
#                  backend, then the next repetition; each cell is the median
#   --cases LIST   comma-separated subset of tx64,rx64,tx1518,rx1518,lo64,mq4
#                  (default: all)
#   --data FILE    also write "KEY SIZE COLUMN MEDIAN_PPS" lines to FILE (for
#                  bench/plot_sizes.sh)
#   --no-profile   skip the perf profile of uvdpad (3 s right after each
#                  'uvdpa poll, core 1' window of the 64 B cases, first
#                  repetition)
#   --no-extra     skip the extra uvdpa rows (event mode for every case,
#                  unpinned for txonly 64 B)
#   --keep         keep the logs (their directory is printed)
#   --warmup S     seconds of traffic ignored before sampling (default 2)
#   --seconds S    seconds of stats samples averaged (default 6)
#   --quiet-wait S before each measurement, wait up to S seconds (default 20)
#                  for the machine to be idle (other processes < 10% of a CPU)
#   --retries N    repeat a measurement up to N times (default 1) when other
#                  processes took more than 10% of a CPU during its window
#   --budget S     waits and repeats only while the run can still end within
#                  S seconds (default: 15 s per measurement + 60)
#   --rx-size N    frame length of the rxonly case (default 64 when the uvdpa
#                  build accepts 'port source:64', else 60); 60 compares with
#                  builds that only know 'port source'
#   env TESTPMD    testpmd binary (default: dpdk-testpmd on PATH)
#   Needs root (testpmd), taskset, and cc for the c2c canary (optional);
#   perf (linux-perf) for the profile (optional).
#
# Cases (frame sizes are testpmd --txpkts lengths, no CRC):
#   txonly 64    frontend txonly; backend consumes: uvdpa `port sink` (the VF
#                copies each frame out of guest memory, counts and drops it),
#                DPDK vhost side in rxonly.
#   rxonly 64    frontend rxonly; backend feeds: uvdpa `port source:64`, DPDK
#                vhost side in txonly (--txpkts=64). uvdpa's CLI takes only
#                `port source` today (60 B frames): the script probes, and
#                runs both sides at 60 B when source:64 is refused.
#   txonly 1518  as txonly 64 with --txpkts=1518.
#   rxonly 1518  as rxonly 64 at 1518 B (uvdpa `port source:1518`).
#   mq4          txonly 64 B over 4 queue pairs: the frontend's one forwarding
#                lcore sends on 4 TX queues (--rxq=4 --txq=4); DPDK vhost side
#                queues=4 on its one forwarding lcore; uvdpad `max_vqp 4` with
#                --engines 2 (both on core 1). The report also gives each
#                backend's 4-pair / 1-pair rate.
#   io loopback  frontend io forwarding with --tx-first (one burst of 32
#                frames circulates); uvdpa `port loopback` (the VF hands each
#                TX frame to RX of the same queue pair) vs DPDK vhost side in
#                io forwarding on its single port (testpmd pairs a lone port
#                with itself: every frame it dequeues goes straight back).
#                Closest equivalent; the DPDK loop crosses two forwarding
#                threads (virtio-user's and vhost's), uvdpa's crosses
#                testpmd's thread and uvdpad's engine thread.
#   Every case is also measured with uvdpad in its default event mode, and
#   txonly 64 B unpinned (on top of the --poll, core 1 row). For every row the
#   backend's CPU time over the measurement gives its packets per CPU-second:
#   what event mode saves (or costs) against polling.
#
# Placement on the 2 cores: the frontend testpmd runs `-l 0,1 --main-lcore 1`
# (forwarding lcore 0). The DPDK vhost testpmd runs `-l 0,1` (forwarding
# lcore 1). uvdpad runs under `taskset -c 1` (engine, relay and control
# threads all on core 1, mirroring the vhost testpmd); its relay and control
# threads are idle during a run. The "unpinned" row lets the scheduler place
# uvdpad's threads, so the engine can land on core 0 and share it with the
# frontend's forwarding thread.
#
# Each measurement: wait for the first testpmd stats sample with traffic;
# t = 0 at its end. Samples that start at t >= --warmup are averaged until
# they cover --seconds. A sample's interval is exact (packets / pps of the
# sample), so the average is packets / seconds over the window (testpmd
# prints about every 2 s here despite --stats-period=1). Gbit/s = Mpps x
# frame bytes x 8 (L2 frame without CRC, preamble or IFG). Before each
# measurement the script waits for an idle machine and runs c2c_pingpong
# (core 0 <-> 1 cache-line round trip); during it, it counts the CPU that
# other processes take. Figures move run to run: compare rows of one run,
# and rows with a similar c2c.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build-bench
PROFILE=1
EXTRA=1
KEEP=0
WARMUP=2
SECONDS_=6
QUIET_WAIT=20
RETRIES=1
BUDGET=""
REPS=3
REP=1
ENGINES=1
CASE_LIST=tx64,rx64,tx1518,rx1518,lo64,mq4
while (($#)); do
	case $1 in
	-b) BUILD=${2:?-b needs a directory}; shift 2 ;;
	--reps) REPS=${2:?--reps needs a number}; shift 2 ;;
	--cases) CASE_LIST=${2:?--cases needs a list}; shift 2 ;;
	--data) DATA_OUT=${2:?--data needs a file}; shift 2 ;;
	--no-profile) PROFILE=0; shift ;;
	--no-extra) EXTRA=0; shift ;;
	--keep) KEEP=1; shift ;;
	--rx-size) RXSIZE_WANT=${2:?--rx-size needs a length}; shift 2 ;;
	--warmup) WARMUP=${2:?}; shift 2 ;;
	--seconds) SECONDS_=${2:?}; shift 2 ;;
	--quiet-wait) QUIET_WAIT=${2:?}; shift 2 ;;
	--retries) RETRIES=${2:?}; shift 2 ;;
	--budget) BUDGET=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
bench_setup "one forwarding core per side"
TESTPMD=${TESTPMD:-$(command -v dpdk-testpmd || true)}
[[ -n $TESTPMD ]] || { echo "dpdk-testpmd not found (Debian package dpdk)" >&2; exit 1; }

bench_init uvdpa-bench
: >"$TMP/prefixes"
# The DPDK runtime directories of the testpmd runs.
bench_cleanup_extra() {
	local p
	while read -r p; do
		[[ -n $p ]] && rm -rf "/var/run/dpdk/$p"
	done <"$TMP/prefixes"
	return 0
}

# window LOG PRIMARY(rx|tx): parses testpmd's per-port statistics blocks.
# Each sample's interval is exact: dt = (packets now - packets before) / pps.
# t = 0 at the end of the first sample with traffic in the PRIMARY
# direction; samples that start at t >= WARMUP are taken until they cover
# SECONDS. Prints "DONE RX_PPS TX_PPS NSAMPLES COVERED_S" (DONE 0 while
# there are not enough samples yet; the rates cover what there is).
window() {
	awk -v dir="$2" -v warm="$WARMUP" -v want="$SECONDS_" '
		$1 == "RX-packets:" { rxp = $2 }
		$1 == "TX-packets:" { txp = $2 }
		$1 == "Rx-pps:" { rpps = $2 }
		$1 == "Tx-pps:" {
			tpps = $2
			p = (dir == "tx") ? txp : rxp
			pps = (dir == "tx") ? tpps : rpps
			if (!busy) {
				if (pps > 0) busy = 1
			} else if (!done) {
				dt = (pps > 0) ? (p - lastp) / pps : lastdt
				if (t >= warm - 0.05) {
					srx += rxp - lastrx; stx += txp - lasttx; cov += dt; n++
					if (cov >= want - 0.3) done = 1
				}
				t += dt; lastdt = dt
			}
			lastp = p; lastrx = rxp; lasttx = txp
		}
		END {
			if (cov > 0) printf "%d %.0f %.0f %d %.2f\n", done, srx / cov, stx / cov, n, cov
			else printf "0 0 0 0 0\n"
		}' "$1" 2>/dev/null
}


# ---- frontend ----

# shellcheck disable=SC2054  # "0,1" is one EAL argument
# FE_EAL: forwarding on lcore 0 (lcore 1 is the main lcore: stats only).
FE_EAL=(-l 0,1 --main-lcore 1)
# DPDK vhost peer: forwarding on lcore 1.
# shellcheck disable=SC2054
PEER_EAL=(-l 0,1)

# QUEUES: queue pairs of the case being measured (frontend and both peers).
QUEUES=1
# The testpmd arguments for QUEUES queue pairs on one forwarding lcore.
queue_args() {
	((QUEUES > 1)) && echo "--rxq=$QUEUES --txq=$QUEUES"
	return 0
}

# frontend NAME SOCK MODE SIZE: starts the virtio-user testpmd; sets FE_PID, FE_LOG.
frontend() {
	local name=$1 sock=$2 mode=$3 size=$4 prefix="$RUN_ID-$1"
	# shellcheck disable=SC2207  # word list
	local args=(--auto-start --stats-period=1 "--forward-mode=$mode" "--txpkts=$size"
		--total-num-mbufs=16384 $(queue_args))
	[[ $mode == io ]] && args+=(--tx-first)
	echo "$prefix" >>"$TMP/prefixes"
	local cmd=(stdbuf -oL "$TESTPMD" "${FE_EAL[@]}" --no-pci --no-huge -m 512
		"--file-prefix=$prefix" --vdev "net_virtio_user0,path=$sock,queues=$QUEUES" -- "${args[@]}")
	record_cmd "  frontend" "${cmd[@]}"
	spawn "$name" "${cmd[@]}"
	FE_PID=$LAST_PID
	FE_LOG=$TMP/$name.log
}

# ---- peers ----

# dpdk_peer NAME SOCK MODE SIZE: the vhost testpmd (server); sets PEER_PID.
dpdk_peer() {
	local name=$1 sock=$2 mode=$3 size=$4 prefix="$RUN_ID-$1"
	echo "$prefix" >>"$TMP/prefixes"
	# shellcheck disable=SC2207  # word list
	local cmd=(stdbuf -oL "$TESTPMD" "${PEER_EAL[@]}" --no-pci --no-huge -m 512
		"--file-prefix=$prefix" --vdev "net_vhost0,iface=$sock,queues=$QUEUES" --
		--auto-start --stats-period=1 "--forward-mode=$mode" "--txpkts=$size"
		--total-num-mbufs=16384 $(queue_args))
	record_cmd "  backend" "${cmd[@]}"
	spawn "$name" "${cmd[@]}"
	PEER_PID=$LAST_PID
	PEER_LOG=$TMP/$name.log
	wait_until 30 test -S "$sock" || { echo "vhost testpmd did not create $sock" >&2; tail "$PEER_LOG" >&2; return 1; }
}

# uvdpa_peer NAME SOCK PORT FLAGS PIN: uvdpad with one VF; sets PEER_PID, CTL.
uvdpa_peer() {
	local name=$1 sock=$2 port=$3 flags=$4 pin=$5 vqp=""
	CTL=$TMP/$name.ctl
	((QUEUES > 1)) && vqp="max_vqp $QUEUES "
	printf '%s\n' "dev add name vf0 mgmtdev emu/ifcvf-net ${vqp}port $port" \
		"dev bind vf0 vhost-user $sock" >"$TMP/$name.conf"
	local cmd=()
	[[ -n $pin ]] && cmd=(taskset -c "$pin")
	# shellcheck disable=SC2206  # FLAGS is a word list
	cmd+=("$UVDPAD" -f -s "$CTL" --engines "$ENGINES" $flags -c "$TMP/$name.conf")
	record_cmd "  backend" "${cmd[@]}"
	sed 's/^/      conf: /' "$TMP/$name.conf" >>"$TMP/cmds"
	spawn "$name" "${cmd[@]}"
	PEER_PID=$LAST_PID
	PEER_LOG=$TMP/$name.log
	wait_until 15 test -S "$sock" || { echo "uvdpad did not bind $sock" >&2; tail "$PEER_LOG" >&2; return 1; }
}

# The CPU uvdpad's engine thread (ifcvf-eng0) last ran on.
engine_cpu() {
	local t
	for t in /proc/"$1"/task/*; do
		if [[ $(cat "$t/comm" 2>/dev/null) == ifcvf-eng0 ]]; then
			sed 's/.*) //' "$t/stat" | awk '{ print $37 }'
			return 0
		fi
	done
	echo "?"
}

vstat() {
	"$UVDPA" -s "$CTL" dev vstats show vf0 qidx "$1" 2>/dev/null |
		awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'
}

# ---- one measurement ----

CLK_TCK=$(getconf CLK_TCK)
# pid_ticks PID: user + system clock ticks of all of PID's threads so far.
pid_ticks() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }' || echo 0
}

# measure KEY LABEL SIZE FE_MODE BACKEND(dpdk|uvdpa) PEER_ARG FLAGS PIN
# Records "KEY COLUMN RX_PPS TX_PPS SIZE FOREIGN% STEAL% NSAMPLES COVERED".
measure_once() {
	local key=$1 label=$2 size=$3 femode=$4 be=$5 parg=$6 flags=$7 pin=$8
	local col tag sock dir=rx
	[[ $femode == txonly ]] && dir=tx
	if [[ $be == dpdk ]]; then
		col=dpdk
	elif [[ $flags == *--poll* ]]; then
		col="uvdpa-poll${pin:+@$pin}"
	else
		col="uvdpa-event${pin:+@$pin}"
	fi
	tag="$key-$col"
	tag=${tag//[^A-Za-z0-9_-]/}
	sock=$TMP/$tag.sock
	printf '%s\n' "$label:" >>"$TMP/cmds"
	if [[ $be == dpdk ]]; then
		dpdk_peer "$tag-be" "$sock" "$parg" "$size" || return 0
	else
		uvdpa_peer "$tag-be" "$sock" "$parg" "$flags" "$pin" || return 0
	fi
	frontend "$tag-fe" "$sock" "$femode" "$size"
	local i snap0 snap1 complete=0 rx tx n cov
	# Until traffic shows: poll often (nothing to disturb yet).
	for ((i = 0; i < 200; i++)); do
		awk -v k="$([[ $dir == tx ]] && echo Tx-pps: || echo Rx-pps:)" \
			'$1 == k && $2 > 0 { f = 1; exit } END { exit !f }' "$FE_LOG" 2>/dev/null && break
		alive "$FE_PID" || break
		sleep 0.1
	done
	snap0=$(cpu_snap "$FE_PID" "$PEER_PID")
	local t0 b0 t1 b1 cpu
	t0=$(date +%s.%N)
	b0=$(pid_ticks "$PEER_PID")
	# Then rarely: this script shares the 2 CPUs with both forwarding threads.
	for ((i = 0; i < (WARMUP + SECONDS_) + 30; i++)); do
		sleep 1
		read -r complete rx tx n cov < <(window "$FE_LOG" "$dir")
		((complete)) && break
		alive "$FE_PID" || break
	done
	snap1=$(cpu_snap "$FE_PID" "$PEER_PID")
	t1=$(date +%s.%N)
	b1=$(pid_ticks "$PEER_PID")
	cpu=$(awk -v a="$b0" -v b="$b1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
		'BEGIN { if (t1 > t0) printf "%.0f", (b - a) / hz / (t1 - t0) * 100; else print 0 }')
	# A row's figures are kept per repetition (REP) and reported as medians.
	local fs
	fs=$(cpu_foreign "$snap0" "$snap1")
	[[ -n ${PROFILE_HOOK:-} ]] && "$PROFILE_HOOK"
	local extra=""
	if [[ $be == uvdpa ]]; then
		extra="; VF vstats: rx ring $(vstat 0 packets), tx ring $(vstat 1 packets) packets"
		extra+="; engine on CPU $(engine_cpu "$PEER_PID")"
	fi
	stop "$FE_PID" INT
	stop "$PEER_PID" "$([[ $be == uvdpa ]] && echo TERM || echo INT)"
	if ((!complete)); then
		echo "  $label: not enough traffic samples (${n:-0} samples, ${cov:-0} s; --keep keeps the logs)" >&2
		rx=${rx:-0} tx=${tx:-0}
	fi
	echo "$key $col $rx $tx $size $fs $n $cov ${C2C_PRE:--} $cpu $REP" >>"$TMP/results"
	printf '  %-47s rx %6.2f tx %6.2f Mpps (%d samples, %.1f s; backend CPU %s%%; other %s%%, steal %s%%; c2c %s ns)%s\n' \
		"$label" "$(awk -v v="$rx" 'BEGIN { print v / 1e6 }')" "$(awk -v v="$tx" 'BEGIN { print v / 1e6 }')" \
		"$n" "$cov" "$cpu" ${fs% *} ${fs#* } "${C2C_PRE:--}" "$extra"
}

# The core-to-core canary (see c2c_pingpong.c).
C2C=""
if command -v cc >/dev/null && cc -O2 -pthread -o "$TMP/c2c" "$HERE/c2c_pingpong.c" 2>"$TMP/c2c.log"; then
	C2C=$TMP/c2c
fi

# wait_quiet: up to QUIET_WAIT s until 0.5 s of /proc/stat shows less than
# 10% of a CPU busy (nothing of ours runs between measurements).
# slack: seconds the run can still spend waiting or repeating.
slack() { echo $((BUDGET - ($(date +%s) - T0) - MEAS_LEFT * 15)); }

wait_quiet() {
	local i a b f max=$QUIET_WAIT sl
	sl=$(slack)
	((sl < max)) && max=$sl
	for ((i = 0; i < max * 2; i++)); do
		a=$(cpu_snap)
		sleep 0.5
		b=$(cpu_snap)
		read -r f _ < <(cpu_foreign "$a" "$b")
		((f < 10)) && return 0
		((i == 0)) && printf '  (machine busy: %s%% of a CPU; waiting up to %s s)\n' "$f" "$max"
	done
	return 0
}

# measure ARGS of measure_once: waits for a quiet machine, measures, and
# measures again (the last result counts) when other load disturbed it.
measure() {
	local try
	MEAS_LEFT=$((MEAS_LEFT - 1))
	for ((try = 0; try <= RETRIES; try++)); do
		wait_quiet
		C2C_PRE=""
		[[ -n $C2C ]] && C2C_PRE=$("$C2C" 0 1 2>/dev/null || true)
		measure_once "$@"
		[[ -s $TMP/results ]] || return 0
		# 6th field of the last result: other processes' CPU %.
		(($(tail -n1 "$TMP/results" | awk '{ print $6 + 0 }') <= 10)) && return 0
		if ((try < RETRIES && $(slack) > 15)); then
			echo "  (disturbed by other processes: measuring again)"
			sed -i '$d' "$TMP/results"
		else
			break
		fi
	done
	return 0
}

T0=$(date +%s)

# The source port's frame length: `port source:LEN` where the CLI takes it,
# else the model's default (60 B) and the DPDK side sends the same length.
probe_source_len() {
	local ctl=$TMP/probe.ctl pid rc=1
	"$UVDPAD" -f -s "$ctl" >"$TMP/probe.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >>"$TMP/pids"
	if wait_until 10 test -S "$ctl"; then
		"$UVDPA" -s "$ctl" dev add name probe mgmtdev emu/ifcvf-net port source:64 \
			>>"$TMP/probe.log" 2>&1 && rc=0
	fi
	stop "$pid" TERM
	return $rc
}
if [[ ${RXSIZE_WANT:-} == 60 ]]; then
	RXSIZE=60 RXPORT=source RXNOTE="rxonly runs at 60 B on both sides (--rx-size 60)"
elif probe_source_len; then
	RXSIZE=64 RXPORT=source:64 RXNOTE=""
else
	RXSIZE=60 RXPORT=source
	RXNOTE="rxonly runs at 60 B on both sides: this uvdpa build refuses 'port source:64'"
	RXNOTE+=" (the model's frame is then 60 B, its default)"
fi

echo "uvdpa vs DPDK vhost, frontend: testpmd net_virtio_user, 1 queue pair, forwarding lcore 0"
echo "build: $BUILD (${BTYPE:-unknown buildtype}); testpmd: $TESTPMD"
echo "CPUs: $(nproc) x $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1); $(uname -r)"
echo "each: ${WARMUP} s of traffic as warm-up, then the frontend's Rx-pps/Tx-pps over ${SECONDS_} s of stats samples"
[[ -n $RXNOTE ]] && echo "note: $RXNOTE"
echo
echo "measuring (other load = CPU used by processes not in the measurement, in % of one CPU):"

# ---- profile ----

# After a uvdpa poll measurement's window, while its traffic still runs:
# sample uvdpad for PROF_SECONDS with perf's cpu-clock software event (this
# VM has no hardware counters). DWARF call graphs (the release build has no
# frame pointers) at a low rate; perf itself runs on core 1 with uvdpad, so
# that it takes time from the engine it measures, not from the frontend.
PROF_SECONDS=3
profile_hook() {
	local out=$TMP/$PROF_KEY.perf
	taskset -c 1 perf record -e cpu-clock -F 300 --call-graph dwarf,8192 -p "$PEER_PID" \
		-o "$out" -- sleep "$PROF_SECONDS" >"$TMP/$PROF_KEY.perf.log" 2>&1 || true
}

# Source file of a function (static ones too), from its definition.
src_of() {
	local f
	f=$( (grep -rlE --include="*.c" "^[a-z_].*[ *]$1\(" "$HERE/../src"; grep -rlE "^[a-z_].*[ *]$1\(" "$HERE/../src") 2>/dev/null | head -n1 || true)
	if [[ -n $f ]]; then
		echo "${f#"$HERE/../"}"
	fi
	return 0
}

# prof_top KEY: the top self-time symbols, "PCT THREAD DSO SYMBOL".
prof_top() {
	perf report -i "$TMP/$1.perf" --stdio --no-children --sort comm,dso,sym -g none 2>/dev/null |
		sed -n 's/^ *\([0-9.]*%\) *\([^ ]*\) *\([^ ]*\) *\[[.k]\] \([^ ]*\).*/\1 \2 \3 \4/p' | head -n "${2:-8}"
}

# prof_via KEY SYMBOL: the nearest uvdpad function (defined under src/) on
# the call chains of SYMBOL's samples (for libc and kernel symbols).
prof_via() {
	local fn
	while read -r fn; do
		[[ $fn == "$2" ]] && continue
		if [[ -n $(src_of "$fn") ]]; then
			echo "$fn"
			return 0
		fi
	done < <(perf report -i "$TMP/$1.perf" --stdio --no-children --sort sym -S "$2" \
		-g caller,0.5,callee,function,percent 2>/dev/null | grep -v '^#' |
		sed 's/^[ |]*//; s/^-*[0-9.]*%*-*//; s/^-*//' | grep -v '(inlined)' |
		awk 'NF == 1 && $1 ~ /^[A-Za-z_][A-Za-z0-9_]*$/ { print $1 }')
	return 0
}

PROF_KEYS=()
if ((PROFILE)); then
	if ! command -v perf >/dev/null ||
		! perf record -e cpu-clock -o "$TMP/probe.perf" -- true >/dev/null 2>&1; then
		echo "(perf is not usable here: no profile)"
		PROFILE=0
	fi
fi

# case_def KEY: "KEY|LABEL|SIZE|FRONTEND_MODE|DPDK_VHOST_MODE|UVDPA_PORT|QUEUES|ENGINES".
# txN, rxN and loN take any frame length N (rxN needs `port source:N`).
case_def() {
	local k=$1 n=${1:2}
	case $k in
	mq4) echo "mq4|txonly 64 B, 4 pairs|64|txonly|rxonly|sink|4|2" ;;
	tx[0-9]*) echo "$k|txonly $n B|$n|txonly|rxonly|sink|1|1" ;;
	rx[0-9]*)
		if [[ $n == 64 ]]; then
			echo "rx$RXSIZE|rxonly $RXSIZE B|$RXSIZE|rxonly|txonly|$RXPORT|1|1"
		else
			echo "$k|rxonly $n B|$n|rxonly|txonly|source:$n|1|1"
		fi ;;
	lo[0-9]*) echo "$k|io loopback $n B|$n|io|io|loopback|1|1" ;;
	*) echo "unknown case $k (tx64 rx64 tx1518 rx1518 lo64 mq4, or txN/rxN/loN)" >&2; return 1 ;;
	esac
}
CASES=()
IFS=, read -r -a want <<<"$CASE_LIST"
for k in "${want[@]}"; do
	CASES+=("$(case_def "$k")") || exit 2
done
ROWS=$((2 + (EXTRA ? 1 : 0)))
MEAS_LEFT=$((${#CASES[@]} * ROWS * REPS + (EXTRA ? REPS : 0)))
[[ -n $BUDGET ]] || BUDGET=$((MEAS_LEFT * 15 + 60))
for ((REP = 1; REP <= REPS; REP++)); do
	((REPS > 1)) && echo " repetition $REP of $REPS:"
	for c in "${CASES[@]}"; do
		IFS='|' read -r key label size fm dm port QUEUES ENGINES <<<"$c"
		measure "$key" "$label: DPDK vhost $dm" "$size" "$fm" dpdk "$dm" "" ""
		if ((PROFILE && REP == 1)) && [[ $size == 64 || $size == 60 ]] && ((QUEUES == 1)); then
			PROF_KEY=$key PROFILE_HOOK=profile_hook
			PROF_KEYS+=("$key|$label, uvdpa $port")
		fi
		measure "$key" "$label: uvdpa $port, poll, core 1" "$size" "$fm" uvdpa "$port" "--poll" 1
		PROFILE_HOOK=""
		if ((EXTRA)); then
			measure "$key" "$label: uvdpa $port, event, core 1" "$size" "$fm" uvdpa "$port" "" 1
			[[ $key == tx64 ]] &&
				measure "$key" "$label: uvdpa $port, poll, unpinned" "$size" "$fm" uvdpa "$port" "--poll" ""
		fi
	done
done

# ---- report ----

mpps() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1e6 }'; }
gbps() { awk -v v="$1" -v s="$2" 'BEGIN { printf "%.2f", v * s * 8 / 1e9 }'; }
# stat KEY COL WHAT: over the repetitions of one row, the median of the
# figure that measures the backend (what the frontend sent for txonly and
# mq4, received for rxonly and io), "min-max" of it, the median packets per
# backend CPU-second, the median c2c and the largest other%.
stat() {
	awk -v k="$1" -v c="$2" -v w="$3" '
		function med(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		$1 == k && $2 == c {
			v = (k ~ /^(tx|mq)/) ? $4 : $3
			n++; p[n] = v; lo = (n == 1 || v < lo) ? v : lo; hi = (v > hi) ? v : hi
			if ($11 > 0) { m++; e[m] = v / ($11 / 100) }
			if ($10 != "-") { q++; cc[q] = $10 }
			o = ($6 > o) ? $6 : o
		}
		END {
			if (!n) exit
			if (w == "pps") print med(p, n)
			else if (w == "range") printf "%.2f-%.2f\n", lo / 1e6, hi / 1e6
			else if (w == "eff") { if (m) printf "%.2f\n", med(e, m) / 1e6; else print "-" }
			else if (w == "c2c") { if (q) printf "%.0f\n", med(cc, q); else print "-" }
			else if (w == "other") print o + 0
		}' "$TMP/results"
}
fig() { stat "$1" "$2" pps; }

COLS=("dpdk|DPDK vhost" "uvdpa-poll@1|uvdpa poll, core 1" "uvdpa-event@1|uvdpa event, core 1"
	"uvdpa-poll|uvdpa poll, unpinned")
echo
if ((REPS > 1)); then
	echo "results of this run (median of $REPS interleaved repetitions; range = min-max):"
else
	echo "results of this run:"
fi
echo
printf '%-24s %-22s %7s %12s %8s %6s %9s %6s %6s\n' case backend Mpps range Gbit/s ratio Mpps/CPU "c2c ns" other%
for c in "${CASES[@]}"; do
	IFS='|' read -r key label size fm dm port QUEUES ENGINES <<<"$c"
	d=$(fig "$key" dpdk)
	first=1
	for cl in "${COLS[@]}"; do
		col=${cl%%|*}
		name=${cl#*|}
		[[ $col == dpdk ]] && name="DPDK vhost $dm"
		u=$(fig "$key" "$col")
		[[ -n $u ]] || continue
		r=-
		[[ $col != dpdk ]] &&
			r=$(awk -v a="$u" -v b="${d:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
		o=$(stat "$key" "$col" other)
		((o > 10)) && o+="!"
		lab=""
		((first)) && lab=$label
		printf '%-24s %-22s %7s %12s %8s %6s %9s %6s %6s\n' "$lab" "$name" \
			"$(mpps "$u")" "$(stat "$key" "$col" range)" "$(gbps "$u" "$size")" "$r" \
			"$(stat "$key" "$col" eff)" "$(stat "$key" "$col" c2c)" "$o"
		first=0
	done
done
if [[ $CASE_LIST == *mq4* && $CASE_LIST == *tx64* ]]; then
	echo
	echo "4 queue pairs / 1 queue pair, txonly 64 B (same cores: frontend on 0, backend on 1):"
	for col in dpdk uvdpa-poll@1; do
		awk -v a="$(fig mq4 "$col")" -v b="$(fig tx64 "$col")" -v n="$col" \
			'BEGIN { if (a > 0 && b > 0) printf "  %-14s %.2f Mpps / %.2f Mpps = %.2fx\n", n, a / 1e6, b / 1e6, a / b }'
	done
fi
if [[ -n ${DATA_OUT:-} ]]; then
	for c in "${CASES[@]}"; do
		IFS='|' read -r key label size _ <<<"$c"
		for col in dpdk uvdpa-poll@1 uvdpa-event@1; do
			u=$(fig "$key" "$col")
			[[ -n $u ]] && echo "$key $size $col $u"
		done
	done >"$DATA_OUT"
fi
echo
echo "- Mpps: the frontend testpmd's Tx-pps for txonly, Rx-pps for rxonly and io; Gbit/s ="
echo "  Mpps x frame bytes x 8 (no CRC, preamble or gap); ratio = uvdpa / DPDK vhost, same case."
echo "- c2c ns: core 0 <-> core 1 cache-line round trip measured just before (c2c_pingpong.c)."
echo "  Every case here is bound by ring cache lines moving between the two cores, and on this"
echo "  VM the host's placement of the two vCPUs changes that cost (and the figures: often 2x)"
echo "  from minute to minute: compare rows whose c2c is alike."
echo "- other%: CPU that processes outside the measurement used during its window, in % of one"
echo "  CPU ('!' above 10%: that figure is low)."
echo "- txonly: the backend consumes (uvdpa port sink: the VF copies each frame out of guest"
echo "  memory, counts and drops it; DPDK vhost testpmd in rxonly). rxonly: the backend feeds"
echo "  (uvdpa port $RXPORT; DPDK vhost testpmd in txonly --txpkts=$RXSIZE)."
echo "- io loopback: frontend io forwarding with --tx-first (one burst of 32 frames circulates:"
echo "  a latency-bound loop). uvdpa port loopback returns each TX frame on RX of the same queue"
echo "  pair; the DPDK vhost testpmd in io forwarding pairs its single port with itself, so"
echo "  every frame it dequeues goes straight back: the closest equivalent (it adds a testpmd"
echo "  forwarding pass where uvdpa's engine hands the frame over internally)."
echo "- event = uvdpad's default mode (engine sleeps in epoll after a 50 us idle poll window);"
echo "  poll = --poll (the engine never sleeps). --engines 1 (mq4: 2)."
echo "- Mpps/CPU: the backend's packets per second of its own CPU time (user + system, all"
echo "  threads) over the measurement, in millions: what a packet costs the backend's CPU."
echo "- Placement: frontend forwarding on core 0 (-l 0,1 --main-lcore 1); DPDK vhost forwarding"
echo "  on core 1 (-l 0,1); uvdpad under taskset -c 1 (engine, relay and control threads on"
echo "  core 1; relays and control are idle while the engine polls). Unpinned, the scheduler may"
echo "  put uvdpad's busy engine on core 0 with the frontend's forwarding thread."
if awk '$1 !~ /^prof/ && $6 > 10 { f = 1 } END { exit !f }' "$TMP/results"; then
	echo "- WARNING: other processes used more than 10% of a CPU during some measurements"
	echo "  (other% with '!'): those figures are low; rerun on a quiet machine."
fi

if ((${#PROF_KEYS[@]})); then
	echo
	echo "where uvdpad's time goes (perf record -e cpu-clock --call-graph dwarf for ${PROF_SECONDS} s right"
	echo "after the 'uvdpa poll, core 1' windows; self time per symbol; 'via' = the nearest uvdpad"
	echo "function on the call chains of a libc, vdso or kernel symbol):"
	for kl in "${PROF_KEYS[@]}"; do
		key=${kl%%|*}
		echo "  ${kl#*|}:"
		if [[ ! -s $TMP/$key.perf ]]; then
			echo "    no samples"
			continue
		fi
		while read -r pct comm dso sym; do
			where=""
			if [[ $dso == uvdpad ]]; then
				f=$(src_of "$sym")
				where=${f:+  $f}
			else
				f=$(prof_via "$key" "$sym")
				[[ -n $f ]] && where="  via $f ($(src_of "$f"))"
			fi
			printf '    %7s  %-10s %-9s %s%s\n' "$pct" "$comm" "$dso" "$sym" "$where"
		done < <(prof_top "$key" 8)
	done
fi

echo
if ((KEEP)); then
	echo "command lines (paths under $TMP, kept):"
else
	echo "command lines (paths under $TMP, removed at exit; --keep keeps them):"
fi
# Each measurement's command lines once (a repeated one has the same).
awk '/^[^ ]/ { show = !seen[$0]++ } show' "$TMP/cmds"
echo
echo "total $(($(date +%s) - T0)) s"
