#!/bin/sh
# vfio-datapath: uvdpa's real VFIO path end to end inside the guest.
#
# Needs a q35 guest with -device intel-iommu,intremap=on (intel_iommu=on), two
# modern virtio-net-pci functions (disable-legacy=on, iommu_platform=on,
# page-per-vq=on: every doorbell on its own page, so uvdpad offers host
# notifiers) whose netdevs are wired to each other (test_guest_vfio.sh:
# -netdev dgram), and uvdpad, uvdpa, uvdpa-frontend in /bin
# (build-initramfs.sh -b). Steps:
#   1. both functions (uvdpa.vfio_id, default 1af4:1041) -> vfio-pci;
#   2. uvdpad -f; `uvdpa mgmtdev show` lists pci/BDF for both;
#   3. `dev add vfA|vfB mgmtdev pci/BDF devargs vdpa=1,sw-live-migration=1`
#      (the ifcvf driver's generic "virtio-pci" entry: VFIO container, group,
#      device fd, BAR mmap, MSI-X count, virtio caps), `dev bind ... vhost-user`;
#   4. traffic phases, each: uvdpa-frontend --rx-only on one device, then
#      --tx-only on the other, COUNT frames of uvdpa.size bytes, every byte
#      verified, sequence checked (no loss, no reordering). dev_conf maps the
#      frontend's memfd into the function's VFIO container, wires MSI-X to
#      its call eventfds and programs the rings into the function; the
#      frontends' GET_VRING_BASE / disconnect runs dev_close.
#        poll     A -> B, uvdpa.count frames; the frontends poll used rings
#        irq      A -> B, uvdpa.irq_count frames, --irq: the frontends sleep on
#                 the call eventfds that only the functions' MSI-X vectors
#                 signal (uvdpad never writes them)
#        reverse  B -> A, uvdpa.reverse_count frames, polling
#        migrate  A -> B, uvdpa.migrate_count frames; the RX frontend runs a
#                 migration's dirty logging (--log-check --log-toggle): B, a
#                 plain virtio function with its doorbell pages mapped into
#                 the frontend, moves to shadow virtqueues when LOG_ALL comes
#                 on (notifiers withdrawn, kicks polled meanwhile), and every
#                 page it writes from then on must be in the log
#      Meanwhile every 50 ms: the vfio-msix lines of /proc/interrupts and
#      uvdpad's VmLck (VFIO type1 accounts DMA-mapped pages there).
#   5. uvdpad's log: no ERR, no WARN; `dev del` both;
#      SIGTERM -> uvdpad exits 0; VmLck back to 0 before that.
#
# Kernel command line: uvdpa.count=N (default 20000), uvdpa.irq_count=N
# (5000; 0 skips), uvdpa.reverse_count=N (5000; 0 skips),
# uvdpa.migrate_count=N (20000; 0 skips), uvdpa.tap=0|1 (1: the tap bus
# driver phase 4b), uvdpa.size=MIN-MAX
# (60-1514), uvdpa.qsize=N (256), uvdpa.vfio_id=VVVV:DDDD (1af4:1041),
# uvdpa.uvdpad_args=A,B (extra uvdpad arguments, comma-separated, e.g. -v).
#
# Markers: step.NAME ok|fail for vfio_bind, mgmtdev, probe, each phase,
# teardown; vfio_fns, vfio_driver.BDF, iommu_group.BDF, mgmtdevs,
# probe.DEV, probe_ms.DEV, dev_show.DEV, bind.DEV, uvdpad_start_ms; per
# phase P: P.tx_dev, P.rx_dev, P.rx_ready_ms (frontend start to dev_conf),
# P.wall_ms, P.tx_rc, P.rx_rc, P.tx_pkts, P.tx_bytes, P.tx_pps, P.tx_gbps,
# P.kicks, P.calls, P.host_notifier_msgs, P.features_str (TX frontend),
# P.rx.rx_pkts, P.rx.rx_bytes, P.rx.rx_bad, P.rx.rx_lost, P.rx.rx_ooo,
# P.rx.rx_pps, P.rx.rx_gbps, P.rx.kicks, P.rx.calls, P.rx.host_notifier_msgs
# (RX frontend); the frontends' own summary lines, verbatim: P.vrings and
# P.rx.vrings (their "vring N: ..." lines joined by "; "), P.rings_line and
# P.rx.rings_line ("rings: ..."), P.backend_channel and P.rx.backend_channel
# ("backend channel: ..."); P.msix_irqs.BDF ("v0:N v1:N v2:N", last sample),
# P.msix.BDF (their sum), P.vmlck_kb (max uvdpad VmLck), P.dma_map (the driver's
# DMA-map timing lines), P.dev_conf.DEV,
# P.running.DEV, P.stopped.DEV, P.shadow.DEV (cumulative log counts);
# migrate.rx.pages_written, .pages_logged, .pages_missing; vmlck_idle_kb,
# dev_del.DEV, uvdpad_exit, uvdpad_errors, uvdpad_warnings.
. /lib/uvdpa/lib.sh

