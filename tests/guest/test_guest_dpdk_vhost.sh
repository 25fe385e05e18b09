#!/bin/bash
# test_guest_dpdk_vhost.sh BUILD_DIR
#
# End-to-end check of the guest harness against DPDK's vhost-user backend
# (dpdk-testpmd --vdev net_vhost0) as the peer of a QEMU TCG guest:
#   1. modern virtio-net (vectors=0): virtio_net bound, eth0 up, and ARP frames
#      the guest sends come back through testpmd (io forwarding);
#   2. legacy virtio-net (disable-modern=on): virtio_net bound, eth0 up;
#   3. ping.sh against testpmd in icmpecho mode.
# Fetches the kernel (tests/guest/fetch-kernel.sh, apt-get download) when the
# cache has none, and builds the initramfs into BUILD_DIR/guest-tests/.
#
# Needs (Debian): qemu-system-x86, dpdk-dev (dpdk-testpmd), busybox-static,
# cpio, python3 (scripts/install-deps.sh). A missing one fails the test.
# Environment: UVDPA_GUEST_CACHE (kernel cache, default tests/guest/cache),
# UVDPA_GUEST_TIMEOUT (per boot, default 240 s).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

# ---- testpmd (DPDK vhost-user backend) -----------------------------------------
sock=$work/vhost-dpdk.sock
prefix=uvdpa-guest-$$
tp_pid=
pdeath=()
setpriv --help 2>&1 | grep -q -- --pdeathsig && pdeath=(setpriv --pdeathsig KILL)

stop_testpmd() {
    if [ -n "$tp_pid" ]; then
        kill "$tp_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$tp_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$tp_pid" 2>/dev/null
        wait "$tp_pid" 2>/dev/null
        tp_pid=
    fi
    rm -f "$sock"
    rm -rf "/var/run/dpdk/$prefix"
}
trap stop_testpmd EXIT
trap 'exit 143' TERM INT

start_testpmd() { # MODE
    stop_testpmd
    local log=$work/testpmd-$1.log
    "${pdeath[@]}" dpdk-testpmd -l 0,1 --no-pci --no-huge -m 512 --file-prefix="$prefix" \
        --vdev "net_vhost0,iface=$sock,client=0" -- \
        --auto-start --forward-mode="$1" --stats-period=5 --total-num-mbufs=16384 \
        </dev/null >"$log" 2>&1 &
    tp_pid=$!
    for _ in $(seq 300); do
        [ -S "$sock" ] && return 0
        kill -0 "$tp_pid" 2>/dev/null || { tail -n 20 "$log" >&2; fail "dpdk-testpmd exited (log: $log)"; }
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    fail "dpdk-testpmd did not create $sock within 30 s (log: $log)"
}

# 1. modern device, io forwarding: what the guest sends comes back.
start_testpmd io
boot modern --test net-probe --vhost-user "$sock" --append uvdpa.traffic=4 ||
    fail "modern: guest rc $? (log: $work/modern.log)"
expect modern virtio_driver virtio_net
expect modern iface_present 1
expect modern link up
expect modern transport modern
rx=$(jget "$work/modern.json" rx_packets)
[ "${rx:-0}" -gt 0 ] || fail "modern: no packet came back through testpmd (rx_packets=$rx)"

# 2. legacy device (disable-modern=on) on the same backend (it takes a new connection).
boot legacy --test net-probe --legacy --vhost-user "$sock" ||
    fail "legacy: guest rc $? (log: $work/legacy.log)"
expect legacy virtio_driver virtio_net
expect legacy iface_present 1
expect legacy link up
expect legacy transport legacy

# 3. ping against testpmd's icmpecho mode (answers ARP and ICMP echo).
start_testpmd icmpecho
boot ping --test ping --vhost-user "$sock" \
    --append "uvdpa.ip=169.254.77.2/24 uvdpa.peer=169.254.77.1 uvdpa.count=10 uvdpa.min=8" ||
    fail "ping: guest rc $? (replies $(jget "$work/ping.json" ping_rx)/10; log: $work/ping.log)"

stop_testpmd
echo "guest-dpdk-vhost: 3 passed, 0 failed"
exit 0
