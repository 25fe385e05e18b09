#!/usr/bin/env bash
# Integration test: uvdpa-frontend --blk (the VM side of vhost-user-blk)
# against QEMU's own backend, qemu-storage-daemon's vhost-user-blk export of
# a raw file (num-queues=2, discard=unmap).
#
#   test_frontend_qsd_blk.sh BUILD_DIR
#
# Scenarios (each prints PASS/FAIL; the script fails if any fails):
#   verify   a sequential write pass over 64 MiB (seed 11), a random write
#            run over it (2 queues, iodepth 32, a FLUSH every 64 writes), a
#            random read run in a third process that checks every sector it
#            reads against the pattern of seed 11 (--verify-fill), a mixed
#            run that checks its own writes; the host file is then read
#            sector by sector: every one is a pattern sector of its LBA and
#            seed 11, most carry the random run's tag. Negatives prove the
#            checks bite: the wrong fill seed fails, and one sector changed
#            in the file behind the daemon's back is found (and only it).
#   bad      --blk-bad: past-end, unknown-type, get-id, discard (reads zeros
#            with discard=unmap), write-zeroes and no-status (7.2 drops it:
#            never completed, queue keeps serving) pass; too-many-segs either
#            passes or is reported as not enforced (qsd 7.2 does not check
#            seg_max); the daemon logged the request without status.
#   ro       a read-only export: ro-write gets IOERR and changes nothing, a
#            write load is refused.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-fe-qsd-blk "${1:-}" python3
need_built "$FRONTEND"
need_program QSD qemu-storage-daemon \
	"install the Debian package qemu-system-common (scripts/install-deps.sh installs it with qemu-system-x86)"

# Sanitizer builds: stop at the first report so the exit status shows it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1}

SEED=11
SPAN=64m
SPAN_SECTORS=$((64 * 2048))

# start_qsd NAME FILE SOCK WRITABLE: the daemon with one vhost-user-blk
# export of FILE; sets QSD_LOG and waits for the socket.
start_qsd() {
	local name=$1 file=$2 sock=$3 writable=$4 ro=off
	[[ $writable == on ]] || ro=on
	spawn "$name" "$QSD" \
		--blockdev "driver=file,node-name=f,filename=$file,discard=unmap,read-only=$ro" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=$writable,num-queues=2"
	QSD_LOG=$TMP/$name.log
	wait_for 10 "qemu-storage-daemon socket $sock" test -S "$sock"
}

# fe NAME EXPECT_RC|any ARGS...: one frontend run (60 s at most), its output in
# $TMP/$SCEN-NAME.log (OUT), the exit status as expected, no sanitizer
# report; SUM gets its "blk:" summary line.
fe() {
	local name=$1 want=$2 rc=0
	shift 2
	OUT=$TMP/$SCEN-$name.log
	timeout 60 "$FRONTEND" --blk -q "$@" >"$OUT" 2>&1 || rc=$?
	if grep -qE 'runtime error:|AddressSanitizer|LeakSanitizer' "$OUT"; then
		fail "$name: sanitizer report"
	fi
	[[ $want == any ]] || ((rc == want)) || fail "$name: exit status $rc, expected $want"
	SUM=$(grep -m1 '^blk: ' "$OUT" || true)
}

# sum KEY: a value of the last run's summary line.
sum() { kv "$SUM" "$1"; }

# A run that passed, with figures that say what it did.
expect_clean() {
	local what=$1
	[[ $(sum result) == PASS && $(sum errors) == 0 && $(sum bad_sectors) == 0 ]] ||
		fail "$what: $SUM"
}

# check_file FILE SEED FIRST NSECT TAG: every sector of [FIRST, FIRST+NSECT)
# in the host file is a pattern sector of its LBA and SEED (header check,
# fill); prints "sectors=N ok=N tagged=T" (T: sectors of the run with TAG).
check_file() {
	"$PY" - "$@" <<'EOF'
import struct, sys
path, seed, first, n, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5], 16)
M = (1 << 64) - 1
def mix(x):
    x ^= x >> 30; x = (x * 0xbf58476d1ce4e5b9) & M
    x ^= x >> 27; x = (x * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
ok = tagged = 0
bad = []
with open(path, "rb") as f:
    f.seek(first * 512)
    for i in range(n):
        s = f.read(512)
        lba = first + i
        magic, sd, l, gen, chk, pad = struct.unpack_from("<IIQQII", s)
        hdr = mix(0x4b425655 ^ (sd << 32) ^ mix(l) ^ ((gen * 0x9e3779b97f4a7c15) & M)) & 0xffffffff
        good = magic == 0x4b425655 and sd == seed and l == lba and chk == hdr and pad == 0 and gen
        if good:
            st = mix(mix(l ^ (sd << 32)) ^ gen ^ 0x554256424c4b5345)
            for k in range(60):
                w = (st + k * 0x9e3779b97f4a7c15) & M
                if struct.unpack_from("<Q", s, 32 + 8 * k)[0] != w ^ (w >> 29):
                    good = False
                    break
        if good:
            ok += 1
            tagged += (gen >> 32) == tag
        elif len(bad) < 5:
            bad.append(lba)
print(f"sectors={n} ok={ok} tagged={tagged} first_bad={','.join(map(str, bad)) or '-'}")
EOF
}

