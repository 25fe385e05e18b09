#!/usr/bin/env bash
# Integration test of `uvdpa monitor` (events streamed by uvdpad):
#
#   s1_sequence  a text monitor and a JSON monitor (`uvdpa -j monitor`) watch
#                one emulated VF through its life: dev add, a vhost-user
#                session with traffic and dirty logging turned on and off
#                (uvdpa-frontend --log-check --log-toggle), a session whose
#                ring faults (DEVICE_NEEDS_RESET), a tap binding, dev del.
#                Both see the same events in the same order, the JSON lines
#                parse, their seq numbers have no gap, and the expected
#                events appear in order.
#   s2_stalled   a monitor that never reads (a raw client) while 6,000 events
#                are produced: uvdpad keeps answering (`dev show` within
#                1 s), a reading monitor still gets every event, and the
#                stalled one, once it reads, finds a {"lost": N} line and
#                N + what it got = every event. uvdpad's fds are back after.
#
#   test_monitor.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-monitor "${1:-}" uvdpad python3
RAW=$HERE/emu_vf_raw.py

s1_sequence() {
	local sock=$TMP/s1-fa.sock sfx=${RUN_ID: -5}
	start_uvdpad "$SCEN-uvdpad"
	spawn "$SCEN-mon-text" "$UVDPA" -s "$CTL" monitor
	local mt=$LAST_PID
	spawn "$SCEN-mon-json" "$UVDPA" -s "$CTL" -j monitor
	local mj=$LAST_PID
	sleep 0.3
	uv dev add name fa mgmtdev emu/ifcvf-net port loopback || fail "dev add"
	uv dev bind fa vhost-user "$sock" || fail "dev bind"
	"$FRONTEND" --socket "$sock" --count 20000 --log-check --log-toggle --json -q \
		>"$TMP/$SCEN-fe.log" 2>&1 || fail "frontend with logging: $(tail -n 3 "$TMP/$SCEN-fe.log")"
	"$PY" "$RAW" fault "$sock" --kind tx --good-seconds 1 --hold 1 >"$TMP/$SCEN-raw.log" 2>&1 ||
		fail "raw fault frontend: $(tail -n 3 "$TMP/$SCEN-raw.log")"
	uv dev unbind fa || fail "dev unbind"
	uv dev bind fa tap "um${sfx//[^A-Za-z0-9]/x}" || fail "dev bind tap"
	uv dev del fa || fail "dev del"
	wait_for 5 "the monitors saw dev_del" grep -q '"dev_del"' "$TMP/$SCEN-mon-json.log"
	sleep 0.3
	stop_proc "$mt" TERM 5
	stop_proc "$mj" TERM 5
	python3 - "$TMP/$SCEN-mon-json.log" "$TMP/$SCEN-mon-text.log" <<'EOF' || fail "event streams: see above"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
text = [l.rstrip("\n") for l in open(sys.argv[2]) if l.strip()]
names = [e["event"] for e in ev]
print("    events:", " ".join(names))
assert len(text) == len(ev), ("text and json differ in length", len(text), len(ev))
for t, e in zip(text, ev):
    assert t.startswith("[%s] %s" % (e["event"], e["dev"])), (t, e)
seqs = [e["seq"] for e in ev]
assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), ("seq gap", seqs)
assert all(e["dev"] == "fa" for e in ev), "events of another device"
assert all(e["time"].endswith("Z") for e in ev)
want = ["dev_add", "connect", "driver_ok", "log_start", "log_stop", "log_start", "disconnect",
        "connect", "driver_ok", "needs_reset", "disconnect", "connect", "driver_ok",
        "disconnect", "dev_del"]
i = 0
for n in names:
    if i < len(want) and n == want[i]:
        i += 1
assert i == len(want), ("missing in order", want[i:], names)
first = ev[0]
assert first["detail"] == "type net mgmtdev emu/ifcvf-net", first
tap = [e for e in ev if e["event"] == "connect" and "bus tap" in e["detail"]]
assert tap, "no tap connect"
EOF
	info "text and JSON monitors: the same $(wc -l <"$TMP/$SCEN-mon-json.log") events, in order, no seq gap"
	info "text: $(tr '\n' '|' <"$TMP/$SCEN-mon-text.log" | cut -c1-300)"
	stop_uvdpad
}

