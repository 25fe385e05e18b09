#!/usr/bin/env bash
# Installs the Debian packages uvdpa builds and tests with, if any is missing.
set -euo pipefail

PKGS=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev libjansson-dev libcmocka-dev
      liburing-dev dpdk dpdk-dev qemu-system-x86 qemu-system-common busybox-static cpio python3
      iproute2 procps e2fsprogs mount iputils-ping iperf3
      libsystemd-dev libmicrohttpd-dev prometheus systemd bash-completion debhelper dpkg-dev fakeroot lintian make
      libvirt-daemon-system libvirt-clients util-linux)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
