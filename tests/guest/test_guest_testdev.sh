#!/bin/bash
# test_guest_testdev.sh BUILD_DIR
#
# A QEMU TCG guest (Debian cloud kernel, busybox initramfs) with a vhost-user
# virtio-net device (vectors=0) served by uvdpa-testdev, uvdpa's recording
# test device with its loopback datapath:
#   1. modern guest: virtio_net binds, eth0 comes up, the ARP frames it sends
#      come back through the loopback; the recorded ops show negotiation,
#      dev_conf (at least once) with rings 0 and 1 ready at translatable
#      addresses, and dev_close when the guest powers off;
#   2. the same with a legacy guest (disable-modern=on, no VERSION_1).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

testdev=$build/tests/backend/uvdpa-testdev
[ -x "$testdev" ] || fail "$testdev not built"
sock=$work/testdev.sock
td_pid=

stop_testdev() {
    if [ -n "$td_pid" ]; then
        kill "$td_pid" 2>/dev/null
        wait "$td_pid" 2>/dev/null
        td_pid=
    fi
}
trap stop_testdev EXIT
trap 'exit 143' TERM INT

start_testdev() { # NAME
    stop_testdev
    rm -f "$sock"
    "$testdev" --socket "$sock" --loopback --record "$work/$1.rec" >"$work/$1.testdev.log" 2>&1 &
    td_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && return 0
        sleep 0.05
    done
    fail "uvdpa-testdev did not create $sock (log: $work/$1.testdev.log)"
}

check_record() { # NAME
    local rec=$work/$1.rec n
    n=$(grep -c '^dev_conf$' "$rec")
    [ "$n" -ge 1 ] || fail "$1: no dev_conf recorded ($rec)"
    grep -q '^vring 0 ready=1 .*gpa_ok=1' "$rec" || fail "$1: vring 0 not ready at dev_conf ($rec)"
    grep -q '^vring 1 ready=1 .*gpa_ok=1' "$rec" || fail "$1: vring 1 not ready at dev_conf ($rec)"
    grep -q '^dev_close$' "$rec" || fail "$1: no dev_close after the guest powered off ($rec)"
    looped=$(sed -n 's/^close .*looped_pkts=\([0-9]*\).*/\1/p' "$rec" | sort -n | tail -1)
    [ "${looped:-0}" -gt 0 ] || fail "$1: the loopback moved no packet ($rec)"
    echo "   $1: dev_conf x$n, looped $looped packets"
}

# The guest's poweroff closes the connection: wait for the testdev to see it.
wait_closed() { # NAME
    for _ in $(seq 50); do
        grep -q '^dev_close$' "$work/$1.rec" && return 0
        sleep 0.1
    done
}

start_testdev modern
boot modern --test net-probe --vhost-user "$sock" --append uvdpa.traffic=4 ||
    fail "modern: guest rc $? (log: $work/modern.log)"
expect modern virtio_driver virtio_net
expect modern iface_present 1
expect modern link up
expect modern transport modern
rx=$(jget "$work/modern.json" rx_packets)
[ "${rx:-0}" -gt 0 ] || fail "modern: no packet came back through the loopback (rx_packets=$rx)"
wait_closed modern
check_record modern
grep -q 'features=0x1' "$work/modern.rec" || fail "modern: VERSION_1 not negotiated"

start_testdev legacy
boot legacy --test net-probe --legacy --vhost-user "$sock" --append uvdpa.traffic=4 ||
    fail "legacy: guest rc $? (log: $work/legacy.log)"
expect legacy virtio_driver virtio_net
expect legacy iface_present 1
expect legacy transport legacy
rx=$(jget "$work/legacy.json" rx_packets)
[ "${rx:-0}" -gt 0 ] || fail "legacy: no packet came back through the loopback (rx_packets=$rx)"
wait_closed legacy
check_record legacy

stop_testdev
echo "guest-testdev: 2 passed, 0 failed"
