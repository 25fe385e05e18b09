#!/usr/bin/env bash
# Integration test: uvdpa-frontend (the VM side) against DPDK's own vhost
# backend (testpmd net_vhost, io forwarding loops every packet back).
#
#   test_frontend_dpdk_vhost.sh BUILD_DIR
#
# Scenarios (each prints PASS/FAIL; the script fails if any fails):
#   client   frontend connects to testpmd's socket: 200000 mixed-size frames
#            all verified; legacy with and without MRG_RXBUF (12/10-byte
#            headers); 2 queue pairs over 4 memory regions with split
#            headers; a reconnect test; negotiate-only
#   negative the backend is killed mid-run and --no-reconnect is given: the
#            frontend must fail (proves the tool can fail)
#   server   testpmd client=1 connects to the listening frontend: traffic,
#            then the frontend drops the session and accepts the reconnect
#   rates    64-byte and 1518-byte runs of a few seconds: pps reported
set -euo pipefail

# Only the prerequisite checks of lib.sh are used here.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_build_dir "${1:-}"
FE=$FRONTEND
need_built "$FE"
need_program TESTPMD dpdk-testpmd "$HINT_DPDK"

TMP=$(mktemp -d /tmp/uvdpa-fe-dpdk.XXXXXX)
RUN_ID=fe$$
PIDS=()
FAILED=()
PASSED=0

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -INT "$p" 2>/dev/null || true
	done
	sleep 0.5
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP" /var/run/dpdk/"$RUN_ID"-* 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The frontend on core 0, away from testpmd's forwarding core 1.
PIN=()
if command -v taskset >/dev/null; then
	PIN=(taskset -c 0)
fi

pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED+=("$*"); }

