#!/usr/bin/env bash
# Integration test: DPDK testpmd (net_virtio_user, a real vhost-user
# frontend) against uvdpa-testdev (fake vDPA devices, src/testing/fakedev.c,
# on the vhost-user bus driver): the session lifecycle.
#   s1 lifecycle  testpmd (client) -> testdev (server): negotiation, one
#                 dev_conf with rings 0/1 ready and consistent addresses,
#                 dev_close on SIGINT, fds and mappings back to the baseline
#   s5 sigterm    SIGTERM stops the testdev cleanly (socket removed, the
#                 record ends with `exit`), idle and with traffic running
#
#   test_testpmd_lifecycle.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-tp-life "${1:-}" testdev testpmd

s1_lifecycle() {
	local sock=$TMP/s1.sock rec=$TMP/$SCEN-td.rec
	start_testdev "$SCEN-td" --socket "$sock"
	local td=$TD_PID base conn
	base=$(settle_counts "$td")
	start_testpmd "$SCEN-tp" "$sock" ",queues=1"
	local tp=$TP_PID
	wait_for 15 "dev_conf" has "$rec" '^dev_conf$'
	forward_for "$TMP/$SCEN-tp.log" 2
	alive "$tp" || fail "testpmd exited"
	grep -q '^set_features ' "$rec" || fail "no set_features before dev_conf"
	local conf features
	conf=$(grep '^conf ' "$rec")
	features=$(kv "$conf" features)
	(((features >> 32) & 1)) || fail "VIRTIO_F_VERSION_1 not negotiated: $conf"
	[[ $(kv "$conf" nr_vring) -ge 2 ]] || fail "fewer than 2 vrings: $conf"
	check_rings "$rec" 1 2
	conn=$(settle_counts "$td")
	stop_proc "$tp" INT 15
	((STOP_RC == 0 || STOP_RC == 130)) || fail "testpmd exited with status $STOP_RC"
	info "testpmd stopped by SIGINT, exit status $STOP_RC"
	wait_for 5 "dev_close" has "$rec" '^dev_close$'
	wait_for 5 "disconnect logged" has "$TMP/$SCEN-td.log" 'frontend disconnected'
	local n
	n=$(count_lines "$rec" '^dev_conf$')
	((n == 1)) || fail "dev_conf recorded $n times, expected once"
	n=$(count_lines "$rec" '^dev_close$')
	((n == 1)) || fail "dev_close recorded $n times, expected once"
	expect_counts "$td" "$base" "after testpmd exit"
	info "features=$features; testdev fds/maps: idle '$base', connected '$conn', after '$base'"
	info "$(grep '^vring 0 ' "$rec")"
	stop_proc "$td" TERM 5
	((STOP_RC == 0)) || fail "testdev exited with status $STOP_RC"
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
	start_looped "$SCEN-b-td" "$SCEN-b-tp" "$sock"
	local td=$TD_PID tp=$TP_PID
	stop_proc "$td" TERM 5
	((STOP_RC == 0)) || fail "busy testdev exited with status $STOP_RC"
	[[ -e $sock ]] && fail "socket $sock left behind"
	[[ $(tail -n1 "$rec") == exit ]] || fail "record does not end with exit: $(tail -n1 "$rec")"
	grep -q '^dev_close$' "$rec" || fail "no dev_close before exit with a frontend connected"
	info "record tail: $(tail -n2 "$rec" | tr '\n' '|')"
	alive "$tp" || fail "testpmd died when the backend went away"
	stop_proc "$tp" INT 15
}

run_scenario s1_lifecycle "virtio-user client -> testdev server: negotiation, dev_conf, dev_close, no leaks"
run_scenario s5_sigterm "SIGTERM removes the socket and the record ends with exit"
lib_finish
