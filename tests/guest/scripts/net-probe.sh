#!/bin/sh
# net-probe: report what the guest sees of its virtio-net device.
#
# Markers: virtio_driver, virtio_dev, pci_dev, pci_id, pci_driver, transport
# (modern|legacy), iface_present, mac, mtu, features, features_named,
# queues_rx, queues_tx, link, operstate, carrier; with uvdpa.traffic=N also
# tx_packets, rx_packets after sending N broadcast ARP requests.
#
# Arguments (kernel command line):
#   uvdpa.if=IFNAME        interface to probe (default eth0)
#   uvdpa.link_wait=S      seconds to wait for carrier (default 5)
#   uvdpa.traffic=N        send N ARP requests (a peer that forwards or echoes
#                          them, e.g. testpmd io mode, makes rx_packets grow)
# rc: 0 when the interface exists and is driven by virtio_net, 1 otherwise.
. /lib/uvdpa/lib.sh

ifname=$(arg if eth0)
rc=0

if [ -e "/sys/class/net/$ifname" ]; then
    mark iface_present 1
else
    mark iface_present 0
    log "no /sys/class/net/$ifname; interfaces: $(ls /sys/class/net | tr '\n' ' ')"
    rc=1
fi

vdev=$(netdev_virtio "$ifname" || true)
if [ -z "$vdev" ]; then
    # No netdev: still say what the virtio bus has, to tell a probe failure
    # from a missing device.
    for d in /sys/bus/virtio/devices/*; do
        [ -e "$d" ] || continue
        log "virtio device ${d##*/}: device=$(rd "$d/device") driver=$(link_name "$d/driver") status=$(rd "$d/status")"
    done
    mark virtio_driver none
    uvdpa-lspci | while read -r l; do log "pci $l"; done
    exit 1
fi

drv=$(link_name "$vdev/driver")
mark virtio_driver "$drv"
[ "$drv" = virtio_net ] || rc=1
mark virtio_dev "${vdev##*/}"
mark virtio_status "$(rd "$vdev/status")"

pdev=$(dirname "$vdev")
if [ -e "$pdev/vendor" ]; then
    mark pci_dev "${pdev##*/}"
    v=$(rd "$pdev/vendor"); d=$(rd "$pdev/device")
    mark pci_id "${v#0x}:${d#0x}"
    mark pci_driver "$(link_name "$pdev/driver")"
fi

features=$(rd "$vdev/features")
mark features "$features"
mark features_named "$(virtio_net_feature_names "$features")"
if [ "$(feature_bit "$features" 32)" = 1 ]; then
    mark transport modern
else
    mark transport legacy
fi

if [ -e "/sys/class/net/$ifname" ]; then
    n=/sys/class/net/$ifname
    mark mac "$(rd "$n/address")"
    mark mtu "$(rd "$n/mtu")"
    mark queues_rx "$(ls -d "$n"/queues/rx-* 2>/dev/null | wc -l)"
    mark queues_tx "$(ls -d "$n"/queues/tx-* 2>/dev/null | wc -l)"
    ip link set "$ifname" up
    wait_until "$(arg link_wait 5)" oper_up "$ifname"
    if oper_up "$ifname"; then mark link up; else mark link down; fi
    mark carrier "$(rd "$n/carrier" 0)"
    mark operstate "$(rd "$n/operstate")"

    count=$(arg traffic 0)
    if [ "$count" -gt 0 ] 2>/dev/null; then
        tx0=$(rd "$n/statistics/tx_packets" 0); rx0=$(rd "$n/statistics/rx_packets" 0)
        ip addr add 169.254.77.2/24 dev "$ifname" 2>/dev/null
        arping -b -c "$count" -w "$(( count + 2 ))" -I "$ifname" 169.254.77.1 >/dev/null 2>&1
        sleep 1
        tx1=$(rd "$n/statistics/tx_packets" 0); rx1=$(rd "$n/statistics/rx_packets" 0)
        mark tx_packets $(( tx1 - tx0 ))
        mark rx_packets $(( rx1 - rx0 ))
    fi
fi
exit $rc
