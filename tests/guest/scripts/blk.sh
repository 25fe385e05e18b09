#!/bin/sh
# blk: drive the guest's virtio-blk disk (/dev/vda) through the steps given
# in uvdpa.steps (comma separated, run in order); the host checks the
# backing file afterwards.
#
# Steps and their markers:
#   probe     blk_transport (modern|legacy), blk_sectors, blk_queues (blk-mq
#             hardware queues), blk_serial, blk_ro, blk_cache (write back|
#             write through), blk_discard_max, blk_wz_max
#   raw       writes one sector "UVDPA-RAW sector=N tag=TAG" at each sector of
#             uvdpa.raw_sectors (default 0,2048+7,last) with dd
#             conv=fsync, reads them back after a cache drop: raw_written, raw_ok
#   mkfs      mke2fs, mount, files f1 (1 MiB), f2 (3 MiB + 512 B), notes.txt,
#             junk (uvdpa.junk_mib, default 32) and a MANIFEST of their sha256,
#             sync, umount: fs_files "NAME:SHA ..."
#   readback  mount, every file of MANIFEST has its sha256: fs_readback ok|bad
#   trim      rm junk, sync, fstrim: fs_trimmed
#   resize    marks resize_ready with the size, waits (uvdpa.resize_wait,
#             default 60 s) for /sys/block/vda/size to change: resize_seen
#   parallel  one writer per CPU (taskset), uvdpa.par_mib MiB each with
#             fsync, sha256 checked after a cache drop: parallel_ok
#   crashload mke2fs, mount, then uvdpa.crash_writers (default 4) writers in
#             parallel write files d/wJ-N (4..32 KiB, conv=fsync) and record
#             each one completed with its sha256, until the disk grows (the
#             host's "stop" while it kills and restarts uvdpad); then drops
#             caches and reads every recorded file back: crash_written,
#             crash_verified, crash_seconds
#   dd        uvdpa.dd_mib MiB (default 128) written to the raw disk with
#             dd bs=1M oflag=direct from offset 0, then read back iflag=direct:
#             dd_write_mbps, dd_read_mbps (MB/s, 10^6 bytes)
#   umount    unmount (the host then checks the filesystem)
# rc: 0 when every step succeeded.
. /lib/uvdpa/lib.sh

dev=/dev/vda
sysb=/sys/block/vda
tag=$(arg tag t)
rc=0

fail() { log "$*"; mark step_failed "$step"; rc=1; }

wait_until 20 test -b "$dev" || { mark blk_present 0; exit 1; }
mark blk_present 1

sectors() { cat "$sysb/size"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

raw_line() { # SECTOR -> the 512-byte sector image on stdout
    printf 'UVDPA-RAW sector=%s tag=%s' "$1" "$tag" | dd bs=512 conv=sync 2>/dev/null
}

step_probe() {
    local vdev
    vdev=$(basename "$(readlink -f "$sysb/device")")
    if [ -d "/sys/bus/virtio/devices/$vdev" ]; then
        # Feature bit 32 (VERSION_1) is character 33 of the features string.
        case "$(cut -c33 "/sys/bus/virtio/devices/$vdev/features")" in
            1) mark blk_transport modern ;;
            *) mark blk_transport legacy ;;
        esac
    fi
    mark blk_sectors "$(sectors)"
    mark blk_queues "$(ls "$sysb/mq" | wc -l)"
    mark blk_serial "$(cat "$sysb/serial" 2>/dev/null)"
    mark blk_ro "$(cat "$sysb/ro")"
    mark blk_cache "$(cat "$sysb/queue/write_cache")"
    mark blk_discard_max "$(cat "$sysb/queue/discard_max_bytes")"
    mark blk_wz_max "$(cat "$sysb/queue/write_zeroes_max_bytes")"
}

step_raw() {
    local list s n=0 ok=0 last
    last=$(( $(sectors) - 1 ))
    list=$(arg raw_sectors "0,2055,$last" | tr , ' ')
    for s in $list; do
        [ "$s" = last ] && s=$last
        raw_line "$s" | dd of="$dev" bs=512 seek="$s" count=1 conv=notrunc,fsync 2>/dev/null ||
            fail "raw write at sector $s failed"
        n=$((n + 1))
    done
    mark raw_written "$n"
    drop_caches
    for s in $list; do
        [ "$s" = last ] && s=$last
        if [ "$(dd if="$dev" bs=512 skip="$s" count=1 2>/dev/null | tr -d '\000')" = \
             "$(raw_line "$s" | tr -d '\000')" ]; then
            ok=$((ok + 1))
        else
            fail "raw read at sector $s differs"
        fi
    done
    mark raw_ok "$ok"
}

step_mkfs() {
    local junk
    junk=$(arg junk_mib 32)
    mke2fs -q "$dev" >/tmp/mkfs.log 2>&1 || { fail "mke2fs: $(cat /tmp/mkfs.log)"; return; }
    mkdir -p /mnt
    mount -t ext4 "$dev" /mnt || { fail "mount after mkfs failed"; return; }
    dd if=/dev/urandom of=/mnt/f1 bs=1024 count=1024 2>/dev/null
    dd if=/dev/urandom of=/mnt/f2 bs=512 count=6145 2>/dev/null
    echo "uvdpa blk test, written by tag $tag" >/mnt/notes.txt
    dd if=/dev/urandom of=/mnt/junk bs=1048576 count="$junk" 2>/dev/null
    (cd /mnt && sha256sum f1 f2 notes.txt junk >MANIFEST)
    sync
    mark fs_files "$(awk '{printf "%s:%s ", $2, $1}' /mnt/MANIFEST)"
    umount /mnt || fail "umount failed"
}

