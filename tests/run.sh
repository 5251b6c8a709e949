#!/usr/bin/env bash
# Runs every test of mqgate against one or more build trees (e.g. build and
# build/san), from the repository root, and prints one summary line:
# "N passed, M failed". Exits non-zero when anything failed.
#   tests/run.sh BUILD_DIR [BUILD_DIR...]
set -u
cd "$(dirname "$0")/.." || exit 2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Leaks inside libpaho's own threads (tests/integration/lsan-paho.supp);
# leaks in our code that calls it are still reported.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/integration/lsan-paho.supp}
export MQGATE_SRCDIR=$PWD

passed=0
failed=0
cases=0
failures=()
# Tests run MQGATE_TEST_JOBS at a time (default 2): most of their time is
# spent waiting on sockets, ptys and child processes, not on a CPU. Each
# test owns its ports (bound to 0), directories and ptys, so they do not
# meet. Results are printed as tests finish.
jobs_max=${MQGATE_TEST_JOBS:-2}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
n_started=0
n_reported=0
names=()

# report ID: count and print one finished test.
report() {
    local id=$1 name=${names[$1]} rc
    rc=$(cat "$results/$id.rc")
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        # cmocka's "[  PASSED  ] N test(s)." and the CLI tests' "N checks"
        local n
        n=$(sed -n -e 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' \
                   -e 's/^[a-z-]*: \([0-9]*\) checks, 0 failed$/\1/p' "$results/$id.log" | tail -n 1)
        cases=$((cases + ${n:-0}))
        printf '  PASS  %s (%ss)\n' "$name" "$(cat "$results/$id.time")"
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf '  FAIL  %s\n' "$name"
        sed 's/^/        /' "$results/$id.log" | tail -n 60
    fi
    rm -f "$results/$id.log"
}

# reap: report every test that has finished, in the order they started
# (a later one waits for the earlier ones to be printed).
reap() {
    while [ "$n_reported" -lt "$n_started" ] && [ -f "$results/$n_reported.rc" ]; do
        report "$n_reported"
        n_reported=$((n_reported + 1))
    done
}

# Each test gets a time bound, so a hang fails the run instead of stalling it.
run_one() {
    local id=$n_started
    names[$id]=$1; shift
    n_started=$((n_started + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; reap; done
    (
        start=$SECONDS
        timeout 300 "$@" >"$results/$id.log" 2>&1
        rc=$?
        echo $((SECONDS - start)) >"$results/$id.time"
        echo "$rc" >"$results/$id.rc.tmp" && mv "$results/$id.rc.tmp" "$results/$id.rc"
    ) &
    reap
}

# drain: wait for every test started so far and report them.
drain() {
    wait
    reap
}

for build in "$@"; do
    echo "== tests in $build"
    for t in "$build"/tests/unit/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d|*.o) continue;; esac
        run_one "$t" "$t"
    done
    # Driver tests over ptys; they find the simulators in the same build.
    for t in "$build"/tests/drivers/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d|*.o) continue;; esac
        run_one "$t" env MQGATE_SIM_DIR="$build/tests/sim" "$t"
    done
    # The gateway end to end: simulators, mqgate run, MQTT clients.
    for t in tests/integration/test_gateway_*.sh; do
        [ -f "$t" ] || continue
        run_one "$t ($build)" env MQGATE="$build/mqgate" MQGATE_SIM_DIR="$build/tests/sim" bash "$t"
    done
    for t in tests/cli/test_*.sh; do
        [ -f "$t" ] || continue
        run_one "$t ($build)" env MQGATE="$build/mqgate" bash "$t"
    done
done

# Broker behaviour suites: against mqgate's broker from each build, and
# once against Mosquitto, the reference, which keeps the suites honest.
# test_broker_paho.sh runs the Paho C program (PAHO_CHECK) of the same build.
for build in "$@"; do
    echo "== broker suites against $build/mqgate"
    for t in tests/integration/test_broker_*.sh; do
        [ -f "$t" ] || continue
        run_one "$t (mqgate, $build)" env BROKER=mqgate MQGATE="$build/mqgate" \
            PAHO_CHECK="$build/tests/integration/paho_check" bash "$t"
    done
    # Byte-level checks need our broker's exact answers: mqgate only.
    for t in tests/integration/test_broker_*.py; do
        [ -f "$t" ] || continue
        run_one "$t ($build)" env MQGATE="$build/mqgate" /usr/bin/python3 "$t"
    done
done
echo "== broker suites against mosquitto (reference)"
for t in tests/integration/test_broker_*.sh; do
    [ -f "$t" ] || continue
    run_one "$t (mosquitto)" env BROKER=mosquitto PAHO_CHECK="$1/tests/integration/paho_check" bash "$t"
done

drain
echo
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "test programs: $passed passed, $failed failed; test cases and checks in passing programs: $cases"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
