# Shared test-runner functions (sourced by tests/lib/run-suite and tests/nested/run).
#
# A test is a command: exit 0 = pass, 77 = skip (its last line "SKIP: reason" says why),
# anything else = fail. Each test's output goes to $BUILD/test-logs/SUITE/NAME.log; a failed
# test's tail is printed. Counts go to $BUILD/test-results/SUITE for tests/lib/summary.

: "${BUILD:=build}"
: "${TEST_TIMEOUT:=900}"

runner_begin() {   # SUITE
	R_SUITE=$1 R_PASS=0 R_FAIL=0 R_SKIP=0 R_FAILED=""
	R_LOGDIR=$BUILD/test-logs/$R_SUITE
	mkdir -p "$R_LOGDIR" "$BUILD/test-results"
}

# runner_run NAME CMD [ARGS...]: runs one test, prints one line.
runner_run() {
	local name=$1; shift
	local log=$R_LOGDIR/$(echo "$name" | tr '/ ' '__').log
	local t0 t1 rc reason
	t0=$(date +%s.%N)
	timeout --foreground -k 10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	t1=$(date +%s.%N)
	local dt; dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1fs", b-a}')
	case $rc in
	0)  R_PASS=$((R_PASS + 1)); printf 'PASS  %-44s %s\n' "$name" "$dt" ;;
	77) R_SKIP=$((R_SKIP + 1))
	    reason=$(grep '^SKIP:' "$log" | tail -n 1 | sed 's/^SKIP: *//')
	    printf 'SKIP  %-44s %s\n' "$name" "${reason:-no reason given}" ;;
	*)  R_FAIL=$((R_FAIL + 1)); R_FAILED="$R_FAILED $name"
	    [ $rc = 124 ] && echo "(timed out after ${TEST_TIMEOUT}s)" >>"$log"
	    printf 'FAIL  %-44s %s (exit %d; log %s)\n' "$name" "$dt" "$rc" "$log"
	    tail -n 25 "$log" | sed 's/^/    | /' ;;
	esac
	return 0
}

# runner_skip NAME REASON: a test that cannot run here, counted and said.
runner_skip() {
	R_SKIP=$((R_SKIP + 1))
	printf 'SKIP  %-44s %s\n' "$1" "$2"
}

# runner_end: closing line; returns non-zero if any test failed.
runner_end() {
	printf '%s %s %s %s\n' "$R_PASS" "$R_FAIL" "$R_SKIP" "$R_FAILED" >"$BUILD/test-results/$R_SUITE"
	printf '%s: %d passed, %d failed, %d skipped\n' "$R_SUITE" "$R_PASS" "$R_FAIL" "$R_SKIP"
	[ "$R_FAIL" -eq 0 ]
}
