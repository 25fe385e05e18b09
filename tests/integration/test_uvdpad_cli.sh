#!/usr/bin/env bash
# Integration test: uvdpad (the daemon) driven by uvdpa (the tool) over the
# control socket, with the test/null mgmtdevs (uvdpad --test-mgmtdev), so it
# needs no device model and no hardware.
#
#   test_uvdpad_cli.sh BUILD_DIR
#
# Scenarios (each prints PASS/FAIL; the script fails if any does):
#   1 start       -c FILE runs at start (comments, blank lines, quotes); the
#                 control socket is 0600; a second uvdpad on it is refused;
#                 a bad line in -c FILE fails the start with FILE:LINE
#   2 mgmtdev     mgmtdev show in text, -j and -jp (parsed with python3 json)
#   3 dev         dev add / show / config show / vstats / set / del, in text
#                 and JSON with the kernel tool's keys, abbreviations
#   4 errors      exit status 1 and a message that says what to change
#   5 bind        vhost-user socket appears on bind and goes on unbind; with
#                 uvdpa-frontend attached, negotiated_features shows
#   6 batch       uvdpa -b FILE stops at the first error with FILE:LINE
#   7 protocol    many clients at once; malformed and oversized requests get
#                 an error answer; a client leaving mid-request is harmless
#   8 daemon      without -f: detaches, prints nothing, serves; an unreachable
#                 daemon gives the "is uvdpad running?" message
#   9 sigterm     SIGTERM: frontends see the close, the control and vhost-user
#                 socket files are removed, exit status 0
#  10 emu         uvdpad --demo: demo0 (emulated IFCVF net, loopback) carries
#                 uvdpa-frontend's traffic; vstats count it; dev show times
#                 dev_conf and dev_close, the frontend its start; dev set link;
#                 dev add/del of more emulated VFs; SIGTERM with live devices
#
# uvdpa-frontend and python3 are required: without them the script fails
# (exit 1) and says what is missing, instead of skipping checks.
#
# All files live in a mktemp directory (kept when a scenario fails, or with
# UVDPA_KEEP_TMP=1). Every process started here is killed by the trap.
set -euo pipefail

