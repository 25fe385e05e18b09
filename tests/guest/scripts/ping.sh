#!/bin/sh
# ping: configure an address on the guest interface and ping a peer.
#
# Arguments (kernel command line):
#   uvdpa.ip=ADDR/LEN      guest address (default 10.0.0.2/24)
#   uvdpa.peer=ADDR        peer to ping (default 10.0.0.1)
#   uvdpa.count=N          echo requests to send (default 20)
#   uvdpa.interval=S       seconds between requests (default 0.2)
#   uvdpa.size=N           payload bytes (default 56)
#   uvdpa.min=N            replies needed for rc 0 (default: count)
#   uvdpa.if=IFNAME        interface (default eth0)
#   uvdpa.peer_mac=MAC     add a static neighbour entry instead of using ARP
#   uvdpa.link_wait=S      seconds to wait for carrier (default 10)
# Markers: ip, peer, link, ping_tx, ping_rx, ping_loss, ping_rtt (min/avg/max ms),
# rx_packets, tx_packets (interface counters during the ping).
# rc: 0 when at least min replies arrived, 1 otherwise.
. /lib/uvdpa/lib.sh

ifname=$(arg if eth0)
ipaddr=$(arg ip 10.0.0.2/24)
peer=$(arg peer 10.0.0.1)
count=$(arg count 20)
interval=$(arg interval 0.2)
size=$(arg size 56)
min=$(arg min "$count")
n=/sys/class/net/$ifname

[ -e "$n" ] || { log "no interface $ifname"; mark ping_rx 0; exit 1; }
ip addr add "$ipaddr" dev "$ifname" || { log "ip addr add $ipaddr failed"; exit 1; }
ip link set "$ifname" up
mark ip "$ipaddr"
mark peer "$peer"
if wait_until "$(arg link_wait 10)" oper_up "$ifname"; then mark link up; else mark link down; fi
pm=$(arg peer_mac)
if [ -n "$pm" ]; then
    ip neigh replace "$peer" lladdr "$pm" dev "$ifname" nud permanent
fi

tx0=$(rd "$n/statistics/tx_packets" 0); rx0=$(rd "$n/statistics/rx_packets" 0)
out=$(ping -c "$count" -i "$interval" -s "$size" -W 3 -I "$ifname" "$peer" 2>&1)
echo "$out" | tail -n 3 | while read -r l; do log "ping: $l"; done
tx1=$(rd "$n/statistics/tx_packets" 0); rx1=$(rd "$n/statistics/rx_packets" 0)

sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
recv=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
loss=$(echo "$out" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
rtt=$(echo "$out" | sed -n 's|.*min/avg/max = \([0-9./]*\).*|\1|p')
mark ping_tx "${sent:-0}"
mark ping_rx "${recv:-0}"
mark ping_loss "${loss:-100}"
[ -n "$rtt" ] && mark ping_rtt "$rtt"
mark tx_packets $(( tx1 - tx0 ))
mark rx_packets $(( rx1 - rx0 ))

[ "${recv:-0}" -ge "$min" ] && exit 0
exit 1
