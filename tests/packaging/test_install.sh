#!/usr/bin/env bash
# install: what `meson install` places, checked in a DESTDIR, and the
# example program built against the installed library.
#
#   test_install.sh BUILD_DIR SOURCE_ROOT
#
#   1 files     uvdpad (sbin), uvdpa, uvdpa-frontend, the man pages, the
#               systemd unit, the bash completion, /etc/uvdpa/uvdpad.conf
#               (nothing but comments), libuvdpa.so -> .so.0 -> .so.0.1.0,
#               the public headers, uvdpa.pc
#   2 unit      `systemd-analyze verify` of the installed unit (ExecStart
#               pointed into the DESTDIR, man pages from it) exits 0 and
#               prints nothing; Type=notify, RuntimeDirectory=uvdpa,
#               LimitMEMLOCK=infinity; the installed uvdpad takes the unit's
#               ExecStart flags and the shipped config
#   3 headers   every installed header compiles on its own; the installed
#               .so exports exactly what they declare
#   4 example   examples/ built with `pkg-config --cflags --libs uvdpa` from
#               the DESTDIR, run with LD_LIBRARY_PATH into it, serves an
#               emulated VF that uvdpa-frontend drives with 10,000 verified
#               frames; SIGTERM stops it (exit 0, socket removed)
#   5 complete  the installed bash completion completes subcommands, and
#               mgmtdev and device names asked from a running uvdpad
#
# Every step is required: a missing tool (systemd-analyze, pkg-config, make,
# cc, python3, bash-completion) fails the test. Files live in a mktemp
# directory, removed unless a step failed (or UVDPA_KEEP_TMP=1).
set -uo pipefail
# meson test points LD_LIBRARY_PATH at the build tree: the example must find
# the DESTDIR's library only because this script says so.
unset LD_LIBRARY_PATH

BUILD=$(cd "${1:?usage: test_install.sh BUILD_DIR SOURCE_ROOT}" && pwd)
SRC=$(cd "${2:?usage: test_install.sh BUILD_DIR SOURCE_ROOT}" && pwd)
FRONTEND=$BUILD/tools/uvdpa-frontend
FAILED=0
PIDS=()

missing=()
for t in systemd-analyze pkg-config make cc python3 nm man; do
	command -v "$t" >/dev/null || missing+=("$t")
