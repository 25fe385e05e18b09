#!/usr/bin/env bash
# Runs every uvdpa test: unit and integration tests in an ASan+UBSan build,
# then the libFuzzer targets (clang) for a bounded time. Prints one summary
# line at the end: "N passed, N failed" (a skipped test counts as failed).
#   UVDPA_FUZZ_SECONDS   time per fuzzer (default 60)
#   UVDPA_TEST_ARGS      extra arguments for `meson test` (e.g. a test name)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export UVDPA_FUZZ_SECONDS=${UVDPA_FUZZ_SECONDS:-60}
passed=0
failed=0

# count_results BUILD_DIR: adds the build's meson results to the totals.
# Only OK and EXPECTEDFAIL pass: a SKIP (exit 77) counts as a failure, since
# a test that did not run proves nothing (the tests fail on a missing peer
# instead of skipping, so a SKIP here is a test that broke that rule).
count_results() {
	local log="$1/meson-logs/testlog.json" counts
	if [ ! -f "$log" ]; then
		failed=$((failed + 1))
		return
	fi
	counts=$(python3 -c 'import json,sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = sum(1 for t in r if t["result"] in ("OK", "EXPECTEDFAIL"))
for t in r:
    if t["result"] == "SKIP":
        print("counted as failed: %s skipped" % t["name"], file=sys.stderr)
print(ok, len(r) - ok)' "$log") || { failed=$((failed + 1)); return; }
	passed=$((passed + ${counts% *}))
	failed=$((failed + ${counts#* }))
}

build_and_test() {	# dir, setup args..., -- meson test args...
	local dir=$1; shift
	local setup=() testargs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do setup+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	testargs=("$@")
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "${setup[@]}" >/dev/null || { echo "setup of $dir failed"; failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		cat "$dir.build.log"
		echo "build of $dir failed"
		failed=$((failed + 1))
		return
	fi
	rm -f "$dir/meson-logs/testlog.json"
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs "${testargs[@]}" ${UVDPA_TEST_ARGS:-}
	count_results "$dir"
}

echo "== unit and integration tests (gcc, ASan+UBSan) =="
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	build_and_test build-test -Db_sanitize=address,undefined -Db_lundef=false -- --no-suite fuzz

echo "== fuzzers (clang, libFuzzer, ${UVDPA_FUZZ_SECONDS}s each) =="
CC=clang build_and_test build-fuzz -Dfuzz=true -Db_lundef=false -- --suite fuzz

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
