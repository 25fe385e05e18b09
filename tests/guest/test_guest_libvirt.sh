#!/bin/bash
# test_guest_libvirt.sh BUILD_DIR
#
# A libvirt-managed TCG guest whose network interface is an uvdpa port:
# `<interface type='vhostuser'>` on the vhost-user socket of an emulated IFCVF
# net VF (emu/ifcvf-net) whose port is a host TAP. docs/libvirt.md explains
# the domain XML and the settings.
#   host: TAP uvlPID with 10.78.N.1/24; uvdpad -f (build dir) with a private
#         control socket: `dev add vf0 mgmtdev emu/ifcvf-net port tap:uvlPID`,
#         `dev bind vf0 vhost-user SOCK` (uvdpad listens, QEMU connects);
#   libvirt: the test's own libvirtd (Debian 12's libvirt 9.0 ships only the
#         monolithic daemon), in the foreground, in a private mount namespace
#         where /etc/libvirt, /run/libvirt, /var/{lib,log,cache}/libvirt are
#         directories of this test: its own socket, qemu.conf, state and logs,
#         so it collides with no system libvirt and leaves nothing behind;
#   guest: `virsh define` + `virsh start` of a domain type='qemu' (TCG),
#         direct kernel boot of the guest kernel + initramfs (tests/guest),
#         memfd shared memory, serial console to a file. The guest
#         (ping-echo) sets its address, pings the host 10 times (0 loss
#         required), then waits until the host has pinged it 5 times (5/5
#         required) and powers off;
#   two domains: 1q (vf0, 1 vCPU, <driver queues='1'/>), then 2q (vf0
#         deleted, vf1 added with max_vqp 2 on the same TAP, 2 vCPUs,
#         <driver queues='2'/>);
#   checks: serial markers, QEMU's command line (shared memfd RAM,
#         vectors=0, queues/mq), `uvdpa dev show` (connected while the
#         domain runs, not after), `uvdpa dev vstats` packets/bytes summed
#         over the RX and the TX rings; the domain shuts off by itself;
#         libvirtd stops on SIGTERM and no QEMU remains.
# Needs root (TAP, mount namespace). Fails (never skips) when a package is missing.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
timeout=${UVDPA_GUEST_TIMEOUT:-150}
pings=10
echos=5

uvdpad=$build/tools/uvdpad
uvdpa=$build/tools/uvdpa
[ -x "$uvdpad" ] || fail "$uvdpad not built"
[ -x "$uvdpa" ] || fail "$uvdpa not built"
missing=
command -v libvirtd >/dev/null || missing="$missing libvirt-daemon-system(libvirtd)"
command -v virsh >/dev/null || missing="$missing libvirt-clients(virsh)"
command -v unshare >/dev/null || missing="$missing util-linux(unshare)"
command -v ip >/dev/null || missing="$missing iproute2(ip)"
command -v ping >/dev/null || missing="$missing iputils-ping(ping)"
[ -n "$missing" ] &&
    fail "missing prerequisites:$missing: install the Debian packages named (scripts/install-deps.sh installs them all)"
[ -c /dev/net/tun ] || fail "no /dev/net/tun: load the tun module (modprobe tun) or give the container /dev/net/tun"
[ "$(id -u)" = 0 ] || fail "needs root (TAP interface, mount namespace for the private libvirtd)"
qemu=$(command -v qemu-system-x86_64)

tmp=$(mktemp -d /tmp/uvdpa-libvirt.XXXXXX) || fail "mktemp"
ctl=$tmp/control.sock
vsock=$tmp/vf0.sock
vsock1=$tmp/vf1.sock
lv=$tmp/lv                        # the private libvirt tree
lvsock=$lv/run/libvirt-sock        # /run/libvirt/libvirt-sock inside
uri="qemu:///system?socket=$lvsock"
dom=                               # the current domain (run_domain)
console=
ud_log=$work/libvirt.uvdpad.log
lv_log=$work/libvirt.libvirtd.log     # its log (warnings and errors)
qemu_log=
tap=uvl$$
tap=${tap:0:15}
ud_pid=
lv_pid=
tap_made=
rundir_made=

