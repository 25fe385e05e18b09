#!/bin/sh
# rx-watch: bring the interface up and print its receive counters once a
# second, for a host that migrates the guest while a device keeps filling its
# RX buffers (tests/guest/migrate.py). Runs until uvdpa.duration seconds have
# passed (0, the default: forever; the host stops the guest).
#
# Arguments (kernel command line):
#   uvdpa.if=IFNAME        interface (default eth0)
#   uvdpa.link_wait=S      seconds to wait for carrier (default 10)
#   uvdpa.channels=N       set N combined channels first (uvdpa-channels,
#                          i.e. ethtool -L IFNAME combined N): virtio_net
#                          activates only min(queue pairs, vCPUs) pairs
#   uvdpa.duration=S       stop after S seconds (default 0: never)
# Markers: mac, transport (modern|legacy), features_named, link, channels
# ("current max", with uvdpa.channels), queues_rx, watch_start, then every
# second: rx TICK RX_PACKETS RX_DROPPED RX_ERRORS UPTIME
# rc: 1 when the interface is missing or the channels cannot be set.
. /lib/uvdpa/lib.sh

ifname=$(arg if eth0)
n=/sys/class/net/$ifname
[ -e "$n" ] || { log "no $n: $(ls /sys/class/net | tr '\n' ' ')"; exit 1; }
vdev=$(netdev_virtio "$ifname" || true)
if [ -n "$vdev" ]; then
    features=$(rd "$vdev/features")
    mark features_named "$(virtio_net_feature_names "$features")"
    if [ "$(feature_bit "$features" 32)" = 1 ]; then
        mark transport modern
    else
        mark transport legacy
    fi
fi
mark mac "$(rd "$n/address")"
ip link set "$ifname" up
wait_until "$(arg link_wait 10)" oper_up "$ifname"
if oper_up "$ifname"; then mark link up; else mark link down; fi

ch=$(arg channels 0)
if [ "$ch" -gt 0 ] 2>/dev/null; then
    if ! out=$(uvdpa-channels "$ifname" "$ch" 2>&1); then
        log "uvdpa-channels $ifname $ch: $out"
        exit 1
    fi
    mark channels "$out"
fi
mark queues_rx "$(ls -d "$n"/queues/rx-* 2>/dev/null | wc -l)"

duration=$(arg duration 0)
mark watch_start "$(uptime_s)"
tick=0
while [ "$duration" -le 0 ] || [ "$tick" -lt "$duration" ]; do
    mark rx "$tick $(rd "$n/statistics/rx_packets" 0) $(rd "$n/statistics/rx_dropped" 0)" \
         "$(rd "$n/statistics/rx_errors" 0) $(uptime_s)"
    tick=$(( tick + 1 ))
    sleep 1
done
exit 0
