#!/bin/bash
# test_guest_vfio.sh BUILD_DIR
#
# uvdpa's real VFIO path, end to end, with no hardware: a QEMU TCG guest (q35,
# -device intel-iommu,intremap=on, intel_iommu=on) with two plain modern
# virtio-net-pci functions (disable-legacy=on, iommu_platform=on, ats=on) at
# 00:05.0 and 00:06.0 whose netdevs are the two ends of a unix datagram
# socket pair (-netdev dgram, local/remote paths crossed), so every frame one
# function sends is received by the other, in order and with back-pressure.
# The guest (scripts/vfio-datapath.sh; no interface brought up, so the
# guest's own stack puts nothing on the wire) binds both to vfio-pci, runs
# uvdpad, probes both with `devargs vdpa=1,sw-live-migration=1` (the ifcvf
# driver's generic virtio-pci entry), binds them to vhost-user sockets and
# moves verified traffic between two uvdpa-frontend instances through the
# functions:
#   poll     A -> B, UVDPA_VFIO_FRAMES (20000) frames of 60..1514 bytes, the
#            frontends poll their used rings;
#   irq      A -> B, UVDPA_VFIO_IRQ_FRAMES (5000), --irq: the frontends block
#            on their call eventfds only (no polling fallback), which only
#            the functions' MSI-X vectors (VFIO_DEVICE_SET_IRQS) signal;
#   reverse  B -> A, UVDPA_VFIO_REVERSE_FRAMES (5000), polling;
#   migrate  A -> B, UVDPA_VFIO_MIGRATE_FRAMES (20000): B's frontend runs a
#            migration's dirty logging (uvdpa-frontend --log-check
#            --log-toggle): B, a plain virtio function, moves to shadow
#            virtqueues with its doorbell pages mapped in the frontend, and
#            every page it writes while logging must be in the log; frames
#            reaching B while it is reset may be dropped on the wire (at most
#            64, counted).
# Then (phase 4b) both functions move to the tap bus driver: uvdpad becomes
# their virtio driver and the guest kernel gets two interfaces, uvtapA and
# uvtapB (in a network namespace of its own), which ping each other over
# the wire, 5 of 5 replies each way.
# Checked: both functions on vfio-pci in IOMMU groups of their own; `uvdpa
# mgmtdev show` lists pci/0000:00:05.0 and pci/0000:00:06.0; both probes
# succeed; each phase sends and receives exactly N frames, 0 bad / lost /
# reordered; every frontend session gets one dev_conf and one dev_close
# (ifcvf "running" / "stopped"); while the devices run, uvdpad's VmLck holds
# both frontends' 64 MiB (VFIO type1 DMA maps) and is 0 again after; MSI-X
# interrupts reach the frontends in the irq phase (guest /proc/interrupts
# vfio-msix counts and the frontends' per-ring interrupt counts:
# assert_interrupts_only); in every phase each frontend's kicking ring has
# its host-notifier page mapped and written (assert_host_notifiers); uvdpad's
# log has no ERR and no WARN; `dev del` works and SIGTERM ends uvdpad with
# status 0.
# Prints probe times, frames/s, doorbell and interrupt counts.
#
# What the two assertions parse (uvdpa-frontend's summary, per frontend):
#   vring N: kicks K (eventfd E, notifier-page P), interrupts I
#       one line per ring: K doorbells in all, E of them through the kick
#       eventfd, P written to the host-notifier page uvdpad mapped into the
#       frontend (VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG); I call-eventfd
#       interrupts the frontend consumed on the ring
#   rings: K kicks, C calls, R ring errors, B stop-base errors
#   backend channel: X config change, H host notifier, O other
#
# The wire, and why not another QEMU 7.2 backend:
#   -netdev hubport (one hub): QEMU's net queue hands a new frame to a
#     receiver that can take one again before the frames already queued for
#     it, so frames arrive reordered once the receiving ring ran dry;
#   -netdev socket listen= / connect=: the accepted TCP socket stays
#     blocking (net_socket_accept never sets O_NONBLOCK), so once the
#     receiver stops reading, the sender's sendmsg() blocks QEMU's main loop,
#     which is also the loop that would read: the guest hangs (seen in 2 of
#     5 runs; gdb: main thread in sendmsg from the virtio-net TX bottom half,
#     vCPU threads waiting for the iothread lock);
#   -netdev stream (unix): one run delivered none of 20000 frames, another
#     hung (not investigated further).
# The guest command line has no_timer_check: with interrupt remapping, a
# slow TCG boot otherwise panics now and then in check_timer ("timer doesn't
# work through Interrupt-remapped IO-APIC").
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"
timeout=${UVDPA_GUEST_TIMEOUT:-300}
frames=${UVDPA_VFIO_FRAMES:-20000}
irq_frames=${UVDPA_VFIO_IRQ_FRAMES:-5000}
rev_frames=${UVDPA_VFIO_REVERSE_FRAMES:-5000}
mig_frames=${UVDPA_VFIO_MIGRATE_FRAMES:-20000}
smp=${UVDPA_VFIO_SMP:-2}

