#!/usr/bin/env bash
# bench/blk_guest_dd.sh: the throughput a guest sees on a vhost-user-blk
# disk, next to the same job on the host file, in one run:
#   host           dd on the backing file itself (bs=1M, O_DIRECT)
#   guest on uvdpa a QEMU TCG guest's dd on /dev/vda (bs=1M, O_DIRECT) served
#                  by uvdpad's emulated IFCVF blk VF on that file
#   guest on qsd   the same guest job served by qemu-storage-daemon's
#                  vhost-user-blk export of that file
# Each cell is the median of the reps (interleaved: host, uvdpa, qsd, then
# again). Under TCG the guest's own CPU emulation bounds what it can move,
# so the two guest columns compare the backends, not the guest to the host.
#
#   bench/blk_guest_dd.sh [-b BUILD_DIR] [--mib N (default 512)] [--reps N] [--keep]
#
# Needs the guest kernel (tests/guest/fetch-kernel.sh), qemu-system-x86_64
# and qemu-storage-daemon (Debian: qemu-system-x86, qemu-system-common).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
GUEST=$HERE/../tests/guest
BUILD=$HERE/../build-bench
MIB=512
REPS=3
KEEP=0
# shellcheck disable=SC2034  # KEEP is read by lib.sh's cleanup
while (($#)); do
	case $1 in
	-b) BUILD=${2:?-b needs a directory}; shift 2 ;;
	--mib) MIB=${2:?}; shift 2 ;;
	--reps) REPS=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
bench_setup "the daemon on one, QEMU on the other"
QSD=${QSD:-$(command -v qemu-storage-daemon || true)}
[[ -n $QSD ]] || { echo "qemu-storage-daemon not found (Debian package qemu-system-common)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not found" >&2; exit 1; }
[[ -f $GUEST/cache/vmlinuz ]] || "$GUEST/fetch-kernel.sh" >/dev/null
bench_init uvdpa-blk-dd
"$GUEST/build-initramfs.sh" -o "$TMP/initramfs.cpio.gz" >/dev/null
FILE=$TMP/disk.raw
truncate -s $(((MIB + 64) << 20)) "$FILE"

# dd_mbps DD-ARGS...: MB/s (10^6 bytes) of one dd, from its own timing.
dd_mbps() {
	local t0 t1
	t0=$(date +%s%N)
	dd "$@" bs=1M count="$MIB" status=none
	t1=$(date +%s%N)
	echo $(((MIB << 20) / ((t1 - t0) / 1000)))	# bytes per microsecond = MB/s
}

# guest NAME SOCK: boots, runs the dd step, prints "WRITE READ".
guest() {
	local j=$TMP/$1.json
	taskset -c 0 "$GUEST/run-guest.py" --initrd "$TMP/initramfs.cpio.gz" --test blk \
		--vhost-user-blk "$2" --append "uvdpa.steps=dd uvdpa.dd_mib=$MIB" --timeout 600 \
		--json "$j" --log "$TMP/$1.log" >/dev/null 2>&1 ||
		{ echo "guest on $1 failed (log: $TMP/$1.log)" >&2; return 1; }
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["markers"]
print(m["dd_write_mbps"], m["dd_read_mbps"])' "$j"
}

median() { tr ' ' '\n' <<<"$*" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

hw=() hr=() uw=() ur=() qw=() qr=()
for ((rep = 1; rep <= REPS; rep++)); do
	hw+=("$(dd_mbps if=/dev/zero of="$FILE" oflag=direct conv=notrunc)")
	hr+=("$(dd_mbps if="$FILE" of=/dev/null iflag=direct)")

	spawn "uvdpad-$rep" taskset -c 1 "$UVDPAD" -f -s "$TMP/ctl"
	wait_until 10 test -S "$TMP/ctl" || { echo "uvdpad did not start" >&2; exit 1; }
	"$UVDPA" -s "$TMP/ctl" dev add name d mgmtdev emu/ifcvf-blk file "$FILE"
	"$UVDPA" -s "$TMP/ctl" dev bind d vhost-user "$TMP/u.sock"
	record_cmd "uvdpad" "$UVDPAD" -f -s "$TMP/ctl"
	read -r w r < <(guest "uvdpa-$rep" "$TMP/u.sock")
	uw+=("$w") ur+=("$r")
	stop "$LAST_PID" TERM

	spawn "qsd-$rep" taskset -c 1 "$QSD" --blockdev "driver=file,node-name=f,filename=$FILE" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$TMP/q.sock,writable=on,num-queues=1"
	local_qsd=$LAST_PID
	wait_until 10 test -S "$TMP/q.sock" || { echo "qemu-storage-daemon did not start" >&2; exit 1; }
	read -r w r < <(guest "qsd-$rep" "$TMP/q.sock")
	qw+=("$w") qr+=("$r")
	stop "$local_qsd" TERM
	rm -f "$TMP/q.sock" "$TMP/u.sock" "$TMP/ctl"
done

printf '\nguest dd, %d MiB, bs=1M, O_DIRECT, median of %d (MB/s; %s build, %s)\n' "$MIB" "$REPS" \
	"${BTYPE:-?}" "$(date -u +%Y-%m-%dT%H:%MZ)"
printf '| job | host file | guest on uvdpa | guest on qsd | uvdpa/qsd |\n|---|---|---|---|---|\n'
for row in write read; do
	if [[ $row == write ]]; then a=$(median "${hw[@]}") b=$(median "${uw[@]}") c=$(median "${qw[@]}")
	else a=$(median "${hr[@]}") b=$(median "${ur[@]}") c=$(median "${qr[@]}"); fi
	printf '| dd %s | %s | %s | %s | %s |\n' "$row" "$a" "$b" "$c" \
		"$(awk -v b="$b" -v c="$c" 'BEGIN { printf "%.2f", (c > 0 ? b / c : 0) }')"
done