V() { virsh -q -c "$uri" "$@"; }
U() { "$uvdpa" -s "$ctl" "$@"; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

stop_pid() { # PID: SIGTERM, 10 s, SIGKILL
    kill "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
cleanup() {
    if [ -n "$lv_pid" ]; then
        if [ -S "$lvsock" ] && [ -n "$dom" ]; then
            V destroy "$dom" >/dev/null 2>&1
            V undefine "$dom" >/dev/null 2>&1
        fi
        [ -n "$dom" ] && [ -f "$lv/log/qemu/$dom.log" ] && cp "$lv/log/qemu/$dom.log" "$qemu_log"
        stop_pid "$lv_pid"
        lv_pid=
    fi
    # a QEMU libvirt started and could not stop (it would hold the socket)
    local q
    for q in $(pgrep -f -- "-name guest=uvdpa-lv-$$-" 2>/dev/null); do kill -9 "$q" 2>/dev/null; done
    [ -n "$ud_pid" ] && stop_pid "$ud_pid"
    [ -n "$tap_made" ] && ip link del "$tap" 2>/dev/null
    [ -n "$rundir_made" ] && rmdir /run/libvirt 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

t0=$(date +%s)
# ---- host: TAP in a free 10.78.N.0/24, uvdpad with the VF ------------------------------
host_tap_up 10.78 "$tap" "$tmp/tuntap.err"

cat >"$tmp/uvdpad.conf" <<EOF
dev add name vf0 mgmtdev emu/ifcvf-net mac 52:54:00:78:00:02 port tap:$tap
dev bind vf0 vhost-user $vsock
EOF
"$uvdpad" -f -s "$ctl" -c "$tmp/uvdpad.conf" >"$ud_log" 2>&1 &
ud_pid=$!
for _ in $(seq 100); do
    [ -S "$ctl" ] && [ -S "$vsock" ] && break
    kill -0 "$ud_pid" 2>/dev/null || fail "uvdpad exited at start: $(tail -n 5 "$ud_log")"
    sleep 0.1
done
[ -S "$vsock" ] || fail "uvdpad did not create $vsock (log: $ud_log)"
U dev show vf0 || fail "uvdpa dev show vf0 failed"

# ---- the test's own libvirtd ----------------------------------------------------------------
mkdir -p "$lv/etc" "$lv/run" "$lv/lib" "$lv/log" "$lv/cache" || fail "mkdir $lv"
rm -f "$lv_log" "$lv_log.stderr"
cat >"$lv/etc/libvirtd.conf" <<EOF
# only the local UNIX sockets (libvirtd runs without --listen)
unix_sock_rw_perms = "0700"
log_outputs = "3:file:$lv_log"
EOF
cat >"$lv/etc/qemu.conf" <<EOF
# QEMU runs as root, not libvirt-qemu: it must open the vhost-user socket
# uvdpad (root) created, and the kernel/initrd under the build dir.
user = "root"
group = "root"
# no AppArmor/SELinux/DAC relabelling of the files QEMU opens
security_driver = "none"
dynamic_ownership = 0
remember_owner = 0
# no virtlogd: QEMU's stdout/stderr go to /var/log/libvirt/qemu/NAME.log
stdio_handler = "file"
# no private /dev per domain and no cgroup placement (no systemd, a container)
namespaces = [ ]
cgroup_controllers = [ ]
EOF
if [ ! -d /run/libvirt ]; then mkdir /run/libvirt && rundir_made=1; fi
for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
    [ -d "$d" ] || fail "$d missing: is libvirt-daemon-system installed?"
done
# unshare execs sh, sh execs libvirtd: $! is libvirtd's pid.
unshare -m --propagation private -- sh -c '
    set -e
    mount --bind "$1/etc" /etc/libvirt
    mount --bind "$1/run" /run/libvirt
    mount --bind "$1/lib" /var/lib/libvirt
    mount --bind "$1/log" /var/log/libvirt
    mount --bind "$1/cache" /var/cache/libvirt
    exec libvirtd -f /etc/libvirt/libvirtd.conf -p "$1/libvirtd.pid"
' sh "$lv" >"$lv_log.stderr" 2>&1 &
lv_pid=$!
ok=
for _ in $(seq 300); do
    kill -0 "$lv_pid" 2>/dev/null || fail "libvirtd exited at start: $(tail -n 5 "$lv_log.stderr" "$lv_log")"
    if [ -S "$lvsock" ] && V version >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
done
[ -n "$ok" ] || fail "libvirtd did not answer on $lvsock in 30 s (log: $lv_log)"
info "libvirtd $(libvirtd --version | awk '{print $NF}') pid $lv_pid, $uri ($(( $(date +%s) - t0 )) s)"
V version | sed 's/^/   /'

# ---- a domain on a VF ------------------------------------------------------------------------
# run_domain PHASE VF SOCK MAC GUEST_IP QUEUES: define + start the domain
# (QUEUES vCPUs and queue pairs), pings both ways, shut off, checks, undefine.
run_domain() {
local phase=$1 vf=$2 sock=$3 mac=$4 gip=$5 queues=$6 tb st c hp hrx q k v min tot
dom=uvdpa-lv-$$-$phase
console=$work/libvirt.$phase.console.log
qemu_log=$work/libvirt.$phase.qemu.log
info "[$phase] $vf (max_vqp $queues), guest $gip, $queues vCPU(s), <driver queues='$queues'/>"
kernel=$cache/vmlinuz
cmdline="console=ttyS0 panic=-1 reboot=t quiet uvdpa.test=ping-echo uvdpa.ip=$gip/24"
cmdline="$cmdline uvdpa.peer=$host_ip uvdpa.count=$pings uvdpa.echo=$echos uvdpa.echo_wait=90"
rm -f "$console" "$qemu_log"
cat >"$tmp/domain.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$dom</name>
  <memory unit='MiB'>256</memory>
  <vcpu>$queues</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$initrd</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
  </cpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$qemu</emulator>
    <interface type='vhostuser'>
      <mac address='$mac'/>
      <source type='unix' path='$sock' mode='client'/>
      <model type='virtio'/>
      <driver queues='$queues'/>
      <alias name='ua-uvdpa0'/>
    </interface>
    <serial type='file'>
      <source path='$console'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
  <qemu:override>
    <qemu:device alias='ua-uvdpa0'>
      <qemu:frontend>
        <qemu:property name='vectors' type='unsigned' value='0'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>
EOF
V define "$tmp/domain.xml" >/dev/null || fail "virsh define failed (log: $lv_log)"
tb=$(date +%s)
V start "$dom" || fail "virsh start $dom failed ($(tail -n 3 "$lv/log/qemu/$dom.log" 2>/dev/null), log: $lv_log)"
qlog=$lv/log/qemu/$dom.log
info "domain $dom started; QEMU command line (vhost-user parts):"
grep -o -- "-chardev [^ ]*$sock[^ ]*\|-\(netdev\|device\) [^ ]*\(vhost-user\|virtio-net-pci\)[^ ]*" "$qlog" |
    sed 's/^/   /'
grep -o -- '-object [^ ]*memfd[^ ]*' "$qlog" | sed 's/^/   /'
grep -q -- '-object [^ ]*memory-backend-memfd[^ ]*"share":true' "$qlog" ||
    fail "libvirt did not give QEMU shared memfd RAM (log: $qlog)"
grep -q -- '-device [^ ]*virtio-net-pci[^ ]*"vectors":0' "$qlog" ||
    fail "the qemu:override vectors=0 is not on QEMU's virtio-net-pci (log: $qlog)"

# while it runs: the VF is connected
c=
for _ in $(seq 100); do
    c=$(U -j dev show "$vf" | json_get "d['dev']['$vf'].get('connected')")
    [ "$c" = True ] && break
    sleep 0.1
done
[ "$c" = True ] || fail "$vf not connected 10 s after virsh start: $(U dev show "$vf")"
U dev show "$vf" | sed 's/^/   running: /'

mark_of() { sed -n "s/^UVDPA-GUEST: $1 //p" "$console" 2>/dev/null | tr -d '\r' | tail -n 1; }
wait_console() { # REGEX SECONDS
    local end=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        grep -q -- "$1" "$console" 2>/dev/null && return 0
        V domstate "$dom" 2>/dev/null | grep -q running || break
        sleep 0.5
    done
    grep -q -- "$1" "$console" 2>/dev/null
}
wait_console '^UVDPA-GUEST: echo_wait\|^UVDPA-GUEST-DONE' "$timeout" ||
    fail "guest did not finish its pings (domain $(V domstate --reason "$dom" 2>&1), QEMU log: $(tail -n 2 "$qlog" | tr '\n' '|') console: $console, $(tail -n 3 "$console" 2>/dev/null | tr -d '\r' | tr '\n' '|'))"
info "guest pinged the host after $(( $(date +%s) - tb )) s: tx $(mark_of ping_tx) rx $(mark_of ping_rx) loss $(mark_of ping_loss)% rtt $(mark_of ping_rtt) ms"
[ "$(mark_of ping_tx)" = "$pings" ] || fail "guest ping_tx '$(mark_of ping_tx)', expected $pings (console: $console)"
[ "$(mark_of ping_rx)" = "$pings" ] || fail "guest ping_rx '$(mark_of ping_rx)', expected $pings (console: $console)"
[ "$(mark_of ping_loss)" = 0 ] || fail "guest ping_loss '$(mark_of ping_loss)'"
[ "$(mark_of echo_wait)" = "$echos" ] || fail "guest does not wait for the host's pings (console: $console)"

# host -> guest
hp=$(ping -c "$echos" -i 0.3 -W 5 -I "$tap" "$gip" 2>&1)
echo "$hp" | tail -n 2 | sed 's/^/   host ping: /'
hrx=$(echo "$hp" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
[ "${hrx:-0}" = "$echos" ] || fail "host pinged the guest: ${hrx:-0}/$echos replies"

wait_console '^UVDPA-GUEST-DONE' 60 || fail "guest did not finish (console: $console)"
grep -q '^UVDPA-GUEST-DONE rc=0' "$console" ||
    fail "guest: $(grep '^UVDPA-GUEST-DONE' "$console" | tr -d '\r') (console: $console)"
[ "$(mark_of echo_replies)" -ge "$echos" ] 2>/dev/null ||
    fail "guest sent $(mark_of echo_replies) echo replies, expected $echos"
info "guest done after $(( $(date +%s) - tb )) s: answered $(mark_of echo_replies) host pings"

# the domain shuts off by itself (guest poweroff -f, on_poweroff destroy)
st=
for _ in $(seq 100); do
    st=$(V domstate "$dom" 2>/dev/null)
    [ "$st" = "shut off" ] && break
    sleep 0.1
done
[ "$st" = "shut off" ] || fail "domain state '$st' after the guest powered off"

# ---- the VF saw the traffic -------------------------------------------------------------------
for _ in $(seq 50); do
    [ "$(U -j dev show "$vf" | json_get "d['dev']['$vf'].get('connected')")" = False ] && break
    sleep 0.1
done
U dev show "$vf" | sed 's/^/   after: /'
min=$(( pings + echos ))
for dir in 0 1; do              # 0: RX rings (even qidx), 1: TX rings (odd)
    for k in packets bytes; do
        tot=0
        for q in $(seq "$dir" 2 $(( 2 * queues - 1 ))); do
            [ "$k" = packets ] && U dev vstats show "$vf" qidx "$q" | sed 's/^/   /'
            v=$(U -j dev vstats show "$vf" qidx "$q" | json_get "d['vstats']['$vf'].get('$k', 0)")
            tot=$(( tot + ${v:-0} ))
        done
        min=$(( pings + echos ))
        [ "$k" = bytes ] && min=$(( (pings + echos) * 98 ))
        [ "$tot" -ge "$min" ] ||
            fail "[$phase] vstats $k on the $([ "$dir" = 0 ] && echo RX || echo TX) rings: $tot, expected >= $min (the $pings + $echos echo exchanges)"
    done
done
if [ "$queues" -gt 1 ]; then
    grep -q -- '-netdev [^ ]*"queues":'"$queues" "$qlog" && grep -q -- '-device [^ ]*"mq":true' "$qlog" ||
        fail "[$phase] QEMU has no $queues-queue vhost-user netdev with mq (log: $qlog)"
    # the guest started every pair (virtio_net: min(pairs, vCPUs)): it
    # posted buffers on the last RX ring and kicked it
    q=$(( 2 * queues - 2 ))
    v=$(U -j dev vstats show "$vf" qidx "$q" | json_get "d['vstats']['$vf'].get('kicks', 0)")
    [ "${v:-0}" -gt 0 ] || fail "[$phase] RX ring qidx $q never kicked: the guest did not start pair $queues"
fi
echo "   TAP $tap: rx_packets $(cat "/sys/class/net/$tap/statistics/rx_packets")" \
     "tx_packets $(cat "/sys/class/net/$tap/statistics/tx_packets")"
V undefine "$dom" >/dev/null || fail "[$phase] virsh undefine $dom failed"
cp "$qlog" "$qemu_log" 2>/dev/null
info "[$phase] PASS: ping $pings/$pings guest->host, $echos/$echos host->guest"
}

run_domain 1q vf0 "$vsock" 52:54:00:78:00:02 "$guest_ip" 1
# multiqueue: a second VF with 2 queue pairs on the same TAP, after vf0 is deleted
U dev del vf0 || fail "uvdpa dev del vf0 failed"
U dev add name vf1 mgmtdev emu/ifcvf-net mac 52:54:00:78:00:03 max_vqp 2 port "tap:$tap" ||
    fail "uvdpa dev add vf1 (max_vqp 2) failed"
U dev bind vf1 vhost-user "$vsock1" || fail "uvdpa dev bind vf1 failed"
U dev config show vf1 | grep -q 'max_vq_pairs 2' || fail "vf1: $(U dev config show vf1)"
run_domain 2q vf1 "$vsock1" 52:54:00:78:00:03 "$net.3" 2


# ---- tear down: undefine, libvirtd stops, no QEMU left ----------------------------------------
kill -TERM "$lv_pid"
for _ in $(seq 100); do kill -0 "$lv_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$lv_pid" 2>/dev/null && fail "libvirtd still running 10 s after SIGTERM"
wait "$lv_pid" 2>/dev/null
lv_pid=
pgrep -f -- "-name guest=uvdpa-lv-$$-" >/dev/null && fail "a QEMU of a test domain is still running"
echo "guest-libvirt: PASS in $(( $(date +%s) - t0 )) s (2 domains: 1 and 2 queue pairs; each ping $pings/$pings guest->host, $echos/$echos host->guest)"