bins=()
for b in uvdpad uvdpa uvdpa-frontend; do
    [ -x "$build/tools/$b" ] || fail "$build/tools/$b not built"
    bins+=(-b "$build/tools/$b")
done
for lib in $(ldd "$build/tools/uvdpad" | grep -o '/[^ ]*'); do
    [ -e "$lib" ] || fail "$build/tools/uvdpad needs $lib, which is missing"
done

# The guest image with the three binaries and their shared libraries.
initrd=$work/initramfs-vfio.cpio.gz
"$here/build-initramfs.sh" -k "$cache" -o "$initrd" "${bins[@]}" ||
    fail "build-initramfs.sh -b ... failed"

# The wire's socket files: a short path (sun_path has 108 bytes).
tmp=$(mktemp -d /tmp/uvdpa-vfio.XXXXXX) || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 143' TERM INT

run_guest() { # NAME
    rm -f "$tmp/wA.sock" "$tmp/wB.sock"
    boot "$1" --test vfio-datapath --machine q35 --mem 1G --smp "$smp" \
        --append "intel_iommu=on no_timer_check uvdpa.noeth=1" \
        --append "uvdpa.count=$frames uvdpa.irq_count=$irq_frames uvdpa.reverse_count=$rev_frames uvdpa.migrate_count=$mig_frames" \
        --qemu-arg "-device intel-iommu,intremap=on" \
        --qemu-arg "-netdev dgram,id=wA,local.type=unix,local.path=$tmp/wA.sock,remote.type=unix,remote.path=$tmp/wB.sock" \
        --qemu-arg "-netdev dgram,id=wB,local.type=unix,local.path=$tmp/wB.sock,remote.type=unix,remote.path=$tmp/wA.sock" \
        --qemu-arg "-device virtio-net-pci,netdev=wA,addr=05.0,disable-legacy=on,iommu_platform=on,ats=on,page-per-vq=on" \
        --qemu-arg "-device virtio-net-pci,netdev=wB,addr=06.0,disable-legacy=on,iommu_platform=on,ats=on,page-per-vq=on"
}

name=vfio
run_guest $name
rc=$?
res=$work/$name.json
get() { jget "$res" "$1"; }
num() { # KEY: the marker as a number (fails on anything else)
    local v
    v=$(get "$1")
    [[ "$v" =~ ^[0-9]+$ ]] || fail "$name: $1 is '$v', not a number (log: $work/$name.log)"
    echo "$v"
}
((rc == 0)) || {
    for k in vfio_bind mgmtdev probe poll irq reverse teardown; do
        echo "   step $k: $(get "step.$k")"
    done
    fail "$name: guest rc $rc (log: $work/$name.log)"
}

A=0000:00:05.0
B=0000:00:06.0

# 1. vfio-pci, groups
expect $name step.vfio_bind ok
expect $name vfio_fns "$A $B"
expect $name "vfio_driver.$A" vfio-pci
expect $name "vfio_driver.$B" vfio-pci
ga=$(get "iommu_group.$A")
gb=$(get "iommu_group.$B")
[ "$ga" != "$gb" ] || fail "$A and $B share IOMMU group $ga"
info "1. $A (group $ga) and $B (group $gb) bound to vfio-pci"

# 2. mgmtdevs
expect $name step.mgmtdev ok
mg=$(get mgmtdevs)
[[ " $mg " == *" pci/$A "* && " $mg " == *" pci/$B "* ]] ||
    fail "mgmtdev show lists '$mg', not pci/$A and pci/$B"
