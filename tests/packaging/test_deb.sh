#!/usr/bin/env bash
# deb: the Debian packages build, pass lintian, install and run.
#
#   test_deb.sh SOURCE_ROOT
#
#   1 build     the source tree (without build dirs and .git) copied to a
#               temp dir; dpkg-buildpackage -b -us -uc there (release build,
#               DEB_BUILD_OPTIONS=nocheck parallel=2) makes uvdpa, libuvdpa0
#               and libuvdpa-dev
#   2 lintian   no error on the .changes (warnings printed, allowed)
#   3 install   dpkg -i of the three packages; the files land where the
#               unit, the library and pkg-config expect them
#   4 run       systemd-analyze verify on the installed unit; the installed
#               /usr/sbin/uvdpad in the foreground (its own control socket
#               in the temp dir: systemd is not PID 1 here), and
#               /usr/bin/uvdpa -s SOCK mgmtdev show lists emu/ifcvf-net; the
#               example builds against the installed libuvdpa-dev
#   5 purge     dpkg --purge of the three packages, always (trap), and
#               nothing of them stays behind
#
# Needs root (dpkg -i) and dpkg-buildpackage, debhelper, lintian,
# systemd-analyze: a missing one fails the test.
set -uo pipefail

SRC=$(cd "${1:?usage: test_deb.sh SOURCE_ROOT}" && pwd)
PKGS=(uvdpa libuvdpa0 libuvdpa-dev)
FAILED=0
INSTALLED=0
UPID=

missing=()
for t in dpkg-buildpackage dh lintian systemd-analyze fakeroot pkg-config make cc; do
	command -v "$t" >/dev/null || missing+=("$t")