CTL=/run/uvdpa/control.sock
LOG=/tmp/uvdpad.log
count=$(arg count 20000)
irq_count=$(arg irq_count 5000)
reverse_count=$(arg reverse_count 5000)
migrate_count=$(arg migrate_count 20000)
tap=$(arg tap 1)
RX_EXTRA=		# options for the RX frontend only (the migrate phase)
RX_LESS=0		# frames the RX frontend waits for: COUNT - RX_LESS
size=$(arg size 60-1514)
qsize=$(arg qsize 256)
id=$(arg vfio_id 1af4:1041)
ud_args=$(arg uvdpad_args "" | tr , ' ')
rc=0
ud_pid=

U() { uvdpa -s "$CTL" "$@"; }
ms_now() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
step() { mark "step.$1" "$2"; [ "$2" = ok ] || rc=1; }
finish() {
    if [ -n "$ud_pid" ] && kill -0 "$ud_pid" 2>/dev/null; then
        kill "$ud_pid" 2>/dev/null
        sleep 1
        kill -9 "$ud_pid" 2>/dev/null
    fi
    [ "$rc" = 0 ] || tail -n 60 "$LOG" 2>/dev/null | sed 's/^/UVDPA-LOG: uvdpad: /'
    exit "$rc"
}
die() { log "$*"; rc=1; finish; }

# log_count STRING   lines of uvdpad's log containing STRING
log_count() { grep -cF -- "$1" "$LOG" 2>/dev/null || true; }
# count_above STRING N   more than N such lines
count_above() { [ "$(log_count "$1")" -gt "$2" ]; }
# all_stopped DEV   every "running" of DEV was followed by a "stopped"
all_stopped() { [ "$(log_count "ifcvf: $1: stopped")" -ge "$(log_count "ifcvf: $1: running")" ]; }

# msix_each BDF   "v0:N v1:N ..." interrupts per vfio-msix vector of BDF
msix_each() {
    awk -v b="$1" '$0 ~ "vfio-msix\\[[0-9]+\\]\\(" b "\\)" {
        s = 0; for (i = 2; i <= NF; i++) { if ($i ~ /^[0-9]+$/) s += $i; else break }
        match($0, /vfio-msix\[[0-9]+\]/); v = substr($0, RSTART + 10, RLENGTH - 11)
        printf "%sv%s:%d", sep, v, s; sep = " " } END { print "" }' /proc/interrupts
}
# vmlck   uvdpad's VmLck in kB
vmlck() { awk '/^VmLck:/ { print $2 }' "/proc/$ud_pid/status" 2>/dev/null; }

# sampler PHASE   every 50 ms until killed: the last non-empty msix_each of A
# and B (the vectors exist only between dev_conf and dev_close, with counts
# from 0 each time) -> /tmp/PHASE.msix.A|B, the largest VmLck -> /tmp/PHASE.vmlck
sampler() {
    _max=0
    while :; do
        _x=$(msix_each "$A"); [ -n "$_x" ] && echo "$_x" >"/tmp/$1.msix.A"
        _x=$(msix_each "$B"); [ -n "$_x" ] && echo "$_x" >"/tmp/$1.msix.B"
        _x=$(vmlck)
        if [ -n "$_x" ] && [ "$_x" -gt "$_max" ]; then _max=$_x; echo "$_max" >"/tmp/$1.vmlck"; fi
        usleep 50000
    done
}

# join_lines   stdin's lines joined by "; " (one marker value)
join_lines() { awk '{ printf "%s%s", sep, $0; sep = "; " } END { print "" }'; }

