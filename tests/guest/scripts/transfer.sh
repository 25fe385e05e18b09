#!/bin/sh
# transfer: ping a peer, then move a file each way over TCP.
#
# guest -> peer: the guest writes MIB MiB from /dev/urandom, reports its
#   sha256 and sends it with `nc PEER TX_PORT < file` (the peer stores what
#   it receives and closes at EOF; the host compares the digests).
# peer -> guest: `wget http://PEER:RX_PORT/RX_PATH`, the guest reports size
#   and sha256 of what it got.
#
# Arguments (kernel command line):
#   uvdpa.ip=ADDR/LEN      guest address (default 10.0.0.2/24)
#   uvdpa.peer=ADDR        peer (default 10.0.0.1)
#   uvdpa.count=N          echo requests (default 20; 0 skips the ping)
#   uvdpa.interval=S       seconds between requests (default 0.2)
#   uvdpa.min=N            replies needed (default: count)
#   uvdpa.mib=N            MiB the guest sends (default 8)
#   uvdpa.tx_port=PORT     peer's TCP receiver (absent: no guest -> peer transfer)
#   uvdpa.rx_port=PORT     peer's HTTP server (absent: no peer -> guest transfer)
#   uvdpa.rx_path=PATH     file to fetch (default /rx.bin)
#   uvdpa.xfer_timeout=S   seconds per transfer before giving up (default 150)
#   uvdpa.if=IFNAME        interface (default eth0)
#   uvdpa.link_wait=S      seconds to wait for carrier (default 10)
# Markers: ip, peer, link, transport (modern|legacy), features, ping_tx,
# ping_rx, ping_loss, ping_rtt (min/avg/max ms); tx_bytes, tx_sha256, tx_rc,
# tx_seconds; rx_rc, rx_bytes, rx_sha256, rx_seconds; if_tx_packets,
# if_rx_packets, if_tx_bytes, if_rx_bytes, if_rx_dropped, if_rx_errors
# (interface counters for the whole run).
# rc: 0 when the ping got min replies and every requested transfer completed
# (the digests are compared by the host).
. /lib/uvdpa/lib.sh

ifname=$(arg if eth0)
ipaddr=$(arg ip 10.0.0.2/24)
peer=$(arg peer 10.0.0.1)
count=$(arg count 20)
interval=$(arg interval 0.2)
min=$(arg min "$count")
mib=$(arg mib 8)
tx_port=$(arg tx_port)
rx_port=$(arg rx_port)
rx_path=$(arg rx_path /rx.bin)
xt=$(arg xfer_timeout 150)
n=/sys/class/net/$ifname
rc=0

[ -e "$n" ] || { log "no interface $ifname: $(ls /sys/class/net | tr '\n' ' ')"; mark ping_rx 0; exit 1; }
vdev=$(netdev_virtio "$ifname" || true)
if [ -n "$vdev" ]; then
    f=$(rd "$vdev/features")
    mark features "$f"
    if [ "$(feature_bit "$f" 32)" = 1 ]; then mark transport modern; else mark transport legacy; fi
fi
ip addr add "$ipaddr" dev "$ifname" || { log "ip addr add $ipaddr failed"; exit 1; }
ip link set "$ifname" up
mark ip "$ipaddr"
mark peer "$peer"
if wait_until "$(arg link_wait 10)" oper_up "$ifname"; then mark link up; else mark link down; fi

# elapsed T0 T1   seconds between two /proc/uptime readings
elapsed() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

tx0=$(rd "$n/statistics/tx_packets" 0); rx0=$(rd "$n/statistics/rx_packets" 0)
txb0=$(rd "$n/statistics/tx_bytes" 0); rxb0=$(rd "$n/statistics/rx_bytes" 0)

# ---- ping ------------------------------------------------------------------------
if [ "$count" -gt 0 ]; then
    out=$(ping -c "$count" -i "$interval" -W 3 -I "$ifname" "$peer" 2>&1)
    echo "$out" | tail -n 3 | while read -r l; do log "ping: $l"; done
    sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
    recv=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
    loss=$(echo "$out" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
    rtt=$(echo "$out" | sed -n 's|.*min/avg/max = \([0-9./]*\).*|\1|p')
    mark ping_tx "${sent:-0}"
    mark ping_rx "${recv:-0}"
    mark ping_loss "${loss:-100}"
    [ -n "$rtt" ] && mark ping_rtt "$rtt"
    [ "${recv:-0}" -ge "$min" ] || rc=1
fi

# ---- guest -> peer -----------------------------------------------------------------
if [ -n "$tx_port" ]; then
    dd if=/dev/urandom of=/tmp/tx.bin bs=1048576 count="$mib" 2>/dev/null
    mark tx_bytes "$(wc -c < /tmp/tx.bin)"
    mark tx_sha256 "$(sha256sum /tmp/tx.bin | cut -d' ' -f1)"
    t0=$(uptime_s)
    timeout "$xt" nc -w 10 "$peer" "$tx_port" < /tmp/tx.bin > /dev/null
    r=$?
    t1=$(uptime_s)
    mark tx_rc "$r"
    mark tx_seconds "$(elapsed "$t0" "$t1")"
    [ "$r" = 0 ] || rc=1
    rm -f /tmp/tx.bin
fi

# ---- peer -> guest -----------------------------------------------------------------
if [ -n "$rx_port" ]; then
    t0=$(uptime_s)
    timeout "$xt" wget -q -O /tmp/rx.bin "http://$peer:$rx_port$rx_path"
    r=$?
    t1=$(uptime_s)
    mark rx_rc "$r"
    mark rx_seconds "$(elapsed "$t0" "$t1")"
    mark rx_bytes "$(wc -c < /tmp/rx.bin 2>/dev/null || echo 0)"
    mark rx_sha256 "$(sha256sum /tmp/rx.bin 2>/dev/null | cut -d' ' -f1)"
    [ "$r" = 0 ] || rc=1
    rm -f /tmp/rx.bin
fi

mark if_tx_packets $(( $(rd "$n/statistics/tx_packets" 0) - tx0 ))
mark if_rx_packets $(( $(rd "$n/statistics/rx_packets" 0) - rx0 ))
mark if_tx_bytes $(( $(rd "$n/statistics/tx_bytes" 0) - txb0 ))
mark if_rx_bytes $(( $(rd "$n/statistics/rx_bytes" 0) - rxb0 ))
mark if_rx_dropped "$(rd "$n/statistics/rx_dropped" 0)"
mark if_rx_errors "$(rd "$n/statistics/rx_errors" 0)"
exit $rc