done
[[ $(id -u) -eq 0 ]] || missing+=("root (for dpkg -i)")
if ((${#missing[@]})); then
	echo "FAIL: missing: ${missing[*]}" >&2
	exit 1
fi
# Packages this test did not install must not be removed by it.
for p in "${PKGS[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "FAIL: $p is already installed on this machine; purge it first" >&2
		exit 1
	fi
done

TMP=$(mktemp -d /tmp/uvdpa-deb.XXXXXX)
cleanup() {
	[[ -n $UPID ]] && kill -9 "$UPID" 2>/dev/null
	if ((INSTALLED)); then
		dpkg --purge "${PKGS[@]}" >"$TMP/purge.log" 2>&1 || { cat "$TMP/purge.log"; FAILED=1; }
		local left
		left=$(dpkg-query -W -f='${Package} ${Status}\n' "${PKGS[@]}" 2>/dev/null | grep -v "not-installed")
		if [[ -n $left || -e /usr/sbin/uvdpad || -e /etc/uvdpa ]]; then
			echo "FAIL: purge left: ${left:-} $(ls -d /usr/sbin/uvdpad /etc/uvdpa 2>/dev/null)"
			FAILED=1
		else
			echo "PASS: dpkg --purge removed ${PKGS[*]}"
		fi
	fi
	if ((FAILED)) || [[ ${UVDPA_KEEP_TMP:-} == 1 ]]; then
		echo "files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	((FAILED)) && exit 1
	exit 0
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=1; }

# ---- 1 build ----
mkdir -p "$TMP/src/uvdpa"
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude=./tests/guest/cache \
	--exclude='./examples/serve-emulated-vf' -cf - . | tar -C "$TMP/src/uvdpa" -xf -
start=$(date +%s)
if (cd "$TMP/src/uvdpa" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	dpkg-buildpackage -b -us -uc) >"$TMP/build.log" 2>&1; then
	pass "dpkg-buildpackage -b -us -uc ($(($(date +%s) - start)) s)"
else
	tail -40 "$TMP/build.log"
	fail "dpkg-buildpackage -b -us -uc"
	exit 1
fi
debs=()
for p in "${PKGS[@]}"; do
	f=$(ls "$TMP"/src/"${p}"_*.deb 2>/dev/null | head -1)
	if [[ -n $f ]]; then debs+=("$f"); else fail "no ${p}_*.deb built"; fi
done
((FAILED)) && exit 1
pass "built: $(cd "$TMP/src" && ls ./*.deb | tr '\n' ' ')"

# ---- 2 lintian ----
changes=$(ls "$TMP"/src/uvdpa_*.changes)
lintian --fail-on error "$changes" >"$TMP/lintian.log" 2>&1
rc=$?
grep -v "^running with root" "$TMP/lintian.log" | sed 's/^/  lintian: /'
errors=$(grep -c '^E:' "$TMP/lintian.log")
warnings=$(grep -c '^W:' "$TMP/lintian.log")
if [[ $rc -eq 0 && $errors -eq 0 ]]; then
	pass "lintian: 0 errors, $warnings warnings"
else
	fail "lintian: $errors errors (exit $rc)"
fi

# ---- 3 install ----
if dpkg -i "${debs[@]}" >"$TMP/install.log" 2>&1; then
	INSTALLED=1
	pass "dpkg -i ${PKGS[*]}"
else
	INSTALLED=1	# half-installed: purge it all the same
	cat "$TMP/install.log"
	fail "dpkg -i"
	exit 1
fi
for f in /usr/sbin/uvdpad /usr/bin/uvdpa /usr/bin/uvdpa-frontend /lib/systemd/system/uvdpad.service \
	/etc/uvdpa/uvdpad.conf /usr/share/bash-completion/completions/uvdpa \
	/usr/include/uvdpa/vdpa.h /usr/include/uvdpa/ifcvf.h; do
	if [[ -e $f ]]; then pass "installed $f"; else fail "not installed: $f"; fi
done
if dpkg-query -W -f='${Conffiles}' uvdpa | grep -q /etc/uvdpa/uvdpad.conf; then
	pass "/etc/uvdpa/uvdpad.conf is a conffile"
else
	fail "/etc/uvdpa/uvdpad.conf is not a conffile"
fi
if [[ $(pkg-config --modversion uvdpa 2>/dev/null) == 0.1.0 ]]; then
	pass "pkg-config finds uvdpa 0.1.0"
else
	fail "pkg-config --modversion uvdpa"
fi

# ---- 4 run ----
out=$(systemd-analyze verify /lib/systemd/system/uvdpad.service 2>&1)
rc=$?
if [[ $rc -eq 0 && -z $out ]]; then
	pass "systemd-analyze verify /lib/systemd/system/uvdpad.service"
else
	fail "systemd-analyze verify (exit $rc): $out"
fi
mkdir -p "$TMP/run"
/usr/sbin/uvdpad -f -c /etc/uvdpa/uvdpad.conf -s "$TMP/run/ctl.sock" >"$TMP/uvdpad.log" 2>&1 &
UPID=$!
out=
for _ in $(seq 100); do
	out=$(/usr/bin/uvdpa -s "$TMP/run/ctl.sock" mgmtdev show 2>/dev/null) && break
	sleep 0.1
done
if grep -qx 'emu/ifcvf-net:' <<<"$out"; then
	pass "installed uvdpa -s SOCK mgmtdev show lists emu/ifcvf-net"
else
	cat "$TMP/uvdpad.log"
	fail "installed uvdpa mgmtdev show: '${out}'"
fi
kill -TERM "$UPID"
wait "$UPID"
rc=$?
UPID=
if [[ $rc -eq 0 ]]; then pass "installed uvdpad exits 0 on SIGTERM"; else fail "uvdpad exit $rc"; fi
cp -r "$SRC/examples" "$TMP/examples"
rm -f "$TMP/examples/serve-emulated-vf"
if make -C "$TMP/examples" >"$TMP/make.log" 2>&1 &&
	ldd "$TMP/examples/serve-emulated-vf" | grep -q '/libuvdpa.so.0 '; then
	pass "the example builds against the installed libuvdpa-dev and links libuvdpa.so.0"
else
	cat "$TMP/make.log"
	fail "the example against the installed packages"
fi
