#!/bin/sh
# vfio-datapath: uvdpa's real VFIO path end to end inside the guest.
#
# Needs a q35 guest with -device intel-iommu,intremap=on (intel_iommu=on) and
# two modern virtio-net-pci functions (disable-legacy=on, iommu_platform=on)
# whose netdevs are wired to each other (QEMU hubports on one hub), and the
# binaries uvdpad, uvdpa and uvdpa-frontend in /bin (build-initramfs.sh -b).
# test_guest_vfio.sh boots it.
#
#   1. both functions (uvdpa.vfio_id, default 1af4:1041) -> vfio-pci;
#   2. uvdpad -f lists a pci/BDF mgmtdev for each;
#   3. `dev add ... devargs vdpa=1,sw-live-migration=1` (the ifcvf driver's
#      generic "virtio-pci" entry probes the function through VFIO: container,
#      group, device fd, BAR mmap, MSI-X count), `dev bind ... vhost-user`;
#   4. phase "poll": uvdpa-frontend --rx-only on B, then --tx-only on A,
#      uvdpa.count frames of uvdpa.size bytes, verified; the frontends poll
#      their used rings (interrupts suppressed);
#   5. phase "irq": the same with --irq: the frontends sleep on their call
#      eventfds, which only the function's MSI-X vectors (VFIO SET_IRQS) signal;
#   6. dev_close after each phase (the frontends' GET_VRING_BASE), no ERR/WARN
#      in uvdpad's log, `dev del`, SIGTERM -> uvdpad exits 0.
#
# Kernel command line: uvdpa.count=N (default 3000), uvdpa.irq_count=N
# (default 1000, 0 skips the phase), uvdpa.size=MIN-MAX (default 60-1514),
# uvdpa.qsize=N (default 256), uvdpa.uvdpad_args="..." (e.g. -v; no spaces:
# use commas), uvdpa.vfio_id=VVVV:DDDD.
#
# Markers (besides lib.sh's): vfio_fns, vfio_driver.BDF, iommu_group.BDF,
# mgmtdevs, probe.DEV (ok|fail), probe_ms.DEV, dev_show.DEV, bind.DEV,
# PHASE.rx_rc / tx_rc / tx_pkts / rx_pkts / rx_bad / rx_lost / rx_ooo /
# rx_bytes / tx_pps / rx_pps / tx_gbps / rx_gbps / calls_rx / calls_tx /
# kicks_tx / features, PHASE.dev_conf.DEV / dev_close.DEV (cumulative log
# counts), PHASE.msix.BDF (guest interrupts of the function's vfio-msix
# vectors during the phase), PHASE.msix_irqs.BDF (per vector),
# uvdpad_errors, uvdpad_warnings, dev_del.DEV, uvdpad_exit, and the step
# markers step.NAME ok|fail.
. /lib/uvdpa/lib.sh

CTL=/run/uvdpa/control.sock
LOG=/tmp/uvdpad.log
count=$(arg count 3000)
irq_count=$(arg irq_count 1000)
size=$(arg size 60-1514)
qsize=$(arg qsize 256)
id=$(arg vfio_id 1af4:1041)
ud_args=$(arg uvdpad_args "" | tr , ' ')
rc=0
ud_pid=

U() { uvdpa -s "$CTL" "$@"; }
ms_now() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
step() { mark "step.$1" "$2"; [ "$2" = ok ] || rc=1; }
dump_log() { # [N] last N lines of uvdpad's log as UVDPA-LOG
    tail -n "${1:-40}" "$LOG" 2>/dev/null | sed 's/^/UVDPA-LOG: uvdpad: /'
}
finish() {
    if [ -n "$ud_pid" ] && kill -0 "$ud_pid" 2>/dev/null; then
        kill "$ud_pid" 2>/dev/null
        sleep 1
        kill -9 "$ud_pid" 2>/dev/null
    fi
    [ "$rc" = 0 ] || dump_log 60
    exit "$rc"
}
die() { log "$*"; rc=1; finish; }

