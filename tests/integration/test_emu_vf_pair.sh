#!/usr/bin/env bash
# Integration test: two emulated IFCVF net VFs wired with `port pair:NAME`
# in uvdpad: uvdpa-frontend TX-only on one, RX-only on the other, 1,000,000
# frames of 60..1514 bytes, every byte verified, none lost or reordered;
# the VFs' vstats count exactly those frames; fds/maps back to idle.
#
#   test_emu_vf_pair.sh BUILD_DIR
#
# uvdpad must exit 0 on SIGTERM and leave no sanitizer report.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-emu-pair "${1:-}" uvdpad

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
	awk -v a="$(jget "$tl" tx_pps)" -v b="$(jget "$tl" tx_gbps)" -v c="$(jget "$rl" rx_pps)" \
		-v d="$(jget "$rl" rx_gbps)" 'BEGIN { printf "pair: %.3f Mpps, %s Gbit/s sender-side, every frame delivered and verified (60..1514 B; receiver side: %.3f Mpps, %s Gbit/s)\n", a / 1e6, b, c / 1e6, d }' >>"$TMP/rates"
	expect_counts "$UD_PID" "$base" "after the pair run"
	stop_uvdpad
}

run_scenario s2_pair "pair:NAME VFs: 1,000,000 verified frames of 60..1514 bytes from one frontend to another"
lib_finish
