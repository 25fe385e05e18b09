#!/usr/bin/env bash
# The README's first command: installs what is missing, builds uvdpa, runs
# uvdpad on its embedded demo config (demo0, an emulated IFCVF net VF in
# loopback, on a vhost-user socket), drives it with the frontend tool, shows
# what the management tool sees, and prints how a VM would attach instead.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash scripts/install-deps.sh
build=${UVDPA_DEMO_BUILD:-build-demo}
[ -d "$build" ] || meson setup "$build" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null

run=$(mktemp -d /tmp/uvdpa-demo.XXXXXX)
ctl=$run/control.sock
vhost=$run/demo0.sock
cleanup() {
	[ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT

"$build/tools/uvdpad" -f -s "$ctl" --demo="$vhost" >"$run/uvdpad.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$vhost" ] && break; sleep 0.05; done
[ -S "$vhost" ] || { cat "$run/uvdpad.log"; echo "uvdpad did not start"; exit 1; }

uvdpa() { "$build/tools/uvdpa" -s "$ctl" "$@"; }
echo "== uvdpad is running (pid $daemon); what the management tool sees:"
echo "\$ uvdpa mgmtdev show"; uvdpa mgmtdev show
echo "\$ uvdpa dev show"; uvdpa dev show
echo "\$ uvdpa dev config show demo0"; uvdpa dev config show demo0
echo
echo "== the frontend tool plays a VM on $vhost: 1,000,000 frames of 60..1514 bytes, every one verified"
"$build/tools/uvdpa-frontend" --socket "$vhost" --count 1000000 --size 60-1514 -q
echo
echo "\$ uvdpa dev vstats show demo0 qidx 0"; uvdpa dev vstats show demo0 qidx 0
echo "\$ uvdpa dev vstats show demo0 qidx 1"; uvdpa dev vstats show demo0 qidx 1
echo
cat <<MSG
== To attach a QEMU VM to an emulated VF instead:
  uvdpad -s /run/uvdpa/control.sock --demo=/tmp/uvdpa-demo.sock
  qemu-system-x86_64 -m 512 -object memory-backend-memfd,id=mem,size=512M,share=on \\
    -numa node,memdev=mem -chardev socket,id=c0,path=/tmp/uvdpa-demo.sock \\
    -netdev vhost-user,id=n0,chardev=c0 -device virtio-net-pci,netdev=n0 ...
  (under TCG, QEMU 7.2 needs vectors=0 on the virtio-net-pci device)
MSG
