#!/bin/bash
# test_guest_emu_tap.sh BUILD_DIR
#
# A QEMU TCG guest whose vhost-user virtio-net device is served by uvdpad: an
# emulated IFCVF net VF (emu/ifcvf-net, probed by the ifcvf driver) whose
# port is a host TAP interface, so guest traffic reaches the host's stack.
#   host: TAP uvtPID with 10.77.N.1/24; uvdpad -f with a private control
#         socket, `dev add ... port tap:uvtPID` + `dev bind ... vhost-user`;
#         xfer-peer.py on 10.77.N.1 (TCP receiver + HTTP server).
#   1. modern guest (10.77.N.2): 20 pings to the host with 0 loss, 8 MiB
#      guest -> host (nc) and 8 MiB host -> guest (wget), sha256 compared;
#   2. legacy guest (disable-modern=on, no VERSION_1): the same;
#   after each guest: the device is still listed and disconnected, its
#   vstats (text and -j) show traffic on both rings;
#   3. SIGTERM to uvdpad: it exits and removes its sockets.
# Prints ping RTTs and transfer rates (MiB/s). Needs root (TAP).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
timeout=${UVDPA_GUEST_TIMEOUT:-150}     # per guest; two guests must fit in ~6 min
mib=${UVDPA_XFER_MIB:-32}     # per direction (at least 8)
pings=20

uvdpad=$build/tools/uvdpad
uvdpa=$build/tools/uvdpa
[ -x "$uvdpad" ] || fail "$uvdpad not built"
[ -x "$uvdpa" ] || fail "$uvdpa not built"

command -v ip >/dev/null || fail "no ip command: install the Debian package iproute2 (scripts/install-deps.sh)"
[ -c /dev/net/tun ] || fail "no /dev/net/tun: load the tun module (modprobe tun) or give the container /dev/net/tun"

tmp=$(mktemp -d /tmp/uvdpa-emu-tap.XXXXXX) || fail "mktemp"
ctl=$tmp/control.sock
vsock=$tmp/vf0.sock
tap=uvt$$
tap=${tap:0:15}
ud_pid=
peer_pid=
sampler_pid=
tap_made=