s1_verify() {
	local img=$TMP/s1.raw sock=$TMP/s1.sock line
	truncate -s 256M "$img"
	start_qsd "$SCEN-qsd" "$img" "$sock" on

	# 1. The fill: one sequential pass, 64 KiB requests, 2 queues.
	fe fill 0 --socket "$sock" --rw write --bs 64k --iodepth 8 --queues 2 --span $SPAN \
		--seed $SEED
	expect_clean fill
	(($(sum writes) == 1024)) || fail "fill: $(sum writes) writes, expected 1024: $SUM"
	grep -q 'device: blk capacity=524288 sectors.*seg_max=126 num_queues=2' "$OUT" ||
		fail "fill: config not as exported: $(grep '^device' "$OUT")"
	info "fill: $(sum mbps) MB/s"

	# 2. Random writes over it, flushed every 64 writes per queue.
	fe randwrite 0 --socket "$sock" --rw randwrite --bs 4k --iodepth 32 --queues 2 \
		--span $SPAN --seed $SEED --count 40000 --fsync 64
	expect_clean randwrite
	(($(sum writes) == 40000 && $(sum flushes) >= 2 * (20000 / 64))) ||
		fail "randwrite: expected 40000 writes and >= 624 flushes: $SUM"
	for q in 0 1; do
		line=$(grep "^job q$q: " "$OUT")
		(($(kv "$line" writes) == 20000)) || fail "randwrite: queue $q: $line"
	done
	local wtag
	wtag=$(sum tag)
	info "randwrite qd32 x2: $(sum iops) IOPS, p99 $(sum lat_p99_us) us, $(sum flushes) flushes"

	# 3. Another process reads at random and checks every sector against
	#    the pattern the two runs before left (seed 11, any generation).
	fe randread 0 --socket "$sock" --rw randread --bs 4k --iodepth 32 --span $SPAN \
		--seed 5 --verify-fill $SEED --count 30000
	expect_clean randread
	(($(sum verified) == 8 * 30000 && $(sum unverified) == 0)) ||
		fail "randread: every sector read must be verified: $SUM"
	info "randread verified $(sum verified) sectors written by other processes"

	# 4. The host file, sector by sector.
	line=$(check_file "$img" $SEED 0 $SPAN_SECTORS "${wtag#0x}")
	info "host file: $line (tagged: sectors last written by the randwrite run $wtag)"
	[[ $(kv "$line" ok) == "$SPAN_SECTORS" ]] || fail "host file: $line"
	# 40000 random writes over 16384 blocks leave about 9 % untouched.
	(($(kv "$line" tagged) > SPAN_SECTORS * 3 / 4)) ||
		fail "host file: randwrite's data missing: $line"

	# 5. A mixed run checks its own writes and the fill.
	fe randrw 0 --socket "$sock" --rw randrw --rwmix 50 --bs 8k --iodepth 16 --queues 2 \
		--span $SPAN --seed $SEED --verify-fill $SEED --time 2
	expect_clean randrw
	(($(sum reads) > 0 && $(sum writes) > 0 && $(sum verified) == 16 * $(sum reads))) ||
		fail "randrw: $SUM"
	line=$(check_file "$img" $SEED 0 $SPAN_SECTORS "$(sum tag | sed 's/^0x//')")
	[[ $(kv "$line" ok) == "$SPAN_SECTORS" && $(kv "$line" tagged) -gt 0 ]] ||
		fail "host file after randrw: $line"

	# Negatives. The wrong fill seed: every sector is refused.
	fe wrong-seed 1 --socket "$sock" --rw randread --bs 4k --iodepth 4 --span $SPAN \
		--verify-fill 12 --count 100
	(($(sum errors) == 100 && $(sum bad_sectors) == 800)) ||
		fail "wrong seed: expected 100 failed reads: $SUM"
	# One sector changed behind the daemon's back: found, and only it.
	"$PY" - "$img" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(4242 * 512 + 100)
    b = f.read(1)[0]
    f.seek(4242 * 512 + 100)
    f.write(bytes([b ^ 0xff]))
EOF
	fe corrupt 1 --socket "$sock" --rw read --bs 4k --iodepth 8 --span $SPAN \
		--verify-fill $SEED
	(($(sum bad_sectors) == 1 && $(sum errors) == 1)) || fail "corrupt: $SUM"
	grep -q 'sector 4242: payload differs' "$OUT" || fail "corrupt: sector 4242 not named"
	info "negatives: wrong seed refused, one changed sector found (4242)"
	check_live
}

