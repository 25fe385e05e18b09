#!/usr/bin/env bash
# Integration test of `uvdpad --metrics ADDR` (Prometheus text format):
#
#   s1_scrape  uvdpad --metrics 127.0.0.1:PORT with two emulated VFs, one
#              carrying uvdpa-frontend traffic; after the traffic stopped,
#              every uvdpa_vq_*_total sample of every queue equals
#              `uvdpa -j dev vstats show` for it; device info, connected,
#              health families present; `promtool check metrics` reports
#              nothing; /other is 404, POST is 405, HEAD is 200.
#   s2_addrs   --metrics :PORT and [::1]:PORT listen; a bad ADDR fails start-up.
#   s3_hostile 30 idle connections, garbage and a 100 KB URL: `dev show`
#              answers within 1 s, a scrape works once they are gone.
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
	UD_EXTRA="--metrics 127.0.0.1:$port" start_uvdpad "$SCEN-uvdpad"
	uv dev add name ma mgmtdev emu/ifcvf-net port loopback || fail "dev add ma"
	uv dev add name mb mgmtdev emu/ifcvf-net port loopback || fail "dev add mb"
	uv dev bind ma vhost-user "$sock" || fail "dev bind"
	"$FRONTEND" --socket "$sock" --count 20000 --json -q >"$TMP/$SCEN-fe.log" 2>&1 ||
		fail "frontend: $(tail -n 3 "$TMP/$SCEN-fe.log")"
	http "http://127.0.0.1:$port/metrics" >"$out.raw" || fail "GET /metrics"
	[[ $(head -n 1 "$out.raw") == 200 ]] || fail "GET /metrics: $(head -n 1 "$out.raw")"
	tail -n +2 "$out.raw" >"$out"
	local q
	for q in 0 1; do
		uv -j dev vstats show ma qidx "$q" >"$TMP/$SCEN-vs$q.json" || fail "vstats ma $q"
	done
	python3 - "$out" "$TMP/$SCEN-vs0.json" "$TMP/$SCEN-vs1.json" <<'EOF' || fail "metrics content: see above"
import json, re, sys
samples = {}
for l in open(sys.argv[1]):
    if l.startswith("#") or not l.strip():
        continue
    m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', l.strip())
    assert m, l
    samples[(m.group(1), m.group(2) or "")] = float(m.group(3))
checked = 0
for q, path in ((0, sys.argv[2]), (1, sys.argv[3])):
    vs = json.load(open(path))["vstats"]["ma"]
    for k, v in vs.items():
        if k in ("queue_type", "queue_index"):
            continue
        name = "uvdpa_vq_%s%s" % (k, "" if k == "in_flight" else "_total")
        key = (name, '{device="ma",queue="%d"}' % q)
        assert key in samples, ("missing", key)
        assert samples[key] == v, (key, samples[key], v)
        checked += 1
assert checked >= 4, checked
assert samples[("uvdpa_vq_packets_total", '{device="ma",queue="1"}')] == 20000
assert samples[("uvdpa_devices", "")] == 2
assert samples[("uvdpa_sessions_connected", "")] == 0
assert samples[("uvdpa_device_connected", '{device="ma"}')] == 0
assert samples[("uvdpa_control_requests_total", "")] >= 3
assert samples[("uvdpa_process_open_fds", "")] > 0
assert samples[("uvdpa_process_resident_memory_bytes", "")] > 0
info = [k for k in samples if k[0] == "uvdpa_device_info"]
assert any('device="ma"' in k[1] and 'bus="vhost-user"' in k[1] and 'mgmtdev="emu/ifcvf-net"' in k[1]
           and 'type="network"' in k[1] for k in info), info
assert any('device="mb"' in k[1] and 'bus=""' in k[1] for k in info), info
print("    %d vq samples match dev vstats show" % checked)
EOF
	local lint
	lint=$("$PROMTOOL" check metrics <"$out" 2>&1) || fail "promtool check metrics: $lint"
	[[ -z $lint ]] || fail "promtool check metrics: $lint"
	info "promtool check metrics: no problems ($(grep -c '^# TYPE' "$out") families, $(grep -vc '^#' "$out") samples)"
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
	uv dev del ma && uv dev del mb || fail "dev del"
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
	local bad
	for bad in 127.0.0.1 127.0.0.1:0 ::1:80 '[::1]' 'x:80' '127.0.0.1:70000'; do
		if "$UVDPAD" -f -s "$TMP/bad.sock" --metrics "$bad" >"$TMP/$SCEN-bad.log" 2>&1; then
			fail "--metrics $bad was accepted"
		fi
		grep -q "metrics" "$TMP/$SCEN-bad.log" || fail "--metrics $bad: $(cat "$TMP/$SCEN-bad.log")"
	done
	info "--metrics :PORT and [::1]:PORT serve; 6 bad addresses refused"
}

s3_hostile() {
	local port
	port=$(free_port)
	UD_EXTRA="--metrics 127.0.0.1:$port" start_uvdpad "$SCEN-uvdpad"
	python3 - "$port" "$UVDPA" "$CTL" <<'EOF' || fail "hostile clients: see above"
import socket, subprocess, sys, time, urllib.request
port = int(sys.argv[1])
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
run_scenario s2_addrs "listen addresses: :PORT, [::1]:PORT, bad ones refused"
run_scenario s3_hostile "idle, garbage and oversized HTTP clients stall neither uvdpad nor later scrapes"
lib_finish
