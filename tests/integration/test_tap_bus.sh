#!/usr/bin/env bash
# Integration test of the tap bus driver (`uvdpa dev bind NAME tap IFNAME`):
# uvdpa is the virtio driver of an emulated VF and the host kernel uses the
# VF as a network interface.
#
#   s1_netns   two emulated VFs wired with `port pair:NAME` (mtu 4000), each
#              bound to a tap moved into a network namespace of its own:
#              the taps carry the VFs' MACs and MTU; ping both ways (56 and
#              3000 bytes: a 3 KiB frame spans two 2 KiB RX buffers, the
#              MRG_RXBUF path), then an iperf3 TCP run from one namespace to
#              the other whose throughput is reported; the VFs' vstats count
#              the frames; `dev set link down/up` turns the tap's carrier
#              off and on again.
#   s2_rebind  a VF moves from tap to vhost-user (uvdpa-frontend sends 20,000
#              frames through it, which arrive on the other VF's tap) and
#              back to tap (ping works again); unbind removes the interface;
#              dev del and SIGTERM remove the interfaces; fds and mappings
#              are back where they were.
#   s4_offloads two VFs with devargs offloads=1 (checksum and TSO): the taps
#              negotiate them and TSO frames cross the pair whole (iperf3,
#              > 3000 bytes per frame on both ends); toward a receiver
#              without offloads the sender's TSO frames are cut in software
#              (<= 1514 bytes on arrival, TCP still flows); an offloads=1 VF
#              on its own tap port, without vnet_hdr (cut) and with it.
#   s5_multiqueue two VFs with 4 queue pairs and a control queue: the tap has
#              min(4, CPUs) queues, the device took one VQ_PAIRS_SET, and
#              an iperf3 run with 16 flows sends frames on every TX queue.
#   s6_removed the interface of a bound VF is deleted from outside (its
#              network namespace is deleted): uvdpad neither spins (under
#              20 % of a CPU over 1 s) nor floods its log (one warning);
#              unbind and a new bind recreate it.
#   s3_refused a blk device, a bad interface name, an interface that is not
#              a tap and a second bind are refused with a message, and
#              leave nothing behind.
#
#   test_tap_bus.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-tap-bus "${1:-}" uvdpad
for p in ip ping iperf3 python3; do
	command -v "$p" >/dev/null || { echo "FAIL: $p not found (bash scripts/install-deps.sh)"; exit 1; }
done

