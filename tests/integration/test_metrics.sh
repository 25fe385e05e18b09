#!/usr/bin/env bash
# Integration test of `uvdpad --metrics ADDR` (Prometheus text format):
#
#   s1_scrape  uvdpad --metrics 127.0.0.1:PORT with two emulated net VFs, one
#              carrying uvdpa-frontend traffic, and an emulated blk VF; after
#              the traffic stopped, every uvdpa_vq_* sample of every queue
#              equals `uvdpa -j dev vstats show` for it (type label =
#              queue_type); device info with its labels for the three; the
#              other device and health families; `promtool check metrics`
#              reports nothing; 20 parallel scrapes are answered while `dev
#              show` answers within 1 s; /other is 404, POST 405, HEAD 200.
#   s2_addrs   --metrics :PORT and [::1]:PORT listen; 15 bad ADDRs are refused
#              (exit 2, a message, no control socket); a port in use fails
#              start-up with "Address already in use".
#   s3_hostile 20 connections (past the 16 served at once) closed while
#              uvdpad is stopped, so that it sees them all go in one round:
#              a scrape works after; 30 idle connections, garbage and a 100
#              KB URL: `dev show` answers within 1 s, a scrape works once they
#              are gone.
#
#   test_metrics.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-metrics "${1:-}" uvdpad python3
need_program PROMTOOL promtool "install the Debian package prometheus (scripts/install-deps.sh)"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http URL [METHOD]: prints "CODE" then the body.
http() {
	python3 - "$1" "${2:-GET}" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status); sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}

# http_code URL [METHOD]: prints the status code only.
http_code() { http "$@" >"$TMP/http.out"; head -n 1 "$TMP/http.out"; }

