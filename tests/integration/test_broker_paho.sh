#!/usr/bin/env bash
# The broker seen through Eclipse Paho's C client: starts `mqgate broker -p 0`,
# reads its port from the log, runs tests/integration/paho_check.c's program
# against it, then stops the broker by PID and checks it exits 0 with no
# sanitizer report. BROKER=mosquitto runs the same program against the
# reference broker instead (tests/run.sh does both).
#   MQGATE=build/mqgate PAHO_CHECK=build/tests/integration/paho_check tests/integration/test_broker_paho.sh
set -u
cd "$(dirname "$0")/../.." || exit 2

BROKER=${BROKER:-mqgate}
MQGATE=${MQGATE:-build/mqgate}
PAHO_CHECK=${PAHO_CHECK:-${BUILD:-build}/tests/integration/paho_check}
work=$(mktemp -d)
broker_pid=
checks=0
fails=0

cleanup() {
    if [ -n "$broker_pid" ]; then
        kill -KILL "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL [$BROKER]: $*"; }
finish() {
    echo "tested broker: $BROKER"
    echo "paho: $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
    exit
}

# Bounded wait (10 s) for the broker to say it listens; sets port.
start_broker() {
    port=
    case "$BROKER" in
    mqgate)
        "$MQGATE" broker -p 0 2>"$work/broker.log" &
        broker_pid=$!
        for _ in $(seq 1 100); do
            port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$work/broker.log" | head -n 1)
            [ -n "$port" ] && break
            kill -0 "$broker_pid" 2>/dev/null || break
            sleep 0.1
        done
        ;;
    mosquitto)
        port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n' \
            "$port" >"$work/mosquitto.conf"
        mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
        broker_pid=$!
        for _ in $(seq 1 100); do
            grep -q ' running' "$work/broker.log" && break
            kill -0 "$broker_pid" 2>/dev/null || break
            sleep 0.1
        done
        grep -q ' running' "$work/broker.log" || port=
        ;;
    *) echo "unknown BROKER=$BROKER"; exit 2;;
    esac
    if [ -z "$port" ]; then
        bad "$BROKER did not start listening within 10 s"
        cat "$work/broker.log"
        finish
    fi
    ok
}

# SIGTERM to the PID we started, a bounded wait (5 s), then its exit status.
stop_broker() {
    kill -TERM "$broker_pid" 2>/dev/null
    for _ in $(seq 1 50); do
        kill -0 "$broker_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$broker_pid" 2>/dev/null; then
        bad "broker still running 5 s after SIGTERM; killed"
        kill -KILL "$broker_pid" 2>/dev/null
    fi
    wait "$broker_pid" 2>/dev/null
    local rc=$?
    broker_pid=
    [ "$BROKER" = mqgate ] || return 0
    if [ "$rc" = 0 ]; then ok; else bad "broker exits 0 on SIGTERM (got $rc)"; fi
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log"; then
        bad "sanitizer report in the broker log"
        grep -A 30 -e 'Sanitizer' -e 'runtime error' "$work/broker.log" | head -n 40
    else
        ok
    fi
}

if [ ! -x "$PAHO_CHECK" ]; then
    bad "no program $PAHO_CHECK (make $PAHO_CHECK)"
    finish
fi

start_broker
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$PWD/tests/integration/lsan-paho.supp" \
    timeout 120 "$PAHO_CHECK" "$port" >"$work/paho.out" 2>&1
rc=$?
cat "$work/paho.out"
summary=$(sed -n 's/^paho_check: \([0-9]*\) checks, \([0-9]*\) failed$/\1 \2/p' "$work/paho.out" | tail -n 1)
if [ -n "$summary" ]; then
    read -r n m <<<"$summary"
    checks=$((checks + n))
    fails=$((fails + m))
    # A non-zero exit with no failed check: a crash or a sanitizer abort.
    if [ "$rc" -ne 0 ] && [ "$m" -eq 0 ]; then bad "$PAHO_CHECK exited $rc"; else ok; fi
else
    bad "$PAHO_CHECK ended without its summary (exit $rc$([ "$rc" = 124 ] && echo ': timed out'))"
fi
if grep -q -e 'Sanitizer' -e 'runtime error' "$work/paho.out"; then
    bad "sanitizer report from $PAHO_CHECK"
else
    ok
fi
stop_broker
[ "$fails" -eq 0 ] || { echo "--- broker log (last 30 lines)"; tail -n 30 "$work/broker.log"; }
finish
