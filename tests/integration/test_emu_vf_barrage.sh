#!/usr/bin/env bash
# Integration test: malformed vhost-user messages (emu_vf_raw.py barrage:
# bad flags, oversize claims, unknown requests, SET_MEM_TABLE with 9
# regions, too many fds, ...) against one emulated IFCVF VF in uvdpad: each
# closes or nacks its connection while the other VF keeps forwarding
# verified traffic; the attacked VF serves a frontend afterwards; no fd or
# mapping leaks.
#
#   test_emu_vf_barrage.sh BUILD_DIR
#
# uvdpad must exit 0 on SIGTERM and leave no sanitizer report.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-emu-barrage "${1:-}" uvdpad python3
RAW=$HERE/emu_vf_raw.py

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

run_scenario s4_barrage "malformed vhost-user messages: connections closed or nacked, other VF unaffected, no leaks"
lib_finish