info "2. uvdpad started in $(get uvdpad_start_ms) ms; mgmtdevs: $mg"

# 3. probe + bind
expect $name step.probe ok
for d in vfA vfB; do
    expect $name "probe.$d" ok
    expect $name "bind.$d" ok
done
info "3. probe (dev add, VFIO open + virtio-pci init): vfA $(get probe_ms.vfA) ms," \
     "vfB $(get probe_ms.vfB) ms"
echo "   $(get dev_show.vfA)"
echo "   $(get dev_show.vfB)"

# ---- the frontends' per-ring lines -------------------------------------------

VRING_RE='^vring ([0-9]+): kicks ([0-9]+) \(eventfd ([0-9]+), notifier-page ([0-9]+)\), interrupts ([0-9]+)$'
RINGS_RE='^([0-9]+) kicks, ([0-9]+) calls, '

# vring_lines KEY: the frontend's "vring N: ..." lines of marker KEY.vrings,
# one per line; fails when it printed none or one of another form.
vring_lines() {
    local v line
    v=$(get "$1.vrings")
    [ -n "$v" ] || fail "$1: the frontend printed no 'vring N: kicks K (eventfd E, notifier-page P), interrupts I' lines"
    while IFS= read -r line; do
        [[ "$line" =~ $VRING_RE ]] ||
            fail "$1: '$line' is not 'vring N: kicks K (eventfd E, notifier-page P), interrupts I'"
        echo "$line"
    done <<<"${v//; /$'\n'}"
}

# assert_host_notifiers PHASE: in both frontends of PHASE every ring that
# kicked had its host-notifier page mapped and written (P > 0, and the
# eventfd and page counts add up to K), and uvdpad sent host-notifier
# messages on the backend channel. A frontend that ignores the message or
# cannot map the page kicks through eventfds only (P = 0) and fails here.
assert_host_notifiers() {
    local p=$1 key line lines k e pg used msgs report=""
    for key in "$p" "$p.rx"; do
        msgs=$(get "$key.backend_channel")
        [[ "$msgs" =~ ([0-9]+)\ host\ notifier ]] ||
            fail "$key: no 'backend channel: X config change, H host notifier, O other' line ('$msgs')"
        ((BASH_REMATCH[1] > 0)) || fail "$key: uvdpad sent no host-notifier message (backend channel: $msgs)"
        used=0
        lines=$(vring_lines "$key") || exit 1
        while IFS= read -r line; do
            [[ "$line" =~ $VRING_RE ]]
            k=${BASH_REMATCH[2]} e=${BASH_REMATCH[3]} pg=${BASH_REMATCH[4]}
            ((k == e + pg)) || fail "$key: $line: eventfd + notifier-page kicks != kicks"
            ((k == 0)) && continue
            ((pg > 0)) || fail "$key: $line: the ring kicked but never through its host-notifier page"
            used=$((used + 1))
            report+=" ${key}/vring ${BASH_REMATCH[1]}: $pg of $k kicks via the page;"
        done <<<"$lines"
        ((used > 0)) || fail "$key: no ring kicked at all"
    done
    echo "   host notifiers:${report%;}"
}