s1_scrape() {
	local port sock=$TMP/s1-ma.sock out=$TMP/$SCEN.prom
	port=$(free_port)
	truncate -s 16M "$TMP/s1-bk.img"
	UD_EXTRA="--metrics 127.0.0.1:$port" start_uvdpad "$SCEN-uvdpad"
	uv dev add name ma mgmtdev emu/ifcvf-net port loopback || fail "dev add ma"
	uv dev add name mb mgmtdev emu/ifcvf-net port loopback || fail "dev add mb"
	uv dev add name bk mgmtdev emu/ifcvf-blk file "$TMP/s1-bk.img" num_queues 2 ||
		fail "dev add bk"
	uv dev bind ma vhost-user "$sock" || fail "dev bind"
	"$FRONTEND" --socket "$sock" --count 20000 --json -q >"$TMP/$SCEN-fe.log" 2>&1 ||
		fail "frontend: $(tail -n 3 "$TMP/$SCEN-fe.log")"
	http "http://127.0.0.1:$port/metrics" >"$out.raw" || fail "GET /metrics"
	[[ $(head -n 1 "$out.raw") == 200 ]] || fail "GET /metrics: $(head -n 1 "$out.raw")"
	tail -n +2 "$out.raw" >"$out"
	# Every queue of every device against `uvdpa -j dev vstats show`.
	python3 - "$out" "$UVDPA" "$CTL" "$sock" <<'PY' || fail "metrics content: see above"
import json, re, subprocess, sys
prom, uvdpa, ctl, sock = sys.argv[1:5]
def uv(*args):
    return json.loads(subprocess.run([uvdpa, "-s", ctl, "-j"] + list(args), check=True,
                                     capture_output=True, text=True).stdout)
samples = {}
for l in open(prom):
    if l.startswith("#") or not l.strip():
        continue
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', l.strip())
    assert m, l
    samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
devs = uv("dev", "show")["dev"]
assert sorted(devs) == ["bk", "ma", "mb"], devs
checked = 0
for d, attrs in devs.items():
    for q in range(attrs["max_vqs"]):
        vs = uv("dev", "vstats", "show", d, "qidx", str(q))["vstats"][d]
        qt = vs.get("queue_type", "request")
        for k, v in vs.items():
            if k in ("queue_type", "queue_index"):
                continue
            name = "uvdpa_vq_%s%s" % (k, "" if k == "in_flight" else "_total")
            key = (name, '{device="%s",queue="%d",type="%s"}' % (d, q, qt))
            assert key in samples, ("missing", key)
            assert samples[key] == v, (key, samples[key], v)
            checked += 1
    dl = '{device="%s"}' % d
    assert samples[("uvdpa_device_needs_reset", dl)] == 0, d
    assert samples[("uvdpa_device_logging", dl)] == 0, d
    mode = '{device="%s",mode="%s"}' % (d, attrs["migration"])
    assert samples[("uvdpa_device_migration_info", mode)] == 1, d
assert checked >= 30, checked
nvq = sum(1 for k in samples if k[0].startswith("uvdpa_vq_"))
assert nvq == checked, (nvq, checked)    # nothing beyond what vstats shows
assert samples[("uvdpa_vq_packets_total", '{device="ma",queue="1",type="tx"}')] == 20000
assert samples[("uvdpa_vq_packets_total", '{device="ma",queue="0",type="rx"}')] == 20000
assert samples[("uvdpa_devices", "")] == 3
assert samples[("uvdpa_sessions_connected", "")] == 0
assert samples[("uvdpa_device_connected", '{device="ma"}')] == 0
assert samples[("uvdpa_control_requests_total", "")] >= 4
assert samples[("uvdpa_metrics_scrapes_total", "")] == 1
assert samples[("uvdpa_events_lost_total", "")] == 0
assert samples[("process_open_fds", "")] > 0
assert samples[("process_resident_memory_bytes", "")] > 0
assert samples[("process_threads", "")] >= 2
assert samples[("uvdpa_uptime_seconds", "")] > 0
assert any(k[0] == "uvdpa_build_info" and 'version="' in k[1] for k in samples)
info = sorted(k[1] for k in samples if k[0] == "uvdpa_device_info")
lab = '{device="%s",type="%s",mgmtdev="emu/ifcvf-%s",driver="ifcvf",bus="%s",path="%s"}'
want = [lab % ("bk", "block", "blk", "", ""),
        lab % ("ma", "network", "net", "vhost-user", sock),
        lab % ("mb", "network", "net", "", "")]
assert info == want, info
print("    %d vq samples of 3 devices match dev vstats show; info of all three" % checked)
PY
	local lint
	lint=$("$PROMTOOL" check metrics <"$out" 2>&1) || fail "promtool check metrics: $lint"
	[[ -z $lint ]] || fail "promtool check metrics: $lint"
	info "promtool check metrics: no problems ($(grep -c '^# TYPE' "$out") families, $(grep -vc '^#' "$out") samples)"
	# 20 scrapes at once: all answered, and the control socket meanwhile.
	python3 - "$port" "$UVDPA" "$CTL" <<'PY' || fail "parallel scrapes: see above"
import subprocess, sys, threading, time, urllib.request
port, uvdpa, ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
codes = []
def scrape():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        r.read()
        codes.append(r.status)
ts = [threading.Thread(target=scrape) for _ in range(20)]
for t in ts:
    t.start()
shows, slowest = 0, 0.0
while any(t.is_alive() for t in ts) or shows < 3:
    t0 = time.time()
    subprocess.run([uvdpa, "-s", ctl, "dev", "show"], check=True, capture_output=True, timeout=5)
    slowest = max(slowest, time.time() - t0)
    shows += 1
for t in ts:
    t.join()
assert codes == [200] * 20, codes
assert slowest < 1, "dev show took %.3f s" % slowest
print("    20 parallel scrapes answered; %d dev show meanwhile, slowest %d ms"
      % (shows, slowest * 1000))
PY
	# A session in progress shows as connected.
	"$FRONTEND" --socket "$sock" --count 2000000 --json -q >"$TMP/$SCEN-fe2.log" 2>&1 &
	local fe=$!
	wait_for 10 "a connected session in /metrics" bash -c \
		"python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:$port/metrics\").read().decode())' | grep -q '^uvdpa_sessions_connected 1'"
	kill "$fe" 2>/dev/null || true
	wait "$fe" 2>/dev/null || true
	local code
	code=$(http_code "http://127.0.0.1:$port/other")
	[[ $code == 404 ]] || fail "/other: $code, not 404"
	code=$(http_code "http://127.0.0.1:$port/metrics" POST)
	[[ $code == 405 ]] || fail "POST /metrics: $code, not 405"
	code=$(http_code "http://127.0.0.1:$port/metrics" HEAD)
	[[ $code == 200 ]] || fail "HEAD /metrics: $code, not 200"
	uv dev show >/dev/null || fail "uvdpad answers after the scrapes"
	local d
	for d in ma mb bk; do
		uv dev del "$d" || fail "dev del $d"
	done
	stop_uvdpad
}

