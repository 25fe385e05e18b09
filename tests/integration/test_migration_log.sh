#!/usr/bin/env bash
# Integration test: dirty logging for live migration, checked by the
# frontend tool playing QEMU's side, in each migration mode of uvdpad (MODES):
#   hw      emu/ifcvf-net (the function logs what it writes into the bitmap
#           the driver maps into its IOMMU; the driver logs the used rings)
#   sw      emu/ifcvf-net with devargs sw-live-migration=1 (the relay logs)
#   shadow  emu/virtio-net (a plain virtio function: shadow virtqueues)
# For each, with 1 and 4 queue pairs and each way of switching LOG_ALL
# (RUNS): `uvdpa-frontend --log-check` sends verified loopback traffic
# (60..1514 B) and after a quarter of it starts logging as QEMU does, once
# per queue pair: SET_LOG_BASE (each time a new fd of the same memfd),
# SET_FEATURES with LOG_ALL, SET_VRING_ADDR with LOG and the used ring's
# address. It syncs (reads and clears the log) four times under traffic,
# stops the rings (GET_VRING_BASE) and syncs a last time: every page the
# device wrote into a buffer made available while logging, every used entry
# and avail_event it wrote, must have been found set by a sync after the
# write. `toggle` turns LOG_ALL off at half the traffic (a cancelled
# migration) and on again at three quarters; `retry` does the same with a
# new log for the second try, as QEMU does. No frame may be lost, bad or
# reordered across the switches. The repeats of SET_LOG_BASE for pairs 1..3
# must keep the log: uvdpad maps one log per log sent, not one per message.
# dev show says the mode, and that logging is on while it is.
# Also: the vhost library's own device (uvdpa-testdev --loopback) passes the
# same check; a backend without LOG_ALL is refused with the reason; and the
# negative control, an emulated VF with devargs drop-dirty-log=1 (it writes
# no dirty bits), makes the check fail naming the missing pages.
# Repeat: 10 sessions per mode (sw, shadow) of logging on/off/on on the same
# devices, 1 and 4 pairs and toggle and retry alternating, with no ERR or
# WARN from uvdpad.
#
#   test_migration_log.sh BUILD_DIR
#
# Each uvdpad must exit 0 on SIGTERM and leave no sanitizer report.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-migration-log "${1:-}" uvdpad testdev python3

COUNT=${UVDPA_LOG_CHECK_COUNT:-200000}

# The migration modes: NAME|the `dev add` arguments after the name.
MODES=(
	"hw|mgmtdev emu/ifcvf-net max_vqp 4"
	"sw|mgmtdev emu/ifcvf-net max_vqp 4 devargs sw-live-migration=1"
	"shadow|mgmtdev emu/virtio-net max_vqp 4"
)
# What each mode runs: queue pairs and the LOG_ALL switch.
RUNS=("1 none" "4 none" "1 toggle" "4 toggle" "1 retry" "4 retry")

# log_check NAME SOCKET PAIRS SWITCH [ARGS...]: one frontend check, its
# output in $TMP/$SCEN-NAME.log (LC_LOG); fails unless it passed with every
# frame verified and no page missing. Sets LC_BASES (SET_LOG_BASE sent) and
# LC_LOGS (logs made).
log_check() {
	local name=$1 sock=$2 q=$3 sw=$4 rc=0
	shift 4
	local args=()
	case $sw in
	toggle) args=(--log-toggle) ;;
	retry) args=(--log-retry) ;;
	esac
	LC_LOG=$TMP/$SCEN-$name.log
	timeout 120 "$FRONTEND" --socket "$sock" --queues "$q" --count "$COUNT" --size 60-1514 \
		--log-check "${args[@]}" --json "$@" >"$LC_LOG" 2>&1 || rc=$?
	local what="$name, $q pair(s), switch $sw"
	((rc == 0)) || fail "$what: status $rc: $(grep -E '^(result|dirty log)' "$LC_LOG" | head -4 | tr '\n' ';')"
	local written logged missing rxn lost bad ooo
	written=$(jget "$LC_LOG" pages_written)
	logged=$(jget "$LC_LOG" pages_logged)
	missing=$(jget "$LC_LOG" pages_missing)
	LC_BASES=$(jget "$LC_LOG" log_base_messages)
	LC_LOGS=$(jget "$LC_LOG" logs)
	rxn=$(jget "$LC_LOG" rx_pkts)
	lost=$(jget "$LC_LOG" rx_lost)
	bad=$(jget "$LC_LOG" rx_bad)
	ooo=$(jget "$LC_LOG" rx_ooo)
	[[ $(jget "$LC_LOG" log_checked) == true ]] || fail "$what: the log was not checked"
	((missing == 0 && written > 0)) || fail "$what: $written pages written, $missing not logged"
	((rxn == COUNT && lost == 0 && bad == 0 && ooo == 0)) ||
		fail "$what: $rxn frames received of $COUNT, $lost lost, $bad bad, $ooo reordered"
	local logs_want=1
	[[ $sw == retry ]] && logs_want=2
	((LC_LOGS == logs_want && LC_BASES == q * logs_want)) ||
		fail "$what: $LC_BASES SET_LOG_BASE for $LC_LOGS log(s), expected $((q * logs_want)) for $logs_want"
	[[ $sw == none ]] || (($(jget "$LC_LOG" log_switches) == 2)) ||
		fail "$what: $(jget "$LC_LOG" log_switches) LOG_ALL switches, expected 2"
	printf '%-7s %u pair(s), %-6s: pages written %5u, logged %5u, missing %u; %u SET_LOG_BASE for %u log(s), %u syncs; %u frames verified\n' \
		"${name%%-q*}" "$q" "$sw" "$written" "$logged" "$missing" "$LC_BASES" "$LC_LOGS" \
		"$(jget "$LC_LOG" log_syncs)" "$rxn" >>"$TMP/rates"
}