# jfield FILE KEY   a value from the frontend's one-line JSON result
jfield() {
    grep '^{' "$1" | tail -n1 | sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# ---- 1. functions -> vfio-pci -----------------------------------------------------------
mark iommu "$(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')"
pci_list | while read -r b rest; do mark "pci.$b" "$rest"; done
fns=$(pci_find "$id" | tr '\n' ' ')
mark vfio_fns "$fns"
# shellcheck disable=SC2086
set -- $fns
[ $# -ge 2 ] || { step vfio_bind fail; die "need two $id functions, found: ${fns:-none}"; }
A=$1
B=$2
for b in "$A" "$B"; do
    pci_bind "$b" vfio-pci || log "binding $b to vfio-pci failed"
    mark "vfio_driver.$b" "$(link_name "/sys/bus/pci/devices/$b/driver")"
    g=$(link_name "/sys/bus/pci/devices/$b/iommu_group")
    mark "iommu_group.$b" "$g"
    [ -c "/dev/vfio/$g" ] || { step vfio_bind fail; die "$b: no /dev/vfio/$g"; }
done
step vfio_bind ok

# ---- 2. uvdpad, mgmtdevs ------------------------------------------------------------------
mkdir -p /run/uvdpa
t0=$(ms_now)
# shellcheck disable=SC2086
uvdpad -f -s "$CTL" $ud_args >"$LOG" 2>&1 &
ud_pid=$!
wait_until 20 test -S "$CTL" || die "uvdpad did not create $CTL"
mark uvdpad_start_ms $(( $(ms_now) - t0 ))
U mgmtdev show >/tmp/mgmt.txt 2>&1
sed 's/^/UVDPA-LOG: mgmtdev: /' /tmp/mgmt.txt
mark mgmtdevs "$(sed -n 's/^\(pci\/[0-9a-f:.]*\):$/\1/p' /tmp/mgmt.txt | tr '\n' ' ')"
if grep -q "^pci/$A:" /tmp/mgmt.txt && grep -q "^pci/$B:" /tmp/mgmt.txt; then
    step mgmtdev ok
else
    step mgmtdev fail
    finish
fi

# ---- 3. probe + bind ----------------------------------------------------------------------
add_dev() { # NAME BDF
    t0=$(ms_now)
    if out=$(U dev add name "$1" mgmtdev "pci/$2" devargs vdpa=1,sw-live-migration=1 2>&1); then
        mark "probe_ms.$1" $(( $(ms_now) - t0 ))
        mark "probe.$1" ok
        mark "dev_show.$1" "$(U dev show "$1" 2>&1 | tr '\n' ' ')"
    else
        mark "probe.$1" fail
        log "dev add $1 on $2: $out"
        return 1
    fi
    if out=$(U dev bind "$1" vhost-user "/tmp/$1.sock" 2>&1); then
        mark "bind.$1" ok
    else
        mark "bind.$1" fail
        log "dev bind $1: $out"
        return 1
    fi
}
if add_dev vfA "$A" && add_dev vfB "$B"; then step probe ok; else step probe fail; finish; fi
grep -E ' (vfio|ifcvf|mgmt-pci): ' "$LOG" | sed 's/^/UVDPA-LOG: uvdpad: /'
mark vmlck_idle_kb "$(vmlck)"

# ---- 4. traffic ----------------------------------------------------------------------------
# phase NAME COUNT TXDEV RXDEV [frontend options]
phase() {
    p=$1
    n=$2
    txd=$3
    rxd=$4
    shift 4
    mark "$p.tx_dev" "$txd"
    mark "$p.rx_dev" "$rxd"
    c0=$(log_count "vhost-user: $rxd: dev_conf done")
    rm -f "/tmp/$p.msix.A" "/tmp/$p.msix.B" "/tmp/$p.vmlck"
    sampler "$p" &
    smp=$!
    t0=$(ms_now)
    # The receiver first: frames sent to a stopped function would be lost.
    # shellcheck disable=SC2086
    uvdpa-frontend --socket "/tmp/$rxd.sock" --rx-only --count $((n - RX_LESS)) --size "$size" \
        --qsize "$qsize" --drain-ms 20000 --json "$@" $RX_EXTRA >"/tmp/$p-rx.log" 2>&1 &
    rxp=$!
    wait_until 60 count_above "vhost-user: $rxd: dev_conf done" "$c0" ||
        log "$p: $rxd did not reach dev_conf"
    mark "$p.rx_ready_ms" $(( $(ms_now) - t0 ))
    t1=$(ms_now)
    uvdpa-frontend --socket "/tmp/$txd.sock" --tx-only --count "$n" --size "$size" \
        --qsize "$qsize" --json "$@" >"/tmp/$p-tx.log" 2>&1 &
    txp=$!
    wait "$txp"
    txrc=$?
    wait "$rxp"
    rxrc=$?
    mark "$p.wall_ms" $(( $(ms_now) - t1 ))
    # dev_close follows the frontends' GET_VRING_BASE / disconnect.
    wait_until 20 all_stopped vfA
    wait_until 20 all_stopped vfB
    kill "$smp" 2>/dev/null
    wait "$smp" 2>/dev/null
    mark "$p.tx_rc" "$txrc"
    mark "$p.rx_rc" "$rxrc"
    for k in tx_pkts tx_bytes tx_pps tx_gbps kicks calls host_notifier_msgs features_str; do
        mark "$p.$k" "$(jfield "/tmp/$p-tx.log" "$k")"
    done
    for k in rx_pkts rx_bytes rx_bad rx_lost rx_ooo rx_pps rx_gbps kicks calls host_notifier_msgs \
             pages_written pages_logged pages_missing; do
        mark "$p.rx.$k" "$(jfield "/tmp/$p-rx.log" "$k")"
    done
    for side in "$p tx" "$p.rx rx"; do
        key=${side% *}
        f=/tmp/$p-${side#* }.log
        mark "$key.vrings" "$(grep '^vring [0-9]*: ' "$f" | join_lines)"
        mark "$key.rings_line" "$(sed -n 's/^rings: //p' "$f" | join_lines)"
        mark "$key.backend_channel" "$(sed -n 's/^backend channel: //p' "$f" | join_lines)"
    done
    for xb in "A $A" "B $B"; do
        x=${xb% *}
        bdf=${xb#* }
        v=$(cat "/tmp/$p.msix.$x" 2>/dev/null)
        mark "$p.msix_irqs.$bdf" "${v:-none}"
        mark "$p.msix.$bdf" "$(echo "$v" | tr ' ' '\n' | awk -F: '{ t += $2 } END { print t + 0 }')"
    done
    mark "$p.vmlck_kb" "$(cat "/tmp/$p.vmlck" 2>/dev/null || echo 0)"
    # What VFIO's DMA map of guest memory cost (the driver's own figure).
    mark "$p.dma_map" "$(grep -o 'vf[AB]: DMA-mapped .*' "$LOG" | tail -n 2 | join_lines)"
    for d in vfA vfB; do
        mark "$p.dev_conf.$d" "$(log_count "vhost-user: $d: dev_conf done")"
        mark "$p.running.$d" "$(log_count "ifcvf: $d: running")"
        mark "$p.stopped.$d" "$(log_count "ifcvf: $d: stopped")"
        mark "$p.shadow.$d" "$(log_count "ifcvf: $d: moving to shadow virtqueues")"
    done
    grep -E '^(tx|rx|rings|vring [0-9]+|backend channel|result):' "/tmp/$p-tx.log" "/tmp/$p-rx.log" |
        sed "s/^\/tmp\//UVDPA-LOG: /"
    if [ "$txrc" = 0 ] && [ "$rxrc" = 0 ]; then
        step "$p" ok
    else
        step "$p" fail
        tail -n 30 "/tmp/$p-tx.log" | sed "s/^/UVDPA-LOG: $p-tx: /"
        tail -n 30 "/tmp/$p-rx.log" | sed "s/^/UVDPA-LOG: $p-rx: /"
    fi
}

phase poll "$count" vfA vfB
[ "$irq_count" -gt 0 ] && phase irq "$irq_count" vfA vfB --irq
[ "$reverse_count" -gt 0 ] && phase reverse "$reverse_count" vfB vfA
# vfB is reset when it moves to shadow virtqueues: frames that reach it
# meanwhile may be dropped on the wire, as by any NIC reset (counted).
RX_EXTRA="--log-check --log-toggle --max-lost 64"
RX_LESS=64
[ "$migrate_count" -gt 0 ] && phase migrate "$migrate_count" vfA vfB
RX_EXTRA=
RX_LESS=0

# ---- 4b. tap bus driver: the two functions as this kernel's interfaces --------------------
# Both devices move from vhost-user to the tap bus driver (uvdpad is then
# their virtio driver, on rings in its own memory DMA-mapped into each
# function's VFIO container); uvtapB goes into a network namespace of its
# own (unshare -n), so a ping between 10.99.0.1 and 10.99.0.2 has to cross
# the wire between the two functions. Markers: tap.bind, tap.ping_ab,
# tap.ping_ba (replies of 5), tap.kicks.vfA (vstats: TX doorbells relayed),
# tap.tx.uvtapA / tap.rx.uvtapA (the interface's own counters),
# tap.unbind, tap.gone (no uvtap interface left).
tap_phase() {
    local ok=ok nspid d n
    for d in vfA vfB; do U dev unbind "$d" >/dev/null 2>&1 || ok=fail; done
    if U dev bind vfA tap uvtapA && U dev bind vfB tap uvtapB; then mark tap.bind ok; else
        mark tap.bind fail
        step tap fail
        return
    fi
    unshare -n sleep 600 &
    nspid=$!
    sleep 0.5
    ip link set dev uvtapB netns "$nspid" || ok=fail
    ip addr add 10.99.0.1/24 dev uvtapA && ip link set uvtapA up || ok=fail
    nsenter -t "$nspid" -n ip addr add 10.99.0.2/24 dev uvtapB || ok=fail
    nsenter -t "$nspid" -n ip link set uvtapB up || ok=fail
    ping -c 5 -w 30 10.99.0.2 >/tmp/tap-ping-ab.log 2>&1
    mark tap.ping_ab "$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/tap-ping-ab.log)"
    nsenter -t "$nspid" -n ping -c 5 -w 30 10.99.0.1 >/tmp/tap-ping-ba.log 2>&1
    mark tap.ping_ba "$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/tap-ping-ba.log)"
    sed 's/^/UVDPA-LOG: tap-ping: /' /tmp/tap-ping-ab.log /tmp/tap-ping-ba.log
    U dev show vfA | sed 's/^/UVDPA-LOG: tap: /'
    # The driver relays the doorbells of a real function's rings: TX kicks
    # on vfA show the frames went through its ring.
    U dev vstats show vfA qidx 1 | sed 's/^/UVDPA-LOG: tap-vstats: /'
    n=$(U dev vstats show vfA qidx 1 | sed -n 's/.* kicks \([0-9]*\).*/\1/p')
    mark tap.kicks.vfA "${n:-0}"
    mark tap.tx.uvtapA "$(cat /sys/class/net/uvtapA/statistics/tx_packets)"
    mark tap.rx.uvtapA "$(cat /sys/class/net/uvtapA/statistics/rx_packets)"
    if U dev unbind vfA && U dev unbind vfB; then mark tap.unbind ok; else mark tap.unbind fail; ok=fail; fi
    kill "$nspid" 2>/dev/null
    wait "$nspid" 2>/dev/null
    if ip link show uvtapA >/dev/null 2>&1; then mark tap.gone fail; ok=fail; else mark tap.gone ok; fi
    step tap "$ok"
}
[ "$tap" = 1 ] && tap_phase

# ---- 5. teardown ----------------------------------------------------------------------------
ok=ok
mark vmlck_after_kb "$(vmlck)"
for d in vfA vfB; do
    if out=$(U dev del "$d" 2>&1); then mark "dev_del.$d" ok; else
        mark "dev_del.$d" fail
        log "dev del $d: $out"
        ok=fail
    fi
done
kill -TERM "$ud_pid"
wait "$ud_pid"
st=$?
ud_pid=
mark uvdpad_exit "$st"
[ "$st" = 0 ] || ok=fail
mark uvdpad_errors "$(grep -c ' ERR ' "$LOG")"
mark uvdpad_warnings "$(grep -c ' WARN ' "$LOG")"
grep -E ' (ERR|WARN) ' "$LOG" | sed 's/^/UVDPA-LOG: uvdpad: /'
step teardown "$ok"
finish
