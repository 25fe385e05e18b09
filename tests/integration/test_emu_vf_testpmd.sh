#!/usr/bin/env bash
# Integration test: DPDK testpmd (virtio-user io forwarding, --tx-first)
# through an emulated IFCVF net VF in `port loopback` served by uvdpad:
# 1 queue pair, 4 queue pairs (every queue carries its share of the frames,
# by testpmd's per-queue counters and the VF's per-ring vstats),
# mrg_rxbuf=0, mrg_rxbuf=1, in_order=1 (not offered: negotiated off); vstats
# count what testpmd saw; uvdpad's fds/maps back to idle after every run.
#
#   test_emu_vf_testpmd.sh BUILD_DIR
#
# uvdpad must exit 0 on SIGTERM and leave no sanitizer report.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
test_init uvdpa-emu-tp "${1:-}" uvdpad testpmd

# Negotiated features as `dev config show` prints them (while connected).
neg_features() { uv dev config show "$1" | sed -n 's/^ *negotiated_features //p'; }

# tp_run NAME DEV SOCK VDEV_EXTRA NQ [TESTPMD_ARGS...]: one io-forwarding run
# of ~5 stats samples through DEV; checks and reports.
tp_run() {
	local name=$1 dev=$2 sock=$3 extra=$4 nq=$5 q
	shift 5
	local confs closes rx0 tx0 rxq0=()
	confs=$(n_dev "$dev" 'dev_conf done')
	for ((q = 0; q < nq; q++)); do rxq0+=("$(vstat "$dev" $((2 * q)) packets)"); done
	closes=$(n_dev "$dev" 'dev_close')
	rx0=$(vstat_sum "$dev" 0 "$nq" packets)
	tx0=$(vstat_sum "$dev" 1 "$nq" packets)
	start_testpmd "$SCEN-$name-tp" "$sock" "$extra" "$@"
	local tp=$TP_PID log=$TMP/$SCEN-$name-tp.log
	wait_dev "$dev" 'dev_conf done' $((confs + 1))
	forward_for "$log" 2
	NEG=$(neg_features "$dev")
	forward_for "$log" 3
	stop_proc "$tp" INT 15
	((STOP_RC == 0 || STOP_RC == 130)) || fail "$name: testpmd exited with status $STOP_RC"
	wait_dev "$dev" 'dev_close' $((closes + 1)) 10

	local rx tx qs=""
	rx=$(tp_total "$log" RX-packets)
	tx=$(tp_total "$log" TX-packets)
	[[ -n $rx && -n $tx ]] || fail "$name: no final statistics in the testpmd log"
	((rx > 100000 && tx > 100000)) || fail "$name: too little traffic: RX=$rx TX=$tx"
	if ((nq > 1)); then
		local tpq=() devq=()
		for ((q = 0; q < nq; q++)); do
			tpq+=("$(tp_queue_rx "$log" "$q")")
			devq+=($(($(vstat "$dev" $((2 * q)) packets) - ${rxq0[q]})))
		done
		# Each io-forwarding stream (RX queue q -> TX queue q, looped back
		# by the VF to RX queue q) circulates its own --tx-first burst, and
		# one testpmd core polls the streams round-robin, so a fair run
		# gives every queue about 1/nq of the frames. Each queue must carry
		# at least 40% of its fair share (10% of 4 queues): far below what
		# the round-robin gives, far above a queue that only moved its
		# first burst or stalled after a while (which "more than zero"
		# let through).
		local min=$((40 / nq))
		qs=" testpmd RX per queue: $(check_queue_shares "$name: testpmd RX" "$min" "${tpq[@]}");"
		qs+=" device RX rings: $(check_queue_shares "$name: vstats rx packets" "$min" "${devq[@]}")"
	fi
	# What the device counted: it delivered at least what testpmd received
	# and took at least what testpmd sent and saw again.
	local drx dtx
	drx=$(($(vstat_sum "$dev" 0 "$nq" packets) - rx0))
	dtx=$(($(vstat_sum "$dev" 1 "$nq" packets) - tx0))
	((drx >= rx)) || fail "$name: vstats rx packets +$drx < testpmd RX-packets $rx"
	((dtx >= rx)) || fail "$name: vstats tx packets +$dtx < testpmd RX-packets $rx"
	local avg peak ns
	read -r avg peak ns < <(tp_mpps "$log")
	info "$name: RX=$rx TX=$tx; vstats rx +$drx tx +$dtx;" \
		"${avg} Mpps avg, ${peak} Mpps peak ($ns samples)"
	[[ -n $qs ]] && info "$name:$qs"
	info "$name: negotiated: $NEG"
	echo "testpmd $name: $avg Mpps avg, $peak Mpps peak (io forwarding, 64 B)" >>"$TMP/rates"
}

s1_testpmd() {
	local s1=$TMP/s1-lo1.sock s4=$TMP/s1-lo4.sock
	start_uvdpad "$SCEN-uvdpad" \
		"dev add name lo1 mgmtdev emu/ifcvf-net port loopback" \
		"dev bind lo1 vhost-user $s1" \
		"dev add name lo4 mgmtdev emu/ifcvf-net max_vqp 4 port loopback" \
		"dev bind lo4 vhost-user $s4"
	local base
	base=$(settle_counts "$UD_PID")

	tp_run q1 lo1 "$s1" ",queues=1" 1
	expect_counts "$UD_PID" "$base" "after testpmd q1"
	tp_run q4 lo4 "$s4" ",queues=4" 4 --rxq=4 --txq=4
	expect_counts "$UD_PID" "$base" "after testpmd q4"
	tp_run mrg0 lo1 "$s1" ",queues=1,mrg_rxbuf=0" 1
	[[ " $NEG " == *" MRG_RXBUF "* ]] && fail "mrg_rxbuf=0 but MRG_RXBUF negotiated: $NEG"
	expect_counts "$UD_PID" "$base" "after testpmd mrg0"
	tp_run mrg1 lo1 "$s1" ",queues=1,mrg_rxbuf=1" 1
	[[ " $NEG " == *" MRG_RXBUF "* ]] || fail "mrg_rxbuf=1 but MRG_RXBUF not negotiated: $NEG"
	expect_counts "$UD_PID" "$base" "after testpmd mrg1"
	# The emulated net function offers IN_ORDER (it uses every ring's
	# buffers in the order they were made available): virtio-user's in-order
	# paths must run on it, and without it when told so.
	tp_run inorder lo1 "$s1" ",queues=1,in_order=1" 1
	[[ " $NEG " == *" IN_ORDER "* ]] ||
		fail "inorder: in_order=1 but IN_ORDER not negotiated: $NEG"
	expect_counts "$UD_PID" "$base" "after testpmd in_order"
	tp_run noinorder lo1 "$s1" ",queues=1,in_order=0" 1
	[[ " $NEG " == *" IN_ORDER "* ]] &&
		fail "in_order=0 but IN_ORDER negotiated: $NEG"
	expect_counts "$UD_PID" "$base" "after testpmd in_order=0"

	info "vstats after the runs: $(uv dev vstats show lo1 qidx 0)"
	info "                       $(uv dev vstats show lo1 qidx 1)"
	local v
	v=$(vstat lo1 0 packets)
	((${v:-0} > 0)) || fail "vstats lo1 qidx 0 shows no packets"
	info "uvdpad fds/maps: idle '$base', after 6 testpmd runs '$(settle_counts "$UD_PID")'"
	stop_uvdpad
}

run_scenario s1_testpmd "testpmd io forwarding through a loopback VF: 1 and 4 queue pairs, mrg_rxbuf=0/1, in_order=1/0"
lib_finish