BUILD=${1:?usage: test_uvdpad_cli.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
UVDPAD=$BUILD/tools/uvdpad
UVDPA=$BUILD/tools/uvdpa
FRONTEND=$BUILD/tools/uvdpa-frontend
PY=${PYTHON:-$(command -v python3 || true)}

# Every peer is required: a scenario that cannot run is a failure, never a
# silent skip that would pass without checking anything.
missing=()
for b in "$UVDPAD" "$UVDPA" "$FRONTEND"; do
	[[ -x $b ]] || missing+=("$b (not built)")
done
[[ -n $PY ]] || missing+=("python3 (not found; set PYTHON)")
if ((${#missing[@]})); then
	printf 'FAIL: missing: %s\n' "${missing[@]}" >&2
	exit 1
fi

TMP=$(mktemp -d /tmp/uvdpad-cli.XXXXXX)
: >"$TMP/pids"
FAILED=0
CTL=$TMP/run/ctl.sock	# run/ does not exist: uvdpad creates it 0700

alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
	[[ -n $st && $st != Z ]]
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	while read -r pid; do
		alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
	done <"$TMP/pids"
	sleep 0.3
	while read -r pid; do
		alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	done <"$TMP/pids"
	if ((FAILED)) || [[ ${UVDPA_KEEP_TMP:-0} == 1 ]]; then
		echo "files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT INT TERM

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	FAILED=1
}

wait_for_socket() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -S $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

# Waits up to 10 s for process $1 to end.
wait_exit() {
	local i
	for ((i = 0; i < 100; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

wait_gone() {
	local i
	for ((i = 0; i < 100; i++)); do
		[[ ! -e $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

# uv ARGS...: the tool against our daemon, stdout to $TMP/out, stderr to
# $TMP/err, exit status in $RC.
uv() {
	RC=0
	"$UVDPA" -s "$CTL" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
}

# expect_ok DESC ARGS...: uv must succeed with an empty stderr.
expect_ok() {
	local desc=$1
	shift
	uv "$@"
	if ((RC != 0)) || [[ -s $TMP/err ]]; then
		fail "$desc: uvdpa $* -> status $RC: $(cat "$TMP/err")"
		return 1
	fi
}

# expect_err DESC MESSAGE ARGS...: uv must fail (status 1) saying MESSAGE.
expect_err() {
	local desc=$1 msg=$2
	shift 2
	uv "$@"
	if ((RC != 1)); then
		fail "$desc: uvdpa $* -> status $RC, expected 1"
		return 1
	fi
	if ! grep -qF -- "uvdpa: $msg" "$TMP/err"; then
		fail "$desc: uvdpa $* -> stderr \"$(cat "$TMP/err")\", expected \"uvdpa: $msg\""
		return 1
	fi
	if [[ -s $TMP/out ]]; then
		fail "$desc: uvdpa $* printed on stdout on error"
		return 1
	fi
}

# out_is DESC TEXT: $TMP/out must be exactly TEXT (plus its newline).
out_is() {
	local want=$2 got
	got=$(cat "$TMP/out")
	if [[ $got != "$want" ]]; then
		fail "$1: got"$'\n'"$got"$'\n'"expected"$'\n'"$want"
		return 1
	fi
}

# pyjson DESC EXPR: python3 expression over d = json.load($TMP/out) must hold.
pyjson() {
	if ! "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$TMP/out" "$2"; then
		fail "$1: $2 does not hold for: $(cat "$TMP/out")"
		return 1
	fi
}

# ---- 1 start ----
cat >"$TMP/start.conf" <<'EOF'
# uvdpad start-up commands

dev add name net0 mgmtdev test/null mac 52:54:00:00:00:aa mtu 9000   # trailing comment
dev add name "blk0" mgmtdev 'test/null-blk' capacity 64M num_queues 2
EOF
"$UVDPAD" -f -s "$CTL" --test-mgmtdev -c "$TMP/start.conf" >"$TMP/uvdpad.out" 2>"$TMP/uvdpad.log" &
DPID=$!
echo "$DPID" >>"$TMP/pids"
s1_ok=1
if ! wait_for_socket "$CTL"; then
	fail "start: control socket $CTL did not appear"
	cat "$TMP/uvdpad.log"
	exit 1
fi
[[ $(stat -c %a "$CTL") == 600 ]] || { fail "start: socket mode $(stat -c %a "$CTL"), expected 600"; s1_ok=0; }
[[ $(stat -c %a "$TMP/run") == 700 ]] || { fail "start: dir mode $(stat -c %a "$TMP/run"), expected 700"; s1_ok=0; }
expect_ok "start: config devices" dev show || s1_ok=0
grep -q '^net0: type network mgmtdev test/null' "$TMP/out" || { fail "start: net0 missing: $(cat "$TMP/out")"; s1_ok=0; }
grep -q '^blk0: type block mgmtdev test/null-blk' "$TMP/out" || { fail "start: blk0 missing"; s1_ok=0; }
# A second daemon on the same socket is refused, and the first keeps it.
rc=0
"$UVDPAD" -f -s "$CTL" --test-mgmtdev >"$TMP/second.out" 2>"$TMP/second.err" || rc=$?
if ((rc == 0)) || ! grep -q "another uvdpad is already listening on $CTL" "$TMP/second.err"; then
	fail "start: second uvdpad: status $rc, $(cat "$TMP/second.err")"
	s1_ok=0
fi
expect_ok "start: first daemon still answers" dev show || s1_ok=0
# A failing line aborts the start, naming FILE:LINE; nothing is left behind.
printf 'dev add name a mgmtdev test/null\n\n# x\ndev add name b mgmtdev test/null mtu 40\n' >"$TMP/bad.conf"
rc=0
"$UVDPAD" -f -s "$TMP/bad.sock" --test-mgmtdev -c "$TMP/bad.conf" >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
if ((rc == 0)) || ! grep -qF "uvdpad: $TMP/bad.conf:4: mtu 40 is too small: use 68..65535" "$TMP/bad.err"; then
	fail "start: bad config: status $rc, stderr $(cat "$TMP/bad.err")"
	s1_ok=0
fi
[[ ! -e $TMP/bad.sock ]] || { fail "start: failed start left $TMP/bad.sock"; s1_ok=0; }
rc=0
"$UVDPAD" -f -s "$TMP/bad.sock" -c "$TMP/missing.conf" >/dev/null 2>"$TMP/bad.err" || rc=$?
((rc != 0)) && grep -q "cannot read $TMP/missing.conf" "$TMP/bad.err" || { fail "start: missing config accepted"; s1_ok=0; }
((s1_ok)) && pass "start"

# ---- 2 mgmtdev ----
s2_ok=1
expect_ok "mgmtdev: show" mgmtdev show || s2_ok=0
for m in emu/ifcvf-net emu/virtio-net emu/ifcvf-blk test/null test/null-blk; do
	grep -qx "$m:" "$TMP/out" || { fail "mgmtdev: $m not listed"; s2_ok=0; }
done
expect_ok "mgmtdev: show one" mgmtdev show test/null || s2_ok=0
out_is "mgmtdev: text" "test/null:
  supported_classes net
  max_supported_vqs 64
  dev_features MTU MAC MRG_RXBUF STATUS MQ RING_EVENT_IDX VERSION_1" || s2_ok=0
expect_ok "mgmtdev: -j" -j mgmtdev show || s2_ok=0
pyjson "mgmtdev: -j keys" 'd["mgmtdev"]["test/null"] == {"supported_classes": ["net"], "max_supported_vqs": 64, "dev_features": ["MTU","MAC","MRG_RXBUF","STATUS","MQ","RING_EVENT_IDX","VERSION_1"]} and d["mgmtdev"]["test/null-blk"]["supported_classes"] == ["block"] and "emu/ifcvf-net" in d["mgmtdev"]' || s2_ok=0
[[ $(wc -l <"$TMP/out") == 1 ]] || { fail "mgmtdev: -j is not one line"; s2_ok=0; }
expect_ok "mgmtdev: -jp" -j -p mgmtdev show emu/ifcvf-net || s2_ok=0
pyjson "mgmtdev: -jp" 'list(d["mgmtdev"]) == ["emu/ifcvf-net"] and "net" in d["mgmtdev"]["emu/ifcvf-net"]["supported_classes"]' || s2_ok=0
grep -q '^    "mgmtdev": {$' "$TMP/out" || { fail "mgmtdev: -p is not indented"; s2_ok=0; }
expect_ok "mgmtdev: abbreviated" m sh test/null || s2_ok=0
((s2_ok)) && pass "mgmtdev"

# ---- 3 dev ----
s3_ok=1
expect_ok "dev: add" dev add name v0 mgmtdev test/null mac 52:54:00:12:34:56 max_vqp 2 || s3_ok=0
[[ ! -s $TMP/out ]] || { fail "dev: add printed $(cat "$TMP/out")"; s3_ok=0; }
expect_ok "dev: show" dev sh v0 || s3_ok=0
out_is "dev: show text" "v0: type network mgmtdev test/null vendor_id 0 max_vqs 4 max_vq_size 256" || s3_ok=0
expect_ok "dev: show -j" -j dev show || s3_ok=0
pyjson "dev: show -j keys" 'd["dev"]["v0"] == {"type": "network", "mgmtdev": "test/null", "vendor_id": 0, "max_vqs": 4, "max_vq_size": 256} and d["dev"]["blk0"]["type"] == "block" and list(d["dev"]) == ["net0", "blk0", "v0"]' || s3_ok=0
expect_ok "dev: config show" dev config show v0 || s3_ok=0
out_is "dev: config text" "v0: mac 52:54:00:12:34:56 link up link_announce false max_vq_pairs 2 mtu 1500" || s3_ok=0
expect_ok "dev: config -j" -j dev config show || s3_ok=0
pyjson "dev: config -j keys" 'd["config"]["v0"] == {"mac": "52:54:00:12:34:56", "link": "up", "link_announce": False, "max_vq_pairs": 2, "mtu": 1500} and d["config"]["net0"]["mtu"] == 9000 and d["config"]["blk0"]["capacity"] == 64 << 20 and d["config"]["blk0"]["num_queues"] == 2' || s3_ok=0
expect_ok "dev: vstats" dev vstats show v0 qidx 3 || s3_ok=0
out_is "dev: vstats text" "v0: queue_type tx queue_index 3 received_desc 0 completed_desc 0" || s3_ok=0
expect_ok "dev: vstats -j" -j dev vstats show v0 qidx 0 || s3_ok=0
pyjson "dev: vstats -j keys" 'd == {"vstats": {"v0": {"queue_type": "rx", "queue_index": 0, "received_desc": 0, "completed_desc": 0}}}' || s3_ok=0
expect_ok "dev: set" dev set name v0 link down mac 52:54:00:00:00:01 || s3_ok=0
expect_ok "dev: config after set" -j dev config show v0 || s3_ok=0
pyjson "dev: set applied" 'd["config"]["v0"]["link"] == "down" and d["config"]["v0"]["mac"] == "52:54:00:00:00:01"' || s3_ok=0
expect_ok "dev: set capacity" dev set name blk0 capacity 1G || s3_ok=0
expect_ok "dev: blk config" dev config show blk0 || s3_ok=0
grep -q '^blk0: capacity 1073741824 ' "$TMP/out" || { fail "dev: capacity not applied: $(cat "$TMP/out")"; s3_ok=0; }
expect_ok "dev: del" dev del v0 || s3_ok=0
expect_ok "dev: show after del" -j dev show || s3_ok=0
pyjson "dev: v0 gone" '"v0" not in d["dev"]' || s3_ok=0
((s3_ok)) && pass "dev"

# ---- 4 errors ----
s4_ok=1
expect_err "errors: mtu" "mtu 40 is too small: use 68..65535" dev add name x mgmtdev test/null mtu 40 || s4_ok=0
expect_err "errors: unknown attribute" 'dev add: unknown attribute "colour": use name, mgmtdev' dev add name x mgmtdev test/null colour red || s4_ok=0
expect_err "errors: repeated" "dev add: mtu is given twice: give it once" dev add name x mgmtdev test/null mtu 1500 mtu 1500 || s4_ok=0
expect_err "errors: missing value" "dev add: mac needs a value: mac MAC" dev add name x mgmtdev test/null mac || s4_ok=0
expect_err "errors: bad mac" "mac 52:54:00 is not a MAC address" dev add name x mgmtdev test/null mac 52:54:00 || s4_ok=0
expect_err "errors: size" "capacity 12X is not a size" dev add name x mgmtdev test/null-blk capacity 12X || s4_ok=0
expect_err "errors: unsupported attr" "mgmtdev test/null does not support: port" dev add name x mgmtdev test/null port loopback || s4_ok=0
expect_err "errors: features rule" "mac given with device_features 0x100000000, which lacks VIRTIO_NET_F_MAC" dev add name x mgmtdev test/null device_features 0x100000000 mac 52:54:00:12:34:56 || s4_ok=0
expect_err "errors: taken name" "device net0 already exists" dev add name net0 mgmtdev test/null || s4_ok=0
expect_err "errors: unknown mgmtdev" "mgmtdev nope not found (mgmtdevs: emu/ifcvf-net, emu/virtio-net, emu/ifcvf-blk" dev add name x mgmtdev nope || s4_ok=0
expect_err "errors: unknown device" "device nope not found (devices: net0, blk0)" dev del nope || s4_ok=0
expect_err "errors: qidx" "qidx 2 is out of range: device net0 has 2 virtqueues, use 0..1" dev vstats show net0 qidx 2 || s4_ok=0
expect_err "errors: object" 'object "frob" is unknown: use mgmtdev, dev, monitor, help' frob || s4_ok=0
# The port grammar is the model's: its messages reach the user.
expect_err "errors: bad port" "port nowhere is unknown: use loopback, pair:NAME, tap:IFNAME[,vnet_hdr], sink or source[:FRAME_LEN]" dev add name e0 mgmtdev emu/ifcvf-net port nowhere || s4_ok=0
expect_err "errors: source length" 'port source:10: frame length "10" is out of range: use 60..9216 bytes' dev add name e0 mgmtdev emu/ifcvf-net port source:10 || s4_ok=0
expect_err "errors: tap name" "port tap:a/b: tap:IFNAME needs an interface name of 1..15 characters" dev add name e0 mgmtdev emu/ifcvf-net port tap:a/b || s4_ok=0
expect_ok "errors: source:64 accepted" dev add name e0 mgmtdev emu/ifcvf-net port source:64 || s4_ok=0
expect_ok "errors: source:64 removed" dev del e0 || s4_ok=0
expect_err "errors: relative socket" "vhost-user socket rel.sock is a relative path" dev bind net0 vhost-user rel.sock || s4_ok=0
expect_err "errors: unbind unbound" "device net0 is not bound: nothing to unbind" dev unbind net0 || s4_ok=0
rc=0
"$UVDPA" >/dev/null 2>"$TMP/err" || rc=$?
((rc == 2)) && grep -q '^Usage: uvdpa' "$TMP/err" || { fail "errors: no command: status $rc"; s4_ok=0; }
expect_ok "errors: help" help || s4_ok=0
grep -q 'uvdpa dev bind NAME vhost-user PATH \[client\]' "$TMP/out" || { fail "errors: help text"; s4_ok=0; }
((s4_ok)) && pass "errors"

# ---- 5 bind ----
s5_ok=1
VU=$TMP/net0.sock
expect_ok "bind: bind" dev bind net0 vhost-user "$VU" || s5_ok=0
[[ -S $VU ]] || { fail "bind: $VU did not appear"; s5_ok=0; }
expect_ok "bind: show" dev show net0 || s5_ok=0
out_is "bind: show text" "net0: type network mgmtdev test/null vendor_id 0 max_vqs 2 max_vq_size 256 bound vhost-user path $VU connected false" || s5_ok=0
expect_err "bind: twice" "device net0 is already bound to vhost-user: unbind it first" dev bind net0 vhost-user "$TMP/other.sock" || s5_ok=0
expect_ok "bind: unbind" dev unbind net0 || s5_ok=0
wait_gone "$VU" || { fail "bind: $VU still there after unbind"; s5_ok=0; }
expect_ok "bind: show unbound" -j dev show net0 || s5_ok=0
pyjson "bind: no binding keys" '"bound" not in d["dev"]["net0"] and "path" not in d["dev"]["net0"]' || s5_ok=0
expect_ok "bind: rebind" dev bind net0 vhost-user "$VU" || s5_ok=0
"$FRONTEND" --socket "$VU" --negotiate-only --seconds 30 --no-reconnect >"$TMP/fe.log" 2>&1 &
FPID=$!
echo "$FPID" >>"$TMP/pids"
negotiated=0
for ((i = 0; i < 100; i++)); do
	uv -j dev config show net0
	if ((RC == 0)) && "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if "negotiated_features" in d["config"]["net0"] else 1)' "$TMP/out"; then
		negotiated=1
		break
	fi
	sleep 0.1
done
if ((negotiated)); then
	pyjson "bind: negotiated features" '"VERSION_1" in d["config"]["net0"]["negotiated_features"] and "MAC" in d["config"]["net0"]["negotiated_features"]' || s5_ok=0
	expect_ok "bind: config text" dev config show net0 || s5_ok=0
	grep -q '^  negotiated_features .*VERSION_1' "$TMP/out" || { fail "bind: negotiated_features line: $(cat "$TMP/out")"; s5_ok=0; }
	expect_ok "bind: connected" -j dev show net0 || s5_ok=0
	pyjson "bind: connected" 'd["dev"]["net0"]["connected"] is True' || s5_ok=0
else
	fail "bind: no negotiated_features with uvdpa-frontend attached: $(cat "$TMP/fe.log")"
	s5_ok=0
fi
# Unbinding closes the frontend's session.
expect_ok "bind: unbind with frontend" dev unbind net0 || s5_ok=0
wait_exit "$FPID" || { fail "bind: frontend still running after unbind"; s5_ok=0; }
expect_ok "bind: rebind for sigterm" dev bind net0 vhost-user "$VU" || s5_ok=0
((s5_ok)) && pass "bind"

# ---- 6 batch ----
s6_ok=1
cat >"$TMP/batch" <<EOF
# batch
dev add name t1 mgmtdev test/null

dev show t1
dev add name t2 mgmtdev test/null mtu 1
dev add name t3 mgmtdev test/null
EOF
uv -b "$TMP/batch"
if ((RC != 1)) || ! grep -qF "uvdpa: $TMP/batch:5: mtu 1 is too small: use 68..65535" "$TMP/err"; then
	fail "batch: status $RC, stderr $(cat "$TMP/err")"
	s6_ok=0
fi
grep -q '^t1: type network' "$TMP/out" || { fail "batch: dev show output missing"; s6_ok=0; }
expect_ok "batch: state" -j dev show || s6_ok=0
pyjson "batch: stopped at the error" '"t1" in d["dev"] and "t3" not in d["dev"]' || s6_ok=0
printf 'dev del t1\n' | "$UVDPA" -s "$CTL" -b - >"$TMP/out" 2>"$TMP/err" || { fail "batch: stdin"; s6_ok=0; }
((s6_ok)) && pass "batch"

# ---- 7 protocol ----
s7_ok=1
: >"$TMP/par.fail"
for ((i = 0; i < 24; i++)); do
	( "$UVDPA" -s "$CTL" -j dev show >"$TMP/par.$i" 2>&1 || echo "$i" >>"$TMP/par.fail" ) &
done
wait_rc=0
for job in $(jobs -p); do
	[[ $job == "$DPID" || $job == "${FPID:-}" ]] && continue
	wait "$job" || wait_rc=1
done
if [[ -s $TMP/par.fail ]] || ((wait_rc)); then
	fail "protocol: parallel clients failed: $(cat "$TMP/par.fail")"
	s7_ok=0
fi
for ((i = 0; i < 24; i++)); do
	"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))["dev"]["net0"]' "$TMP/par.$i" 2>/dev/null || { fail "protocol: client $i output"; s7_ok=0; break; }
done
if ! "$PY" - "$CTL" >"$TMP/proto.log" 2>&1 <<'EOF'; then
import json, socket, sys

path = sys.argv[1]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def reply(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return json.loads(buf)

# Malformed JSON: an error answer, the connection stays usable.
s = conn()
s.sendall(b"{not json\n")
r = reply(s)
assert r["status"] == 22 and r["error"].startswith("malformed request"), r
s.sendall(b'{"argv":["dev","show"],"json":true,"pretty":false}\n')
r = reply(s)
assert r["status"] == 0 and "net0" in json.loads(r["output"])["dev"], r
# A request sent in pieces.
for piece in (b'{"argv":["mgmt', b'dev","show","test/null"]', b'}\n'):
    s.sendall(piece)
r = reply(s)
assert r["status"] == 0 and r["output"].startswith("test/null:\n"), r
s.close()
# More than 64 KiB without a newline: error 90 (EMSGSIZE); the rest of that
# line is dropped and the connection serves the next request.
s = conn()
s.sendall(b" " * (200 * 1024))
r = reply(s)
assert r["status"] == 90 and "too large" in r["error"], r
s.sendall(b'\n{"argv":["dev","show","net0"]}\n')
r = reply(s)
assert r["status"] == 0 and r["output"].startswith("net0:"), r
s.close()
# A client leaving mid-request, then one that half-closes after a request.
s = conn()
s.sendall(b'{"argv":["dev"')
s.close()
s = conn()
s.sendall(b'{"argv":["dev","show","net0"]}\n')
s.shutdown(socket.SHUT_WR)
r = reply(s)
assert r["status"] == 0 and r["output"].startswith("net0:"), r
s.close()
print("ok")
EOF
	fail "protocol: $(cat "$TMP/proto.log")"
	s7_ok=0
fi
expect_ok "protocol: daemon still serving" dev show net0 || s7_ok=0
((s7_ok)) && pass "protocol"

# ---- 8 daemon ----
s8_ok=1
DCTL=$TMP/d/ctl.sock
rc=0
"$UVDPAD" -s "$DCTL" --test-mgmtdev >"$TMP/d.out" 2>"$TMP/d.err" || rc=$?
if ((rc != 0)) || [[ -s $TMP/d.out || -s $TMP/d.err ]]; then
	fail "daemon: status $rc, stdout \"$(cat "$TMP/d.out")\", stderr \"$(cat "$TMP/d.err")\""
	s8_ok=0
fi
# The daemon's pid, from the control socket's peer credentials.
DDPID=$("$PY" -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
pid, uid, gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
print(pid)' "$DCTL" 2>/dev/null || true)
if [[ -n $DDPID ]]; then
	echo "$DDPID" >>"$TMP/pids"
	if [[ $(readlink "/proc/$DDPID/cwd") != / ]]; then
		fail "daemon: cwd is $(readlink "/proc/$DDPID/cwd"), expected /"
		s8_ok=0
	fi
	# Double fork: its own session, of which it is not the leader.
	dsid=$(ps -o sid= -p "$DDPID" | tr -d ' ')
	if [[ $dsid == $(ps -o sid= -p $$ | tr -d ' ') || $dsid == "$DDPID" ]]; then
		fail "daemon: session $dsid (pid $DDPID, ours $(ps -o sid= -p $$))"
		s8_ok=0
	fi
	if [[ $(readlink "/proc/$DDPID/fd/2") != /dev/null ]]; then
		fail "daemon: stderr is $(readlink "/proc/$DDPID/fd/2")"
		s8_ok=0
	fi
	rc=0
	"$UVDPA" -s "$DCTL" dev add name d0 mgmtdev test/null >/dev/null 2>&1 || rc=$?
	((rc == 0)) || { fail "daemon: dev add failed"; s8_ok=0; }
	kill -TERM "$DDPID"
	wait_gone "$DCTL" || { fail "daemon: $DCTL not removed on SIGTERM"; s8_ok=0; }
else
	fail "daemon: cannot reach the detached daemon at $DCTL"
	s8_ok=0
fi
# A start-up error is reported before detaching, with a non-zero status.
rc=0
"$UVDPAD" -s "$CTL" >"$TMP/d.out" 2>"$TMP/d.err" || rc=$?
((rc != 0)) && grep -q "another uvdpad is already listening" "$TMP/d.err" || { fail "daemon: start-up error not reported: $rc"; s8_ok=0; }
rc=0
"$UVDPA" -s "$TMP/nobody.sock" dev show >/dev/null 2>"$TMP/err" || rc=$?
if ((rc != 1)) || ! grep -qF "uvdpa: cannot reach uvdpad at $TMP/nobody.sock: No such file or directory" "$TMP/err" ||
	! grep -qF "is uvdpad running? (uvdpad -s PATH)" "$TMP/err"; then
	fail "daemon: unreachable message: $(cat "$TMP/err")"
	s8_ok=0
fi
((s8_ok)) && pass "daemon"

# ---- 9 sigterm ----
s9_ok=1
"$FRONTEND" --socket "$VU" --negotiate-only --seconds 30 --no-reconnect >"$TMP/fe2.log" 2>&1 &
FPID=$!
echo "$FPID" >>"$TMP/pids"
for ((i = 0; i < 100; i++)); do
	uv -j dev show net0
	((RC == 0)) && "$PY" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["dev"]["net0"]["connected"] else 1)' "$TMP/out" && break
	sleep 0.1
done
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
((rc == 0)) || { fail "sigterm: uvdpad exit status $rc"; s9_ok=0; }
[[ ! -e $CTL ]] || { fail "sigterm: control socket left behind"; s9_ok=0; }
[[ ! -e $VU ]] || { fail "sigterm: vhost-user socket left behind"; s9_ok=0; }
grep -q "shutting down" "$TMP/uvdpad.log" || { fail "sigterm: no shutdown log"; s9_ok=0; }
wait_exit "$FPID" || { fail "sigterm: frontend did not see the close"; s9_ok=0; }
if grep -E "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error" "$TMP/uvdpad.log"; then
	fail "sigterm: sanitizer report in uvdpad's log"
	s9_ok=0
fi
((s9_ok)) && pass "sigterm"

# ---- 10 emu ----
s10_ok=1
CTL=$TMP/emu/ctl.sock
DEMO=$TMP/demo.sock
"$UVDPAD" -f -s "$CTL" --engines 2 --demo="$DEMO" >"$TMP/emu.out" 2>"$TMP/emu.log" &
EPID=$!
echo "$EPID" >>"$TMP/pids"
for ((i = 0; i < 100; i++)); do
	[[ -S $CTL ]] || ! alive "$EPID" && break
	sleep 0.05
done
if ! [[ -S $CTL && -S $DEMO ]]; then
	fail "emu: uvdpad --demo did not start: $(cat "$TMP/emu.log")"
	s10_ok=0
else
	expect_ok "emu: demo0" -j dev show demo0 || s10_ok=0
	pyjson "emu: demo0" 'd["dev"]["demo0"]["mgmtdev"] == "emu/ifcvf-net" and d["dev"]["demo0"]["bound"] == "vhost-user" and d["dev"]["demo0"]["max_vqs"] == 2' || s10_ok=0
	rc=0
	timeout 60 "$FRONTEND" --socket "$DEMO" --count 3000 --json >"$TMP/fe3.log" 2>&1 || rc=$?
	((rc == 0)) || { fail "emu: traffic through demo0: $(tail -3 "$TMP/fe3.log")"; s10_ok=0; }
	# The frontend times its start (last start message -> ack, -> first
	# frame back); dev show has uvdpad's timing of dev_conf and dev_close.
	grep '^{"result"' "$TMP/fe3.log" >"$TMP/out" || true
	pyjson "emu: frontend start figures" 'isinstance(d["start_ack_us"], int) and isinstance(d["start_first_rx_us"], int)' || s10_ok=0
	expect_ok "emu: timing" -j dev show demo0 || s10_ok=0
	pyjson "emu: dev_conf and dev_close timed" 'all(d["dev"]["demo0"]["%s_%s" % (op, k)] >= 0 for op in ("dev_conf", "dev_close") for k in ("last_us", "min_us", "max_us", "p50_le_us", "p99_le_us")) and d["dev"]["demo0"]["dev_conf_count"] == 1 and d["dev"]["demo0"]["dev_close_count"] == 1' || s10_ok=0
	expect_ok "emu: timing text" dev show demo0 || s10_ok=0
	grep -Eq "^  dev_conf_count 1 dev_conf_last_us [0-9]+ " "$TMP/out" && grep -Eq "^  dev_close_count 1 " "$TMP/out" ||
		{ fail "emu: timing lines not in dev show: $(cat "$TMP/out")"; s10_ok=0; }
	expect_ok "emu: vstats" -j dev vstats show demo0 qidx 1 || s10_ok=0
	pyjson "emu: tx counted" 'd["vstats"]["demo0"]["queue_type"] == "tx" and d["vstats"]["demo0"]["packets"] == 3000' || s10_ok=0
	expect_ok "emu: link down" dev set name demo0 link down || s10_ok=0
	expect_ok "emu: config" -j dev config show demo0 || s10_ok=0
	pyjson "emu: link down applied" 'd["config"]["demo0"]["link"] == "down"' || s10_ok=0
	expect_ok "emu: add" dev add name e1 mgmtdev emu/ifcvf-net mac 52:54:00:11:22:33 max_vqp 2 port sink || s10_ok=0
	expect_ok "emu: config e1" dev config show e1 || s10_ok=0
	out_is "emu: config e1" "e1: mac 52:54:00:11:22:33 link up link_announce false max_vq_pairs 2 mtu 1500" || s10_ok=0
	expect_err "emu: bad devargs" 'devargs: unknown key "foo" (known: transitional, sw-live-migration, drop-dirty-log, shadow-vq, reorder-completions, shared-storage, offloads)' dev add name e2 mgmtdev emu/ifcvf-net devargs foo=1 || s10_ok=0
	expect_err "emu: shared-storage on net" 'e2: shared-storage applies to a blk device'"'"'s file, not to emu/ifcvf-net' dev add name e2 mgmtdev emu/ifcvf-net devargs shared-storage=1 || s10_ok=0
	# How each kind of function migrates, and whether it logs now.
	expect_ok "emu: migration modes" -j dev show demo0 || s10_ok=0
	pyjson "emu: hw mode" 'd["dev"]["demo0"]["migration"] == "hw" and d["dev"]["demo0"]["logging"] is False' || s10_ok=0
	expect_ok "emu: add sw" dev add name e3 mgmtdev emu/ifcvf-net devargs sw-live-migration=1 || s10_ok=0
	expect_ok "emu: show sw" dev show e3 || s10_ok=0
	grep -q "migration sw logging false" "$TMP/out" || { fail "emu: sw mode not shown: $(cat "$TMP/out")"; s10_ok=0; }
	expect_ok "emu: add plain" dev add name e4 mgmtdev emu/virtio-net port sink || s10_ok=0
	expect_ok "emu: show plain" -j dev show e4 || s10_ok=0
	pyjson "emu: shadow mode" 'd["dev"]["e4"]["migration"] == "shadow" and d["dev"]["e4"]["mgmtdev"] == "emu/virtio-net"' || s10_ok=0
	expect_err "emu: plain is modern" "e5: emu/virtio-net is a modern virtio function without ring-state registers: transitional ids and sw-live-migration do not apply" dev add name e5 mgmtdev emu/virtio-net devargs transitional=1 || s10_ok=0
	expect_ok "emu: del sw" dev del e3 || s10_ok=0
	expect_ok "emu: del plain" dev del e4 || s10_ok=0
	expect_ok "emu: bind e1" dev bind e1 vhost-user "$TMP/e1.sock" || s10_ok=0
	expect_ok "emu: del" dev del e1 || s10_ok=0
	wait_gone "$TMP/e1.sock" || { fail "emu: e1 socket left after dev del"; s10_ok=0; }
	expect_ok "emu: add again" dev add name e1 mgmtdev emu/ifcvf-net || s10_ok=0
	kill -TERM "$EPID"
	rc=0
	wait "$EPID" || rc=$?
	((rc == 0)) || { fail "emu: exit status $rc"; s10_ok=0; }
	[[ ! -e $CTL && ! -e $DEMO ]] || { fail "emu: sockets left behind"; s10_ok=0; }
	if grep -E "ERROR: (Address|Leak|Undefined|Thread)Sanitizer|runtime error" "$TMP/emu.log"; then
		fail "emu: sanitizer report"
		s10_ok=0
	fi
	((s10_ok)) && pass "emu"
fi

exit $FAILED