s2_addrs() {
	local port code
	port=$(free_port)
	UD_EXTRA="--metrics :$port" start_uvdpad "$SCEN-any"
	code=$(http_code "http://127.0.0.1:$port/metrics")
	[[ $code == 200 ]] || fail ":$port over IPv4: $code"
	stop_uvdpad
	if [[ -e /proc/net/if_inet6 ]]; then
		port=$(free_port)
		UD_EXTRA="--metrics [::1]:$port" start_uvdpad "$SCEN-v6"
		code=$(http_code "http://[::1]:$port/metrics")
		[[ $code == 200 ]] || fail "[::1]:$port: $code"
		stop_uvdpad
	fi
	# Refused before anything starts: exit status 2 and a message saying why.
	local bad rc n=0 held
	for bad in 1.2.3 :99999 127.0.0.1 127.0.0.1:0 ::1:80 '[::1]' '[]:80' 'x:80' \
		localhost:9464 '127.0.0.1:70000' ':+80' ' :80' '1.2.3.4.5:80' '[1.2.3.4]:80' ''; do
		rc=0
		"$UVDPAD" -f -s "$TMP/bad.sock" --metrics "$bad" >"$TMP/$SCEN-bad.log" 2>&1 || rc=$?
		((rc == 2)) || fail "--metrics '$bad': exit status $rc, not 2"
		grep -qF -- "uvdpad: --metrics $bad: " "$TMP/$SCEN-bad.log" ||
			fail "--metrics '$bad': $(cat "$TMP/$SCEN-bad.log")"
		[[ -e $TMP/bad.sock ]] && fail "--metrics '$bad': control socket created"
		[[ $bad == :99999 || $bad == 1.2.3 ]] && info "$(head -n 1 "$TMP/$SCEN-bad.log")"
		n=$((n + 1))
	done
	info "--metrics :PORT and [::1]:PORT serve; $n bad addresses refused with exit status 2"
	# A port in use: start-up fails saying so, and leaves nothing behind.
	exec {held}< <(python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)')
	local holder=$!
	read -r port <&"$held" || fail "no port held"
	rc=0
	"$UVDPAD" -f -s "$TMP/taken.sock" --metrics "127.0.0.1:$port" >"$TMP/$SCEN-taken.log" 2>&1 ||
		rc=$?
	exec {held}<&-
	kill "$holder" 2>/dev/null || true
	((rc != 0)) || fail "--metrics on a port in use started"
	grep -q "uvdpad: --metrics 127.0.0.1:$port: cannot listen: Address already in use" \
		"$TMP/$SCEN-taken.log" || fail "port in use: $(cat "$TMP/$SCEN-taken.log")"
	[[ -e $TMP/taken.sock ]] && fail "port in use: control socket left behind"
	info "a port in use: exit status $rc, $(grep -m1 'cannot listen' "$TMP/$SCEN-taken.log")"
}

s3_hostile() {
	local port
	port=$(free_port)
	UD_EXTRA="--metrics 127.0.0.1:$port" start_uvdpad "$SCEN-uvdpad"
	python3 - "$port" "$UVDPA" "$CTL" "$UD_PID" <<'EOF' || fail "hostile clients: see above"
import os, signal, socket, subprocess, sys, time, urllib.request
port = int(sys.argv[1])
# The connection limit left in one run: every served connection closes
# while uvdpad is stopped, so one MHD run sees them all go. The listening
# socket, out of MHD's epoll set at the limit, must still come back.
held = [socket.create_connection(("127.0.0.1", port)) for i in range(20)]
time.sleep(0.3)
os.kill(int(sys.argv[4]), signal.SIGSTOP)
try:
    for s in held:
        s.close()
    time.sleep(0.2)
finally:
    os.kill(int(sys.argv[4]), signal.SIGCONT)
time.sleep(0.3)
t = time.time()
assert urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).status == 200
print("    20 connections closed in one round: a scrape after in %d ms" % ((time.time() - t) * 1000))
idle = []
for i in range(30):          # more than the 16 connections served at once
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        idle.append(s)
    except OSError:
        pass
g = socket.create_connection(("127.0.0.1", port))
g.sendall(b"\x00\xff garbage\r\n\r\n" * 100)
h = socket.create_connection(("127.0.0.1", port))
h.sendall(b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n")
t = time.time()
subprocess.run([sys.argv[2], "-s", sys.argv[3], "dev", "show"], check=True, capture_output=True, timeout=5)
ms = (time.time() - t) * 1000
assert ms < 1000, "dev show took %d ms" % ms
for s in idle + [g, h]:
    s.close()
time.sleep(0.3)
assert urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).status == 200
print("    30 idle connections, garbage, a 100 KB URL: dev show in %d ms, a scrape after" % ms)
EOF
	stop_uvdpad
}

run_scenario s1_scrape "/metrics matches dev vstats, promtool finds nothing, 404/405/HEAD"
run_scenario s2_addrs "listen addresses: :PORT, [::1]:PORT; bad ones and a port in use refused"
run_scenario s3_hostile "idle, garbage and oversized HTTP clients stall neither uvdpad nor later scrapes"
lib_finish
