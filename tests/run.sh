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

# Each test gets a time bound, so a hang fails the run instead of stalling it.
run_one() {
    local name=$1; shift
    local log
    log=$(mktemp)
    if timeout 300 "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        # cmocka's "[  PASSED  ] N test(s)." and the CLI tests' "N checks"
        local n
        n=$(sed -n -e 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' \
                   -e 's/^[a-z]*: \([0-9]*\) checks, 0 failed$/\1/p' "$log" | tail -n 1)
        cases=$((cases + ${n:-0}))
        printf '  PASS  %s\n' "$name"
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf '  FAIL  %s\n' "$name"
        sed 's/^/        /' "$log" | tail -n 60
    fi
    rm -f "$log"
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

echo
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "test programs: $passed passed, $failed failed; test cases and checks in passing programs: $cases"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
