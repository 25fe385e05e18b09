#!/usr/bin/env bash
# Integration test: DPDK testpmd (net_virtio_user, a real vhost-user frontend)
# against uvdpa-testdev (the vhost-user bus driver + a recording vDPA device).
#
#   test_testpmd.sh BUILD_DIR
#
# Scenarios (each prints its own PASS/FAIL line; the script fails if any does):
#   1 lifecycle   testpmd (client) -> testdev (server): negotiation, one
#                 dev_conf with rings 0/1 ready and consistent addresses,
#                 dev_close on SIGINT, fds and mappings back to the baseline
#   2 traffic     --loopback io forwarding: 1 queue pair, 2 queue pairs,
#                 mrg_rxbuf=0, in_order=1
#   3 server      testpmd server=1, testdev --client: connect, testpmd killed
#                 and restarted, the testdev reconnects by itself
#   4 refuse      a second frontend is refused while the first keeps forwarding
#   5 sigterm     SIGTERM stops the testdev cleanly (socket removed, `exit`)
#
# Every process started here is recorded and killed by the traps; all files
# live in a mktemp directory (kept, and its path printed, when a scenario
# fails; UVDPA_KEEP_TMP=1 keeps it always; an interrupted run removes it).
set -euo pipefail

BUILD=${1:?usage: test_testpmd.sh BUILD_DIR}
if [[ ! -d $BUILD ]]; then
	echo "FAIL: build directory $BUILD not found" >&2
	exit 1
fi
BUILD=$(cd "$BUILD" && pwd)
TESTDEV=$BUILD/tests/backend/uvdpa-testdev
TESTPMD=${TESTPMD:-$(command -v dpdk-testpmd || true)}
PY=${PYTHON:-$(command -v python3 || true)}

if [[ ! -x $TESTDEV ]]; then
	echo "FAIL: $TESTDEV is not built" >&2
	exit 1
fi
if [[ -z $TESTPMD ]]; then
	echo "SKIP: dpdk-testpmd not found (Debian package dpdk)"
	exit 77
fi

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lib_init uvdpa-tp

# ---- the programs ----

