#!/bin/bash
# test_guest_blk.sh BUILD_DIR
#
# QEMU TCG guests whose vhost-user-blk-pci disk is an emulated IFCVF blk VF
# (emu/ifcvf-blk, probed by the ifcvf driver) backed by a host file, checked
# from the host side in that file:
#   A. modern guest, 1 queue, a new sparse 64 MiB file: the guest sees the
#      capacity, serial, cache mode and discard limits uvdpa announces; raw
#      sectors written at 0, 2055 and the last sector are in the file at
#      those offsets; mke2fs + files + sync + umount, then the host runs
#      e2fsck -fn on the file and dumps the files with debugfs: their sha256
#      are the guest's.
#   B. the device re-created on the same file with num_queues 2, a 2-vCPU
#      guest: the files read back (second boot), rm + fstrim shrinks the
#      file's allocated blocks, `uvdpa dev set capacity 96M` is seen live
#      (/sys/block/vda/size), one writer per vCPU, both queues carry
#      writes (vstats); e2fsck -fn clean afterwards.
#   C. a legacy (virtio 0.95) guest on another device: raw sectors again.
# Control path checks on the way: mgmtdev show, dev config show (text, -j),
# the errors of a bad dev add (missing file without capacity, a file in use),
# a loop block device as the backend (its size, no growing past it).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
timeout=${UVDPA_GUEST_TIMEOUT:-180}

uvdpad=$build/tools/uvdpad
uvdpa=$build/tools/uvdpa
[ -x "$uvdpad" ] || fail "$uvdpad not built"
for t in e2fsck debugfs; do
    command -v "$t" >/dev/null || fail "no $t: install the Debian package e2fsprogs (scripts/install-deps.sh)"
done

