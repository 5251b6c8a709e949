#!/usr/bin/env bash
# The broker's durable state across restarts of `mqgate broker -c`: a
# retained message and a persistent session (mosquitto_sub -c, offline while
# QoS 1 messages are published to it) must come back after (a) SIGTERM,
# (b) SIGKILL after waiting past flush_interval, (c) SIGKILL right after the
# last PUBACK with flush_interval 0, and (d) the same with flush_interval 1s
# (changes are written before their PUBACK leaves; only the fsync waits).
# One line of figures per scenario; every wait bounded; PIDs only.
set -u
rc=0
MQGATE=${MQGATE:-build/mqgate}
work=$(mktemp -d)
broker_pid=
checks=0
fails=0
N=20

cleanup() {
    [ -n "$broker_pid" ] && kill -9 "$broker_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT: bounded wait (5 s) for TEXT in FILE.
wait_for() {
    for _ in $(seq 1 50); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start NAME FLUSH: the broker on $port with its state in $work/NAME.
start() {
    cat >"$work/$1.yaml" <<YAML
gateway: { state_dir: $work/$1 }
broker:
  listeners: [ { bind: 127.0.0.1, port: $port } ]
  persistence: { flush_interval: $2 }
YAML
    mkdir -p "$work/$1"
    : >"$work/$1.log"
    "$MQGATE" broker -c "$work/$1.yaml" 2>>"$work/$1.log" &
    broker_pid=$!
    wait_for "$work/$1.log" "listening on 127.0.0.1:$port" || {
        bad "$1: broker did not start"; cat "$work/$1.log"; return 1; }
}

# stop SIG: signal the broker, bounded wait for its exit; status in $rc.
stop() {
    kill "-$1" "$broker_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$broker_pid" 2>/dev/null
    rc=$?
    broker_pid=
}

# scenario NAME FLUSH HOW: HOW is term, kill-after-wait or kill-now.
scenario() {
    local name=$1 flush=$2 how=$3
    port=$(free_port)
    start "$name" "$flush" || return
    timeout 5 mosquitto_sub -h 127.0.0.1 -p "$port" -c -i "psub-$name" -q 1 -t 'p/#' -E \
        >/dev/null 2>&1 || bad "$name: persistent subscription"
    timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -r -t "r/$name" -m kept ||
        bad "$name: retained publish"
    local acked=0
    for i in $(seq 1 $N); do
        timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "p/$name" -m "m$i" &&
            acked=$((acked + 1))
    done
    case "$how" in
    term) stop TERM; [ "$rc" = 0 ] && ok || bad "$name: exit $rc on SIGTERM" ;;
    kill-after-wait) sleep 1.5; stop KILL ;;
    kill-now) stop KILL ;;
    esac
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/$name.log"; then
        bad "$name: sanitizer report"; grep -A 20 -e 'Sanitizer' -e 'runtime error' "$work/$name.log" | head -30
    fi
    start "$name" "$flush" || return
    local got retained
    got=$(timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -c -i "psub-$name" -q 1 -t 'p/#' \
        -C "$acked" -W 5 2>/dev/null | grep -c '^m[0-9]*$')
    retained=$(timeout 5 mosquitto_sub -h 127.0.0.1 -p "$port" -t "r/$name" -C 1 -W 3 2>/dev/null |
        grep -c '^kept$')
    local lost=$((acked - got))
    echo "persist $name: flush_interval=$flush stop=$how acked=$acked restored=$got lost=$lost" \
         "retained=$retained/1"
    [ "$acked" = "$N" ] && ok || bad "$name: only $acked of $N publishes acknowledged"
    [ "$lost" = 0 ] && ok || bad "$name: $lost acknowledged message(s) lost"
    [ "$retained" = 1 ] && ok || bad "$name: retained message lost"
    grep -q "1 persistent session(s) restored" "$work/$name.log" && ok ||
        bad "$name: session not restored"
    stop TERM
    [ "$rc" = 0 ] && ok || bad "$name: exit $rc on SIGTERM after restart"
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/$name.log"; then
        bad "$name: sanitizer report"; grep -A 20 -e 'Sanitizer' -e 'runtime error' "$work/$name.log" | head -30
    fi
}

scenario term 1s term
scenario kill-after-flush 200ms kill-after-wait
scenario kill-flush0 0 kill-now
scenario kill-flush1s 1s kill-now

# Without -c there is no state: `mqgate broker -p` keeps nothing.
port=$(free_port)
: >"$work/plain.log"
"$MQGATE" broker -p "$port" 2>>"$work/plain.log" &
broker_pid=$!
if wait_for "$work/plain.log" "listening on 127.0.0.1:$port"; then ok; else bad "broker -p did not start"; fi
grep -q "persistence off" "$work/plain.log" && ok || bad "broker -p: persistence not off"
stop TERM
[ "$rc" = 0 ] && ok || bad "broker -p: exit $rc on SIGTERM"

echo "test_gateway_persist: $checks checks, $fails failed"
[ "$fails" = 0 ]
