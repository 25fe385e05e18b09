#!/usr/bin/env bash
# Integration test: connection handling of the vhost-user bus driver with
# DPDK testpmd and uvdpa-testdev (fake vDPA devices):
#   s3 server     testpmd server=1, testdev --client: connect, testpmd killed
#                 and restarted, the testdev reconnects by itself
#   s4 refuse     a second frontend (raw, then a second testpmd) is refused
#                 while the first keeps forwarding
#
#   test_testpmd_reconnect.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-tp-conn "${1:-}" testdev testpmd python3

s3_server() {
	local sock=$TMP/s3.sock rec=$TMP/$SCEN-td.rec
	# testpmd listens (server=1) and waits for the backend in its probe.
	start_testpmd "$SCEN-tp1" "$sock" ",queues=1,server=1"
	local tp1=$TP_PID
	wait_for 15 "testpmd socket $sock" test -S "$sock"
	start_testdev "$SCEN-td" --socket "$sock" --client --loopback
	local td=$TD_PID
	wait_for 15 "dev_conf #1" has "$rec" '^conf n=1 '
	check_rings "$rec" 1 2
	forward_for "$TMP/$SCEN-tp1.log" 2
	(($(last_rx_pps "$TMP/$SCEN-tp1.log") > 0)) || fail "no traffic on the first connection"
	# Abrupt end of the frontend.
	stop_proc "$tp1" KILL 5
	wait_for 5 "dev_close #1" has "$rec" '^close n=1 '
	local base looped1
	looped1=$(kv "$(grep '^close n=1 ' "$rec")" looped_pkts)
	base=$(settle_counts "$td")
	# A killed virtio-user server leaves its socket file behind.
	[[ -S $sock ]] && rm -f "$sock"
	start_testpmd "$SCEN-tp2" "$sock" ",queues=1,server=1"
	local tp2=$TP_PID
	wait_for 20 "reconnect: dev_conf #2" has "$rec" '^conf n=2 '
	check_rings "$rec" 2 2
	forward_for "$TMP/$SCEN-tp2.log" 3
	stop_proc "$tp2" INT 15
	wait_for 5 "dev_close #2" has "$rec" '^close n=2 '
	local rx looped2
	rx=$(tp_total "$TMP/$SCEN-tp2.log" RX-packets)
	((${rx:-0} > 100000)) || fail "second connection: RX-packets=${rx:-none}"
	looped2=$(kv "$(grep '^close n=2 ' "$rec")" looped_pkts)
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
	start_looped "$SCEN-td" "$SCEN-tp1" "$sock"
	local td=$TD_PID tp1=$TP_PID

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
	((refused >= 2)) || fail "the second testpmd was not refused ($refused refusals logged)"
	info "second testpmd $how: $(grep -m1 -iE 'failed|error|no probed' "$TMP/$SCEN-tp2.log" || echo 'no port')"

	# The first one still forwards.
	forward_for "$log" 2
	local pps
	pps=$(last_rx_pps "$log")
	((pps > 0)) || fail "the first testpmd stopped forwarding (Rx-pps $pps)"
	alive "$tp1" || fail "the first testpmd died"
	stop_proc "$tp1" INT 15
	wait_for 5 "dev_close" has "$rec" '^dev_close$'
	local rx n
	rx=$(tp_total "$log" RX-packets)
	((${rx:-0} > 100000)) || fail "first testpmd RX-packets=${rx:-none}"
	n=$(count_lines "$rec" '^dev_conf$')
	((n == 1)) || fail "dev_conf recorded $n times (refused peers must not configure)"
	n=$(count_lines "$rec" '^dev_close$')
	((n == 1)) || fail "dev_close recorded $n times"
	info "first testpmd kept forwarding: $pps pps after the refusals, RX=$rx total"
	stop_proc "$td" TERM 5
}

run_scenario s3_server "testpmd server=1, testdev --client: reconnect after a frontend restart"
run_scenario s4_refuse "a second frontend is refused while the first keeps forwarding"
lib_finish
