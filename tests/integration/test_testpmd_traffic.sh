#!/usr/bin/env bash
# Integration test: DPDK testpmd io forwarding (--tx-first) through
# uvdpa-testdev's loopback datapath (fake vDPA devices on vhost-user):
# 1 queue pair, 2 queue pairs (each queue carries its share), mrg_rxbuf=0
# (not negotiated), in_order=1; every ring of dev_conf checked, the
# testdev's loop counters and testpmd's totals agree on real traffic.
#
#   test_testpmd_traffic.sh BUILD_DIR
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-tp-traffic "${1:-}" testdev testpmd

# traffic_run NAME SOCK VDEV_EXTRA NQ TD_ARGS... -- TP_ARGS...: one loopback
# run of ~5 s; checks the counters and prints the rate.
traffic_run() {
	local name=$1 sock=$2 extra=$3 nq=$4
	shift 4
	local td_args=() tp_args=()
	while (($#)) && [[ $1 != -- ]]; do
		td_args+=("$1")
		shift
	done
	(($#)) && shift
	tp_args=("$@")

	start_testdev "$SCEN-$name-td" --socket "$sock" --loopback "${td_args[@]}"
	local td=$TD_PID rec=$TMP/$SCEN-$name-td.rec
	start_testpmd "$SCEN-$name-tp" "$sock" "$extra" "${tp_args[@]}"
	local tp=$TP_PID log=$TMP/$SCEN-$name-tp.log
	wait_for 15 "dev_conf ($name)" has "$rec" '^dev_conf$'
	local conf nr i late=""
	conf=$(grep '^conf ' "$rec")
	nr=$(kv "$conf" nr_vring)
	((nr == 2 * nq)) || fail "$name: dev_conf has nr_vring=$nr, expected $((2 * nq)): $conf"
	check_rings "$rec" 1 2
	# virtio-user enables the first pair before DRIVER_OK and the others
	# afterwards (control-queue MQ command): those may come up after
	# dev_conf, as set_vring_state N 1.
	for ((i = 2; i < nr; i++)); do
		if vrings_of "$rec" 1 | grep -q "^vring $i ready=1 "; then
			check_rings "$rec" 1 $((i + 1))
		else
			wait_for 10 "$name: vring $i ready" has "$rec" "^set_vring_state $i 1\$"
			late+=" $i"
		fi
	done
	[[ -n $late ]] && info "$name: dev_conf with rings 0-1 ready; rings${late} ready via set_vring_state"
	forward_for "$log" 5
	stop_proc "$tp" INT 15
	wait_for 5 "dev_close ($name)" has "$rec" '^dev_close$'

	local rx tx looped features avg peak ns
	rx=$(tp_total "$log" RX-packets)
	tx=$(tp_total "$log" TX-packets)
	[[ -n $rx && -n $tx ]] || fail "$name: no final statistics in the testpmd log"
	((rx > 100000 && tx > 100000)) || fail "$name: too little traffic: RX=$rx TX=$tx"
	looped=$(kv "$(grep '^close ' "$rec")" looped_pkts)
	((looped > 0)) || fail "$name: dev_close shows looped_pkts=$looped"
	grep -q '^vring_broken' "$rec" && fail "$name: a ring broke: $(grep '^vring_broken' "$rec")"
	if ((nq > 1)); then
		# Each io-forwarding stream (RX queue q -> TX queue q, looped back
		# by the testdev to RX queue q) circulates its own --tx-first
		# burst and one core polls the streams round-robin: a fair run
		# gives each queue about 1/nq of the frames. Each must carry at
		# least 40% of its fair share (20% of 2 queues), far below what
		# round-robin gives and far above a queue that stalled after its
		# first burst (which "more than zero" let through).
		local q tpq=()
		for ((q = 0; q < nq; q++)); do tpq+=("$(tp_queue_rx "$log" "$q")"); done
		info "$name: testpmd RX per queue: $(check_queue_shares "$name: testpmd RX" $((40 / nq)) "${tpq[@]}")"
	fi
	features=$(kv "$(grep '^conf ' "$rec")" features)
	read -r avg peak ns < <(tp_mpps "$log")
	info "$name: features=$features RX=$rx TX=$tx looped_pkts=$looped" \
		"dropped=$(kv "$(grep '^close ' "$rec")" dropped)" \
		"rate ${avg} Mpps avg, ${peak} Mpps peak ($ns samples)"
	echo "$name: $avg Mpps avg, $peak Mpps peak (testpmd Rx-pps, io forwarding, 64 B, one core)" >>"$TMP/rates"
	LAST_FEATURES=$features
	stop_proc "$td" TERM 5
}

s2_traffic() {
	local sock=$TMP/s2.sock
	traffic_run q1 "$sock" ",queues=1" 1
	traffic_run q2 "$sock" ",queues=2" 2 --queues 2 -- --rxq=2 --txq=2
	traffic_run mrg0 "$sock" ",queues=1,mrg_rxbuf=0" 1
	(((LAST_FEATURES >> 15) & 1)) && fail "mrg_rxbuf=0 but MRG_RXBUF negotiated ($LAST_FEATURES)"
	traffic_run inorder "$sock" ",queues=1,in_order=1" 1
	true
}

run_scenario s2_traffic "loopback traffic: 1 and 2 queue pairs, mrg_rxbuf=0, in_order=1"
lib_finish
