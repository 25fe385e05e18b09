#!/bin/sh
# Runs one libFuzzer target for a bounded time over a working corpus in the
# build dir, seeded from the repo's corpus (which is only read).
# usage: run_fuzzer.sh FUZZER SEED_DIR WORK_DIR DEFAULT_SECONDS [libFuzzer args...]
# UVDPA_FUZZ_SECONDS (or UVDPA_FUZZ_TIME) overrides the time; UVDPA_FUZZ_JOBS
# runs that many worker processes (-fork). UVDPA_FUZZ_SEED (default 1) fixes
# libFuzzer's seed so that a test run explores the same inputs every time
# (a failure reproduces; a pass is not luck); 0 draws a random seed, for
# exploratory runs (see README.md in this directory).
set -eu
fuzzer=$1 seeds=$2 work=$3
secs=${UVDPA_FUZZ_SECONDS:-${UVDPA_FUZZ_TIME:-$4}}
shift 4
mkdir -p "$work" "$work.artifacts"
cp -n "$seeds"/* "$work"/ 2>/dev/null || true
# A crash leaves its input in the artifacts dir (crash-*, leak-*, timeout-*,
# oom-*): fix the bug, then copy the input to the seed dir as regress-<what>.
# libFuzzer's default exit code for a finding is 77, which meson reads as a
# skip: a finding must fail the test, and its input is printed (base64) so a
# CI log is enough to reproduce it.
rc=0
"$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
	-error_exitcode=1 -timeout_exitcode=1 -seed="${UVDPA_FUZZ_SEED:-1}" \
	-print_final_stats=1 -artifact_prefix="$work.artifacts/" \
	${UVDPA_FUZZ_JOBS:+-fork="$UVDPA_FUZZ_JOBS"} "$@" "$work" || rc=$?
if [ "$rc" -ne 0 ]; then
	for f in "$work.artifacts"/*; do
		[ -f "$f" ] || continue
		echo "finding $(basename "$f") (base64):"
		base64 -w 76 "$f"
	done
	exit 1
fi