stop_peer() {
    if [ -n "$peer_pid" ]; then
        kill "$peer_pid" 2>/dev/null
        wait "$peer_pid" 2>/dev/null
        peer_pid=
    fi
}
stop_sampler() {
    if [ -n "$sampler_pid" ]; then
        kill "$sampler_pid" 2>/dev/null
        wait "$sampler_pid" 2>/dev/null
        sampler_pid=
    fi
}
stop_uvdpad() {
    if [ -n "$ud_pid" ]; then
        kill "$ud_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$ud_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$ud_pid" 2>/dev/null
        wait "$ud_pid" 2>/dev/null
        ud_pid=
    fi
}
cleanup() {
    stop_sampler
    stop_peer
    stop_uvdpad
    [ -n "$tap_made" ] && ip link del "$tap" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---- host side: TAP, daemon -----------------------------------------------------------
# A subnet no interface uses: 10.77.N.0/24, N from the pid.
host_tap_up 10.77 "$tap" "$tmp/tuntap.err"

cat >"$tmp/uvdpad.conf" <<EOF
# emulated IFCVF net VF on the host TAP, served over vhost-user
dev add name vf0 mgmtdev emu/ifcvf-net port tap:$tap
dev bind vf0 vhost-user $vsock
EOF
ud_log=$work/emu-tap.uvdpad.log
"$uvdpad" -f -s "$ctl" -c "$tmp/uvdpad.conf" >"$ud_log" 2>&1 &
ud_pid=$!
for _ in $(seq 100); do
    [ -S "$ctl" ] && [ -S "$vsock" ] && break
    kill -0 "$ud_pid" 2>/dev/null || fail "uvdpad exited at start: $(tail -n 5 "$ud_log")"
    sleep 0.1
done
[ -S "$ctl" ] || fail "uvdpad did not create its control socket $ctl (log: $ud_log)"
[ -S "$vsock" ] || fail "uvdpad did not create the vhost-user socket $vsock (log: $ud_log)"
U() { "$uvdpa" -s "$ctl" "$@"; }
U mgmtdev show | grep -q '^emu/ifcvf-net' || fail "uvdpa mgmtdev show does not list emu/ifcvf-net"
U dev show vf0 || fail "uvdpa dev show vf0 failed"

# jq-less JSON field: json_get 'PYTHON EXPR on d' < JSON
json_get() {
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# The file the host serves, and its digest.
size=$(( mib * 1048576 ))
head -c "$size" /dev/urandom >"$tmp/rx.bin"
host_sha=$(sha256sum "$tmp/rx.bin" | cut -d' ' -f1)

mibps() { # BYTES SECONDS
    python3 -c 'import sys; b,s=float(sys.argv[1]),float(sys.argv[2]); print("%.2f" % (b/1048576/s) if s > 0 else "inf")' "$1" "$2"
}

wait_disconnected() {
    local c
    for _ in $(seq 50); do
        c=$(U -j dev show vf0 | json_get 'd["dev"]["vf0"].get("connected")')
        [ "$c" = False ] && return 0
        sleep 0.1
    done
    fail "vf0 still connected after the guest powered off: $(U dev show vf0)"
}

# vstat QIDX KEY   one counter of `dev vstats show vf0 qidx QIDX` (-j)
vstat() {
    U -j dev vstats show vf0 qidx "$1" | json_get "d['vstats']['vf0'].get('$2', 0)"
}

results=()

# Sample the live ring counters (completed_desc of qidx 0 and 1) while a
# guest runs, into $work/NAME.desc0 and .desc1.
start_sampler() { # NAME
    rm -f "$work/$1.desc0" "$work/$1.desc1"
    (
        while :; do
            for q in 0 1; do
                "$uvdpa" -s "$ctl" -j dev vstats show vf0 qidx "$q" 2>/dev/null |
                    json_get "d['vstats']['vf0'].get('completed_desc', 0)" >>"$work/$1.desc$q" 2>/dev/null
            done
            sleep 1
        done
    ) &
    sampler_pid=$!
}

run() { # NAME [run-guest args]
    local name=$1
    shift
    local j=$work/$name.json r tx_port rx_port
    r=$work/$name.peer.json
    stop_peer
    rm -f "$tmp/ports" "$r"
    python3 "$here/xfer-peer.py" --bind "$host_ip" --serve "$tmp/rx.bin" \
        --ports "$tmp/ports" --result "$r" --timeout "$(( timeout + 60 ))" \
        2>"$work/$name.peer.log" &
    peer_pid=$!
    for _ in $(seq 100); do [ -s "$tmp/ports" ] && break; sleep 0.05; done
    [ -s "$tmp/ports" ] || fail "$name: xfer-peer.py did not start (log: $work/$name.peer.log)"
    read -r tx_port rx_port <"$tmp/ports"

    local tap_rx0 tap_tx0
    tap_rx0=$(cat "/sys/class/net/$tap/statistics/rx_packets")
    tap_tx0=$(cat "/sys/class/net/$tap/statistics/tx_packets")
    start_sampler "$name"
    boot "$name" --test transfer --vhost-user "$vsock" "$@" --append \
        "uvdpa.ip=$guest_ip/24 uvdpa.peer=$host_ip uvdpa.count=$pings uvdpa.mib=$mib uvdpa.tx_port=$tx_port uvdpa.rx_port=$rx_port uvdpa.xfer_timeout=60"
    local grc=$?
    local tap_rx tap_tx
    tap_rx=$(( $(cat "/sys/class/net/$tap/statistics/rx_packets") - tap_rx0 ))
    tap_tx=$(( $(cat "/sys/class/net/$tap/statistics/tx_packets") - tap_tx0 ))
    echo "   host $tap: rx_packets +$tap_rx tx_packets +$tap_tx"
    if [ "$grc" != 0 ]; then
        grep -E ' (ERR|WARN) ' "$ud_log" | tail -n 5 | sed 's/^/   uvdpad: /'
        fail "$name: guest rc $grc (log: $work/$name.log, uvdpad: $ud_log)"
    fi

    # ping
    expect "$name" ping_tx "$pings"
    expect "$name" ping_rx "$pings"
    expect "$name" ping_loss 0
    local rtt
    rtt=$(jget "$j" ping_rtt)
    [ -n "$rtt" ] || fail "$name: no ping RTT reported"

    # guest -> host
    for _ in $(seq 50); do
        [ "$(json_get 'd["recv"]["done"]' <"$r")" = True ] && break
        sleep 0.1
    done
    local g_sha g_bytes h_sha h_bytes h_sec g_sec
    g_sha=$(jget "$j" tx_sha256); g_bytes=$(jget "$j" tx_bytes); g_sec=$(jget "$j" tx_seconds)
    h_sha=$(json_get 'd["recv"]["sha256"]' <"$r")
    h_bytes=$(json_get 'd["recv"]["bytes"]' <"$r")
    h_sec=$(json_get 'd["recv"]["seconds"]' <"$r")
    [ "$g_bytes" = "$size" ] || fail "$name: guest made $g_bytes bytes, wanted $size"
    [ "$h_bytes" = "$size" ] || fail "$name: guest -> host: host received $h_bytes of $size bytes"
    if [ -z "$g_sha" ] || [ "$g_sha" != "$h_sha" ]; then
        fail "$name: guest -> host: sha256 mismatch: guest '$g_sha' host '$h_sha'"
    fi

    # host -> guest
    local rx_sha rx_bytes rx_sec
    rx_sha=$(jget "$j" rx_sha256); rx_bytes=$(jget "$j" rx_bytes); rx_sec=$(jget "$j" rx_seconds)
    [ "$rx_bytes" = "$size" ] || fail "$name: host -> guest: guest received $rx_bytes of $size bytes"
    [ "$rx_sha" = "$host_sha" ] ||
        fail "$name: host -> guest: sha256 mismatch: host $host_sha guest $rx_sha"
    stop_peer

    local up_g up_h down
    up_g=$(mibps "$size" "$g_sec"); up_h=$(mibps "$size" "$h_sec"); down=$(mibps "$size" "$rx_sec")
    echo "   $name: transport $(jget "$j" transport), ping $pings/$pings replies, 0% loss," \
         "rtt min/avg/max $rtt ms"
    echo "   $name: guest -> host $size bytes, sha256 match ($g_sha)," \
         "$up_g MiB/s (guest nc ${g_sec}s), $up_h MiB/s (host first byte to EOF ${h_sec}s)"
    echo "   $name: host -> guest $size bytes, sha256 match ($rx_sha), $down MiB/s (guest wget ${rx_sec}s)"
    results+=("$name: ping $pings/$pings rtt $rtt ms; up $up_g MiB/s; down $down MiB/s")

    # daemon view after the guest powered off
    wait_disconnected
    U dev show vf0 >/dev/null || fail "$name: vf0 gone after the guest powered off"
    # received_desc/completed_desc are live ring positions (0 once the device
    # is stopped): sampled while the guest ran; the model's counters stay.
    local q k v
    stop_sampler
    for q in 0 1; do
        v=$(sort -n "$work/$name.desc$q" 2>/dev/null | tail -n 1)
        [ "${v:-0}" -gt 0 ] ||
            fail "$name: vstats qidx $q completed_desc never > 0 while the guest ran"
        echo "   $name: vstats qidx $q completed_desc (max sampled while running) $v"
        U dev vstats show vf0 qidx "$q" || fail "$name: uvdpa dev vstats show vf0 qidx $q failed"
        for k in packets bytes; do
            v=$(vstat "$q" "$k")
            [ "${v:-0}" -gt 0 ] 2>/dev/null ||
                fail "$name: vstats qidx $q $k is '$v', expected > 0 ($(U dev vstats show vf0 qidx "$q"))"
        done
    done
    # the rings moved at least the 8 MiB of each transfer
    v=$(vstat 0 bytes); [ "$v" -ge "$size" ] || fail "$name: vstats qidx 0 (rx) bytes $v < $size"
    v=$(vstat 1 bytes); [ "$v" -ge "$size" ] || fail "$name: vstats qidx 1 (tx) bytes $v < $size"
    [ "$(U -j dev vstats show vf0 qidx 0 | json_get 'd["vstats"]["vf0"]["queue_type"]')" = rx ] ||
        fail "$name: vstats qidx 0 is not the rx queue"
}

run modern
expect modern transport modern
run legacy --legacy
expect legacy transport legacy

# ---- SIGTERM ------------------------------------------------------------------------------
kill -TERM "$ud_pid"
for _ in $(seq 100); do kill -0 "$ud_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ud_pid" 2>/dev/null && fail "uvdpad still running 10 s after SIGTERM"
wait "$ud_pid"
rc=$?
ud_pid=
[ "$rc" = 0 ] || fail "uvdpad exited with status $rc after SIGTERM (log: $ud_log)"
[ -e "$ctl" ] && fail "uvdpad left its control socket $ctl"
[ -e "$vsock" ] && fail "uvdpad left the vhost-user socket $vsock"
echo "   uvdpad: SIGTERM -> exit 0, sockets removed"

for l in "${results[@]}"; do echo "   $l"; done
echo "guest-emu-tap: 2 passed, 0 failed"
