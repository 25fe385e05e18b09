#!/usr/bin/env bash
# Integration test: uvdpad with emulated IFCVF net VFs (the ifcvf driver on the
# emulated function, bound to vhost-user) against real and test frontends.
#
#   test_emu_vf.sh BUILD_DIR
#
# Scenarios (each prints its own PASS/FAIL line and its measured figures;
# the script fails if any does):
#   1 testpmd     DPDK virtio-user io forwarding (--tx-first) through a VF in
#                 `port loopback`: 1 queue pair, 4 queue pairs (every queue
#                 forwards), mrg_rxbuf=0, mrg_rxbuf=1, in_order=1; vstats
#                 count what testpmd saw; uvdpad's fds/maps back to idle
#   2 pair        two VFs wired with `port pair:NAME`: uvdpa-frontend TX-only
#                 on one, RX-only on the other, 1,000,000 frames of 60..1514
#                 bytes, every byte verified, none lost or reordered
#   3 fault       two loopback VFs with verified traffic; on one, a TX packet
#                 and then an RX buffer at an unmapped guest-physical address:
#                 that VF's ring faults (logged, the descriptor never
#                 completes), uvdpad survives, the other VF's traffic never
#                 stops, and the faulted VF works again after a new session
#   4 barrage     malformed vhost-user messages (bad flags, oversize claims,
#                 unknown requests, SET_MEM_TABLE with 9 regions, too many
#                 fds, ...) each close or nack their connection while the
#                 other VF keeps forwarding verified traffic; no fd leaks
#
# uvdpad must exit 0 on SIGTERM at the end of each scenario and its log must
# hold no sanitizer report (CI runs this against an ASan/UBSan build).
# Raw vhost-user work (faults, malformed messages) is done by emu_vf_raw.py.
set -euo pipefail

BUILD=${1:?usage: test_emu_vf.sh BUILD_DIR}
if [[ ! -d $BUILD ]]; then
	echo "FAIL: build directory $BUILD not found" >&2
	exit 1
fi
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
UVDPAD=$BUILD/tools/uvdpad
UVDPA=$BUILD/tools/uvdpa
FRONTEND=$BUILD/tools/uvdpa-frontend
RAW=$HERE/emu_vf_raw.py
TESTPMD=${TESTPMD:-$(command -v dpdk-testpmd || true)}
PY=${PYTHON:-$(command -v python3 || true)}

for p in "$UVDPAD" "$UVDPA" "$FRONTEND"; do
	if [[ ! -x $p ]]; then
		echo "FAIL: $p is not built" >&2
		exit 1
	fi
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
lib_init uvdpa-emu
# shellcheck disable=SC2034  # TP_MBUFS and MAPS_FILE_ONLY are read by lib.sh
TP_MBUFS=16384
# uvdpad's engine and relay threads create malloc arenas on first use:
# compare fds exactly and file-backed mappings (guest memory) only.
# shellcheck disable=SC2034
MAPS_FILE_ONLY=1
SKIPPED=0

# ---- uvdpad ----

