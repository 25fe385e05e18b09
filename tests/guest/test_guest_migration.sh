#!/bin/bash
# test_guest_migration.sh BUILD_DIR
#
# Live migration of QEMU TCG guests whose virtio-net device is served by
# uvdpad, checked by comparing guest RAM page by page (tests/guest/migrate.py
# runs the scenarios; this script prepares the guest):
#   - uvdpad migration modes (migrate.py MODES: hw, sw, shadow), one guest
#     lifetime each: a migration cancelled while the device logs (the source
#     keeps running and receiving), the migration (0 differing pages, the
#     destination receives after cont), and from there to a third instance;
#   - the same comparison with DPDK's vhost PMD (dpdk-testpmd txonly);
#   - fault injection: drop-dirty-log=1 must give differing pages;
#   - 4 queue pairs, a legacy (virtio 0.95) guest, and a RARP on the
#     destination's TAP for a guest without GUEST_ANNOUNCE.
# Prints a PASS/FAIL line per scenario and a table of total migration time
# and downtime. Needs root (TAP, AF_PACKET), qemu-system-x86, dpdk-testpmd, a
# C compiler (the guest's uvdpa-channels helper), the guest kernel.
# Environment: UVDPA_GUEST_CACHE, UVDPA_MIG_ONLY (comma-separated scenario
# names for migrate.py --only).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

[ -x "$build/tools/uvdpad" ] || fail "$build/tools/uvdpad not built"
[ -x "$build/tools/uvdpa" ] || fail "$build/tools/uvdpa not built"
command -v ip >/dev/null || fail "no ip command: install the Debian package iproute2"
[ -c /dev/net/tun ] || fail "no /dev/net/tun: load the tun module (modprobe tun)"
cc=${CC:-cc}
command -v "$cc" >/dev/null || fail "no C compiler ($cc) for the guest helper uvdpa-channels"

# busybox has no ethtool: the guest sets its channel count with this helper.
"$cc" -O2 -Wall -Wextra -Werror -o "$work/uvdpa-channels" "$here/tools/uvdpa-channels.c" ||
    fail "cannot build tests/guest/tools/uvdpa-channels.c"
initrd=$work/migration-initramfs.cpio.gz
"$here/build-initramfs.sh" -k "$cache" -o "$initrd" -b "$work/uvdpa-channels" ||
    fail "build-initramfs.sh failed"

rm -f "$work"/mig-*.log "$work/migration.json"
only=()
[ -n "${UVDPA_MIG_ONLY:-}" ] && only=(--only "$UVDPA_MIG_ONLY")
# migrate.py starts and stops everything itself (SIGTERM included).
exec python3 "$here/migrate.py" --build "$build" --work "$work" --cache "$cache" \
    --initrd "$initrd" --json "$work/migration.json" "${only[@]}"
