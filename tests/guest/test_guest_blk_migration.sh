#!/bin/bash
# test_guest_blk_migration.sh BUILD_DIR
#
# Live migration of QEMU TCG guests whose vhost-user-blk-pci disk is an
# emulated IFCVF blk VF, while the guest keeps writing files (fsync), reading
# them back and reading the raw disk (tests/guest/migrate_blk.py runs the
# scenarios; this script prepares the guest): every uvdpad ("host") serves
# the same backing file with devargs shared-storage=1.
#   - 1 queue: hw mode (the function's dirty log) from host A to host B, then
#     sw mode (the software relay) back to host A: 0 differing pages between
#     source and destination RAM each time, the device served reads and
#     writes and logged pages while migrating, the destination goes on
#     writing and verifying after cont; at the end the guest verifies every
#     file and unmounts, and on the host e2fsck -fn is clean and every file
#     holds the guest's last complete write of it;
#   - the same with 2 queues and 2 vCPUs;
#   - fault injection: a source device with drop-dirty-log=1 must give
#     differing pages.
# Prints a PASS/FAIL line per row and a table of migration time, downtime,
# dirty pages and pages compared/differing. Needs root, qemu-system-x86,
# e2fsprogs (e2fsck, debugfs), the guest kernel.
# Environment: UVDPA_GUEST_CACHE, UVDPA_BLK_MIG_ONLY (comma-separated
# scenarios for migrate_blk.py --only: 1q, 2q, fault).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

[ -x "$build/tools/uvdpad" ] || fail "$build/tools/uvdpad not built"
[ -x "$build/tools/uvdpa" ] || fail "$build/tools/uvdpa not built"
for t in e2fsck debugfs; do
    command -v "$t" >/dev/null || fail "no $t: install the Debian package e2fsprogs (scripts/install-deps.sh)"
done

logs=$work/blk-migration
rm -rf "$logs"
mkdir -p "$logs" || fail "mkdir $logs"
only=()
[ -n "${UVDPA_BLK_MIG_ONLY:-}" ] && only=(--only "$UVDPA_BLK_MIG_ONLY")
# migrate_blk.py starts and stops everything itself (SIGTERM included).
exec python3 "$here/migrate_blk.py" --build "$build" --work "$logs" --cache "$cache" \
    --initrd "$initrd" --json "$work/blk-migration.json" "${only[@]}"