# check_mode NAME DEV-ADD-ARGS: every run of RUNS on one device.
check_mode() {
	local mode=$1 add=$2 sock=$TMP/$1.sock
	start_uvdpad "$SCEN-uvdpad" "dev add name $mode $add" \
		"dev bind $mode vhost-user $sock"
	local shown
	shown=$(uv -j dev show "$mode")
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1])["dev"][sys.argv[2]]
sys.exit(0 if d["migration"] == sys.argv[2] and d["logging"] is False else 1)' "$shown" "$mode" ||
		fail "dev show $mode: $shown (expected migration $mode, logging false)"
	local run q sw before after
	for run in "${RUNS[@]}"; do
		read -r q sw <<<"$run"
		before=$(count_lines "$UD_LOG" "vhost-user: $mode: dirty log set")
		log_check "$mode-q$q-$sw" "$sock" "$q" "$sw"
		after=$(count_lines "$UD_LOG" "vhost-user: $mode: dirty log set")
		# The per-pair repeats of one log keep it: one mapping per log.
		((after - before == LC_LOGS)) ||
			fail "$mode, $q pair(s), $sw: uvdpad set $((after - before)) dirty logs for $LC_BASES SET_LOG_BASE of $LC_LOGS log(s) (a repeat must keep the log)"
	done
	# What the relays counted (sw, shadow) or the function logged (hw).
	local lp
	lp=$(vstat "$mode" 0 logged_pages)
	((lp > 0)) || fail "$mode: vstats qidx 0 logged_pages $lp"
	info "$mode: ${#RUNS[@]} checks passed; vstats qidx 0 logged_pages $lp"
	stop_uvdpad
}

# One scenario per mode: s1_hw, s2_sw, s3_shadow, ...
n=0
for m in "${MODES[@]}"; do
	n=$((n + 1))
	eval "s${n}_${m%%|*}() { check_mode '${m%%|*}' '${m#*|}'; }"
done

# The vhost library's own software device logs through src/vhost.
s_vhost_library() {
	local sock=$TMP/td.sock run q sw
	start_testdev "$SCEN-td" --socket "$sock" --loopback --queues 4
	for run in "1 none" "4 retry"; do
		read -r q sw <<<"$run"
		log_check "testdev-q$q-$sw" "$sock" "$q" "$sw"
	done
	check_live
}

# A backend without LOG_ALL cannot be migrated: the check says so at once.
s_no_log_all() {
	local sock=$TMP/nolog.sock log=$TMP/$SCEN-fe.log rc=0
	start_testdev "$SCEN-td" --socket "$sock" --loopback --features-mask 0xfffffffffbffffff
	timeout 60 "$FRONTEND" --socket "$sock" --count 1000 --log-check --json >"$log" 2>&1 || rc=$?
	((rc == 1)) || fail "no LOG_ALL: frontend status $rc, expected 1"
	grep -q '^result: FAIL: the backend does not offer LOG_ALL' "$log" ||
		fail "no LOG_ALL: unexpected result: $(grep '^result' "$log")"
	[[ $(jget "$log" tx_pkts) == 0 && $(jget "$log" log_base_messages) == 0 ]] ||
		fail "no LOG_ALL: traffic or SET_LOG_BASE went out before the refusal"
	check_live
}

