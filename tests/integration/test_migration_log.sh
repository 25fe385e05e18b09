#!/usr/bin/env bash
# Integration test: dirty logging for live migration, checked by the
# frontend tool as QEMU would need it, in each migration mode of uvdpad:
#   hw      emu/ifcvf-net (the function logs what it writes into the bitmap
#           the driver maps into its IOMMU; the driver logs the used rings)
#   sw      emu/ifcvf-net with devargs sw-live-migration=1 (the relay logs)
#   shadow  emu/virtio-net (a plain virtio function: shadow virtqueues)
# For each, with 1 and 4 queue pairs: `uvdpa-frontend --log-check
# --log-toggle` sends verified loopback traffic (60..1514 B), turns dirty
# logging on after a quarter (SET_LOG_BASE once per queue pair, as QEMU
# does, each on a new fd of the same log), off at half and on again at
# three quarters, then stops the rings (GET_VRING_BASE): every page the
# device wrote into a buffer posted while logging, and every used ring,
# must be in the log; no frame lost, bad or reordered across the switches.
# uvdpad's log must show one dirty log per session (the repeats per pair are
# recognised), and dev show must say the mode and that logging is on while
# it is. Negative control: an emulated VF with devargs drop-dirty-log=1
# (it writes no dirty bits) must make the check fail, naming missing pages.
# Repeat: 10 sessions per mode (sw, shadow) of logging on/off/on on the same
# devices, 1 and 4 pairs alternating, with no ERR or WARN from uvdpad.
#
#   test_migration_log.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-migration-log "${1:-}" uvdpad

COUNT=${UVDPA_LOG_CHECK_COUNT:-200000}

# check_mode NAME MGMTDEV DEVARGS...: the frontend check with 1 and 4 pairs.
check_mode() {
	local mode=$1 mgmt=$2
	shift 2
	local sock=$TMP/$mode.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name $mode mgmtdev $mgmt max_vqp 4 $*" \
		"dev bind $mode vhost-user $sock"
	local shown
	shown=$(uv -j dev show "$mode")
	python3 -c 'import json,sys; d=json.loads(sys.argv[1])["dev"][sys.argv[2]]
sys.exit(0 if d["migration"] == sys.argv[2] and d["logging"] is False else 1)' "$shown" "$mode" ||
		fail "dev show $mode: $shown (expected migration $mode, logging false)"
	local q
	for q in 1 4; do
		local log=$TMP/$SCEN-q$q.log rc=0
		timeout 120 "$FRONTEND" --socket "$sock" --queues "$q" --count "$COUNT" --size 60-1514 \
			--log-check --log-toggle --json >"$log" 2>&1 || rc=$?
		((rc == 0)) || fail "$mode, $q pair(s): $(grep -E '^(result|dirty log)' "$log" | head -5 | tr '\n' ';')"
		local written logged missing bases rxn lost bad ooo
		written=$(jget "$log" pages_written)
		logged=$(jget "$log" pages_logged)
		missing=$(jget "$log" pages_missing)
		bases=$(jget "$log" log_base_messages)
		rxn=$(jget "$log" rx_pkts)
		lost=$(jget "$log" rx_lost)
		bad=$(jget "$log" rx_bad)
		ooo=$(jget "$log" rx_ooo)
		((missing == 0 && written > 0)) || fail "$mode, $q pair(s): $written pages written, $missing not logged"
		((bases == q)) || fail "$mode, $q pair(s): $bases SET_LOG_BASE sent, expected $q"
		((rxn == COUNT && lost == 0 && bad == 0 && ooo == 0)) ||
			fail "$mode, $q pair(s): $rxn frames received of $COUNT, $lost lost, $bad bad, $ooo reordered"
		printf '%-6s %u pair(s): pages written while logging %6u, logged %6u, missing %u; %u frames verified across logging on/off/on\n' \
			"$mode" "$q" "$written" "$logged" "$missing" "$rxn" >>"$TMP/rates"
	done
	# One dirty log per session: the per-pair repeats kept the log.
	local sets
	sets=$(count_lines "$UD_LOG" "vhost-user: $mode: dirty log set")
	((sets == 2)) || fail "$mode: $sets dirty logs set for 2 sessions (the repeats per pair must keep the log)"
	# What the relays counted (sw, shadow) or the function logged (hw).
	local lp
	lp=$(vstat "$mode" 0 logged_pages)
	((lp > 0)) || fail "$mode: vstats qidx 0 logged_pages $lp"
	info "$mode: vstats qidx 0 logged_pages $lp$( [[ $mode == hw ]] || echo ", relayed $(vstat "$mode" 0 relayed)")"
	stop_uvdpad
}

