#!/usr/bin/env bash
# Integration test: emulated IFCVF blk VFs (emu/ifcvf-blk) in uvdpad, driven
# by uvdpa-frontend --blk over vhost-user-blk:
#   1. a verified random-write load on 2 queues (flushes every 64 writes),
#      then a second frontend process that reads every sector of the span
#      and checks it against the first one's pattern (--verify-fill); the
#      backing file holds the pattern at the LBA the frontend stamped; the
#      vstats count the bytes; fds and mappings back to where they were.
#   2. malformed and optional requests (--blk-bad all): past the end, no
#      status byte, too many segments, an unknown type, GET_ID, discard,
#      write zeroes with and without UNMAP: each answered as the spec says,
#      and the device serves normal I/O after each.
#   3. a read-only device (`readonly`): RO offered, a write gets IOERR, reads
#      work, the file is unchanged.
#
#   test_emu_blk.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-emu-blk "${1:-}" uvdpad python3

# The stamp the frontend writes at the start of every sector: its LBA field
# (little-endian u64 at offset 8, after magic and seed; src/frontend/fe_pattern.c).
sector_lba() { # FILE SECTOR
	python3 -c 'import struct,sys
f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])*512); b=f.read(512)
print(struct.unpack_from("<Q", b, 8)[0] if len(b) == 512 else -1)' "$1" "$2"
}

s1_load() {
	local sock=$TMP/s1.sock img=$TMP/s1.img
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name b0 mgmtdev emu/ifcvf-blk file $img capacity 64M num_queues 2" \
		"dev bind b0 vhost-user $sock"
	local base
	base=$(settle_counts "$UD_PID")
	spawn "$SCEN-w" "$FRONTEND" --socket "$sock" --blk --rw write --bs 64k --iodepth 8 \
		--queues 2 --span 8M --fsync 64 --seed 7 --json
	wait_exit "$LAST_PID" 120 "writer"
	((EXIT_RC == 0)) || fail "writer failed: $(grep '^blk:' "$TMP/$SCEN-w.log")"
	spawn "$SCEN-rw" "$FRONTEND" --socket "$sock" --blk --rw randrw --bs 4k --iodepth 16 \
		--queues 2 --span 8M --count 20000 --seed 7 --verify-fill 7 --fsync 64 --json
	wait_exit "$LAST_PID" 120 "random reader/writer"
	((EXIT_RC == 0)) || fail "randrw failed: $(grep '^blk:' "$TMP/$SCEN-rw.log")"
	spawn "$SCEN-r" "$FRONTEND" --socket "$sock" --blk --rw read --bs 128k --iodepth 4 \
		--span 8M --seed 8 --verify-fill 7 --json
	wait_exit "$LAST_PID" 120 "reader"
	((EXIT_RC == 0)) || fail "read-back failed: $(grep '^blk:' "$TMP/$SCEN-r.log")"
	grep -q 'result=PASS' "$TMP/$SCEN-r.log" || fail "reader did not PASS"
	local s lba
	for s in 0 4095 16383; do
		lba=$(sector_lba "$img" "$s")
		[[ $lba == "$s" ]] || fail "sector $s of the backing file carries LBA $lba"
	done
	local w0 w1 r0
	w0=$(vstat b0 0 write_bytes)
	w1=$(vstat b0 1 write_bytes)
	r0=$(vstat b0 0 read_bytes)
	((w0 > 0 && w1 > 0 && r0 >= 8388608)) ||
		fail "vstats: write_bytes $w0/$w1 read_bytes $r0 (the load used both queues, the reader 8 MiB)"
	[[ $(vstat b0 0 errors) == 0 && $(vstat b0 1 errors) == 0 ]] || fail "vstats count errors"
	info "write: $(grep '^blk:' "$TMP/$SCEN-w.log" | sed 's/ tag=.*//')"
	info "randrw: $(grep '^blk:' "$TMP/$SCEN-rw.log" | sed 's/ tag=.*//')"
	info "read-back: $(grep '^blk:' "$TMP/$SCEN-r.log" | sed 's/ tag=.*//')"
	expect_counts "$UD_PID" "$base" "after three frontends"
	stop_uvdpad
}

s2_bad() {
	local sock=$TMP/s2.sock img=$TMP/s2.img
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name b1 mgmtdev emu/ifcvf-blk file $img capacity 16M" \
		"dev bind b1 vhost-user $sock"
	spawn "$SCEN-bad" "$FRONTEND" --socket "$sock" --blk --blk-bad all
	wait_exit "$LAST_PID" 120 "bad requests"
	((EXIT_RC == 0)) || fail "--blk-bad all failed: $(grep 'result=FAIL' "$TMP/$SCEN-bad.log" | head -n 5)"
	local k
	for k in past-end no-status too-many-segs unknown-type get-id discard write-zeroes; do
		grep -q "kind=$k result=PASS" "$TMP/$SCEN-bad.log" || fail "--blk-bad $k did not PASS"
	done
	grep '^blk-bad:' "$TMP/$SCEN-bad.log" | grep -E 'kind=(past-end|no-status|too-many-segs|unknown-type) step=' |
		head -n 6 | sed 's/^/    /'
	((${PIPESTATUS[0]} == 0)) || true
	local errs
	errs=$(vstat b1 0 errors)
	((errs >= 3)) || fail "vstats errors $errs: the refused requests were not counted"
	info "bad requests answered, the device served I/O after each; vstats errors $errs"
	stop_uvdpad
}

s3_readonly() {
	local sock=$TMP/s3.sock img=$TMP/s3.img sum
	head -c 4194304 /dev/urandom >"$img"
	sum=$(sha256sum "$img" | cut -d' ' -f1)
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name b2 mgmtdev emu/ifcvf-blk file $img readonly" \
		"dev bind b2 vhost-user $sock"
	uv dev config show b2 | grep -q 'read_only true' || fail "dev config show b2: not read_only"
	spawn "$SCEN-ro" "$FRONTEND" --socket "$sock" --blk --blk-bad ro-write
	wait_exit "$LAST_PID" 60 "ro-write"
	((EXIT_RC == 0)) || fail "--blk-bad ro-write failed: $(grep 'blk-bad' "$TMP/$SCEN-ro.log" | tail -n 3)"
	spawn "$SCEN-rd" "$FRONTEND" --socket "$sock" --blk --rw randread --bs 4k --count 2000 --no-verify
	wait_exit "$LAST_PID" 60 "reader"
	((EXIT_RC == 0)) || fail "reads from a read-only device failed"
	[[ $(sha256sum "$img" | cut -d' ' -f1) == "$sum" ]] || fail "the read-only file changed"
	info "read-only: RO offered, the write refused, 2000 reads, file unchanged"
	stop_uvdpad
}

run_scenario s1_load "verified load on 2 queues, a second process checks every sector, the file holds the stamps"
run_scenario s2_bad "malformed and optional requests, the device keeps serving"
run_scenario s3_readonly "a read-only device"
lib_finish