done
[[ -f /usr/share/bash-completion/bash_completion ]] || missing+=("bash-completion")
[[ -x $FRONTEND ]] || missing+=("$FRONTEND (not built)")
if ((${#missing[@]})); then
	echo "FAIL: missing: ${missing[*]}" >&2
	exit 1
fi

TMP=$(mktemp -d /tmp/uvdpa-install.XXXXXX)
D=$TMP/dest
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	if ((FAILED)) || [[ ${UVDPA_KEEP_TMP:-} == 1 ]]; then
		echo "files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=1; }
check() {	# description, command...
	local what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# ---- 1 files ----
if ! meson install -C "$BUILD" --destdir "$D" --no-rebuild >"$TMP/install.log" 2>&1; then
	cat "$TMP/install.log"
	fail "meson install --destdir"
	exit 1
fi
pass "meson install --destdir $D"
prefix=$(meson introspect --buildoptions "$BUILD" |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
P=$D$prefix
UNIT=$(find "$D" -path '*/systemd/system/uvdpad.service' | head -1)
LIBDIR=$(dirname "$(find "$D" -name 'libuvdpa.so.0' | head -1)")
PCDIR=$(dirname "$(find "$D" -name uvdpa.pc | head -1)")
CONF=$(find "$D" -path '*/uvdpa/uvdpad.conf' | head -1)
for f in "$P/sbin/uvdpad" "$P/bin/uvdpa" "$P/bin/uvdpa-frontend"; do
	check "installed executable $f" test -x "$f"
done
for f in man8/uvdpad.8 man8/uvdpa.8 man1/uvdpa-frontend.1; do
	check "installed man page $f" test -f "$P/share/man/$f"
done
check "installed systemd unit ($UNIT)" test -f "$UNIT"
check "installed bash completion" test -f "$P/share/bash-completion/completions/uvdpa"
check "installed uvdpad.conf ($CONF)" test -f "$CONF"
check "uvdpad.conf holds only comments and blank lines" \
	bash -c '! grep -qvE "^[[:space:]]*(#.*)?$" "$1"' _ "$CONF"
check "libuvdpa.so -> libuvdpa.so.0 -> libuvdpa.so.0.1.0" \
	bash -c '[[ $(readlink "$1/libuvdpa.so") == libuvdpa.so.0 && $(readlink "$1/libuvdpa.so.0") == libuvdpa.so.0.1.0 && -f $1/libuvdpa.so.0.1.0 ]]' _ "$LIBDIR"
check "uvdpa.pc installed" test -f "$PCDIR/uvdpa.pc"
for h in "$SRC"/include/uvdpa/*.h; do
	check "header uvdpa/$(basename "$h") installed" cmp -s "$h" "$P/include/uvdpa/$(basename "$h")"
done

# ---- 2 unit ----
if [[ -f $UNIT ]]; then
	# systemd-analyze verify checks ExecStart's binary exists: point it at
	# the DESTDIR's copy; the man pages it checks come from the DESTDIR.
	sed "s#ExecStart=$prefix/sbin/uvdpad#ExecStart=$P/sbin/uvdpad#" "$UNIT" >"$TMP/uvdpad.service"
	out=$(MANPATH=$P/share/man systemd-analyze verify "$TMP/uvdpad.service" 2>&1)
	rc=$?
	check "systemd-analyze verify: exit 0 (got $rc) and no complaint: ${out:-none}" \
		test "$rc" -eq 0 -a -z "$out"
	for kv in "Type=notify" "RuntimeDirectory=uvdpa" "LimitMEMLOCK=infinity" \
		"ExecStart=$prefix/sbin/uvdpad -f -c $(dirname "${CONF#"$D"}")/uvdpad.conf"; do
		check "unit has $kv" grep -qxF "$kv" "$UNIT"
	done
	for cap in CAP_IPC_LOCK CAP_NET_ADMIN; do
		check "unit keeps $cap" grep -qE "^CapabilityBoundingSet=.*\b$cap\b" "$UNIT"
	done
	for dev in /dev/vfio/vfio char-vfio /dev/net/tun; do
		check "unit allows $dev" grep -qE "^DeviceAllow=$dev rw" "$UNIT"
	done
	# The unit's flags with the shipped config, on a socket of our own.
	mkdir -p "$TMP/run"
	"$P/sbin/uvdpad" -f -c "$CONF" -s "$TMP/run/ctl.sock" >"$TMP/uvdpad-conf.log" 2>&1 &
	PIDS+=($!)
	upid=$!
	ok=0 out=
	for _ in $(seq 100); do
		out=$("$P/bin/uvdpa" -s "$TMP/run/ctl.sock" dev show 2>/dev/null) && { ok=1; break; }
		sleep 0.1
	done
	check "installed uvdpad -f -c uvdpad.conf starts and serves (no devices: '${out:-}')" \
		test "$ok" -eq 1 -a -z "$out"
	kill -TERM "$upid"
	wait "$upid"
	check "installed uvdpad exits 0 on SIGTERM" test $? -eq 0
fi

# ---- 3 headers ----
check "installed headers compile alone; the installed .so exports exactly their functions" \
	python3 - "$SRC/tests/packaging" "$P" "$LIBDIR/libuvdpa.so.0" <<'PY'
import subprocess, sys
sys.path.insert(0, sys.argv[1])
import public_api
api = public_api.declared(sys.argv[2])
nm = subprocess.run(["nm", "-D", "--defined-only", sys.argv[3]], capture_output=True, text=True, check=True).stdout
exp = {l.split()[2].split("@")[0] for l in nm.splitlines() if len(l.split()) == 3 and l.split()[1] == "T"}
print(f"  {len(api)} declared, {len(exp)} exported")
sys.exit(0 if api == exp else 1)
PY

# ---- 4 example ----
cp -r "$SRC/examples" "$TMP/examples"
rm -f "$TMP/examples/serve-emulated-vf"
san=$(meson introspect --buildoptions "$BUILD" |
	python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="b_sanitize"][0])')
sanflags=
# An instrumented library wants the sanitizer runtime in the program too.
[[ $san != none ]] && sanflags="-fsanitize=$san"
if PKG_CONFIG_PATH=$PCDIR PKG_CONFIG_SYSROOT_DIR=$D PKG_CONFIG_LIBDIR= \
	make -C "$TMP/examples" CFLAGS="-O1 -g $sanflags" LDFLAGS="$sanflags" >"$TMP/make.log" 2>&1; then
	pass "example built: $(grep -m1 -- '-luvdpa' "$TMP/make.log")"
else
	cat "$TMP/make.log"
	fail "example built with pkg-config uvdpa from the DESTDIR"
fi
if ! ldd "$TMP/examples/serve-emulated-vf" 2>/dev/null | grep -q 'libuvdpa.so.0 => not found'; then
	fail "the example resolves libuvdpa.so.0 without LD_LIBRARY_PATH (it must need the DESTDIR's)"
else
	pass "the example needs libuvdpa.so.0 (dynamically linked)"
fi
VSOCK=$TMP/vf.sock
LD_LIBRARY_PATH=$LIBDIR "$TMP/examples/serve-emulated-vf" "$VSOCK" >"$TMP/example.log" 2>&1 &
PIDS+=($!)
epid=$!
for _ in $(seq 100); do [[ -S $VSOCK ]] && break; sleep 0.1; done
check "the example listens on $VSOCK" test -S "$VSOCK"
check "the example runs on the DESTDIR's library" \
	grep -q "$LIBDIR/libuvdpa.so.0" "/proc/$epid/maps"
if "$FRONTEND" --socket "$VSOCK" --count 10000 --size 60-1514 >"$TMP/frontend.log" 2>&1 &&
	grep -q '^result: PASS' "$TMP/frontend.log"; then
	pass "uvdpa-frontend: 10000 verified frames through the example's VF ($(grep -m1 -E 'pps|rx' "$TMP/frontend.log" | head -c 120))"
else
	cat "$TMP/frontend.log"
	fail "uvdpa-frontend --count 10000 against the example"
fi
kill -TERM "$epid" 2>/dev/null
wait "$epid"
rc=$?
check "the example exits 0 on SIGTERM (got $rc)" test "$rc" -eq 0
check "the example removed its socket" test ! -e "$VSOCK"
((FAILED)) && cat "$TMP/example.log"

# ---- 5 complete ----
mkdir -p "$TMP/bin"
"$P/sbin/uvdpad" -f -s "$TMP/run/c.sock" --demo="$TMP/demo.sock" >"$TMP/uvdpad-demo.log" 2>&1 &
PIDS+=($!)
dpid=$!
for _ in $(seq 100); do [[ -S $TMP/run/c.sock ]] && break; sleep 0.1; done
# complete LINE: what the installed completion offers at the end of LINE.
complete_line() {
	PATH=$P/bin:$PATH bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_uvdpa uvdpa "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		echo "${COMPREPLY[*]}"' _ "$P/share/bash-completion/completions/uvdpa" "$1"
}
expect_completion() {	# line, expected
	local got
	got=$(complete_line "$1")
	check "completion of '$1' is '$2' (got '$got')" test "$got" = "$2"
}
S="-s $TMP/run/c.sock"
expect_completion "uvdpa " "mgmtdev dev monitor"
expect_completion "uvdpa dev " "show add del config vstats set bind unbind"
expect_completion "uvdpa $S mgmtdev show emu/ifcvf-" "emu/ifcvf-net emu/ifcvf-blk"
expect_completion "uvdpa $S dev show " "demo0"
expect_completion "uvdpa $S dev add name x mgmtdev emu/v" "emu/virtio-net"
expect_completion "uvdpa $S dev set name demo0 link " "up down"
expect_completion "uvdpa $S dev bind demo0 " "vhost-user tap"
expect_completion "uvdpa $S dev vstats show d" "demo0"
expect_completion "uvdpa -s $TMP/run/none.sock dev show " ""
kill -TERM "$dpid" 2>/dev/null
wait "$dpid"

((FAILED)) && exit 1
echo "PASS: install"