step_readback() {
    mkdir -p /mnt
    mount -t ext4 "$dev" /mnt || { fail "mount failed"; return; }
    if (cd /mnt && sha256sum -c MANIFEST >/tmp/check.log 2>&1); then
        mark fs_readback ok
    else
        mark fs_readback bad
        fail "sha256 mismatch: $(cat /tmp/check.log)"
    fi
}

step_trim() {
    rm -f /mnt/junk
    grep -v ' junk$' /mnt/MANIFEST >/mnt/MANIFEST.new && mv /mnt/MANIFEST.new /mnt/MANIFEST
    sync
    if out=$(fstrim -v /mnt 2>&1); then
        mark fs_trimmed "$out"
    else
        fail "fstrim: $out"
    fi
    sync
}

step_resize() {
    local before now waited=0 limit
    limit=$(arg resize_wait 60)
    before=$(sectors)
    mark resize_ready "$before"
    while [ "$waited" -lt "$((limit * 10))" ]; do
        now=$(sectors)
        [ "$now" != "$before" ] && break
        sleep 0.1
        waited=$((waited + 1))
    done
    if [ "$now" != "$before" ]; then
        mark resize_seen "$now"
    else
        fail "size still $before sectors after ${limit}s"
    fi
}

step_parallel() {
    local cpus mib i pids= ok=0
    cpus=$(grep -c ^processor /proc/cpuinfo)
    mib=$(arg par_mib 8)
    i=0
    while [ "$i" -lt "$cpus" ]; do
        taskset -c "$i" sh -c "dd if=/dev/urandom of=/mnt/par$i bs=65536 count=$((mib * 16)) conv=fsync 2>/dev/null; sha256sum /mnt/par$i >/tmp/par$i.sha" &
        pids="$pids $!"
        i=$((i + 1))
    done
    for p in $pids; do wait "$p"; done
    drop_caches
    i=0
    while [ "$i" -lt "$cpus" ]; do
        sha256sum -c "/tmp/par$i.sha" >/dev/null 2>&1 && ok=$((ok + 1))
        i=$((i + 1))
    done
    mark parallel_writers "$cpus"
    mark parallel_ok "$ok"
    [ "$ok" = "$cpus" ] || fail "parallel writers: $ok of $cpus files read back"
}

crash_writer() { # J BEFORE: files d/wJ-N until the disk grows
    local j=$1 before=$2 i=0 f
    while [ "$(sectors)" = "$before" ]; do
        i=$((i + 1))
        f=/mnt/d/w$j-$i
        if ! dd if=/dev/urandom of="$f" bs=4096 count=$((i % 8 + 1)) conv=fsync 2>/dev/null; then
            echo "write of $f failed" >>/tmp/errors
            return
        fi
        echo "$f $(sha256sum "$f" | cut -d' ' -f1)" >>"/tmp/done.$j"
    done
}

step_crashload() {
    local before j n pids= ok=0 t0 f sha
    n=$(arg crash_writers 4)
    mke2fs -q "$dev" >/tmp/mkfs.log 2>&1 || { fail "mke2fs: $(cat /tmp/mkfs.log)"; return; }
    mkdir -p /mnt
    mount -t ext4 "$dev" /mnt || { fail "mount after mkfs failed"; return; }
    mkdir -p /mnt/d
    : >/tmp/errors
    before=$(sectors)
    t0=$(cut -d. -f1 /proc/uptime)
    mark crash_start "$before"
    j=0
    while [ "$j" -lt "$n" ]; do
        : >"/tmp/done.$j"
        crash_writer "$j" "$before" &
        pids="$pids $!"
        j=$((j + 1))
    done
    for p in $pids; do wait "$p"; done
    mark crash_seconds $(( $(cut -d. -f1 /proc/uptime) - t0 ))
    cat /tmp/done.* >/tmp/done
    mark crash_writers "$n"
    mark crash_written "$(wc -l </tmp/done)"
    [ -s /tmp/errors ] && fail "$(head -n 3 /tmp/errors)"
    drop_caches
    while read -r f sha; do
        [ "$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1)" = "$sha" ] && ok=$((ok + 1))
    done </tmp/done
    mark crash_verified "$ok"
    [ "$ok" = "$(wc -l </tmp/done)" ] || fail "only $ok of $(wc -l </tmp/done) completed writes read back"
}

uptime_cs() { # hundredths of a second since boot
    local u
    u=$(cut -d' ' -f1 /proc/uptime)
    echo $(( ${u%.*} * 100 + $(echo "${u#*.}" | sed 's/^0//') ))
}

mbps() { # BYTES CENTISECONDS
    echo $(( $1 / 10000 / ($2 > 0 ? $2 : 1) ))
}

step_dd() {
    local mib t0 t1
    mib=$(arg dd_mib 128)
    t0=$(uptime_cs)
    dd if=/dev/zero of="$dev" bs=1048576 count="$mib" oflag=direct 2>/dev/null ||
        { fail "dd write failed"; return; }
    t1=$(uptime_cs)
    mark dd_write_mbps "$(mbps $((mib * 1048576)) $((t1 - t0)))"
    t0=$(uptime_cs)
    dd if="$dev" of=/dev/null bs=1048576 count="$mib" iflag=direct 2>/dev/null ||
        { fail "dd read failed"; return; }
    t1=$(uptime_cs)
    mark dd_read_mbps "$(mbps $((mib * 1048576)) $((t1 - t0)))"
}

step_umount() {
    sync
    umount /mnt || fail "umount failed"
}

for step in $(arg steps probe | tr , ' '); do
    mark step "$step"
    case "$step" in
        probe|raw|mkfs|readback|trim|resize|parallel|crashload|dd|umount) "step_$step" ;;
        *) fail "unknown step $step" ;;
    esac
done
exit "$rc"
