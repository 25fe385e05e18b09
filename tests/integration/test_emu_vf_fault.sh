#!/usr/bin/env bash
# Integration test: DMA fault isolation on emulated IFCVF net VFs. Two
# loopback VFs with verified traffic; on one, a TX packet and then an RX
# buffer at an unmapped guest-physical address (emu_vf_raw.py fault): that
# VF's ring faults (logged, reported as DEVICE_NEEDS_RESET, counted in its
# vstats, the descriptor never completes), uvdpad survives, the other VF's
# traffic never stops, and the faulted VF works again after a new session.
#
#   test_emu_vf_fault.sh BUILD_DIR
#
# uvdpad must exit 0 on SIGTERM and leave no sanitizer report.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-emu-fault "${1:-}" uvdpad python3
RAW=$HERE/emu_vf_raw.py

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

run_scenario s3_fault "DMA fault on one VF (TX and RX buffers unmapped): reported, isolated, recoverable"
lib_finish
