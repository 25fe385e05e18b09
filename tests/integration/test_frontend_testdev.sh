#!/usr/bin/env bash
# The frontend tool against uvdpa's own vhost-user backend (uvdpa-testdev with
# its loopback datapath), in both connection modes:
#   client   the frontend connects: mixed-size traffic verified, a legacy
#            (no VERSION_1) guest, memory through ADD_MEM_REG over 4 regions
#            with a region removed and re-added between two traffic phases,
#            and a clean teardown + reconnect + renegotiation (--reconnect-test)
#   server   the frontend listens and the testdev connects (--client); the
#            testdev is killed mid-run and restarted: it reconnects by itself,
#            the frontend renegotiates and finishes with every frame verified
# Usage: test_frontend_testdev.sh BUILD_DIR
set -uo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
FE=$BUILD/tools/uvdpa-frontend
TD=$BUILD/tests/backend/uvdpa-testdev
for b in "$FE" "$TD"; do [ -x "$b" ] || { echo "FAIL: $b not built"; exit 1; }; done
TMP=$(mktemp -d /tmp/uvdpa-fe-td.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
passed=0
failed=0
result() { # NAME RC
	if [ "$2" -eq 0 ]; then echo "PASS: $1"; passed=$((passed + 1));
	else echo "FAIL: $1"; failed=$((failed + 1)); fi
}

start_testdev() { # SOCK LOG [args]
	local sock=$1 log=$2
	shift 2
	"$TD" --socket "$sock" --loopback "$@" >"$log" 2>&1 &
	pids+=($!)
	td_pid=$!
}

wait_socket() {
	for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done
	return 1
}

# figure JSON-LINE KEY
figure() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

run_fe() { # NAME fe-args...
	local name=$1 out
	shift
	out=$("$FE" --json -q "$@" 2>"$TMP/$name.err")
	local rc=$?
	local js
	js=$(printf '%s\n' "$out" | grep '^{' | tail -1)
	if [ $rc -eq 0 ] && [ -n "$js" ]; then
		echo "   $name: rx $(figure "$js" rx_pkts) frames, bad $(figure "$js" rx_bad)," \
			"lost $(figure "$js" rx_lost), $(figure "$js" rx_pps) pps, $(figure "$js" gbps) Gbit/s"
	else
		tail -5 "$TMP/$name.err"
		printf '%s\n' "$out" | tail -5
	fi
	return $rc
}

# ---- client mode ----
sock=$TMP/td.sock
start_testdev "$sock" "$TMP/td-client.log" --record "$TMP/client.rec"
wait_socket "$sock" || { echo "FAIL: testdev did not listen"; exit 1; }
run_fe mixed --socket "$sock" --count 200000 --size 60-1514; result "client: 200000 mixed-size frames" $?
run_fe legacy --socket "$sock" --legacy --count 50000 --size 60-1514; result "client: legacy guest" $?
run_fe memslots --socket "$sock" --mem-slots --regions 4 --mem-replug --count 50000 --size 60-1514
result "client: ADD/REM_MEM_REG over 4 regions with a replug" $?
run_fe reconnect --socket "$sock" --reconnect-test --count 20000; result "client: teardown and reconnect" $?
conf=$(grep -c '^dev_conf$' "$TMP/client.rec")
close=$(grep -c '^dev_close$' "$TMP/client.rec")
# Each session configures and closes; the replug closes and reconfigures once more.
[ "$conf" -ge 5 ] && [ "$conf" -eq "$close" ]
result "client: every dev_conf has its dev_close ($conf/$close)" $?

# ---- server mode with a backend restart ----
ssock=$TMP/fe.sock
"$FE" --socket "$ssock" --server --json -q --seconds 5 --size 60-1514 --timeout 30 \
	>"$TMP/server.out" 2>"$TMP/server.err" &
fe_pid=$!
pids+=($fe_pid)
wait_socket "$ssock" || echo "   frontend socket did not appear"
start_testdev "$ssock" "$TMP/td-server1.log" --client --record "$TMP/server1.rec"
first=$td_pid
for _ in $(seq 100); do grep -q '^dev_conf' "$TMP/server1.rec" 2>/dev/null && break; sleep 0.05; done
sleep 1
{ kill -KILL "$first"; wait "$first"; } 2>/dev/null
start_testdev "$ssock" "$TMP/td-server2.log" --client --record "$TMP/server2.rec"
wait "$fe_pid"
rc=$?
js=$(grep '^{' "$TMP/server.out" | tail -1)
if [ $rc -eq 0 ] && [ -n "$js" ]; then
	echo "   server: sessions $(figure "$js" sessions), rx $(figure "$js" rx_pkts) frames," \
		"bad $(figure "$js" rx_bad), lost $(figure "$js" rx_lost), dropped at the restart $(figure "$js" reset_drops)"
	[ "$(figure "$js" sessions)" -ge 2 ] || rc=1
else
	tail -5 "$TMP/server.err"
fi
grep -q '^dev_conf' "$TMP/server2.rec" 2>/dev/null || rc=1
result "server: backend killed and restarted, it reconnects, traffic resumes verified" $rc

echo "frontend-testdev: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
