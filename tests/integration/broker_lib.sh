# Helpers for broker tests: start a broker (ours or Mosquitto) on a free
# loopback port, run real MQTT clients against it, wait with bounds.
# Sourced by tests/integration/test_broker_*.sh.

BROKER=${BROKER:-mosquitto}
MQGATE=${MQGATE:-build/mqgate}
work=$(mktemp -d)
broker_pid=
bg_pids=()
checks=0
fails=0

cleanup() {
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL [$BROKER]: $*"; }
check() { # DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then ok; else bad "$what"; fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT [TENTHS]: bounded wait for TEXT to appear in FILE.
wait_for() {
    local n=${3:-50}
    for _ in $(seq 1 "$n"); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

start_broker() {
    port=$(free_port)
    case "$BROKER" in
    mosquitto)
        printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n' \
            "$port" >"$work/mosquitto.conf"
        mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" " running" || { echo "mosquitto did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    mqgate)
        "$MQGATE" broker -p "$port" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" "listening on 127.0.0.1:$port" || { echo "mqgate broker did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    *) echo "unknown BROKER=$BROKER"; exit 2;;
    esac
}

stop_broker() {
    [ -n "$broker_pid" ] || return 0
    kill "$broker_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$broker_pid" 2>/dev/null
    local rc=$?
    broker_pid=
    # Our broker must stop cleanly on SIGTERM: exit 0, and (sanitized builds)
    # no AddressSanitizer, LeakSanitizer or UBSan report.
    if [ "$BROKER" = mqgate ]; then
        check "broker exits 0 on SIGTERM (got $rc)" [ "$rc" = 0 ]
        if grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log"; then
            bad "sanitizer report in the broker log"
            grep -A 20 -e 'Sanitizer' -e 'runtime error' "$work/broker.log" | head -40
        else
            ok
        fi
    fi
}

# sub NAME ARGS...: start mosquitto_sub in the background, output in
# $work/NAME.out, and wait until the broker has acknowledged its subscription.
sub() {
    local name=$1; shift
    # stdbuf: line-buffered output, so the test sees lines as they arrive.
    timeout 20 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -d "$@" >"$work/$name.raw" 2>&1 &
    bg_pids+=("$!")
    eval "${name}_pid=$!"
    if wait_for "$work/$name.raw" "received SUBACK"; then ok; else bad "$name: no SUBACK"; fi
}

# messages NAME: the subscriber's output without the debug lines.
messages() {
    grep -v -e '^Client ' -e '^Subscribed ' -e '^Timed out' "$work/$1.raw" 2>/dev/null
}

# wait_messages NAME COUNT: bounded wait (10 s, for loaded CI machines) until
# NAME printed COUNT messages.
wait_messages() {
    for _ in $(seq 1 100); do
        [ "$(messages "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

pub() {
    timeout 10 mosquitto_pub -h 127.0.0.1 -p "$port" "$@"
}

finish() {
    echo "tested broker: $BROKER"
    echo "broker: $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
}