# log_count PATTERN   lines of uvdpad's log matching (grep -c, fixed string)
log_count() { grep -cF -- "$1" "$LOG" 2>/dev/null || true; }

# count_above PATTERN N   more than N matching log lines
count_above() { [ "$(log_count "$1")" -gt "$2" ]; }
# all_stopped DEV   every "running" of DEV's function was followed by "stopped"
all_stopped() { [ "$(log_count "ifcvf: $1: stopped")" -ge "$(log_count "ifcvf: $1: running")" ]; }

# msix_each BDF   "v0:N v1:N ..." interrupts per vfio-msix vector of BDF
msix_each() {
    awk -v b="$1" '$0 ~ "vfio-msix\\[[0-9]+\\]\\(" b "\\)" {
        s = 0; for (i = 2; i <= NF; i++) { if ($i ~ /^[0-9]+$/) s += $i; else break }
        match($0, /vfio-msix\[[0-9]+\]/); v = substr($0, RSTART + 10, RLENGTH - 11)
        printf "%sv%s:%d", sep, v, s; sep = " " } END { print "" }' /proc/interrupts
}

# msix_sampler PHASE   every 50 ms: the last non-empty msix_each of A and B
# -> /tmp/PHASE.msix.A / .B
msix_sampler() {
    while :; do
        x=$(msix_each "$A"); [ -n "$x" ] && echo "$x" >"/tmp/$1.msix.A"
        x=$(msix_each "$B"); [ -n "$x" ] && echo "$x" >"/tmp/$1.msix.B"
        usleep 50000
    done
}