SUF=${RUN_ID: -6}
SUF=${SUF//[^A-Za-z0-9]/x}
NSA=uvtap-$SUF-a
NSB=uvtap-$SUF-b
TAPA=ut${SUF}a
TAPB=ut${SUF}b

cleanup_ns() {
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
}
trap 'rc=$?; cleanup_ns; (exit $rc); global_cleanup' EXIT

# link_field NS IF FIELD: a field of `ip -j link show` (e.g. address, mtu, operstate).
link_field() {
	local ns=$1 ifn=$2 field=$3
	ip -n "$ns" -j link show "$ifn" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get(sys.argv[1], ""))' "$field"
}
has_carrier() {
	local flags
	flags=$(ip -n "$1" -j link show "$2" | python3 -c 'import json,sys; print(",".join(json.load(sys.stdin)[0]["flags"]))')
	[[ $flags != *NO-CARRIER* ]]
}
no_carrier() { ! has_carrier "$@"; }
tap_rx_since() {	# NS TAP BASE N: at least N frames received since BASE
	(($(ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets") - $3 >= $4))
}

# netns_up DEV NS TAP IP: moves the tap into NS and brings it up with IP/24.
netns_up() {
	ip link set "$1" netns "$2"
	ip -n "$2" addr add "$3/24" dev "$1"
	ip -n "$2" link set "$1" up
}

ping_ok() {	# NS DST SIZE COUNT
	ip netns exec "$1" ping -c "$4" -i 0.2 -W 2 -s "$3" -M do "$2" >"$TMP/$SCEN-ping.log" 2>&1 ||
		fail "ping from $1 to $2 (size $3): $(tail -n 2 "$TMP/$SCEN-ping.log" | tr '\n' ' ')"
	local got
	got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$TMP/$SCEN-ping.log")
	((got == $4)) || fail "ping from $1 to $2 (size $3): $got of $4 replies"
}

# iperf_run CLIENT_NS SERVER_IP SERVER_NS PORT SECONDS: one iperf3 TCP run;
# sets IPERF_GBPS, IPERF_BYTES, IPERF_RETR, IPERF_SECS; fails below 10 MB.
iperf_run() {
	local cns=$1 ip=$2 sns=$3 port=$4 secs=$5 res
	ip netns exec "$sns" iperf3 -s -1 -p "$port" >"$TMP/$SCEN-iperf-server-$port.log" 2>&1 &
	echo $! >>"$TMP/scenario.pids"
	wait_for 5 "iperf3 server on $port" ip netns exec "$sns" sh -c "ss -ltn | grep -q ':$port '"
	ip netns exec "$cns" timeout 60 iperf3 -c "$ip" -p "$port" -t "$secs" -J \
		>"$TMP/$SCEN-iperf-$port.json" 2>"$TMP/$SCEN-iperf-$port.err" ||
		fail "iperf3 client to $ip:$port: $(cat "$TMP/$SCEN-iperf-$port.err")"
	res=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["end"]
s, c = r["sum_sent"], r["sum_received"]
print("%d %.3f %d %.1f" % (c["bytes"], c["bits_per_second"] / 1e9, s.get("retransmits", 0), c["seconds"]))
' "$TMP/$SCEN-iperf-$port.json") || fail "iperf3 output unreadable"
	read -r IPERF_BYTES IPERF_GBPS IPERF_RETR IPERF_SECS <<<"$res"
	((IPERF_BYTES > 10000000)) || fail "iperf3 to $ip:$port moved only $IPERF_BYTES bytes"
}

# avg_frame DEV QIDX: bytes per frame in the device's queue counters.
avg_frame() { echo $(($(vstat "$1" "$2" bytes) / ($(vstat "$1" "$2" packets) + 1))); }

s1_netns() {
	cleanup_ns
	ip netns add "$NSA"
	ip netns add "$NSB"
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name ta mgmtdev emu/ifcvf-net mac 02:54:00:00:00:0a mtu 4000 port pair:$SCEN" \
		"dev add name tb mgmtdev emu/ifcvf-net mac 02:54:00:00:00:0b mtu 4000 port pair:$SCEN"
	uv dev bind ta tap "$TAPA" || fail "dev bind ta tap $TAPA"
	uv dev bind tb tap "$TAPB" || fail "dev bind tb tap $TAPB"
	uv -j dev show ta >"$TMP/$SCEN-show.json"
	python3 - "$TMP/$SCEN-show.json" "$TAPA" <<'EOF' || fail "dev show ta: $(cat "$TMP/$SCEN-show.json")"
import json, sys
d = json.load(open(sys.argv[1]))["dev"]["ta"]
assert d["bound"] == "tap" and d["path"] == sys.argv[2] and d["connected"] is True, d
EOF
	netns_up "$TAPA" "$NSA" 10.231.0.1
	netns_up "$TAPB" "$NSB" 10.231.0.2
	local mac mtu
	mac=$(link_field "$NSA" "$TAPA" address)
	mtu=$(link_field "$NSA" "$TAPA" mtu)
	[[ $mac == 02:54:00:00:00:0a && $mtu == 4000 ]] ||
		fail "$TAPA has MAC $mac MTU $mtu, expected the VF's 02:54:00:00:00:0a and 4000"
	wait_for 5 "carrier on $TAPA" has_carrier "$NSA" "$TAPA"
	ping_ok "$NSA" 10.231.0.2 56 5
	ping_ok "$NSB" 10.231.0.1 56 5
	ping_ok "$NSA" 10.231.0.2 3000 5
	info "ping both ways (56 and 3000 bytes): every reply back"

	iperf_run "$NSA" 10.231.0.2 "$NSB" 5211 "${UVDPA_TAP_IPERF_SECONDS:-4}"
	local bytes=$IPERF_BYTES
	info "iperf3 TCP $NSA -> $NSB: $IPERF_GBPS Gbit/s received over $IPERF_SECS s ($bytes bytes, $IPERF_RETR retransmits)"
	echo "tap bus iperf3 TCP between namespaces over two emulated VFs, MTU 4000, no offloads: $IPERF_GBPS Gbit/s ($IPERF_RETR retransmits)" >>"$TMP/rates"
	local vtx vrx
	vtx=$(vstat ta 1 packets)
	vrx=$(vstat tb 0 packets)
	((vtx > bytes / 4000 && vrx >= vtx - 1000)) ||
		fail "vstats: ta tx packets $vtx, tb rx packets $vrx for $bytes bytes"
	info "vstats: ta tx $vtx frames, tb rx $vrx frames"

	uv dev set name ta link down || fail "dev set link down"
	wait_for 5 "no carrier on $TAPA" no_carrier "$NSA" "$TAPA"
	uv dev set name ta link up || fail "dev set link up"
	wait_for 5 "carrier back on $TAPA" has_carrier "$NSA" "$TAPA"
	ping_ok "$NSA" 10.231.0.2 56 2
	info "dev set link down/up: carrier off and on, ping works after"
	grep -q ERR "$UD_LOG" && fail "uvdpad logged an error: $(grep ERR "$UD_LOG" | head -3)"
	stop_uvdpad
	ip -n "$NSA" link show "$TAPA" >/dev/null 2>&1 && fail "$TAPA still exists after uvdpad ended"
	cleanup_ns
}

s2_rebind() {
	cleanup_ns
	ip netns add "$NSB"
	local sock=$TMP/$SCEN-ta.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name ta mgmtdev emu/ifcvf-net mac 02:54:00:00:01:0a port pair:$SCEN" \
		"dev add name tb mgmtdev emu/ifcvf-net mac 02:54:00:00:01:0b port pair:$SCEN"
	local base
	base=$(settle_counts "$UD_PID")
	local threads0 threads1
	threads0=$(awk '/^Threads:/ { print $2 }' "/proc/$UD_PID/status")
	uv dev bind ta tap "$TAPA" || fail "dev bind ta tap"
	uv dev bind tb tap "$TAPB" || fail "dev bind tb tap"
	threads1=$(awk '/^Threads:/ { print $2 }' "/proc/$UD_PID/status")
	((threads1 == threads0)) || fail "uvdpad had $threads0 threads before the tap binds, $threads1 after"
	info "two tap bindings, no new thread ($threads1 in uvdpad)"
	netns_up "$TAPB" "$NSB" 10.231.1.2
	ip addr add 10.231.1.1/24 dev "$TAPA"
	ip link set "$TAPA" up
	ip netns exec "$NSB" ping -c 3 -i 0.2 -W 2 10.231.1.1 >"$TMP/$SCEN-ping.log" 2>&1 ||
		fail "ping through two taps: $(tail -n 2 "$TMP/$SCEN-ping.log" | tr '\n' ' ')"

	uv dev unbind ta || fail "dev unbind ta"
	ip link show "$TAPA" >/dev/null 2>&1 && fail "$TAPA still exists after unbind"
	uv dev bind ta vhost-user "$sock" || fail "dev bind ta vhost-user"
	local rx0 n=20000
	rx0=$(ip netns exec "$NSB" cat "/sys/class/net/$TAPB/statistics/rx_packets")
	spawn "$SCEN-tx" "$FRONTEND" --socket "$sock" --tx-only --count $n --size 60-1514 --json -q
	local txp=$LAST_PID
	wait_exit "$txp" 60 "TX frontend"
	((EXIT_RC == 0)) || fail "frontend on ta failed (status $EXIT_RC)"
	local rx1
	wait_for 5 "frames on $TAPB" tap_rx_since "$NSB" "$TAPB" "$rx0" "$n"
	rx1=$(ip netns exec "$NSB" cat "/sys/class/net/$TAPB/statistics/rx_packets")
	info "ta on vhost-user: $((rx1 - rx0)) of $n frames arrived on tb's tap"
	uv dev unbind ta || fail "dev unbind ta (vhost-user)"
	uv dev bind ta tap "$TAPA" || fail "dev bind ta tap again"
	ip addr add 10.231.1.1/24 dev "$TAPA"
	ip link set "$TAPA" up
	ip netns exec "$NSB" ping -c 3 -i 0.2 -W 2 10.231.1.1 >"$TMP/$SCEN-ping.log" 2>&1 ||
		fail "ping after rebinding to tap: $(tail -n 2 "$TMP/$SCEN-ping.log" | tr '\n' ' ')"
	info "tap -> vhost-user -> tap: ping works again"
	uv dev del tb || fail "dev del tb"
	ip -n "$NSB" link show "$TAPB" >/dev/null 2>&1 && fail "$TAPB still exists after dev del"
	uv dev unbind ta || fail "dev unbind ta"
	uv dev add name tb mgmtdev emu/ifcvf-net port pair:$SCEN || fail "dev add tb again"
	expect_counts "$UD_PID" "$base" "after tap, vhost-user and tap again"
	uv dev bind ta tap "$TAPA" || fail "dev bind ta tap before SIGTERM"
	stop_uvdpad
	ip link show "$TAPA" >/dev/null 2>&1 && fail "$TAPA still exists after SIGTERM"
	cleanup_ns
}

s3_refused() {
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name tn mgmtdev emu/ifcvf-net port loopback" \
		"dev add name tk mgmtdev emu/ifcvf-blk file $TMP/$SCEN.img capacity 1m"
	local base out
	base=$(settle_counts "$UD_PID")
	out=$(uv dev bind tk tap "$TAPA" 2>&1) && fail "a blk device was bound to a tap"
	[[ $out == *"not a network device"* ]] || fail "blk bind refused with: $out"
	out=$(uv dev bind tn tap lo 2>&1) && fail "tn was bound to lo"
	[[ $out == *"cannot attach to tap lo"* ]] || fail "bind to lo refused with: $out"
	out=$(uv dev bind tn tap "bad/name" 2>&1) && fail "a bad interface name was taken"
	uv dev bind tn tap "$TAPA" || fail "dev bind tn tap"
	out=$(uv dev bind tn tap "${TAPA}x" 2>&1) && fail "a second bind was taken"
	ip link show "${TAPA}x" >/dev/null 2>&1 && fail "the refused second bind left ${TAPA}x"
	uv dev unbind tn || fail "dev unbind tn"
	expect_counts "$UD_PID" "$base" "after refused binds"
	info "blk, lo, a bad name and a second bind refused; nothing left behind"
	stop_uvdpad
}

s4_offloads() {
	cleanup_ns
	ip netns add "$NSA"
	ip netns add "$NSB"
	local sfx=${SUF:0:4}
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name ta mgmtdev emu/ifcvf-net mac 02:54:00:00:02:0a port pair:$SCEN devargs offloads=1" \
		"dev add name tb mgmtdev emu/ifcvf-net mac 02:54:00:00:02:0b port pair:$SCEN devargs offloads=1"
	uv dev bind ta tap "$TAPA" || fail "dev bind ta tap"
	uv dev bind tb tap "$TAPB" || fail "dev bind tb tap"
	uv -j dev config show ta >"$TMP/$SCEN-config.json"
	python3 -c '
import json, sys
f = json.load(open(sys.argv[1]))["config"]["ta"]["negotiated_features"]
f = f if isinstance(f, list) else f.split()
missing = {"CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6", "GUEST_TSO4", "GUEST_TSO6"} - set(f)
assert not missing, missing
' "$TMP/$SCEN-config.json" || fail "ta did not negotiate the offloads: $(cat "$TMP/$SCEN-config.json")"
	netns_up "$TAPA" "$NSA" 10.231.2.1
	netns_up "$TAPB" "$NSB" 10.231.2.2
	ping_ok "$NSA" 10.231.2.2 56 2
	iperf_run "$NSA" 10.231.2.2 "$NSB" 5221 3
	local atx brx
	atx=$(avg_frame ta 1)
	brx=$(avg_frame tb 0)
	# MTU 1500: frames longer than 1514 bytes crossed as TSO frames.
	((atx > 3000 && brx > 3000)) ||
		fail "offloads on both ends: ta sent $atx, tb received $brx bytes per frame (TSO frames expected)"
	info "offloads on both ends: $IPERF_GBPS Gbit/s ($IPERF_RETR retransmits); TSO frames through the pair: ta tx $atx, tb rx $brx bytes per frame"
	echo "tap bus iperf3 TCP, MTU 1500, checksum + TSO offloads through a pair: $IPERF_GBPS Gbit/s ($IPERF_RETR retransmits)" >>"$TMP/rates"

	# The other end without offloads: ta's TSO frames are cut in software.
	uv dev del tb || fail "dev del tb"
	uv dev add name tb mgmtdev emu/ifcvf-net mac 02:54:00:00:02:0b port "pair:$SCEN" || fail "dev add tb"
	uv dev bind tb tap "$TAPB" || fail "dev bind tb tap"
	netns_up "$TAPB" "$NSB" 10.231.2.2
	local atx0 ab0
	atx0=$(vstat ta 1 packets)
	ab0=$(vstat ta 1 bytes)
	iperf_run "$NSA" 10.231.2.2 "$NSB" 5222 3
	atx=$((($(vstat ta 1 bytes) - ab0) / ($(vstat ta 1 packets) - atx0 + 1)))
	brx=$(avg_frame tb 0)
	((atx > 3000 && brx <= 1514)) ||
		fail "TSO toward a plain receiver: ta sent $atx, tb received $brx bytes per frame (segments <= 1514 expected)"
	info "TSO toward a receiver without offloads: $IPERF_GBPS Gbit/s ($IPERF_RETR retransmits); ta tx $atx, tb rx $brx bytes per frame (cut in software)"
	echo "tap bus iperf3 TCP, MTU 1500, TSO frames cut in software for a receiver without offloads: $IPERF_GBPS Gbit/s" >>"$TMP/rates"

	# The emulated function's own tap port, without and with vnet_hdr.
	local vh port
	for vh in "" ",vnet_hdr"; do
		port=up${sfx}${vh:+v}
		uv dev add name tc mgmtdev emu/ifcvf-net mac 02:54:00:00:02:0c port "tap:$port$vh" devargs offloads=1 ||
			fail "dev add tc port tap:$port$vh"
		uv dev bind tc tap "ut${sfx}c" || fail "dev bind tc tap"
		ip netns del "$NSA"
		ip netns add "$NSA"
		ip netns del "$NSB"
		ip netns add "$NSB"
		netns_up "ut${sfx}c" "$NSA" 10.231.3.1
		netns_up "$port" "$NSB" 10.231.3.2
		iperf_run "$NSA" 10.231.3.2 "$NSB" 5223 2
		local how="without vnet_hdr (cut in software)"
		[[ -n $vh ]] && how="with vnet_hdr (GSO frames handed to the kernel)"
		info "offloads=1 VF on its tap port $how:" \
			"$IPERF_GBPS Gbit/s ($IPERF_RETR retransmits), tc tx $(avg_frame tc 1) bytes per frame"
		uv dev del tc || fail "dev del tc"
		ip link del "$port" 2>/dev/null || true
	done
	grep -q ERR "$UD_LOG" && fail "uvdpad logged an error: $(grep ERR "$UD_LOG" | head -3)"
	stop_uvdpad
	cleanup_ns
}

s5_multiqueue() {
	cleanup_ns
	ip netns add "$NSA"
	ip netns add "$NSB"
	# Default features + MQ + CTRL_VQ: the control queue is vring 8.
	local feat=0x338438028 want cpus
	cpus=$(nproc)
	want=$((cpus < 4 ? cpus : 4))
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name ta mgmtdev emu/ifcvf-net mac 02:54:00:00:03:0a port pair:$SCEN max_vqp 4 device_features $feat" \
		"dev add name tb mgmtdev emu/ifcvf-net mac 02:54:00:00:03:0b port pair:$SCEN max_vqp 4 device_features $feat"
	uv dev bind ta tap "$TAPA" || fail "dev bind ta tap"
	uv dev bind tb tap "$TAPB" || fail "dev bind tb tap"
	local nq
	nq=$(ls -d /sys/class/net/"$TAPA"/queues/tx-* | wc -l)
	((nq == want)) || fail "$TAPA has $nq TX queues, expected $want (4 pairs, $cpus CPUs)"
	(($(vstat ta 8 successes) == 1)) || fail "ta's control queue took $(vstat ta 8 successes) commands, expected 1 (VQ_PAIRS_SET)"
	netns_up "$TAPA" "$NSA" 10.231.4.1
	netns_up "$TAPB" "$NSB" 10.231.4.2
	ping_ok "$NSA" 10.231.4.2 56 2
	ip netns exec "$NSB" iperf3 -s -1 -p 5231 >"$TMP/$SCEN-iperf-server.log" 2>&1 &
	echo $! >>"$TMP/scenario.pids"
	wait_for 5 "iperf3 server" ip netns exec "$NSB" sh -c "ss -ltn | grep -q ':5231 '"
	ip netns exec "$NSA" timeout 60 iperf3 -c 10.231.4.2 -p 5231 -t 3 -P 16 >"$TMP/$SCEN-iperf.log" 2>&1 ||
		fail "iperf3 -P 16: $(tail -n 3 "$TMP/$SCEN-iperf.log")"
	local q used=0 per=""
	for ((q = 0; q < want; q++)); do
		local n
		n=$(vstat ta $((2 * q + 1)) packets)
		per+=" tx$q:$n"
		((n > 0)) && used=$((used + 1))
	done
	# 16 flows hashed over the TAP's queues: every queue gets some (the
	# chance that one gets none is 2^-15 with 2 queues).
	((used == want)) || fail "frames went through $used of $want TX queues:$per"
	info "$want queue pairs (TAP multi-queue, VQ_PAIRS_SET on the control queue);" \
		"iperf3 -P 16: $(grep SUM "$TMP/$SCEN-iperf.log" | tail -n 1 | awk '{ print $6, $7 }'); frames per TX queue:$per"
	grep -q ERR "$UD_LOG" && fail "uvdpad logged an error: $(grep ERR "$UD_LOG" | head -3)"
	stop_uvdpad
	cleanup_ns
}

run_scenario s1_netns "two VFs on taps in two network namespaces: ping, iperf3, link state"
run_scenario s2_rebind "tap -> vhost-user -> tap, unbind, dev del, SIGTERM remove the interface"
s6_removed() {
	cleanup_ns
	ip netns add "$NSA"
	start_uvdpad "$SCEN-uvdpad" "dev add name tr mgmtdev emu/ifcvf-net port loopback"
	uv dev bind tr tap "$TAPA" || fail "dev bind tr tap"
	ip link set "$TAPA" netns "$NSA"
	ip netns del "$NSA"	# deletes the TAP interface with it
	sleep 0.5
	local t0 t1 warns
	t0=$(awk '{ print $14 + $15 }' "/proc/$UD_PID/stat")
	sleep 1
	t1=$(awk '{ print $14 + $15 }' "/proc/$UD_PID/stat")
	(((t1 - t0) * 100 / $(getconf CLK_TCK) < 20)) ||
		fail "uvdpad used $((t1 - t0)) ticks in 1 s after its interface was deleted"
	warns=$(grep -c "read from $TAPA" "$TMP/$SCEN-uvdpad.log" || true)
	((warns == 1)) || fail "$warns warnings about $TAPA in the log (1 wanted)"
	uv dev unbind tr || fail "dev unbind tr"
	uv dev bind tr tap "$TAPA" || fail "dev bind tr tap again"
	ip link show "$TAPA" >/dev/null 2>&1 || fail "$TAPA not recreated by the new bind"
	info "interface deleted under uvdpad: $((t1 - t0)) ticks in 1 s, $warns warning; rebound"
	stop_uvdpad
}

run_scenario s3_refused "binds the tap bus driver refuses"
run_scenario s4_offloads "checksum and TSO offloads: through a pair, cut in software, on a tap port"
run_scenario s5_multiqueue "multiqueue: a multi-queue TAP, VQ_PAIRS_SET, every queue pair carries frames"
run_scenario s6_removed "an interface deleted from outside: no spin, no log flood, rebind"
[[ -f $TMP/rates ]] && cat "$TMP/rates"
lib_finish