s2_stalled() {
	local n=3000 i
	UD_EXTRA=--test-mgmtdev start_uvdpad "$SCEN-uvdpad"
	local base
	base=$(settle_counts "$UD_PID")
	spawn "$SCEN-mon-json" "$UVDPA" -s "$CTL" -j monitor
	local mj=$LAST_PID
	# A monitor that sends its request, reads the answer, then sleeps.
	spawn "$SCEN-stalled" python3 -c '
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"{\"argv\": [\"monitor\"], \"json\": true, \"pretty\": false}\n")
buf = b""
while b"\n" not in buf:
    buf += s.recv(4096)
print("ack", buf.split(b"\n")[0].decode(), flush=True)
open(sys.argv[2], "w").close()
while True:
    try:
        open(sys.argv[3]).close()
        break
    except FileNotFoundError:
        time.sleep(0.1)
got, lost, seqs = 0, 0, []
s.settimeout(3)
rest = buf.split(b"\n", 1)[1]
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        break
    if not d:
        break
    rest += d
lines = [l for l in rest.split(b"\n") if l.strip()]
for l in lines:
    o = json.loads(l)
    if "lost" in o:
        lost += o["lost"]
    else:
        got += 1
print("RESULT", json.dumps({"got": got, "lost": lost}), flush=True)
' "$CTL" "$TMP/$SCEN-stalled.ready" "$TMP/$SCEN-stalled.go"
	local sp=$LAST_PID
	wait_for 10 "the stalled monitor's request" test -e "$TMP/$SCEN-stalled.ready"
	sleep 0.3
	for ((i = 0; i < n; i++)); do
		echo "dev add name n$i mgmtdev test/null"
		echo "dev del n$i"
	done >"$TMP/$SCEN.batch"
	local t0 t1 ms
	uv -b "$TMP/$SCEN.batch" >/dev/null || fail "the batch of $((2 * n)) commands failed"
	t0=$(date +%s%N)
	uv dev show >/dev/null || fail "dev show with a stalled monitor"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	((ms < 1000)) || fail "dev show took $ms ms with a stalled monitor"
	wait_for 20 "the reading monitor's $((2 * n)) events" \
		bash -c "(( \$(wc -l <'$TMP/$SCEN-mon-json.log') >= $((2 * n)) ))"
	touch "$TMP/$SCEN-stalled.go"
	wait_exit "$sp" 30 "stalled monitor"
	local res got lost
	res=$(sed -n 's/^RESULT //p' "$TMP/$SCEN-stalled.log")
	got=$(jq_get "$res" got)
	lost=$(jq_get "$res" lost)
	((lost > 0)) || fail "the stalled monitor lost nothing (got $got): the bound did not apply"
	((got + lost == 2 * n)) || fail "the stalled monitor got $got and lost $lost of $((2 * n)) events"
	python3 - "$TMP/$SCEN-mon-json.log" "$((2 * n))" <<'EOF' || fail "the reading monitor missed events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert not any("lost" in e for e in ev), "the reading monitor lost events"
assert len(ev) == int(sys.argv[2]), len(ev)
s = [e["seq"] for e in ev]
assert s == list(range(s[0], s[0] + len(s)))
EOF
	stop_proc "$mj" TERM 5
	expect_counts "$UD_PID" "$base" "after the monitors left"
	info "$((2 * n)) events: the reading monitor got all, the stalled one got $got and was told $lost were lost;" \
		"dev show answered in $ms ms meanwhile"
	stop_uvdpad
}

jq_get() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

run_scenario s1_sequence "text and JSON monitors see a VF's life: sessions, logging, a fault, a tap binding"
run_scenario s2_stalled "a monitor that does not read neither stalls uvdpad nor costs the others events"
lib_finish