s2_bad() {
	local img=$TMP/s2.raw sock=$TMP/s2.sock k kinds
	truncate -s 64M "$img"
	start_qsd "$SCEN-qsd" "$img" "$sock" on
	kinds=past-end,unknown-type,get-id,discard,write-zeroes,no-status
	fe bad 0 --socket "$sock" --blk-bad $kinds --offset 32m --bad-timeout 1000
	for k in ${kinds//,/ }; do
		grep -q "^blk-bad: kind=$k result=PASS" "$OUT" ||
			fail "$k: $(grep "kind=$k " "$OUT" | tr '\n' ';')"
	done
	grep -q '^blk-bad: kinds=6 passed=6 failed=0 na=0 result=PASS' "$OUT" ||
		fail "summary: $(tail -n1 "$OUT")"
	grep -q 'kind=past-end step=write-across-end status=IOERR' "$OUT" || fail "past-end write"
	grep -q 'kind=past-end step=data-unchanged result=ok' "$OUT" || fail "past-end: last block changed"
	grep -q 'kind=past-end step=read-offset-wraps status=IOERR' "$OUT" || fail "past-end wrap"
	grep -q 'kind=unknown-type step=type-0x1234 status=UNSUPP' "$OUT" || fail "unknown-type"
	grep -q 'kind=get-id step=serial serial="vhost_user_blk"' "$OUT" ||
		fail "get-id: $(grep 'step=serial' "$OUT")"
	grep -q 'kind=discard step=discarded-range sectors=8 reads=zeros result=ok' "$OUT" ||
		fail "discard: $(grep 'discarded-range' "$OUT")"
	grep -q 'kind=discard step=discard-unmap-flag status=UNSUPP' "$OUT" || fail "discard unmap"
	(($(grep -c 'kind=write-zeroes step=zeroed-range.* reads=zeros result=ok' "$OUT") == 2)) ||
		fail "write-zeroes: $(grep 'zeroed-range' "$OUT" | tr '\n' ';')"
	grep -q 'kind=no-status step=write-without-status outcome=no-completion buffers=untouched' "$OUT" ||
		fail "no-status: $(grep 'write-without-status' "$OUT")"
	grep -q 'kind=no-status step=serves-after write+read result=ok' "$OUT" ||
		fail "no-status: the queue did not serve after it"
	wait_for 5 "the daemon's report of the request without status" \
		has "$QSD_LOG" 'virtio-blk request missing headers'
	info "$(grep -c 'result=ok' "$OUT") steps ok; $(grep -o 'serial="[^"]*"' "$OUT")"

	# seg_max: qsd 7.2 accepts more segments than it announces. The tool
	# must say so (and fail), or pass if the daemon enforces it.
	fe segs any --socket "$sock" --blk-bad too-many-segs --offset 32m
	if grep -q '^blk-bad: kind=too-many-segs result=PASS' "$OUT"; then
		info "too-many-segs: IOERR"
	else
		grep -q 'accepted 127 segments, seg_max 126: it does not enforce its limit' "$OUT" ||
			fail "too-many-segs: $(grep 'kind=too-many-segs' "$OUT" | tr '\n' ';')"
		grep -q '^blk-bad: kinds=1 passed=0 failed=1 na=0 result=FAIL' "$OUT" ||
			fail "too-many-segs: the tool passed a device that ignores seg_max"
		info "too-many-segs: qemu-storage-daemon does not enforce seg_max (reported, exit 1)"
	fi
	# The data the checks left: their last write+read at 32 MiB.
	local line
	line=$(check_file "$img" 1 65536 8 0)
	[[ $(kv "$line" ok) == 8 ]] || fail "host file at 32 MiB: $line"
	check_live
}

s3_ro() {
	local img=$TMP/s3.raw sock=$TMP/s3.sock
	truncate -s 16M "$img"
	start_qsd "$SCEN-qsd" "$img" "$sock" off
	fe ro-bad 0 --socket "$sock" --blk-bad ro-write,past-end,get-id
	grep -q 'ro=yes' "$OUT" || fail "the export is not read-only: $(grep '^device' "$OUT")"
	grep -q 'kind=ro-write step=write-read-only status=IOERR len=1 expected=IOERR result=ok' "$OUT" ||
		fail "ro-write: $(grep 'kind=ro-write' "$OUT" | tr '\n' ';')"
	grep -q 'kind=ro-write step=data-unchanged result=ok' "$OUT" || fail "ro-write changed data"
	grep -q '^blk-bad: kinds=3 passed=3 failed=0 na=0 result=PASS' "$OUT" ||
		fail "summary: $(tail -n1 "$OUT")"
	fe ro-load 1 --socket "$sock" --rw randwrite --count 10
	grep -q 'result: FAIL: writes to a read-only device' "$OUT" || fail "write load not refused"
	fe ro-read 0 --socket "$sock" --rw randread --count 1000 --iodepth 4
	expect_clean ro-read
	[[ $(kv "$(grep -m1 '^job q0' "$OUT")" reads) == 1000 ]] || fail "ro-read: $SUM"
	check_live
}

run_scenario s1_verify "verified writes and reads across processes, 2 queues, flushes, the host file checked"
run_scenario s2_bad "malformed and optional requests: statuses, and the device serves after each"
run_scenario s3_ro "a read-only export: writes refused with IOERR"
lib_finish