# jfield FILE KEY   a number or string from the frontend's one-line JSON
jfield() {
    grep '^{' "$1" | tail -n1 | sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# ---- 1. functions -> vfio-pci -----------------------------------------------------------
mark iommu "$(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')"
pci_list | while read -r b rest; do mark "pci.$b" "$rest"; done
fns=$(pci_find "$id" | tr '\n' ' ')
mark vfio_fns "$fns"
set -- $fns
[ $# -ge 2 ] || die "need two $id functions, found: ${fns:-none}"
A=$1
B=$2
for b in "$A" "$B"; do
    pci_bind "$b" vfio-pci || log "binding $b to vfio-pci failed"
    mark "vfio_driver.$b" "$(link_name "/sys/bus/pci/devices/$b/driver")"
    g=$(link_name "/sys/bus/pci/devices/$b/iommu_group")
    mark "iommu_group.$b" "$g"
    [ -c "/dev/vfio/$g" ] || die "$b: no /dev/vfio/$g"
done
step vfio_bind ok

# ---- 2. uvdpad --------------------------------------------------------------------------
mkdir -p /run/uvdpa
t0=$(ms_now)
# shellcheck disable=SC2086
uvdpad -f -s "$CTL" $ud_args >"$LOG" 2>&1 &
ud_pid=$!
wait_until 20 test -S "$CTL" || die "uvdpad did not create $CTL"
mark uvdpad_start_ms $(( $(ms_now) - t0 ))
U mgmtdev show >/tmp/mgmt.txt 2>&1
sed 's/^/UVDPA-LOG: mgmtdev: /' /tmp/mgmt.txt
mg=$(grep -o '^pci/[0-9a-f:.]*' /tmp/mgmt.txt | tr '\n' ' ')
mark mgmtdevs "$mg"
if grep -q "^pci/$A" /tmp/mgmt.txt && grep -q "^pci/$B" /tmp/mgmt.txt; then
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
add_dev vfA "$A" && add_dev vfB "$B" && step probe ok || { step probe fail; finish; }
grep -E 'vfio: |ifcvf: ' "$LOG" | sed 's/^/UVDPA-LOG: uvdpad: /'

# ---- 4./5. traffic -------------------------------------------------------------------------
# phase NAME COUNT [frontend options]
phase() {
    p=$1
    n=$2
    shift 2
    cb=$(log_count "vhost-user: vfB: dev_conf done")
    t0=$(ms_now)
    # The vfio-msix vectors exist in /proc/interrupts only between dev_conf
    # and dev_close (fresh IRQs, counts from 0): sample them meanwhile.
    rm -f "/tmp/$p.msix.A" "/tmp/$p.msix.B"
    msix_sampler "$p" &
    smp=$!
    uvdpa-frontend --socket /tmp/vfB.sock --rx-only --count "$n" --size "$size" \
        --qsize "$qsize" --drain-ms 20000 --json "$@" >"/tmp/$p-rx.log" 2>&1 &
    rxp=$!
    if ! wait_until 60 count_above "vhost-user: vfB: dev_conf done" "$cb"; then
        log "$p: vfB never reached dev_conf"
    fi
    mark "$p.rx_ready_ms" $(( $(ms_now) - t0 ))
    t1=$(ms_now)
    uvdpa-frontend --socket /tmp/vfA.sock --tx-only --count "$n" --size "$size" \
        --qsize "$qsize" --json "$@" >"/tmp/$p-tx.log" 2>&1 &
    txp=$!
    wait "$txp"
    txrc=$?
    wait "$rxp"
    rxrc=$?
    mark "$p.wall_ms" "$(( $(ms_now) - t1 ))"
    kill "$smp" 2>/dev/null
    wait "$smp" 2>/dev/null
    mark "$p.tx_rc" "$txrc"
    mark "$p.rx_rc" "$rxrc"
    for k in tx_pkts tx_bytes tx_pps tx_gbps kicks calls features_str; do
        mark "$p.$k" "$(jfield "/tmp/$p-tx.log" "$k")"
    done
    for k in rx_pkts rx_bytes rx_bad rx_lost rx_ooo rx_pps rx_gbps calls; do
        mark "$p.rx.$k" "$(jfield "/tmp/$p-rx.log" "$k")"
    done
    for x in A B; do
        eval "b=\$$x"
        v=$(cat "/tmp/$p.msix.$x" 2>/dev/null)
        mark "$p.msix_irqs.$b" "${v:-none}"
        mark "$p.msix.$b" "$(echo "$v" | tr ' ' '\n' | awk -F: '{ t += $2 } END { print t + 0 }')"
    done
    grep -E '^(tx|rx|rings|result):' "/tmp/$p-tx.log" "/tmp/$p-rx.log" |
        sed "s/^/UVDPA-LOG: $p: /"
    # dev_close follows the frontends' GET_VRING_BASE / disconnect.
    wait_until 20 all_stopped vfA
    wait_until 20 all_stopped vfB
    for d in vfA vfB; do
        mark "$p.dev_conf.$d" "$(log_count "vhost-user: $d: dev_conf done")"
        mark "$p.running.$d" "$(log_count "ifcvf: $d: running")"
        mark "$p.stopped.$d" "$(log_count "ifcvf: $d: stopped")"
    done
    if [ "$txrc" = 0 ] && [ "$rxrc" = 0 ]; then step "$p" ok; else
        step "$p" fail
        sed "s/^/UVDPA-LOG: $p-tx: /" "/tmp/$p-tx.log" | tail -n 30
        sed "s/^/UVDPA-LOG: $p-rx: /" "/tmp/$p-rx.log" | tail -n 30
    fi
}

phase poll "$count"
[ "$irq_count" -gt 0 ] && phase irq "$irq_count" --irq

# ---- 6. teardown ----------------------------------------------------------------------------
for d in vfA vfB; do
    if out=$(U dev del "$d" 2>&1); then mark "dev_del.$d" ok; else
        mark "dev_del.$d" fail
        log "dev del $d: $out"
        rc=1
    fi
done
kill -TERM "$ud_pid"
wait "$ud_pid"
mark uvdpad_exit $?
ud_pid=
mark uvdpad_errors "$(grep -c ' ERR ' "$LOG")"
mark uvdpad_warnings "$(grep -c ' WARN ' "$LOG")"
grep -E ' (ERR|WARN) ' "$LOG" | sed 's/^/UVDPA-LOG: uvdpad: /'
grep -E 'ifcvf: |vfio: ' "$LOG" | tail -n 20 | sed 's/^/UVDPA-LOG: uvdpad: /'
finish