# While logging the device says so: dev show during a run.
s_logging_shown() {
	local sock=$TMP/shown.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name s4 mgmtdev emu/ifcvf-net devargs sw-live-migration=1" \
		"dev bind s4 vhost-user $sock"
	spawn "$SCEN-fe" "$FRONTEND" --socket "$sock" --count 2000000 --size 60 --log-check --json -q
	local fe=$LAST_PID
	wait_for 30 "s4 logging" sh -c "'$UVDPA' -s '$CTL' dev show s4 | grep -q 'migration sw logging true'"
	wait_exit "$fe" 120 "frontend"
	((EXIT_RC == 0)) || fail "frontend failed: $(grep '^result' "$TMP/$SCEN-fe.log")"
	uv dev show s4 | grep -q 'migration sw logging false' ||
		fail "s4: logging still shown after the stop: $(uv dev show s4)"
	stop_uvdpad
}

# The check can fail: a function that drops its dirty bits is caught.
s_fault_caught() {
	local sock=$TMP/fault.sock log=$TMP/$SCEN-fe.log rc=0
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name s5 mgmtdev emu/ifcvf-net max_vqp 4 devargs drop-dirty-log=1" \
		"dev bind s5 vhost-user $sock"
	timeout 120 "$FRONTEND" --socket "$sock" --queues 4 --count "$COUNT" --size 60-1514 \
		--log-check --log-toggle --json >"$log" 2>&1 || rc=$?
	((rc == 1)) || fail "drop-dirty-log: frontend status $rc; the check must fail (1)"
	grep -q '^result: FAIL: dirty log: pages the device wrote are not logged' "$log" ||
		fail "drop-dirty-log: unexpected result: $(grep '^result' "$log")"
	local missing
	missing=$(jget "$log" pages_missing)
	((missing > 0)) || fail "drop-dirty-log: $missing pages missing"
	grep -q '^dirty log: page 0x[0-9a-f]* written, not logged' "$log" || fail "drop-dirty-log: no missing page named"
	[[ $(jget "$log" rx_lost) == 0 && $(jget "$log" rx_bad) == 0 ]] ||
		fail "drop-dirty-log: the traffic itself failed: $(grep '^rx:' "$log")"
	printf 'fault   drop-dirty-log, 4 pairs, toggle: the check fails with %u of %u written pages missing, e.g. %s\n' \
		"$missing" "$(jget "$log" pages_written)" \
		"$(sed -n 's/^dirty log: page \(0x[0-9a-f]*\) written.*/\1/p' "$log" | head -1)" >>"$TMP/rates"
	stop_uvdpad
}

# The switches again and again: LOG_ALL on, off, on under traffic, 10
# sessions per mode alternating 1 and 4 pairs and toggle and retry, on the
# same devices (two races were found this way: none may come back).
s_repeat() {
	local rounds=${UVDPA_LOG_REPEAT:-10} i d q sw rc log
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name rsw mgmtdev emu/ifcvf-net max_vqp 4 devargs sw-live-migration=1" \
		"dev add name rsh mgmtdev emu/virtio-net max_vqp 4" \
		"dev bind rsw vhost-user $TMP/rsw.sock" \
		"dev bind rsh vhost-user $TMP/rsh.sock"
	for ((i = 0; i < rounds; i++)); do
		for d in rsw rsh; do
			q=$((i % 2 ? 4 : 1))
			sw=--log-toggle
			((i / 2 % 2 == 0)) || sw=--log-retry
			log=$TMP/$SCEN-$d-$i.log
			rc=0
			timeout 60 "$FRONTEND" --socket "$TMP/$d.sock" --queues "$q" --count 50000 \
				--size 60-1514 --log-check "$sw" --json >"$log" 2>&1 || rc=$?
			((rc == 0)) || fail "$d round $i ($q pair(s), $sw): $(grep -E '^(result|rx:|dirty log:)' "$log" | tr '\n' ';')"
		done
	done
	! grep -E ' (ERR|WARN) ' "$UD_LOG" || fail "uvdpad logged errors or warnings"
	printf 'repeat %u sessions per mode (sw, shadow), 1 and 4 pairs: logging on/off/on (toggle, retry), every frame verified, nothing missing\n' \
		"$rounds" >>"$TMP/rates"
	stop_uvdpad
}

n=0
for m in "${MODES[@]}"; do
	n=$((n + 1))
	run_scenario "s${n}_${m%%|*}" "mode ${m%%|*} (${m#*|}): ${#RUNS[@]} checks (${RUNS[*]}), nothing missing, nothing lost"
done
run_scenario s_vhost_library "uvdpa-testdev --loopback (src/vhost logging): 1 pair, and 4 pairs with a retry"
run_scenario s_no_log_all "a backend without LOG_ALL is refused with the reason, before any traffic"
run_scenario s_logging_shown "dev show says logging true while logging, false after the stop"
run_scenario s_fault_caught "negative control: drop-dirty-log=1 makes the check fail"
run_scenario s_repeat "sw and shadow: 10 sessions each of logging on/off/on under traffic"
lib_finish