# jget JSON_LINE KEY: a number or string value from the frontend's JSON line.
jget() { sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" <<<"$1"; }

# start_testpmd NAME VDEV_ARGS: testpmd with a vhost port; sets TP_PID, TP_LOG.
start_testpmd() {
	local name=$1 vdev=$2
	TP_LOG=$TMP/testpmd-$name.log
	"$TESTPMD" -l 0,1 --no-pci --no-huge -m 512 --file-prefix="$RUN_ID-$name" \
		--vdev "net_vhost0,$vdev" -- --auto-start --stats-period=1 \
		--forward-mode=io --rxq=2 --txq=2 --total-num-mbufs=16384 \
		</dev/null >"$TP_LOG" 2>&1 &
	TP_PID=$!
	PIDS+=("$TP_PID")
}

# wait_forwarding: testpmd's port is started (avoids DPDK's client-mode race
# where a connection made before port start never forwards).
wait_forwarding() {
	local i
	for ((i = 0; i < 300; i++)); do
		if grep -qa "start packet forwarding" "$TP_LOG"; then
			return 0
		fi
		if ! kill -0 "$TP_PID" 2>/dev/null; then
			echo "testpmd exited early:"; tail -20 "$TP_LOG"
			return 1
		fi
		sleep 0.1
	done
	echo "testpmd did not start forwarding in 30 s:"; tail -20 "$TP_LOG"
	return 1
}

stop_testpmd() {
	kill -INT "$TP_PID" 2>/dev/null || true
	local i
	for ((i = 0; i < 50; i++)); do
		kill -0 "$TP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$TP_PID" 2>/dev/null || true
	wait "$TP_PID" 2>/dev/null || true
}

# Sanitizer builds: stop at the first report so the exit status shows it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1}

# sanitizer_clean FILE: no ASan/UBSan/LSan report in the frontend's output.
sanitizer_clean() {
	! grep -qE 'runtime error:|AddressSanitizer|LeakSanitizer' "$1"
}

# run_fe NAME EXPECT_RC ARGS...: runs the frontend with --json; sets JSON.
run_fe() {
	local name=$1 expect=$2 rc=0
	shift 2
	"${PIN[@]}" "$FE" --json -q "$@" >"$TMP/fe-$name.out" 2>&1 || rc=$?
	JSON=$(grep '^{' "$TMP/fe-$name.out" || true)
	if [[ $rc -ne $expect ]] || ! sanitizer_clean "$TMP/fe-$name.out"; then
		fail "$name: exit $rc, expected $expect (or a sanitizer report)"
		sed 's/^/    /' "$TMP/fe-$name.out"
		return 1
	fi
	return 0
}

# check_json NAME KEY VALUE: the last run's JSON has KEY == VALUE.
check_json() {
	local got
	got=$(jget "$JSON" "$2")
	if [[ $got != "$3" ]]; then
		fail "$1: $2 is '$got', expected '$3'"
		return 1
	fi
}

traffic_ok() {
	local name=$1 count=$2
	check_json "$name" result pass && check_json "$name" tx_pkts "$count" &&
		check_json "$name" rx_pkts "$count" && check_json "$name" rx_bad 0 &&
		check_json "$name" rx_lost 0 && check_json "$name" rx_ooo 0
}

# ---- client mode: testpmd is the server ----
SOCK=$TMP/vhost.sock
start_testpmd client "iface=$SOCK,queues=2"
wait_forwarding || { fail "testpmd (server) did not start"; exit 1; }

N=200000
if run_fe mixed 0 --socket "$SOCK" --count $N --size 64-1518; then
	traffic_ok mixed $N && check_json mixed net_hdr_len 12 && pass "client: $N mixed-size frames verified ($(jget "$JSON" rx_pps) pps)"
fi
if run_fe legacy 0 --socket "$SOCK" --legacy --count $N --size 64-1518; then
	traffic_ok legacy $N && check_json legacy net_hdr_len 12 &&
		pass "client: legacy guest with MRG_RXBUF (12-byte header)"
fi
if run_fe legacy-nomrg 0 --socket "$SOCK" --legacy --no-mrg-rxbuf --count $N --size 64-1518; then
	traffic_ok legacy-nomrg $N && check_json legacy-nomrg net_hdr_len 10 &&
		pass "client: legacy guest without MRG_RXBUF (10-byte header)"
fi
if run_fe mq 0 --socket "$SOCK" --queues 2 --regions 4 --split-hdr --count $N --size 60-1518; then
	traffic_ok mq $N && check_json mq queue_pairs 2 && check_json mq regions 4 &&
		pass "client: 2 queue pairs, 4 memory regions, split headers"
fi
if run_fe small-bufs 0 --socket "$SOCK" --rx-buf-size 512 --count 50000 --size 64-1518; then
	traffic_ok small-bufs 50000 && pass "client: frames merged over 512-byte RX buffers"
fi
if run_fe reconnect 0 --socket "$SOCK" --reconnect-test --count $N --size 64-1518; then
	traffic_ok reconnect $N && check_json reconnect sessions 2 &&
		pass "client: teardown, reconnect and renegotiate"
fi
if run_fe negotiate 0 --socket "$SOCK" --negotiate-only --seconds 1; then
	check_json negotiate result pass && check_json negotiate sessions 1 &&
		pass "client: negotiate-only"
fi

# ---- negative: the backend goes away and reconnecting is not allowed ----
"${PIN[@]}" "$FE" --json -q --socket "$SOCK" --seconds 20 --size 64 --no-reconnect \
	>"$TMP/fe-negative.out" 2>&1 &
FE_PID=$!
PIDS+=("$FE_PID")
sleep 2
stop_testpmd
rc=0
wait "$FE_PID" || rc=$?
if [[ $rc -eq 1 ]] && grep -q '"result":"fail"' "$TMP/fe-negative.out" &&
	sanitizer_clean "$TMP/fe-negative.out"; then
	pass "negative: backend killed mid-run, frontend failed as it must"
else
	fail "negative: frontend exit $rc after its backend died"
	sed 's/^/    /' "$TMP/fe-negative.out"
fi

# ---- server mode: testpmd connects to us (client=1) ----
SSOCK=$TMP/vhost-server.sock
start_testpmd server "iface=$SSOCK,queues=2,client=1"
wait_forwarding || { fail "testpmd (client) did not start"; exit 1; }
if run_fe server 0 --server --socket "$SSOCK" --timeout 30 --reconnect-test --count $N \
	--size 64-1518; then
	traffic_ok server $N && check_json server sessions 2 &&
		pass "server: backend connected, traffic, session dropped and re-accepted"
fi
[[ -e $SSOCK ]] && fail "server: socket file left behind"
stop_testpmd

# ---- rates (reported, not asserted: the machine is shared) ----
RSOCK=$TMP/vhost-rates.sock
start_testpmd rates "iface=$RSOCK,queues=2"
wait_forwarding || { fail "testpmd (rates) did not start"; exit 1; }
RATES=()
for size in 64 1518; do
	args=(--socket "$RSOCK" --seconds 3 --size $size --qsize 1024)
	out=$TMP/fe-rate-$size.try1
	rc=0
	"${PIN[@]}" "$FE" --json -q "${args[@]}" >"$out" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		if ! sanitizer_clean "$out"; then
			fail "rate-$size: sanitizer report"
			sed 's/^/    /' "$out"
			continue
		fi
		# Seen rarely on a loaded machine: testpmd stops taking frames
		# from the TX ring for the rest of a session. Say so, retry once.
		echo "WARN: rate-$size failed once (exit $rc), retrying:"
		grep -E 'missing|avail|result' "$out" | sed 's/^/    /'
		run_fe rate-$size 0 "${args[@]}" || continue
	else
		JSON=$(grep '^{' "$out")
	fi
	check_json rate-$size result pass &&
		RATES+=("$size B: tx $(jget "$JSON" tx_pps) pps, rx $(jget "$JSON" rx_pps) pps, $(jget "$JSON" rx_gbps) Gbit/s")
done
stop_testpmd
for r in "${RATES[@]}"; do
	echo "RATE: $r"
done

echo "${PASSED} passed, ${#FAILED[@]} failed"
if [[ ${#FAILED[@]} -ne 0 ]]; then
	printf 'failed: %s\n' "${FAILED[@]}"
	exit 1
fi