# assert_interrupts_only PHASE: in the --irq phase both frontends took their
# completions from interrupts: the ring each one waits on (TX frontend:
# vring 1, RX frontend: vring 0) counted interrupts, and the per-ring counts
# add up to the "rings: ... C calls" summary. Together with the frontend
# blocking on call eventfds only, every completion was delivered by an
# MSI-X interrupt (uvdpad never writes the call eventfds).
assert_interrupts_only() {
    local p=$1 key ring line lines sum irq rl report=""
    for key in "$p:1" "$p.rx:0"; do
        ring=${key##*:}
        key=${key%:*}
        sum=0
        irq=
        lines=$(vring_lines "$key") || exit 1
        while IFS= read -r line; do
            [[ "$line" =~ $VRING_RE ]]
            sum=$((sum + BASH_REMATCH[5]))
            ((BASH_REMATCH[1] == ring)) && irq=${BASH_REMATCH[5]}
        done <<<"$lines"
        [ -n "$irq" ] || fail "$key: no line for vring $ring"
        ((irq > 0)) || fail "$key: vring $ring took no interrupt in the interrupts-only phase"
        rl=$(get "$key.rings_line")
        [[ "$rl" =~ $RINGS_RE ]] || fail "$key: no 'rings: K kicks, C calls, ...' line ('$rl')"
        ((sum == BASH_REMATCH[2])) ||
            fail "$key: per-ring interrupts add up to $sum, the summary says ${BASH_REMATCH[2]} calls"
        report+=" $key vring $ring: $irq interrupts;"
    done
    echo "   interrupts only:${report%;}"
}

# 4. traffic
conf=0
check_phase() { # PHASE N [RX_LESS MAX_LOST]
    local p=$1 n=$2 less=${3:-0} max_lost=${4:-0} txd rxd
    expect $name "step.$p" ok
    txd=$(get "$p.tx_dev")
    rxd=$(get "$p.rx_dev")
    (($(num "$p.tx_pkts") == n)) || fail "$p: sent $(get "$p.tx_pkts") frames, expected $n"
    # With RX_LESS the receiver stops after n - RX_LESS frames (it may have
    # taken more); what it missed on the way is counted as lost.
    if ((less == 0)); then
        (($(num "$p.rx.rx_pkts") == n)) || fail "$p: received $(get "$p.rx.rx_pkts") good frames of $n"
    else
        (($(num "$p.rx.rx_pkts") >= n - less && $(num "$p.rx.rx_pkts") + $(num "$p.rx.rx_lost") <= n)) ||
            fail "$p: received $(get "$p.rx.rx_pkts") good frames and $(get "$p.rx.rx_lost") lost of $n sent (the receiver waits for $((n - less)))"
    fi
    for k in rx_bad rx_ooo; do
        (($(num "$p.rx.$k") == 0)) || fail "$p: $k = $(get "$p.rx.$k")"
    done
    (($(num "$p.rx.rx_lost") <= max_lost)) || fail "$p: rx_lost = $(get "$p.rx.rx_lost") (at most $max_lost)"
    ((less > 0 || $(num "$p.tx_bytes") == $(num "$p.rx.rx_bytes"))) ||
        fail "$p: $(get "$p.tx_bytes") bytes sent, $(get "$p.rx.rx_bytes") received"
    conf=$((conf + 1))
    for d in vfA vfB; do
        (($(num "$p.dev_conf.$d") == conf)) ||
            fail "$p: $d had $(get "$p.dev_conf.$d") dev_conf, expected $conf"
        (($(num "$p.running.$d") == conf && $(num "$p.stopped.$d") == conf)) ||
            fail "$p: $d running x$(get "$p.running.$d"), stopped x$(get "$p.stopped.$d"), expected $conf each"
    done
    # VFIO type1 accounts the pages it pins for DMA maps in VmLck: 64 MiB
    # per running device (the frontend's memory); both run through the long
    # poll phase, the 50 ms sampler may see only one in a short phase.
    local want=65536
    [ "$p" = poll ] && want=$((2 * 65536))
    (($(num "$p.vmlck_kb") >= want)) ||
        fail "$p: uvdpad's VmLck peaked at $(get "$p.vmlck_kb") kB, expected >= $want (64 MiB DMA-mapped per device)"
    info "$p: $txd -> $rxd: $n frames sent, $(get "$p.rx.rx_pkts") received and verified" \
         "($(get "$p.rx.rx_bytes") bytes, 0 bad, $(get "$p.rx.rx_lost") lost, 0 reordered), wall $(get "$p.wall_ms") ms"
    echo "   TX $(get "$p.tx_pps") frames/s ($(get "$p.tx_gbps") Gbit/s), RX $(get "$p.rx.rx_pps")" \
         "frames/s ($(get "$p.rx.rx_gbps") Gbit/s); frontend start -> dev_conf $(get "$p.rx_ready_ms") ms"
    echo "   kicks tx/rx $(get "$p.kicks")/$(get "$p.rx.kicks"), calls tx/rx $(get "$p.calls")/$(get "$p.rx.calls");" \
         "MSI-X $A: $(get "$p.msix_irqs.$A"), $B: $(get "$p.msix_irqs.$B"); VmLck peak $(get "$p.vmlck_kb") kB"
    echo "   DMA map of guest memory: $(get "$p.dma_map")"
    assert_host_notifiers "$p"
}
info "4. traffic (features $(get poll.features_str))"
check_phase poll "$frames"
if ((irq_frames > 0)); then
    check_phase irq "$irq_frames"
    assert_interrupts_only irq
    # The only writer of a call eventfd is VFIO's MSI-X handler.
    calls=$(($(num irq.calls) + $(num irq.rx.calls)))
    ((calls > 0)) || fail "irq: the frontends saw no call (MSI-X -> eventfd) at all"
    msix=$(($(num "irq.msix.$A") + $(num "irq.msix.$B")))
    ((msix > 0)) || fail "irq: no vfio-msix interrupt counted in the guest"
    echo "   MSI-X -> eventfd: $msix vfio-msix interrupts sampled in the guest, $calls frontend calls"
fi
((rev_frames > 0)) && check_phase reverse "$rev_frames"
if ((mig_frames > 0)); then
    # A plain virtio function cannot restore a ring state: when the RX
    # frontend turns dirty logging on, vfB moves to shadow virtqueues with
    # its doorbell pages still mapped in the frontend (withdrawn, and kicks
    # polled until then); every page it writes while logging is logged.
    check_phase migrate "$mig_frames" 64 64
    (($(num migrate.shadow.vfB) >= 1)) || fail "migrate: vfB did not move to shadow virtqueues"
    (($(num migrate.shadow.vfA) == 0)) || fail "migrate: vfA moved to shadow virtqueues (it never logged)"
    (($(num migrate.rx.pages_written) > 0)) || fail "migrate: no page written while logging"
    (($(num migrate.rx.pages_missing) == 0)) ||
        fail "migrate: $(get migrate.rx.pages_missing) pages written while logging are not in the log"
    echo "   dirty log: vfB on shadow virtqueues; pages written while logging $(get migrate.rx.pages_written)," \
         "logged $(get migrate.rx.pages_logged), missing 0; frames dropped on the wire while vfB" \
         "was reset: $(get migrate.rx.rx_lost)"
fi

# 4b. the tap bus driver on the real functions
expect $name step.tap ok
expect $name tap.bind ok
(($(num tap.ping_ab) == 5 && $(num tap.ping_ba) == 5)) ||
    fail "tap: ping uvtapA -> uvtapB got $(get tap.ping_ab) of 5 replies, back $(get tap.ping_ba) of 5"
(($(num tap.kicks.vfA) >= 1)) || fail "tap: no TX doorbell relayed for vfA (vstats kicks $(get tap.kicks.vfA))"
(($(num tap.tx.uvtapA) >= 5 && $(num tap.rx.uvtapA) >= 5)) ||
    fail "tap: uvtapA sent $(get tap.tx.uvtapA) and received $(get tap.rx.uvtapA) frames (at least 5 each)"
expect $name tap.unbind ok
expect $name tap.gone ok
info "4b. tap bus driver: both functions bound to taps in the guest (uvtapB in its own netns):" \
     "ping 5/5 both ways; uvtapA tx $(get tap.tx.uvtapA) / rx $(get tap.rx.uvtapA) frames, vfA TX doorbells $(get tap.kicks.vfA); unbind removed the interfaces"

# 5. teardown
expect $name step.teardown ok
expect $name dev_del.vfA ok
expect $name dev_del.vfB ok
expect $name uvdpad_exit 0
expect $name uvdpad_errors 0
expect $name uvdpad_warnings 0
(($(num vmlck_idle_kb) == 0 && $(num vmlck_after_kb) == 0)) ||
    fail "uvdpad's VmLck is $(get vmlck_idle_kb) kB before and $(get vmlck_after_kb) kB after the traffic, expected 0 (DMA maps left behind?)"
info "5. dev_close after every session, VmLck back to 0, dev del, SIGTERM: exit 0; no ERR, no WARN"

echo "guest-vfio: passed: $((1 + (irq_frames > 0) + (rev_frames > 0) + (mig_frames > 0))) traffic phases," \
     "$((frames + irq_frames + rev_frames + mig_frames)) verified frames through two VFIO-driven virtio-net functions"