# start_testdev NAME ARGS...: uvdpa-testdev recording to $TMP/NAME.rec;
# sets TD_PID, waits for `ready` (and, unless --client, for the socket).
start_testdev() {
	local name=$1 a client=0 sock=""
	shift
	for a in "$@"; do
		[[ $a == --client ]] && client=1
	done
	# The socket path follows --socket.
	local prev=""
	for a in "$@"; do
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

# ---- record parsing ----

# vrings_of REC N: the vring lines printed after `dev_conf n=N`.
vrings_of() {
	awk -v hdr="dev_conf n=$2 " 'index($0, hdr) == 1 { on = 1; next }
		on && /^vring / { print; next } on { exit }' "$1"
}

# check_rings REC CONF_N NRINGS: rings 0..NRINGS-1 ready, translated, with
# non-zero addresses that virtio-user passes as GPA == UVA.
check_rings() {
	local rec=$1 n=$2 nr=$3 i line f
	local lines
	lines=$(vrings_of "$rec" "$n")
	for ((i = 0; i < nr; i++)); do
		line=$(grep "^vring $i " <<<"$lines" || true)
		[[ -n $line ]] || fail "dev_conf n=$n has no line for vring $i"
		[[ $(kv "$line" ready) == 1 ]] || fail "vring $i not ready: $line"
		[[ $(kv "$line" gpa_ok) == 1 ]] || fail "vring $i: GPA and UVA translations differ: $line"
		[[ $(kv "$line" kickfd) == 1 && $(kv "$line" callfd) == 1 ]] ||
			fail "vring $i: missing kick/call fd: $line"
		[[ $(kv "$line" size) -gt 0 ]] || fail "vring $i: size 0: $line"
		for f in desc avail used; do
			local uva gpa
			uva=$(kv "$line" "${f}_uva")
			gpa=$(kv "$line" "${f}_gpa")
			[[ -n $uva && $((uva)) -ne 0 ]] || fail "vring $i: ${f}_uva is zero: $line"
			[[ $((gpa)) -eq $((uva)) ]] ||
				fail "vring $i: ${f}_gpa $gpa != ${f}_uva $uva (virtio-user uses UVAs as GPAs)"
		done
	done
}

# traffic_run NAME SOCK VDEV_EXTRA NQ TD_ARGS... -- TP_ARGS...: one loopback
# run of ~5 s; checks the counters and prints the rate.
traffic_run() {
	local name=$1 sock=$2 extra=$3 nq=$4
	shift 4
	local td_args=() tp_args=()
	while (($#)) && [[ $1 != -- ]]; do
		td_args+=("$1")
		shift
	done
	(($#)) && shift
	tp_args=("$@")

	start_testdev "$SCEN-$name-td" --socket "$sock" --loopback "${td_args[@]}"
	local td=$TD_PID rec=$TMP/$SCEN-$name-td.rec
	start_testpmd "$SCEN-$name-tp" "$sock" "$extra" "${tp_args[@]}"
	local tp=$TP_PID log=$TMP/$SCEN-$name-tp.log
	wait_for 15 "dev_conf ($name)" has "$rec" '^dev_conf '
	local conf nr i late=""
	conf=$(grep '^dev_conf ' "$rec")
	nr=$(kv "$conf" nr_vring)
	((nr == 2 * nq)) || fail "$name: dev_conf has nr_vring=$nr, expected $((2 * nq)): $conf"
	check_rings "$rec" 1 2
	# virtio-user enables the first pair before DRIVER_OK and the others
	# afterwards (control-queue MQ command): those may come up after
	# dev_conf, as set_vring_state N 1.
	for ((i = 2; i < nr; i++)); do
		if vrings_of "$rec" 1 | grep -q "^vring $i ready=1 "; then
			check_rings "$rec" 1 $((i + 1))
		else
			wait_for 10 "$name: vring $i ready" has "$rec" "^set_vring_state $i 1\$"
			late+=" $i"
		fi
	done
	[[ -n $late ]] && info "$name: dev_conf with rings 0-1 ready; rings${late} ready via set_vring_state"
	forward_for "$log" 5
	stop_proc "$tp" INT 15
	wait_for 5 "dev_close ($name)" has "$rec" '^dev_close '

	local rx tx looped features
	rx=$(tp_total "$log" RX-packets)
	tx=$(tp_total "$log" TX-packets)
	[[ -n $rx && -n $tx ]] || fail "$name: no final statistics in the testpmd log"
	((rx > 100000 && tx > 100000)) || fail "$name: too little traffic: RX=$rx TX=$tx"
	looped=$(kv "$(grep '^dev_close ' "$rec")" looped_pkts)
	((looped > 0)) || fail "$name: dev_close shows looped_pkts=$looped"
	grep -q '^vring_broken' "$rec" && fail "$name: a ring broke: $(grep '^vring_broken' "$rec")"
	if ((nq > 1)); then
		local q qrx
		for ((q = 0; q < nq; q++)); do
			qrx=$(tp_queue_rx "$log" "$q")
			((${qrx:-0} > 0)) || fail "$name: queue $q forwarded nothing"
			info "$name: queue $q RX=$qrx"
		done
	fi
	features=$(kv "$(grep '^dev_conf ' "$rec")" features)
	read -r avg peak ns < <(tp_mpps "$log")
	info "$name: features=$features RX=$rx TX=$tx looped_pkts=$looped" \
		"dropped=$(kv "$(grep '^dev_close ' "$rec")" dropped)" \
		"rate ${avg} Mpps avg, ${peak} Mpps peak ($ns samples)"
	echo "$name $avg $peak" >>"$TMP/rates"
	LAST_FEATURES=$features
	stop_proc "$td" TERM 5
}

# ---- scenarios ----

s1_lifecycle() {
	local sock=$TMP/s1.sock rec=$TMP/$SCEN-td.rec
	start_testdev "$SCEN-td" --socket "$sock"
	local td=$TD_PID base conn
	base=$(settle_counts "$td")
	start_testpmd "$SCEN-tp" "$sock" ",queues=1"
	local tp=$TP_PID
	wait_for 15 "dev_conf" has "$rec" '^dev_conf '
	forward_for "$TMP/$SCEN-tp.log" 2
	alive "$tp" || fail "testpmd exited"
	grep -q '^set_features ' "$rec" || fail "no set_features before dev_conf"
	local conf features
	conf=$(grep '^dev_conf ' "$rec")
	features=$(kv "$conf" features)
	(((features >> 32) & 1)) || fail "VIRTIO_F_VERSION_1 not negotiated: $conf"
	[[ $(kv "$conf" nr_vring) -ge 2 ]] || fail "fewer than 2 vrings: $conf"
	check_rings "$rec" 1 2
	conn=$(settle_counts "$td")
	stop_proc "$tp" INT 15
	((STOP_RC == 0 || STOP_RC == 130)) || fail "testpmd exited with status $STOP_RC"
	info "testpmd stopped by SIGINT, exit status $STOP_RC"
	wait_for 5 "dev_close" has "$rec" '^dev_close '
	wait_for 5 "disconnect logged" has "$TMP/$SCEN-td.log" 'frontend disconnected'
	local n
	n=$(count_lines "$rec" '^dev_conf ')
	((n == 1)) || fail "dev_conf recorded $n times, expected once"
	n=$(count_lines "$rec" '^dev_close ')
	((n == 1)) || fail "dev_close recorded $n times, expected once"
	expect_counts "$td" "$base" "after testpmd exit"
	info "features=$features; testdev fds/maps: idle '$base', connected '$conn', after '$base'"
	info "$(grep '^vring 0 ' "$rec")"
	stop_proc "$td" TERM 5
	((STOP_RC == 0)) || fail "testdev exited with status $STOP_RC"
}

s2_traffic() {
	local sock=$TMP/s2.sock
	traffic_run q1 "$sock" ",queues=1" 1
	traffic_run q2 "$sock" ",queues=2" 2 --queues 2 -- --rxq=2 --txq=2
	traffic_run mrg0 "$sock" ",queues=1,mrg_rxbuf=0" 1
	(((LAST_FEATURES >> 15) & 1)) && fail "mrg_rxbuf=0 but MRG_RXBUF negotiated ($LAST_FEATURES)"
	traffic_run inorder "$sock" ",queues=1,in_order=1" 1
	true
}

s3_server() {
	local sock=$TMP/s3.sock rec=$TMP/$SCEN-td.rec
	# testpmd listens (server=1) and waits for the backend in its probe.
	start_testpmd "$SCEN-tp1" "$sock" ",queues=1,server=1"
	local tp1=$TP_PID
	wait_for 15 "testpmd socket $sock" test -S "$sock"
	start_testdev "$SCEN-td" --socket "$sock" --client --loopback
	local td=$TD_PID
	wait_for 15 "dev_conf n=1" has "$rec" '^dev_conf n=1 '
	check_rings "$rec" 1 2
	forward_for "$TMP/$SCEN-tp1.log" 2
	(($(last_rx_pps "$TMP/$SCEN-tp1.log") > 0)) || fail "no traffic on the first connection"
	# Abrupt end of the frontend.
	stop_proc "$tp1" KILL 5
	wait_for 5 "dev_close n=1" has "$rec" '^dev_close n=1 '
	local base looped1
	looped1=$(kv "$(grep '^dev_close n=1 ' "$rec")" looped_pkts)
	base=$(settle_counts "$td")
	# A killed virtio-user server leaves its socket file behind.
	[[ -S $sock ]] && rm -f "$sock"
	start_testpmd "$SCEN-tp2" "$sock" ",queues=1,server=1"
	local tp2=$TP_PID
	wait_for 20 "reconnect: dev_conf n=2" has "$rec" '^dev_conf n=2 '
	check_rings "$rec" 2 2
	forward_for "$TMP/$SCEN-tp2.log" 3
	stop_proc "$tp2" INT 15
	wait_for 5 "dev_close n=2" has "$rec" '^dev_close n=2 '
	local rx looped2
	rx=$(tp_total "$TMP/$SCEN-tp2.log" RX-packets)
	((${rx:-0} > 100000)) || fail "second connection: RX-packets=${rx:-none}"
	looped2=$(kv "$(grep '^dev_close n=2 ' "$rec")" looped_pkts)
	((looped2 > looped1)) || fail "no packets looped on the second connection ($looped1 -> $looped2)"
	[[ -S $sock ]] && rm -f "$sock"
	expect_counts "$td" "$base" "after the second testpmd exit"
	info "reconnected: second connection RX=$rx, looped $looped1 -> $looped2;" \
		"testdev fds/maps with no frontend: '$base' both times"
	stop_proc "$td" TERM 5
	((STOP_RC == 0)) || fail "testdev exited with status $STOP_RC"
}

s4_refuse() {
	local sock=$TMP/s4.sock rec=$TMP/$SCEN-td.rec log=$TMP/$SCEN-tp1.log
	start_testdev "$SCEN-td" --socket "$sock" --loopback
	local td=$TD_PID
	start_testpmd "$SCEN-tp1" "$sock" ",queues=1"
	local tp1=$TP_PID
	wait_for 15 "dev_conf" has "$rec" '^dev_conf '
	forward_for "$log" 2

	if [[ -n $PY ]]; then
		# A raw second connection sends GET_FEATURES and must see the
		# connection closed without a reply.
		local out
		out=$("$PY" - "$sock" <<-'EOF'
			import socket, struct, sys
			s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
			s.settimeout(5)
			try:
			    s.connect(sys.argv[1])
			except ConnectionRefusedError:
			    print("connect-refused"); sys.exit(0)
			try:
			    s.sendall(struct.pack("<III", 1, 1, 0))  # GET_FEATURES, version 1
			except (BrokenPipeError, ConnectionResetError):
			    print("closed"); sys.exit(0)
			try:
			    data = s.recv(4096)
			except socket.timeout:
			    print("timeout"); sys.exit(1)
			except ConnectionResetError:
			    print("closed"); sys.exit(0)
			print("closed" if not data else "reply %d bytes" % len(data))
			sys.exit(0 if not data else 1)
			EOF
		) || fail "second raw connection was not refused: $out"
		wait_for 5 "'refused' in the testdev log" has "$TMP/$SCEN-td.log" 'refused a second frontend'
		info "raw second connection: $out; testdev: $(grep -m1 'refused a second' "$TMP/$SCEN-td.log" | sed 's/^uvdpa\[[0-9]*\] //')"
	else
		info "python3 not found: the raw second-connection check is skipped"
	fi

	# A second testpmd (its own prefix and main core) must fail to
	# initialise its port and must not disturb the first.
	TP_EAL="-l 0,1 --main-lcore 1" start_testpmd "$SCEN-tp2" "$sock" ",queues=1"
	local tp2=$TP_PID i
	unwatch "$tp2"	# expected to give up by itself
	for ((i = 0; i < 200; i++)); do
		alive "$tp2" || break
		grep -q 'Rx-pps:' "$TMP/$SCEN-tp2.log" && break
		sleep 0.1
	done
	local how
	if alive "$tp2"; then
		grep -q 'Rx-pps:.*[1-9]' "$TMP/$SCEN-tp2.log" &&
			fail "the second testpmd is forwarding"
		stop_proc "$tp2" INT 15
		how="still running without a port, stopped by SIGINT"
	else
		STOP_RC=0
		wait "$tp2" 2>/dev/null || STOP_RC=$?
		how="exited by itself with status $STOP_RC"
	fi
	local refused
	refused=$(count_lines "$TMP/$SCEN-td.log" 'refused a second frontend')
	((refused >= (${#PY} ? 2 : 1))) || fail "the second testpmd was not refused ($refused refusals logged)"
	info "second testpmd $how: $(grep -m1 -iE 'failed|error|no probed' "$TMP/$SCEN-tp2.log" || echo 'no port')"

	# The first one still forwards.
	forward_for "$log" 2
	local pps
	pps=$(last_rx_pps "$log")
	((pps > 0)) || fail "the first testpmd stopped forwarding (Rx-pps $pps)"
	alive "$tp1" || fail "the first testpmd died"
	stop_proc "$tp1" INT 15
	wait_for 5 "dev_close" has "$rec" '^dev_close '
	local rx n
	rx=$(tp_total "$log" RX-packets)
	((${rx:-0} > 100000)) || fail "first testpmd RX-packets=${rx:-none}"
	n=$(count_lines "$rec" '^dev_conf ')
	((n == 1)) || fail "dev_conf recorded $n times (refused peers must not configure)"
	n=$(count_lines "$rec" '^dev_close ')
	((n == 1)) || fail "dev_close recorded $n times"
	info "first testpmd kept forwarding: $pps pps after the refusals, RX=$rx total"
	stop_proc "$td" TERM 5
}

s5_sigterm() {
	# Idle testdev.
	local sock=$TMP/s5a.sock rec=$TMP/$SCEN-a-td.rec
	start_testdev "$SCEN-a-td" --socket "$sock"
	stop_proc "$TD_PID" TERM 5
	((STOP_RC == 0)) || fail "idle testdev exited with status $STOP_RC"
	[[ -e $sock ]] && fail "socket $sock left behind"
	[[ $(tail -n1 "$rec") == exit ]] || fail "record does not end with exit: $(tail -n1 "$rec")"

	# With a frontend connected and traffic running.
	sock=$TMP/s5b.sock rec=$TMP/$SCEN-b-td.rec
	start_testdev "$SCEN-b-td" --socket "$sock" --loopback
	local td=$TD_PID
	start_testpmd "$SCEN-b-tp" "$sock" ",queues=1"
	local tp=$TP_PID
	wait_for 15 "dev_conf" has "$rec" '^dev_conf '
	forward_for "$TMP/$SCEN-b-tp.log" 2
	stop_proc "$td" TERM 5
	((STOP_RC == 0)) || fail "busy testdev exited with status $STOP_RC"
	[[ -e $sock ]] && fail "socket $sock left behind"
	[[ $(tail -n1 "$rec") == exit ]] || fail "record does not end with exit: $(tail -n1 "$rec")"
	grep -q '^dev_close ' "$rec" || fail "no dev_close before exit with a frontend connected"
	info "record tail: $(tail -n2 "$rec" | tr '\n' '|')"
	alive "$tp" || fail "testpmd died when the backend went away"
	stop_proc "$tp" INT 15
}

run_scenario s1_lifecycle "virtio-user client -> testdev server: negotiation, dev_conf, dev_close, no leaks"
run_scenario s2_traffic "loopback traffic: 1 and 2 queue pairs, mrg_rxbuf=0, in_order=1"
run_scenario s3_server "testpmd server=1, testdev --client: reconnect after a frontend restart"
run_scenario s4_refuse "a second frontend is refused while the first keeps forwarding"
run_scenario s5_sigterm "SIGTERM removes the socket and the record ends with exit"

if [[ -s $TMP/rates ]]; then
	echo "measured (testpmd Rx-pps, io forwarding, 64 B, one core):"
	while read -r name avg peak; do
		echo "    $name: $avg Mpps avg, $peak Mpps peak"
	done <"$TMP/rates"
fi
if ((FAILED)); then
	echo "FAIL: $FAILED scenario(s) failed"
	exit 1
fi
echo "PASS: all scenarios"
