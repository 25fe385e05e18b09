# uvdpa guest helpers (busybox ash). Sourced by /init and by every guest
# script: `. /lib/uvdpa/lib.sh`.
#
# Marker protocol on the serial console (one per line, parsed by run-guest.py):
#   UVDPA-GUEST: <key> <value...>      key = [A-Za-z0-9_.:/-]+, value = rest of line
#   UVDPA-GUEST-DONE rc=<N>            last line, printed by /init
#   UVDPA-LOG: <text>                  free-form diagnostics (also parsed, not keyed)

# mark KEY VALUE...   print a marker
mark() {
    _k=$1
    shift
    echo "UVDPA-GUEST: $_k $*"
}

# log TEXT...   print a diagnostic line
log() {
    echo "UVDPA-LOG: $*"
}

# arg NAME [DEFAULT]   value of uvdpa.NAME=VALUE on the kernel command line
arg() {
    for _t in $(cat /proc/cmdline); do
        case "$_t" in
            uvdpa."$1"=*) echo "${_t#uvdpa."$1"=}"; return 0 ;;
        esac
    done
    echo "${2:-}"
}

# has_arg NAME   true if uvdpa.NAME or uvdpa.NAME=... is on the command line
has_arg() {
    for _t in $(cat /proc/cmdline); do
        case "$_t" in
            uvdpa."$1"|uvdpa."$1"=*) return 0 ;;
        esac
    done
    return 1
}

# rd FILE [DEFAULT]   first line of a (sysfs) file, or DEFAULT
rd() {
    if [ -r "$1" ]; then
        head -n1 "$1" 2>/dev/null || echo "${2:-}"
    else
        echo "${2:-}"
    fi
}

# link_name PATH   basename of a symlink's target, or "-"
link_name() {
    if [ -L "$1" ]; then basename "$(readlink "$1")"; else echo -; fi
}

# uptime_s   seconds since boot (from /proc/uptime)
uptime_s() {
    cut -d' ' -f1 /proc/uptime
}

# wait_until SECONDS CMD...   poll CMD every 0.1 s until it succeeds; 1 on timeout
wait_until() {
    _n=$(( $1 * 10 ))
    shift
    while [ "$_n" -gt 0 ]; do
        "$@" && return 0
        usleep 100000
        _n=$(( _n - 1 ))
    done
    "$@"
}

# netdev_virtio IFNAME   sysfs path of the virtio device behind a netdev, or ""
netdev_virtio() {
    _d=$(readlink -f "/sys/class/net/$1/device" 2>/dev/null) || return 1
    case "${_d##*/}" in
        virtio*) echo "$_d" ;;
        *) return 1 ;;
    esac
}

# carrier_up IFNAME   carrier present
carrier_up() {
    [ "$(rd "/sys/class/net/$1/carrier" 0)" = 1 ]
}

# oper_up IFNAME   carrier present and operstate up (linkwatch runs ~1 s late)
oper_up() {
    carrier_up "$1" && [ "$(rd "/sys/class/net/$1/operstate")" = up ]
}

# feature_bit FEATURES_STRING BIT   1 if bit is set in a virtio sysfs
# "features" string (one char per bit, bit 0 first), else 0
feature_bit() {
    _s=$1
    _b=$2
    _c=$(echo "$_s" | cut -c$(( _b + 1 )))
    [ "$_c" = 1 ] && echo 1 || echo 0
}

# virtio_net_feature_names FEATURES_STRING   names of the set bits we know
virtio_net_feature_names() {
    _out=
    _i=0
    for _n in CSUM GUEST_CSUM CTRL_GUEST_OFFLOADS MTU 4 MAC GSO GUEST_TSO4 \
              GUEST_TSO6 GUEST_ECN GUEST_UFO HOST_TSO4 HOST_TSO6 HOST_ECN HOST_UFO \
              MRG_RXBUF STATUS CTRL_VQ CTRL_RX CTRL_VLAN CTRL_RX_EXTRA GUEST_ANNOUNCE \
              MQ CTRL_MAC_ADDR NOTIFY_ON_EMPTY 25 LOG_ALL ANY_LAYOUT RING_INDIRECT_DESC \
              RING_EVENT_IDX PROTOCOL_FEATURES 31 VERSION_1 ACCESS_PLATFORM RING_PACKED \
              IN_ORDER ORDER_PLATFORM SR_IOV NOTIFICATION_DATA NOTIF_CONFIG_DATA RING_RESET; do
        if [ "$(echo "$1" | cut -c$(( _i + 1 )))" = 1 ]; then
            case "$_n" in [0-9]*) _n=bit$_n ;; esac
            _out="$_out${_out:+,}$_n"
        fi
        _i=$(( _i + 1 ))
    done
    echo "$_out"
}

# pci_list   one line per PCI function:
#   BDF CLASS VENDOR:DEVICE subsys=SV:SD driver=DRV iommu_group=N
pci_list() {
    for _d in /sys/bus/pci/devices/*; do
        [ -e "$_d/vendor" ] || continue
        _v=$(rd "$_d/vendor"); _dv=$(rd "$_d/device"); _c=$(rd "$_d/class")
        _sv=$(rd "$_d/subsystem_vendor"); _sd=$(rd "$_d/subsystem_device")
        echo "${_d##*/} ${_c#0x} ${_v#0x}:${_dv#0x} subsys=${_sv#0x}:${_sd#0x}" \
             "driver=$(link_name "$_d/driver") iommu_group=$(link_name "$_d/iommu_group")"
    done
}

# pci_find VENDOR:DEVICE   BDFs of matching functions (hex without 0x)
pci_find() {
    pci_list | awk -v id="$1" '$3 == id { print $1 }'
}

# pci_bind BDF DRIVER   rebind a PCI function to DRIVER via driver_override
pci_bind() {
    _p=/sys/bus/pci/devices/$1
    [ -e "$_p" ] || { log "pci_bind: no device $1"; return 1; }
    if [ -L "$_p/driver" ]; then
        echo "$1" > "$_p/driver/unbind" || return 1
    fi
    echo "$2" > "$_p/driver_override" || return 1
    echo "$1" > /sys/bus/pci/drivers_probe 2>/dev/null
    [ "$(link_name "$_p/driver")" = "$2" ]
}
