#!/bin/sh
# vfio-probe: bind a PCI function to vfio-pci inside the guest (needs a vIOMMU:
# run-guest.py --iommu) and check that its VFIO group device appears.
#
# Arguments (kernel command line):
#   uvdpa.vfio_bdf=DDDD:BB:DD.F   function to bind (default: first uvdpa.vfio_id)
#   uvdpa.vfio_id=VVVV:DDDD       vendor:device to look for (default 1af4:1041,
#                                 QEMU's modern virtio-net-pci)
# Markers: iommu (names under /sys/class/iommu or "none"), iommu_groups,
# vfio_bdf, vfio_orig_driver, iommu_group, vfio_driver, vfio_group_dev,
# vfio_container (/dev/vfio/vfio present 0/1), and one pci marker per function
# (pci.BDF "CLASS VENDOR:DEVICE subsys=.. driver=.. iommu_group=..").
# rc: 0 when the function is bound to vfio-pci and /dev/vfio/GROUP exists.
. /lib/uvdpa/lib.sh

pci_list | while read -r bdf rest; do mark "pci.$bdf" "$rest"; done
iommus=$(ls /sys/class/iommu 2>/dev/null | tr '\n' ' ')
mark iommu "${iommus:-none}"
mark iommu_groups "$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)"

id=$(arg vfio_id 1af4:1041)
bdf=$(arg vfio_bdf)
[ -n "$bdf" ] || bdf=$(pci_find "$id" | head -n1)
if [ -z "$bdf" ] || [ ! -e "/sys/bus/pci/devices/$bdf" ]; then
    log "no PCI function ${bdf:-with id $id}"
    mark vfio_bdf none
    exit 1
fi
mark vfio_bdf "$bdf"
p=/sys/bus/pci/devices/$bdf
mark vfio_orig_driver "$(link_name "$p/driver")"
group=$(link_name "$p/iommu_group")
mark iommu_group "$group"
[ "$group" != - ] || log "$bdf has no IOMMU group: is intel_iommu=on and -device intel-iommu given?"

if pci_bind "$bdf" vfio-pci; then :; else log "binding $bdf to vfio-pci failed"; fi
mark vfio_driver "$(link_name "$p/driver")"
[ -e /dev/vfio/vfio ] && mark vfio_container 1 || mark vfio_container 0
if [ "$group" != - ] && [ -c "/dev/vfio/$group" ]; then
    mark vfio_group_dev "/dev/vfio/$group"
else
    mark vfio_group_dev none
    log "/dev/vfio: $(ls /dev/vfio 2>/dev/null | tr '\n' ' ')"
fi

[ "$(link_name "$p/driver")" = vfio-pci ] && [ -c "/dev/vfio/$group" ]
