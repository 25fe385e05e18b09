# Shared setup for guest tests: sourced by tests/guest/test_guest_*.sh with
# the build dir as $1. Checks prerequisites (a missing one fails the test,
# naming the package; there is no skip), makes sure the kernel is cached,
# builds the initramfs, and defines boot/expect/jget/host_tap_up.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-}
[ -n "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
mkdir -p "$build/guest-tests" || exit 1
work=$(cd "$build/guest-tests" && pwd)
cache=${UVDPA_GUEST_CACHE:-$here/cache}
timeout=${UVDPA_GUEST_TIMEOUT:-240}

fail() { echo "FAIL: $*" >&2; exit 1; }
info() { echo "== $*"; }

# ---- prerequisites -------------------------------------------------------------
missing=
command -v qemu-system-x86_64 >/dev/null || missing="$missing qemu-system-x86(qemu-system-x86_64)"
command -v dpdk-testpmd >/dev/null || missing="$missing dpdk-dev(dpdk-testpmd)"
command -v cpio >/dev/null || missing="$missing cpio"
command -v python3 >/dev/null || missing="$missing python3"
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || missing="$missing busybox-static"
[ -n "$missing" ] &&
    fail "missing prerequisites:$missing: install the Debian packages named (scripts/install-deps.sh installs them all)"

# ---- kernel + initramfs ---------------------------------------------------------
if [ ! -f "$cache/vmlinuz" ] || [ ! -f "$cache/modules.load" ]; then
    info "fetching guest kernel into $cache"
    "$here/fetch-kernel.sh" "$cache" ||
        fail "no guest kernel in $cache and tests/guest/fetch-kernel.sh could not fetch it (see above; it needs apt-get and network access)"
fi
initrd=$work/initramfs.cpio.gz
"$here/build-initramfs.sh" -k "$cache" -o "$initrd" || fail "build-initramfs.sh failed"
info "kernel: $(sed -n 's/^KERNEL_RELEASE=//p' "$cache/kernel.env" 2>/dev/null)"

# jget JSON KEY   marker value ("" if absent); jget JSON .field for top-level fields
jget() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
k = sys.argv[2]
v = r.get(k[1:]) if k.startswith(".") else r["markers"].get(k)
print("" if v is None else v)
EOF
}

boot() { # NAME run-guest-args...
    local name=$1
    shift
    info "boot $name"
    "$here/run-guest.py" --cache "$cache" --initrd "$initrd" --timeout "$timeout" \
        --log "$work/$name.log" --json "$work/$name.json" --print "$@"
    local rc=$?
    [ -f "$work/$name.json" ] || fail "$name: no result (log: $work/$name.log)"
    echo "   boot time: init after $(jget "$work/$name.json" .seconds_to_init) s," \
         "done after $(jget "$work/$name.json" .seconds_to_done) s (guest uptime at init" \
         "$(jget "$work/$name.json" init_start) s)"
    return $rc
}

expect() { # NAME KEY VALUE
    local got
    got=$(jget "$work/$1.json" "$2")
    [ "$got" = "$3" ] || fail "$1: $2 is '$got', expected '$3' (log: $work/$1.log)"
}

# host_tap_up PREFIX TAP ERRFILE: the host side of a guest on a TAP. Picks a
# subnet PREFIX.N.0/24 that no interface or route uses (N from the pid),
# creates TAP with PREFIX.N.1/24, IPv6 off, up. Sets net, host_ip, guest_ip
# (PREFIX.N.2) and tap_made=1 (for the caller's cleanup); fails the test
# otherwise.
host_tap_up() {
    local prefix=$1 tap=$2 errf=$3 i n re
    re=${prefix//./\\.}
    net=
    for i in $(seq 0 199); do
        n=$(( ($$ + i) % 200 + 20 ))
        if ! ip -4 -o addr show | grep -q " $re\.$n\." &&
           ! ip -4 route show | grep -q "^$re\.$n\."; then
            net=$prefix.$n
            break
        fi
    done
    [ -n "$net" ] || fail "no free $prefix.N.0/24 subnet"
    host_ip=$net.1
    guest_ip=$net.2
    ip tuntap add dev "$tap" mode tap 2>"$errf" ||
        fail "cannot create TAP $tap: $(cat "$errf") (the test needs root or CAP_NET_ADMIN)"
    tap_made=1
    sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1" 2>/dev/null
    ip addr add "$host_ip/24" dev "$tap" || fail "ip addr add $host_ip/24 dev $tap"
    ip link set "$tap" up || fail "ip link set $tap up"
    info "host: TAP $tap $host_ip/24, guest $guest_ip"
}
