#!/usr/bin/env bash
# Mpps against frame size, uvdpa and DPDK's vhost side by side: runs
# compare_dpdk.sh over txonly and rxonly at several frame lengths (1 queue
# pair, one core each side, the same frontend), keeps the medians and draws
# them with gnuplot into a PNG.
#
#   bench/plot_sizes.sh [-b BUILD_DIR] [-o PNG] [--sizes LIST] [--reps N]
#
#   -b BUILD_DIR  uvdpa build (default: build-bench next to bench/)
#   -o PNG        output image (default: docs/perf/mpps-vs-size.png)
#   --sizes LIST  comma-separated frame lengths (default 64,256,512,1024,1518)
#   --reps N      interleaved repetitions per point, the median is drawn
#                 (default 1: about 15 s per point and backend)
# The table compare_dpdk.sh prints and the data file (next to the PNG, .dat)
# are kept. Needs gnuplot (Debian: gnuplot-nox) and what compare_dpdk.sh needs.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/../build-bench
OUT=$HERE/../docs/perf/mpps-vs-size.png
SIZES=64,256,512,1024,1518
REPS=1
while (($#)); do
	case $1 in
	-b) BUILD=${2:?}; shift 2 ;;
	-o) OUT=${2:?}; shift 2 ;;
	--sizes) SIZES=${2:?}; shift 2 ;;
	--reps) REPS=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
	esac
done
command -v gnuplot >/dev/null || { echo "gnuplot not found (Debian package gnuplot-nox)" >&2; exit 1; }

mkdir -p "$(dirname "$OUT")"
DAT=${OUT%.png}.dat
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
cases=""
IFS=, read -r -a sizes <<<"$SIZES"
for n in "${sizes[@]}"; do
	cases+="tx$n,rx$n,"
done
"$HERE/compare_dpdk.sh" -b "$BUILD" --cases "${cases%,}" --reps "$REPS" --no-extra \
	--no-profile --data "$RAW" --budget $((${#sizes[@]} * 4 * REPS * 20 + 60))

# One line per size: size, then Mpps of DPDK tx, uvdpa tx, DPDK rx, uvdpa rx.
{
	echo "# frame_bytes dpdk_txonly uvdpa_txonly dpdk_rxonly uvdpa_rxonly (Mpps, median of $REPS)"
	for n in "${sizes[@]}"; do
		awk -v n="$n" '
			$2 == n && $1 == "tx" n && $3 == "dpdk" { dt = $4 }
			$2 == n && $1 == "tx" n && $3 == "uvdpa-poll@1" { ut = $4 }
			$2 == n && $1 == "rx" n && $3 == "dpdk" { dr = $4 }
			$2 == n && $1 == "rx" n && $3 == "uvdpa-poll@1" { ur = $4 }
			END { printf "%d %.3f %.3f %.3f %.3f\n", n, dt / 1e6, ut / 1e6, dr / 1e6, ur / 1e6 }' "$RAW"
	done
} >"$DAT"

gnuplot <<EOF
set terminal pngcairo size 900,540 font "sans,11"
set output "$OUT"
set title "Mpps against frame size, 1 queue pair, one core each side ($(date +%Y-%m-%d), $(nproc) vCPUs)"
set xlabel "frame bytes (no CRC)"
set ylabel "Mpps at the frontend (testpmd virtio-user)"
set logscale x 2
set xtics (${SIZES})
set grid
set key top right
set yrange [0:*]
plot "$DAT" using 1:2 with linespoints lw 2 pt 7 lc rgb "#888888" title "DPDK vhost, frontend txonly", \
     "$DAT" using 1:3 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "uvdpa, frontend txonly", \
     "$DAT" using 1:4 with linespoints lw 2 pt 5 dt 2 lc rgb "#888888" title "DPDK vhost, frontend rxonly", \
     "$DAT" using 1:5 with linespoints lw 2 pt 5 dt 2 lc rgb "#d62728" title "uvdpa, frontend rxonly"
EOF
echo "plot: $OUT (data: $DAT)"
