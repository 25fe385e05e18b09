#!/bin/bash
# fetch-kernel.sh [CACHE_DIR]
#
# Fetch a Debian cloud kernel for uvdpa's QEMU guest tests.
#
#   - resolves the newest linux-image-<ver>-cloud-amd64 package apt knows
#     (override with UVDPA_KERNEL_PKG=linux-image-...-cloud-amd64),
#   - `apt-get download`s it (the only thing this script fetches; it needs
#     `apt-get update` to have run once on the machine, it installs nothing),
#   - extracts it with dpkg-deb -x and copies out:
#       CACHE_DIR/vmlinuz
#       CACHE_DIR/modules/*.ko      (decompressed: busybox insmod takes plain .ko)
#       CACHE_DIR/modules.load      (module file names in load order)
#       CACHE_DIR/kernel.env        (KERNEL_PKG, KERNEL_PKG_VERSION, KERNEL_RELEASE)
#
# UVDPA_KERNEL_DEB=/path/to/linux-image-...deb uses a local package instead
# of apt (offline machines, tests).
#
# Modules: the virtio net/blk stack, the vfio stack and tun (see WANTED below) plus
# every dependency, ordered so that dependencies load first. Modules absent
# from the package (built in, or merged into another module in newer kernels,
# e.g. vfio_virqfd) are skipped with a note. Extra modules: UVDPA_EXTRA_MODULES
# ("name1 name2").
#
# Idempotent: does nothing when CACHE_DIR already holds the same package
# with the same wanted modules.
# Default CACHE_DIR: tests/guest/cache (git-ignored).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:-$here/cache}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

die() { echo "fetch-kernel: error: $*" >&2; exit 1; }
note() { echo "fetch-kernel: $*" >&2; }

# Wanted modules, in the load order the guest needs (deps are inserted before).
WANTED="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
failover net_failover virtio_net virtio_blk
irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio_pci_core vfio_pci
tun
${UVDPA_EXTRA_MODULES:-}"
wanted_key=$(echo $WANTED)

command -v apt-get >/dev/null || die "apt-get not found (this script needs a Debian/Ubuntu host)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

# ---- resolve the versioned package name -----------------------------------
resolve_pkg() {
    local p
    if [ -n "${UVDPA_KERNEL_PKG:-}" ]; then echo "$UVDPA_KERNEL_PKG"; return; fi
    # The metapackage points at the current ABI's image package.
    p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        sed -n 's/^ *Depends: *\(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1 || true)
    if [ -n "$p" ] && apt-cache show "$p" >/dev/null 2>&1; then echo "$p"; return; fi
    # Fallback: the highest versioned linux-image-*-cloud-amd64 apt knows.
    apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64$' 2>/dev/null |
        awk '{print $1}' | grep -v -e '-dbg$' -e '-unsigned$' | sort -V | tail -n1 || true
}

if [ -n "${UVDPA_KERNEL_DEB:-}" ]; then
    # A local .deb (offline use, tests): take name and version from it.
    pkg=$(dpkg-deb -f "$UVDPA_KERNEL_DEB" Package 2>/dev/null) || die "cannot read $UVDPA_KERNEL_DEB"
    ver=$(dpkg-deb -f "$UVDPA_KERNEL_DEB" Version)
else
    pkg=$(resolve_pkg)
    [ -n "$pkg" ] || die "no linux-image-*-cloud-amd64 package found by apt-cache.
      Run 'apt-get update' first (a Debian bookworm or newer apt source with 'main' is needed),
      or set UVDPA_KERNEL_PKG to a package name that apt-get download can fetch."
    ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n1 || true)
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "package $pkg has no installable candidate version (apt-cache policy $pkg)"
fi

if [ -f "$cache/kernel.env" ] && [ -f "$cache/vmlinuz" ] && [ -f "$cache/modules.load" ]; then
    # shellcheck disable=SC1091
    old_pkg=$(sed -n 's/^KERNEL_PKG=//p' "$cache/kernel.env")
    old_ver=$(sed -n 's/^KERNEL_PKG_VERSION=//p' "$cache/kernel.env")
    old_mods=$(sed -n 's/^KERNEL_WANTED=//p' "$cache/kernel.env")
    if [ "$old_pkg" = "$pkg" ] && [ "$old_ver" = "$ver" ] && [ "$old_mods" = "$wanted_key" ]; then
        note "up to date: $pkg $ver in $cache"
        exit 0
    fi