tmp=$(mktemp -d /tmp/uvdpa-blk.XXXXXX) || fail "mktemp"
ctl=$tmp/control.sock
img=$tmp/disk.img
img2=$tmp/legacy.img
ud_pid=
guest_pid=
loopdev=
cleanup() {
    [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
    [ -n "$guest_pid" ] && kill "$guest_pid" 2>/dev/null && wait "$guest_pid" 2>/dev/null
    if [ -n "$ud_pid" ]; then
        kill "$ud_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$ud_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$ud_pid" 2>/dev/null
        wait "$ud_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

ud_log=$work/blk.uvdpad.log
"$uvdpad" -f -s "$ctl" >"$ud_log" 2>&1 &
ud_pid=$!
for _ in $(seq 100); do [ -S "$ctl" ] && break; sleep 0.1; done
[ -S "$ctl" ] || fail "uvdpad did not start (log: $ud_log)"
U() { "$uvdpa" -s "$ctl" "$@"; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
alloc_kib() { du -k "$1" | cut -f1; }
sector_text() { dd if="$1" bs=512 skip="$2" count=1 2>/dev/null | tr -d '\000'; }

# ---- control path --------------------------------------------------------------
U mgmtdev show emu/ifcvf-blk | grep -q 'dev_features .*FLUSH.*DISCARD WRITE_ZEROES' ||
    fail "mgmtdev show emu/ifcvf-blk does not list the blk features: $(U mgmtdev show emu/ifcvf-blk)"
err=$(U dev add name bad mgmtdev emu/ifcvf-blk file "$tmp/none.img" 2>&1) &&
    fail "dev add with a missing file and no capacity succeeded"
echo "$err" | grep -q "give capacity SIZE" || fail "missing-file error does not say what to do: $err"

U dev add name d0 mgmtdev emu/ifcvf-blk file "$img" capacity 64M || fail "dev add d0"
[ -f "$img" ] || fail "dev add did not create $img"
[ "$(stat -c %s "$img")" = 67108864 ] || fail "$img is $(stat -c %s "$img") bytes, not 64 MiB"
[ "$(alloc_kib "$img")" -lt 1024 ] || fail "$img is not sparse ($(alloc_kib "$img") KiB allocated)"
err=$(U dev add name d1 mgmtdev emu/ifcvf-blk file "$img" 2>&1) &&
    fail "a second device on the same file was accepted"
echo "$err" | grep -q "in use" || fail "file-in-use error unclear: $err"
U dev config show d0
cfg=$(U -j dev config show d0) || fail "dev config show -j d0"
for kv in capacity=67108864 blk_size=512 seg_max=126 num_queues=1 read_only=False; do
    k=${kv%%=*} v=${kv#*=}
    got=$(echo "$cfg" | json_get "d['config']['d0']['$k']")
    [ "$got" = "$v" ] || fail "dev config show d0: $k is $got, expected $v"
done
U dev bind d0 vhost-user "$tmp/d0.sock" || fail "dev bind d0"

# A block device as the backend: a loop device over an 8 MiB file. Its size
# is the capacity, and it cannot grow past the device.
truncate -s 8M "$tmp/loop.img"
loopdev=$(losetup -f --show "$tmp/loop.img") || fail "losetup (the test needs root and loop devices)"
U dev add name lb mgmtdev emu/ifcvf-blk file "$loopdev" || fail "dev add on $loopdev"
got=$(U -j dev config show lb | json_get "d['config']['lb']['capacity']")
err=$(U dev set name lb capacity 16M 2>&1) && fail "a block device grew past its size"
U dev del lb
losetup -d "$loopdev"
echo "   block device backend: $loopdev, capacity $got"
loopdev=
[ "$got" = 8388608 ] || fail "capacity of $loopdev is $got, expected 8388608"
echo "$err" | grep -q "fewer than" || fail "resize past a block device: unclear error: $err"
echo "   block device backend: growing past its size refused"

# ---- A: modern, raw sectors, mkfs ---------------------------------------------------
boot A --test blk --vhost-user-blk "$tmp/d0.sock" \
    --append "uvdpa.steps=probe,raw,mkfs uvdpa.tag=A uvdpa.raw_sectors=0,2055,last" ||
    fail "A: guest failed (log: $work/A.log, uvdpad: $ud_log)"
expect A blk_transport modern
expect A blk_sectors 131072
expect A blk_queues 1
expect A blk_cache "write back"
expect A raw_written 3
expect A raw_ok 3
serial=$(jget "$work/A.json" blk_serial)
[[ "$serial" =~ ^uvdpa-[0-9a-f]{14}$ ]] || fail "A: serial '$serial' is not uvdpa's"
[ "$(jget "$work/A.json" blk_discard_max)" -gt 0 ] || fail "A: the guest sees no discard support"
# mke2fs overwrote sector 0 and 2055 (inside the filesystem's metadata):
# the last sector is beyond what mke2fs writes; sector 0 and 2055 were read
# back by the guest past its cache (raw_ok). The file holds the last one:
last=$((131072 - 1))
[ "$(sector_text "$img" "$last")" = "UVDPA-RAW sector=$last tag=A" ] ||
    fail "A: the last sector of $img is '$(sector_text "$img" "$last")'"
e2fsck -fn "$img" >"$work/A.fsck" 2>&1 || fail "A: e2fsck -fn $img: $(tail -n 5 "$work/A.fsck")"
for pair in $(jget "$work/A.json" fs_files); do
    f=${pair%%:*} sha=${pair#*:}
    debugfs -R "dump /$f $tmp/dump.$f" "$img" >/dev/null 2>&1 || fail "A: debugfs dump /$f"
    got=$(sha256sum "$tmp/dump.$f" | cut -d' ' -f1)
    [ "$got" = "$sha" ] || fail "A: /$f in $img has sha256 $got, the guest wrote $sha"
done
echo "   A: e2fsck clean; f1 f2 notes.txt junk match the guest's sha256 in the backing file"
alloc_a=$(alloc_kib "$img")

# ---- B: 2 queues, second boot, trim, live resize, parallel writers --------------------
U dev del d0 || fail "dev del d0"
U dev add name d0 mgmtdev emu/ifcvf-blk file "$img" num_queues 2 || fail "dev add d0 num_queues 2"
[ "$(U -j dev config show d0 | json_get "d['config']['d0']['capacity']")" = 67108864 ] ||
    fail "B: capacity of a re-opened file is not its size"
U dev bind d0 vhost-user "$tmp/d0.sock" || fail "dev bind d0 (B)"
rm -f "$work/B.log" "$work/B.json"     # the resize waits for a marker in this run's log
boot B --test blk --vhost-user-blk "$tmp/d0.sock" --blk-queues 2 --smp 2 \
    --append "uvdpa.steps=probe,readback,trim,resize,parallel,umount uvdpa.tag=B uvdpa.par_mib=4" &
guest_pid=$!
for _ in $(seq $((timeout * 2))); do
    grep -q "UVDPA-GUEST: resize_ready" "$work/B.log" 2>/dev/null && break
    kill -0 "$guest_pid" 2>/dev/null || break
    sleep 0.5
done
grep -q "UVDPA-GUEST: resize_ready" "$work/B.log" 2>/dev/null ||
    fail "B: the guest never reached the resize step (log: $work/B.log)"
U dev set name d0 capacity 96M || fail "dev set capacity 96M"
wait "$guest_pid"
grc=$?
guest_pid=
[ "$grc" = 0 ] || fail "B: guest failed (rc $grc, log: $work/B.log, uvdpad: $ud_log)"
expect B blk_queues 2
expect B blk_serial "$serial"
expect B fs_readback ok
expect B resize_seen 196608
expect B parallel_writers 2
expect B parallel_ok 2
[ "$(stat -c %s "$img")" = 100663296 ] || fail "B: $img was not extended to 96 MiB"
alloc_b=$(alloc_kib "$img")
# junk (32 MiB) went, the writers added 2 x 4 MiB.
[ "$alloc_b" -lt $((alloc_a - 16 * 1024)) ] ||
    fail "B: fstrim did not shrink $img: $alloc_a KiB -> $alloc_b KiB allocated"
echo "   B: fstrim: $img allocated $alloc_a KiB -> $alloc_b KiB ($(jget "$work/B.json" fs_trimmed))"
for q in 0 1; do
    U dev vstats show d0 qidx "$q"
    w=$(U -j dev vstats show d0 qidx "$q" | json_get "d['vstats']['d0'].get('write_bytes', 0)")
    [ "$w" -gt 0 ] || fail "B: queue $q carried no writes (vstats write_bytes $w)"
done
e2fsck -fn "$img" >"$work/B.fsck" 2>&1 || fail "B: e2fsck -fn $img: $(tail -n 5 "$work/B.fsck")"
grep -q "config change not delivered" "$ud_log" &&
    fail "B: the capacity change was not acked by QEMU: $(grep 'config change' "$ud_log" | head -n 2)"
echo "   B: resize to 96 MiB seen live by the guest; e2fsck clean after parallel writers"

# ---- C: legacy guest ----------------------------------------------------------------
U dev add name d2 mgmtdev emu/ifcvf-blk file "$img2" capacity 16M devargs transitional=1 ||
    fail "dev add d2"
U dev bind d2 vhost-user "$tmp/d2.sock" || fail "dev bind d2"
boot C --test blk --vhost-user-blk "$tmp/d2.sock" --legacy \
    --append "uvdpa.steps=probe,raw uvdpa.tag=C uvdpa.raw_sectors=0,2055,last" ||
    fail "C: guest failed (log: $work/C.log, uvdpad: $ud_log)"
expect C blk_transport legacy
expect C raw_ok 3
for s in 0 2055 32767; do
    [ "$(sector_text "$img2" "$s")" = "UVDPA-RAW sector=$s tag=C" ] ||
        fail "C: sector $s of $img2 is '$(sector_text "$img2" "$s")'"
done
echo "   C: legacy guest: sectors 0, 2055, 32767 in the backing file"

echo "guest-blk: 3 passed, 0 failed"
