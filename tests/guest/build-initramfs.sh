#!/bin/bash
# build-initramfs.sh [options]
#
# Build the uvdpa test guest's initramfs (cpio newc, gzip) from:
#   - busybox-static (/bin/busybox + a symlink per applet),
#   - tests/guest/rootfs/ (/init, /lib/uvdpa/lib.sh, /bin/uvdpa-lspci),
#   - the kernel modules fetched by fetch-kernel.sh (CACHE/modules, modules.load),
#   - the guest scripts tests/guest/scripts/*.sh -> /scripts/ (select one at
#     boot with the kernel argument uvdpa.test=NAME),
#   - optionally a baked-in /test.sh, extra files and dynamically linked
#     binaries with their libraries.
#
# Options:
#   -k CACHE_DIR   kernel cache from fetch-kernel.sh (default tests/guest/cache)
#   -o OUT         output file (default CACHE_DIR/initramfs.cpio.gz)
#   -s DIR         guest scripts directory (default tests/guest/scripts)
#   -t SCRIPT      bake SCRIPT in as /test.sh (run when no uvdpa.test= is given)
#   -f SRC:DST     add host file SRC as DST in the guest (repeatable)
#   -b BINARY      add BINARY as /bin/NAME plus the shared libraries ldd lists
#                  (repeatable)
#   -h             help
#
# Needs: busybox-static, cpio, gzip (Debian packages busybox-static, cpio).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$here/cache
out=
scripts=$here/scripts
test_script=
files=()
bins=()

die() { echo "build-initramfs: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while getopts "k:o:s:t:f:b:h" opt; do
    case "$opt" in
        k) cache=$OPTARG ;;
        o) out=$OPTARG ;;
        s) scripts=$OPTARG ;;
        t) test_script=$OPTARG ;;
        f) files+=("$OPTARG") ;;
        b) bins+=("$OPTARG") ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
out=${out:-$cache/initramfs.cpio.gz}

command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
command -v gzip >/dev/null || die "gzip not found"
busybox=
for b in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null || true)"; do
    [ -n "$b" ] && [ -x "$b" ] && { busybox=$b; break; }
done
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked: install busybox-static (apt-get install busybox-static)"
fi
[ -f "$cache/modules.load" ] && [ -d "$cache/modules" ] ||
    die "no kernel modules in $cache: run tests/guest/fetch-kernel.sh $cache first"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,run,tmp,etc,root,scripts,var}
cp "$busybox" "$root/bin/busybox"
# One symlink per applet at its canonical path (bin/sh, sbin/insmod, ...).
while read -r applet; do
    [ -n "$applet" ] || continue
    [ "$applet" = bin/busybox ] && continue
    [ -e "$root/$applet" ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)

cp -a "$here/rootfs/." "$root/"
chmod 755 "$root/init"

cp "$cache"/modules/*.ko "$root/lib/modules/" 2>/dev/null || true
cp "$cache/modules.load" "$root/lib/modules/modules.load"

if [ -d "$scripts" ]; then
    for s in "$scripts"/*.sh; do
        [ -e "$s" ] || continue
        install -m 755 "$s" "$root/scripts/"
    done
fi
if [ -n "$test_script" ]; then
    [ -f "$test_script" ] || die "no such test script: $test_script"
    install -m 755 "$test_script" "$root/test.sh"
fi
for spec in ${files[@]+"${files[@]}"}; do
    src=${spec%%:*}
    dst=${spec#*:}
    [ "$src" != "$spec" ] || die "-f needs SRC:DST, got $spec"
    [ -e "$src" ] || die "no such file: $src"
    mkdir -p "$root/$(dirname "$dst")"
    cp -a "$src" "$root/$dst"
done
for bin in ${bins[@]+"${bins[@]}"}; do
    [ -x "$bin" ] || die "not an executable: $bin"
    cp "$bin" "$root/bin/"
    # Shared libraries (and the dynamic loader) at their host paths.
    while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p "$root/$(dirname "$lib")"
        cp -L "$lib" "$root/$lib"
    done < <(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' || true)
done

cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
echo "root:x:0:" > "$root/etc/group"
: > "$root/etc/hosts"
echo "127.0.0.1 localhost" >> "$root/etc/hosts"

mkdir -p "$(dirname "$out")"
tmp_out=$out.tmp.$$
( cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet ) |
    gzip -1 > "$tmp_out"
mv "$tmp_out" "$out"
echo "build-initramfs: $out ($(du -k "$out" | cut -f1) KiB, scripts: $(ls "$root/scripts" | tr '\n' ' '))" >&2