fi

work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt-get download as root may warn "unsandboxed as root": harmless

if [ -n "${UVDPA_KERNEL_DEB:-}" ]; then
    [ -f "$UVDPA_KERNEL_DEB" ] || die "UVDPA_KERNEL_DEB=$UVDPA_KERNEL_DEB: no such file"
    note "using local package $UVDPA_KERNEL_DEB"
    cp "$UVDPA_KERNEL_DEB" "$work/"
else
    note "downloading $pkg ($ver)"
    ( cd "$work" && apt-get download "$pkg=$ver" ) >"$work/apt.log" 2>&1 || {
        cat "$work/apt.log" >&2
        die "apt-get download $pkg=$ver failed (is the network to the Debian mirror up? run 'apt-get update')"
    }
fi
deb=$(ls "$work"/*.deb 2>/dev/null | head -n1 || true)
[ -n "$deb" ] || die "apt-get download produced no .deb"
dpkg-deb -x "$deb" "$work/x"

vmlinuz=$(ls "$work"/x/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
[ -n "$vmlinuz" ] || die "$pkg contains no /boot/vmlinuz-*"
krel=${vmlinuz##*/vmlinuz-}
moddir=$(ls -d "$work"/x/lib/modules/"$krel" "$work"/x/usr/lib/modules/"$krel" 2>/dev/null | head -n1 || true)
[ -n "$moddir" ] || die "$pkg contains no lib/modules/$krel"

# ---- index module files by normalized name -------------------------------
declare -A path_of state
while IFS= read -r f; do
    b=${f##*/}
    b=${b%%.ko*}
    path_of[${b//-/_}]=$f
done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')

builtin_list=""
[ -f "$moddir/modules.builtin" ] && builtin_list=$(sed 's|.*/||; s|\.ko$||; s|-|_|g' "$moddir/modules.builtin")

mkdir -p "$work/out/modules"

decompress() { # src dst
    case "$1" in
        *.ko)     cp "$1" "$2" ;;
        *.ko.xz)  command -v xz >/dev/null || die "xz needed to decompress $1 (apt-get install xz-utils)"
                  xz -dc "$1" >"$2" ;;
        *.ko.zst) command -v zstd >/dev/null || die "zstd needed to decompress $1 (apt-get install zstd)"
                  zstd -qdc "$1" >"$2" ;;
        *.ko.gz)  gzip -dc "$1" >"$2" ;;
    esac
}

order=()
visit() { # name (normalized)
    local m=$1 d
    case "${state[$m]:-}" in
        done) return ;;
        active) die "module dependency cycle at $m" ;;
    esac
    if [ -z "${path_of[$m]:-}" ]; then
        if grep -qx "$m" <<<"$builtin_list"; then
            note "module $m is built into $krel: skipped"
        else
            note "module $m not in $pkg (merged or renamed in this kernel): skipped"
        fi
        state[$m]="done"
        return
    fi
    state[$m]=active
    local out="$work/out/modules/${path_of[$m]##*/}"
    out=${out%%.ko*}.ko
    decompress "${path_of[$m]}" "$out"
    # The .modinfo section carries "depends=a,b" (what depmod builds modules.dep from).
    d=$(tr '\0' '\n' <"$out" | sed -n 's/^depends=//p' | head -n1)
    local dep
    for dep in ${d//,/ }; do
        visit "${dep//-/_}"
    done
    state[$m]="done"
    order+=("${out##*/}")
}
for m in $WANTED; do visit "${m//-/_}"; done

printf '%s\n' "${order[@]}" >"$work/out/modules.load"
cp "$vmlinuz" "$work/out/vmlinuz"
cat >"$work/out/kernel.env" <<EOF
KERNEL_PKG=$pkg
KERNEL_PKG_VERSION=$ver
KERNEL_RELEASE=$krel
KERNEL_WANTED=$wanted_key
EOF

# Replace the cache content atomically enough for a test cache.
rm -rf "$cache/modules" "$cache/vmlinuz" "$cache/modules.load" "$cache/kernel.env"
mv "$work/out/modules" "$work/out/vmlinuz" "$work/out/modules.load" "$cache/"
mv "$work/out/kernel.env" "$cache/kernel.env"
note "kernel $krel ($pkg $ver) -> $cache: ${#order[@]} modules: ${order[*]}"