# start_uvdpad NAME COMMAND...: uvdpad in the foreground with the commands
# as its -c file, control socket $TMP/NAME.ctl; sets UD_PID, UD_LOG, CTL and
# waits until every vhost-user socket it binds is listening.
start_uvdpad() {
	local name=$1 line sock
	shift
	printf '%s\n' "$@" >"$TMP/$name.conf"
	CTL=$TMP/$name.ctl
	UD_LOG=$TMP/$name.log
	spawn "$name" "$UVDPAD" -f -s "$CTL" -c "$TMP/$name.conf"
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

# Negotiated features as `dev config show` prints them (while connected).
neg_features() { uv dev config show "$1" | sed -n 's/^ *negotiated_features //p'; }

# jget FILE KEY: a value from the frontend's --json result line.
jget() {
	grep -m1 '^{"result"' "$1" | sed -n "s/.*\"$2\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" | tr -d '"'
}

# ---- scenario 1: testpmd ----

# tp_run NAME DEV SOCK VDEV_EXTRA NQ [TESTPMD_ARGS...]: one io-forwarding run
# of ~5 stats samples through DEV; checks and reports.
tp_run() {
	local name=$1 dev=$2 sock=$3 extra=$4 nq=$5
	shift 5
	local confs closes rx0 tx0
	confs=$(n_dev "$dev" 'dev_conf done')
	closes=$(n_dev "$dev" 'dev_close')
	rx0=$(vstat_sum "$dev" 0 "$nq" packets)
	tx0=$(vstat_sum "$dev" 1 "$nq" packets)
	start_testpmd "$SCEN-$name-tp" "$sock" "$extra" "$@"
	local tp=$TP_PID log=$TMP/$SCEN-$name-tp.log
	wait_dev "$dev" 'dev_conf done' $((confs + 1))
	forward_for "$log" 2
	NEG=$(neg_features "$dev")
	forward_for "$log" 3
	stop_proc "$tp" INT 15
	((STOP_RC == 0 || STOP_RC == 130)) || fail "$name: testpmd exited with status $STOP_RC"
	wait_dev "$dev" 'dev_close' $((closes + 1)) 10

	local rx tx q qrx qs=""
	rx=$(tp_total "$log" RX-packets)
	tx=$(tp_total "$log" TX-packets)
	[[ -n $rx && -n $tx ]] || fail "$name: no final statistics in the testpmd log"
	((rx > 100000 && tx > 100000)) || fail "$name: too little traffic: RX=$rx TX=$tx"
	if ((nq > 1)); then
		local vr vt
		for ((q = 0; q < nq; q++)); do
			qrx=$(tp_queue_rx "$log" "$q")
			((${qrx:-0} > 0)) || fail "$name: queue $q forwarded nothing"
			# The device's own count for the pair's rings (a fresh VF).
			vr=$(vstat "$dev" $((2 * q)) packets)
			vt=$(vstat "$dev" $((2 * q + 1)) packets)
			((${vr:-0} > 0 && ${vt:-0} > 0)) ||
				fail "$name: vstats of queue pair $q: rx $vr tx $vt packets"
			qs+=" q$q=$qrx(dev rx $vr)"
		done
	fi
	# What the device counted: it delivered at least what testpmd received
	# and took at least what testpmd sent and saw again.
	local drx dtx
	drx=$(($(vstat_sum "$dev" 0 "$nq" packets) - rx0))
	dtx=$(($(vstat_sum "$dev" 1 "$nq" packets) - tx0))
	((drx >= rx)) || fail "$name: vstats rx packets +$drx < testpmd RX-packets $rx"
	((dtx >= rx)) || fail "$name: vstats tx packets +$dtx < testpmd RX-packets $rx"
	local avg peak ns
	read -r avg peak ns < <(tp_mpps "$log")
	info "$name: RX=$rx TX=$tx${qs:+ per-queue RX:$qs}; vstats rx +$drx tx +$dtx;" \
		"${avg} Mpps avg, ${peak} Mpps peak ($ns samples)"
	info "$name: negotiated: $NEG"
	echo "$name $avg $peak" >>"$TMP/rates"
}

s1_testpmd() {
	local s1=$TMP/s1-lo1.sock s4=$TMP/s1-lo4.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name lo1 mgmtdev emu/ifcvf-net port loopback" \
		"dev bind lo1 vhost-user $s1" \
		"dev add name lo4 mgmtdev emu/ifcvf-net max_vqp 4 port loopback" \
		"dev bind lo4 vhost-user $s4"
	local base
	base=$(settle_counts "$UD_PID")

	tp_run q1 lo1 "$s1" ",queues=1" 1
	expect_counts "$UD_PID" "$base" "after testpmd q1"
	tp_run q4 lo4 "$s4" ",queues=4" 4 --rxq=4 --txq=4
	expect_counts "$UD_PID" "$base" "after testpmd q4"
	tp_run mrg0 lo1 "$s1" ",queues=1,mrg_rxbuf=0" 1
	[[ " $NEG " == *" MRG_RXBUF "* ]] && fail "mrg_rxbuf=0 but MRG_RXBUF negotiated: $NEG"
	expect_counts "$UD_PID" "$base" "after testpmd mrg0"
	tp_run mrg1 lo1 "$s1" ",queues=1,mrg_rxbuf=1" 1
	[[ " $NEG " == *" MRG_RXBUF "* ]] || fail "mrg_rxbuf=1 but MRG_RXBUF not negotiated: $NEG"
	expect_counts "$UD_PID" "$base" "after testpmd mrg1"
	tp_run inorder lo1 "$s1" ",queues=1,in_order=1" 1
	[[ " $NEG " == *" IN_ORDER "* ]] ||
		info "inorder: the device does not offer IN_ORDER; virtio-user ran without it"
	expect_counts "$UD_PID" "$base" "after testpmd in_order"

	info "vstats after the runs: $(uv dev vstats show lo1 qidx 0)"
	info "                       $(uv dev vstats show lo1 qidx 1)"
	local v
	v=$(vstat lo1 0 packets)
	((${v:-0} > 0)) || fail "vstats lo1 qidx 0 shows no packets"
	info "uvdpad fds/maps: idle '$base', after 5 testpmd runs '$(settle_counts "$UD_PID")'"
	stop_uvdpad
}

# ---- scenario 2: pair ----

s2_pair() {
	local sa=$TMP/s2-pa.sock sb=$TMP/s2-pb.sock n=1000000
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name pa mgmtdev emu/ifcvf-net port pair:s2wire" \
		"dev add name pb mgmtdev emu/ifcvf-net port pair:s2wire" \
		"dev bind pa vhost-user $sa" \
		"dev bind pb vhost-user $sb"
	local base
	base=$(settle_counts "$UD_PID")
	# The receiver first: a pair port drops toward a VF that is not running.
	spawn "$SCEN-rx" "$FRONTEND" --socket "$sb" --rx-only --count $n --size 60-1514 \
		--qsize 1024 --drain-ms 5000 --json -q
	local rxp=$LAST_PID
	wait_dev pb 'dev_conf done' 1
	sleep 0.3
	spawn "$SCEN-tx" "$FRONTEND" --socket "$sa" --tx-only --count $n --size 60-1514 \
		--qsize 1024 --json -q
	local txp=$LAST_PID
	# The receiver ends by itself once it has every frame, maybe first.
	unwatch "$rxp"
	wait_exit "$txp" 120 "TX frontend"
	local txrc=$EXIT_RC
	wait_exit "$rxp" 30 "RX frontend"
	local rxrc=$EXIT_RC
	local tl=$TMP/$SCEN-tx.log rl=$TMP/$SCEN-rx.log
	((txrc == 0)) || fail "TX frontend failed (status $txrc): $(grep '^result' "$tl")"
	((rxrc == 0)) || fail "RX frontend failed (status $rxrc): $(grep '^result' "$rl")"
	local txn rxn bad lost ooo
	txn=$(jget "$tl" tx_pkts)
	rxn=$(jget "$rl" rx_pkts)
	bad=$(jget "$rl" rx_bad)
	lost=$(jget "$rl" rx_lost)
	ooo=$(jget "$rl" rx_ooo)
	((txn == n)) || fail "sent $txn frames, expected $n"
	((rxn == n && bad == 0 && lost == 0 && ooo == 0)) ||
		fail "received $rxn good, $bad bad, $lost lost, $ooo out of order (of $n)"
	local vtx vrx
	vtx=$(vstat pa 1 packets)
	vrx=$(vstat pb 0 packets)
	((vtx == n && vrx == n)) || fail "vstats: pa tx packets $vtx, pb rx packets $vrx, expected $n"
	info "sent $txn, received $rxn verified (bytes $(jget "$rl" rx_bytes)), 0 bad, 0 lost, 0 reordered;" \
		"vstats pa tx $vtx, pb rx $vrx"
	info "TX: $(grep '^tx:' "$tl" | sed 's/^tx: //')"
	info "RX: $(grep '^rx:' "$rl" | sed 's/^rx: //')"
	printf 'pair %s %s %s %s\n' "$(jget "$tl" tx_pps)" "$(jget "$tl" tx_gbps)" \
		"$(jget "$rl" rx_pps)" "$(jget "$rl" rx_gbps)" >>"$TMP/rates"
	expect_counts "$UD_PID" "$base" "after the pair run"
	stop_uvdpad
}

# ---- scenario 3: DMA fault isolation ----

# progress DEV: packets the device moved so far (rx ring 0).
progress() { vstat "$1" 0 packets; }

# raw_fault NAME SOCK KIND: emu_vf_raw.py fault; sets RAW_LOG.
raw_fault() {
	local name=$1 sock=$2 kind=$3
	RAW_LOG=$TMP/$SCEN-$name.log
	spawn "$SCEN-$name" "$PY" "$RAW" fault "$sock" --kind "$kind" --good-seconds 2 --hold 1
	wait_exit "$LAST_PID" 40 "raw $kind-fault frontend"
	((EXIT_RC == 0)) || fail "$kind fault: $(grep -E '^(error|RESULT)' "$RAW_LOG" | tr '\n' ' ')"
}

s3_fault() {
	local sa=$TMP/s3-fa.sock sb=$TMP/s3-fb.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name fa mgmtdev emu/ifcvf-net port loopback" \
		"dev add name fb mgmtdev emu/ifcvf-net port loopback" \
		"dev bind fa vhost-user $sa" \
		"dev bind fb vhost-user $sb"
	local base emu
	base=$(settle_counts "$UD_PID")
	emu=$(emu_addr fa)
	[[ -n $emu ]] || fail "no 'emulated function' line for fa in the uvdpad log"
	# Verified loopback traffic on fb for the whole scenario.
	spawn "$SCEN-fb" "$FRONTEND" --socket "$sb" --seconds "${S3_SECONDS:-24}" --size 60-1514 --json -q
	local fbp=$LAST_PID
	wait_dev fb 'dev_conf done' 1
	sleep 0.5

	local p0 p1 p2 p3 nf
	p0=$(progress fb)
	raw_fault txfault "$sa" tx
	wait_for 5 "fa's TX fault in the uvdpad log" has "$UD_LOG" "$emu: vring 1 stopped: .*needs reset"
	p1=$(progress fb)
	info "fa TX fault: $(grep '^fault' "$RAW_LOG")"
	info "  $(grep '^good phase' "$RAW_LOG")"
	info "  uvdpad: $(grep -m1 "$emu: vring 1 stopped" "$UD_LOG" | sed 's/^uvdpa\[[0-9]*\] //')"
	((p1 > p0 + 1000)) || fail "fb stalled during fa's TX fault: rx packets $p0 -> $p1"
	alive "$fbp" || fail "fb's frontend ended before the fault window closed (raise S3_SECONDS)"

	raw_fault rxfault "$sa" rx
	wait_for 5 "fa's RX fault in the uvdpad log" has "$UD_LOG" "$emu: vring 0 stopped: .*needs reset"
	p2=$(progress fb)
	info "fa RX fault: $(grep '^fault' "$RAW_LOG")"
	info "  uvdpad: $(grep -m1 "$emu: vring 0 stopped" "$UD_LOG" | sed 's/^uvdpa\[[0-9]*\] //')"
	((p2 > p1 + 1000)) || fail "fb stalled during fa's RX fault: rx packets $p1 -> $p2"
	# The fault is reported by the device, not only logged by the model.
	wait_for 5 "the driver's DEVICE_NEEDS_RESET report for fa" has "$UD_LOG" \
		"fa: the function reports DEVICE_NEEDS_RESET"
	(($(vstat fa 1 faults) == 1)) || fail "fa vstats qidx 1: faults $(vstat fa 1 faults), expected 1"
	(($(vstat fa 0 faults) == 1)) || fail "fa vstats qidx 0: faults $(vstat fa 0 faults), expected 1"
	(($(vstat fb 0 faults) == 0 && $(vstat fb 1 faults) == 0)) || fail "fb counts faults it never had"
	info "fa vstats: $(uv dev vstats show fa qidx 0 | sed 's/.*packets/packets/')"
	info "           $(uv dev vstats show fa qidx 1 | sed 's/.*packets/packets/')"

	# A new session resets the faulted device: fa forwards again.
	spawn "$SCEN-fa-again" "$FRONTEND" --socket "$sa" --count 200000 --size 60-1514 --json -q
	wait_exit "$LAST_PID" 60 "fa frontend after the faults"
	((EXIT_RC == 0)) || fail "fa does not work after the faults: $(grep '^result' "$TMP/$SCEN-fa-again.log")"
	info "fa after a new session: $(grep '^rx:' "$TMP/$SCEN-fa-again.log" | sed 's/^rx: //')"
	p3=$(progress fb)
	((p3 > p2)) || fail "fb stalled: rx packets $p2 -> $p3"
	alive "$fbp" || fail "fb's frontend ended before the fault window closed (raise S3_SECONDS)"

	wait_exit "$fbp" 60 "fb frontend"
	local fl=$TMP/$SCEN-fb.log
	((EXIT_RC == 0)) || fail "fb's traffic failed: $(grep '^result' "$fl")"
	(($(jget "$fl" rx_bad) == 0 && $(jget "$fl" rx_lost) == 0)) || fail "fb: $(grep '^rx:' "$fl")"
	info "fb throughout: $(grep '^rx:' "$fl" | sed 's/^rx: //')"
	info "fb progress (rx packets) at fault 1 / fault 2 / recovery: $p0 -> $p1 -> $p2 -> $p3"
	nf=$(count_lines "$UD_LOG" "$emu: vring .* stopped")
	((nf == 2)) || fail "expected 2 ring faults on $emu, the log has $nf"
	local other
	other=$(grep -v "$emu:" "$UD_LOG" | grep -c 'stopped: ' || true)
	((other == 0)) || fail "a ring of another function faulted"
	expect_counts "$UD_PID" "$base" "after the fault scenario"
	stop_uvdpad
}

# ---- scenario 4: malformed-message barrage ----

s4_barrage() {
	local sa=$TMP/s4-ma.sock sb=$TMP/s4-mb.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name ma mgmtdev emu/ifcvf-net port loopback" \
		"dev add name mb mgmtdev emu/ifcvf-net port loopback" \
		"dev bind ma vhost-user $sa" \
		"dev bind mb vhost-user $sb"
	local base
	base=$(settle_counts "$UD_PID")
	spawn "$SCEN-mb" "$FRONTEND" --socket "$sb" --seconds "${S4_SECONDS:-12}" --size 60-1514 --json -q
	local mbp=$LAST_PID
	wait_dev mb 'dev_conf done' 1
	sleep 0.3
	local p0 p1
	p0=$(progress mb)
	spawn "$SCEN-barrage" "$PY" "$RAW" barrage "$sa"
	wait_exit "$LAST_PID" 120 "barrage"
	local bl=$TMP/$SCEN-barrage.log
	sed -n 's/^  /    /p' "$bl"
	((EXIT_RC == 0)) || fail "barrage: $(grep -E '^(error|RESULT)' "$bl")"
	p1=$(progress mb)
	((p1 > p0 + 1000)) || fail "mb stalled during the barrage: rx packets $p0 -> $p1"
	alive "$mbp" || fail "mb's frontend ended before the barrage did (raise S4_SECONDS)"
	alive "$UD_PID" || fail "uvdpad died"

	spawn "$SCEN-ma-after" "$FRONTEND" --socket "$sa" --count 100000 --size 60-1514 --json -q
	wait_exit "$LAST_PID" 60 "ma frontend after the barrage"
	((EXIT_RC == 0)) || fail "ma does not serve after the barrage: $(grep '^result' "$TMP/$SCEN-ma-after.log")"
	wait_exit "$mbp" 60 "mb frontend"
	local ml=$TMP/$SCEN-mb.log
	((EXIT_RC == 0)) || fail "mb's traffic failed: $(grep '^result' "$ml")"
	info "mb throughout: $(grep '^rx:' "$ml" | sed 's/^rx: //')"
	info "ma afterwards: $(grep '^rx:' "$TMP/$SCEN-ma-after.log" | sed 's/^rx: //')"
	info "uvdpad: $(count_lines "$UD_LOG" 'closing the connection') connections closed on a bad message," \
		"$(count_lines "$UD_LOG" 'refused$') unsupported requests nacked," \
		"$(count_lines "$UD_LOG" 'more than 8 fds') with too many fds," \
		"$(count_lines "$UD_LOG" 'claims a') oversize claims"
	expect_counts "$UD_PID" "$base" "after the barrage"
	info "uvdpad fds/maps back to idle: '$base'"
	stop_uvdpad
}

if [[ -n $TESTPMD ]]; then
	run_scenario s1_testpmd "testpmd io forwarding through a loopback VF: 1 and 4 queue pairs, mrg_rxbuf=0/1, in_order=1"
else
	echo "SKIP: s1_testpmd: dpdk-testpmd not found (Debian package dpdk)"
	SKIPPED=$((SKIPPED + 1))
fi
run_scenario s2_pair "pair:NAME VFs: 1,000,000 verified frames of 60..1514 bytes from one frontend to another"
if [[ -n $PY ]]; then
	run_scenario s3_fault "DMA fault on one VF (TX and RX buffers unmapped): reported, isolated, recoverable"
	run_scenario s4_barrage "malformed vhost-user messages: connections closed or nacked, other VF unaffected, no leaks"
else
	echo "SKIP: s3_fault, s4_barrage: python3 not found"
	SKIPPED=$((SKIPPED + 2))
fi

if [[ -s $TMP/rates ]]; then
	echo "measured:"
	while read -r name a b c d; do
		if [[ $name == pair ]]; then
			echo "    pair: $(awk -v v="$a" 'BEGIN { printf "%.3f", v / 1e6 }') Mpps, $b Gbit/s" \
				"sender-side, every frame delivered and verified (60..1514 B; receiver" \
				"side: $(awk -v v="$c" 'BEGIN { printf "%.3f", v / 1e6 }') Mpps, $d Gbit/s)"
		else
			echo "    testpmd $name: $a Mpps avg, $b Mpps peak (io forwarding, 64 B)"
		fi
	done <"$TMP/rates"
fi
if ((FAILED)); then
	echo "FAIL: $FAILED scenario(s) failed"
	exit 1
fi
if ((SKIPPED)); then
	echo "PASS: all scenarios that ran ($SKIPPED skipped)"
else
	echo "PASS: all scenarios"
fi