s1_hw() { check_mode hw emu/ifcvf-net; }
s2_sw() { check_mode sw emu/ifcvf-net devargs sw-live-migration=1; }
s3_shadow() { check_mode shadow emu/virtio-net; }

# While logging the device says so: dev show during a run with a pause.
s4_logging_shown() {
	local sock=$TMP/s4.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name s4 mgmtdev emu/ifcvf-net devargs sw-live-migration=1" \
		"dev bind s4 vhost-user $sock"
	spawn "$SCEN-fe" "$FRONTEND" --socket "$sock" --count 2000000 --size 60 --log-check --json -q
	local fe=$LAST_PID
	wait_for 30 "s4 logging" sh -c "'$UVDPA' -s '$CTL' dev show s4 | grep -q 'migration sw logging true'"
	wait_exit "$fe" 120 "frontend"
	((EXIT_RC == 0)) || fail "frontend failed: $(grep '^result' "$TMP/$SCEN-fe.log")"
	uv dev show s4 | grep -q 'migration sw logging false' || fail "s4: logging still shown after the stop: $(uv dev show s4)"
	stop_uvdpad
}

# The check can fail: a function that drops its dirty bits is caught.
s5_fault_caught() {
	local sock=$TMP/s5.sock log=$TMP/s5-fe.log rc=0
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name s5 mgmtdev emu/ifcvf-net devargs drop-dirty-log=1" \
		"dev bind s5 vhost-user $sock"
	timeout 120 "$FRONTEND" --socket "$sock" --count "$COUNT" --size 60-1514 --log-check \
		--json >"$log" 2>&1 || rc=$?
	((rc != 0)) || fail "drop-dirty-log: the check passed; it must fail"
	grep -q '^result: FAIL: dirty log: pages the device wrote are not logged' "$log" ||
		fail "drop-dirty-log: unexpected result: $(grep '^result' "$log")"
	local missing
	missing=$(jget "$log" pages_missing)
	((missing > 0)) || fail "drop-dirty-log: $missing pages missing"
	grep -q '^dirty log: page 0x[0-9a-f]* written, not logged' "$log" || fail "drop-dirty-log: no missing page named"
	printf 'fault  drop-dirty-log: the check fails with %u of %u written pages missing\n' \
		"$missing" "$(jget "$log" pages_written)" >>"$TMP/rates"
	stop_uvdpad
}

# The switches again and again: LOG_ALL on, off, on under traffic, 10
# sessions per mode alternating 1 and 4 pairs, on the same devices (two
# races were found this way: none may come back).
s6_repeat() {
	local rounds=${UVDPA_LOG_REPEAT:-10} i d q rc log
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name rsw mgmtdev emu/ifcvf-net max_vqp 4 devargs sw-live-migration=1" \
		"dev add name rsh mgmtdev emu/virtio-net max_vqp 4" \
		"dev bind rsw vhost-user $TMP/rsw.sock" \
		"dev bind rsh vhost-user $TMP/rsh.sock"
	for ((i = 0; i < rounds; i++)); do
		for d in rsw rsh; do
			q=$((i % 2 ? 4 : 1))
			log=$TMP/$SCEN-$d-$i.log
			rc=0
			timeout 60 "$FRONTEND" --socket "$TMP/$d.sock" --queues "$q" --count 50000 \
				--size 60-1514 --log-check --log-toggle --json >"$log" 2>&1 || rc=$?
			((rc == 0)) || fail "$d round $i ($q pair(s)): $(grep -E '^(result|rx:)' "$log" | tr '\n' ';')"
		done
	done
	! grep -E ' (ERR|WARN) ' "$UD_LOG" || fail "uvdpad logged errors or warnings"
	printf 'repeat %u sessions per mode (sw, shadow), 1 and 4 pairs: logging on/off/on, every frame verified, nothing missing\n' \
		"$rounds" >>"$TMP/rates"
	stop_uvdpad
}

run_scenario s1_hw "hardware dirty logging: 1 and 4 pairs, logging on/off/on under traffic, nothing missing"
run_scenario s2_sw "software-assisted relay (sw-live-migration=1): the same"
run_scenario s3_shadow "shadow virtqueues (emu/virtio-net): the same"
run_scenario s4_logging_shown "dev show says logging true while logging, false after the stop"
run_scenario s5_fault_caught "negative control: drop-dirty-log=1 makes the check fail"
run_scenario s6_repeat "sw and shadow: 10 sessions each of logging on/off/on under traffic"
lib_finish
