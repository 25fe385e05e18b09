#!/bin/sh
# blk-churn: keep reading and writing the virtio-blk disk /dev/vda until the
# host says stop, for a host that migrates the guest meanwhile
# (tests/guest/migrate_blk.py). Makes an ext2 filesystem on the disk and
# mounts it; then each worker (one per CPU, pinned, so that every blk queue
# carries requests) loops:
#   - writes one of its slot files /mnt/fSLOT (uvdpa.file_kib KiB of random
#     data) with fsync and reports it complete: `w SLOT N SHA256` (N counts
#     the worker's writes; the slot's newest content is its highest N);
#   - drops the page cache and reads back one of its older slots against the
#     sha256 it wrote: `chk SLOT N ok|bad` (N: the write it expects);
#   - reads uvdpa.raw_kib KiB of the raw disk into the (just dropped) page
#     cache, so that the device keeps filling fresh guest pages.
# The host stops the loops with a line on the console (the serial port's
# input: after a migration, the destination QEMU's). Then every slot is read
# back once more after a cache drop (`final_ok K`, `final_bad LIST`), each
# slot's newest write is listed (`slot SLOT N SHA256`), and the filesystem
# is unmounted, so that the host can check the backing file (e2fsck, and each
# slot's content).
#
# Arguments (kernel command line):
#   uvdpa.slots=N       slot files per worker (default 8)
#   uvdpa.file_kib=K    size of each write (default 256)
#   uvdpa.raw_kib=K     raw read per round (default 2048)
#   uvdpa.workers=N     workers (default: one per CPU)
# Markers: churn_start, workers, then the loop's (above), churn_stop,
# rounds, final_ok, final_bad, slot, churn_end. rc 0 when every read-back
# matched and the filesystem unmounted.
. /lib/uvdpa/lib.sh

dev=/dev/vda
slots=$(arg slots 8)
kib=$(arg file_kib 256)
raw_kib=$(arg raw_kib 2048)
cpus=$(grep -c ^processor /proc/cpuinfo)
workers=$(arg workers "$cpus")

wait_until 20 test -b "$dev" || { log "no $dev"; exit 1; }
sectors=$(cat /sys/block/vda/size)
mke2fs -q "$dev" >/tmp/mkfs.log 2>&1 || { log "mke2fs: $(cat /tmp/mkfs.log)"; exit 1; }
mkdir -p /mnt /tmp/exp
mount -t ext4 "$dev" /mnt || { log "mount failed"; exit 1; }

# The stop line: read in the background from the console (an asynchronous
# list's stdin is /dev/null unless redirected).
rm -f /tmp/stop
(read -r _line </dev/console; : >/tmp/stop) &

drop() { echo 3 >/proc/sys/vm/drop_caches; }

# check SLOT   the slot file against the sha256 of its last complete write
check() {
    [ -f "/tmp/exp/$1" ] || return 0
    read -r _n _sha <"/tmp/exp/$1"
    if [ "$(sha256sum "/mnt/f$1" | cut -d' ' -f1)" = "$_sha" ]; then
        mark chk "$1 $_n ok"
    else
        mark chk "$1 $_n bad"
        : >"/tmp/bad.$1"
    fi
}

# worker W: slots W*slots .. W*slots+slots-1
worker() {
    local w=$1 n=0 s first raw_blocks off sha
    first=$((w * slots))
    raw_blocks=$((raw_kib / 64))
    while [ ! -e /tmp/stop ]; do
        s=$((first + n % slots))
        n=$((n + 1))
        dd if=/dev/urandom of="/tmp/src.$w" bs=1024 count="$kib" 2>/dev/null
        sha=$(sha256sum "/tmp/src.$w" | cut -d' ' -f1)
        if dd if="/tmp/src.$w" of="/mnt/f$s" bs=65536 conv=fsync 2>/dev/null; then
            echo "$n $sha" >"/tmp/exp/$s"
            mark w "$s $n $sha"
        else
            log "write of slot $s failed"
            : >"/tmp/bad.$s"
        fi
        drop
        check "$((first + (n + slots / 2) % slots))"
        # a raw read at a rotating offset, 64 KiB blocks
        off=$(( (n * raw_blocks + w * 7) % (sectors / 128 - raw_blocks) ))
        dd if="$dev" of=/dev/null bs=65536 skip="$off" count="$raw_blocks" 2>/dev/null ||
            { log "raw read at block $off failed"; : >/tmp/bad.raw; }
    done
    echo "$n" >"/tmp/rounds.$w"
}

mark churn_start "$(uptime_s)"
mark workers "$workers"
pids=
w=0
while [ "$w" -lt "$workers" ]; do
    worker "$w" &
    pids="$pids $!"
    # pinned (the commands it runs inherit it): each CPU submits on its queue
    taskset -p -c "$((w % cpus))" "$!" >/dev/null
    w=$((w + 1))
done
for p in $pids; do wait "$p"; done
mark churn_stop "$(uptime_s)"
rounds=
w=0
while [ "$w" -lt "$workers" ]; do
    rounds="$rounds $(cat "/tmp/rounds.$w" 2>/dev/null || echo -)"
    w=$((w + 1))
done
mark rounds "$rounds"

sync
drop
ok=0
bad=
for f in /tmp/exp/*; do
    s=${f##*/}
    read -r n sha <"$f"
    if [ "$(sha256sum "/mnt/f$s" | cut -d' ' -f1)" = "$sha" ]; then
        ok=$((ok + 1))
    else
        bad="$bad $s"
    fi
    mark slot "$s $n $sha"
done
for f in /tmp/bad.*; do
    [ -e "$f" ] && bad="$bad ${f#/tmp/bad.}"
done
mark final_ok "$ok"
mark final_bad "${bad:--}"
rc=0
[ -z "$bad" ] || rc=1
umount /mnt || { log "umount failed"; rc=1; }
mark churn_end "$(uptime_s)"
exit "$rc"
