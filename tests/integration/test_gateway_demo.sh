#!/usr/bin/env bash
# `make run`'s demo starts and publishes: tests/sim/run_demo.sh on a copy of
# config/demo.yaml moved to a free port and a private pty directory, a
# subscriber sees the meter's and the GPS's readings, Ctrl-C (SIGINT) stops
# everything and leaves the devices offline.
#   MQGATE=build/mqgate tests/integration/test_gateway_demo.sh
set -u
BROKER=mqgate
. "$(dirname "$0")/broker_lib.sh"
build=$(dirname "$MQGATE")
port=$(free_port)
demo_pid=
trap '[ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null; cleanup' EXIT

sed -e "s|port: 1883|port: $port|" -e "s|/tmp/mqgate-demo|$work/demo|g" config/demo.yaml >"$work/demo.yaml"
grep -q "port: $port" "$work/demo.yaml" && ok || bad "demo.yaml has no 'port: 1883' to move"
MQGATE_DEMO_DIR=$work/demo setsid tests/sim/run_demo.sh "$build" "$work/demo.yaml" \
    >"$work/demo.log" 2>&1 &
demo_pid=$!
check "the demo gateway runs" wait_for "$work/demo.log" "running with" 100
sub all -t '#' -v
check "meter voltage" wait_for "$work/all.raw" "demo/meter1/voltage 2" 100
check "meter frequency" wait_for "$work/all.raw" "demo/meter1/frequency 50.0" 100
check "gps latitude" wait_for "$work/all.raw" "demo/gps/latitude 48.11" 100
check "gps satellites" wait_for "$work/all.raw" "demo/gps/satellites 8" 100
check "gateway online" wait_for "$work/all.raw" "demo/status online"
# Ctrl-C reaches the whole foreground group: the script and the gateway.
kill -INT -- "-$demo_pid"
for _ in $(seq 1 100); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$demo_pid" 2>/dev/null && bad "the demo did not stop on SIGINT" || ok
demo_pid=
check "meter offline on stop" wait_for "$work/all.raw" "demo/meter1/status offline"
check "gateway offline on stop" wait_for "$work/all.raw" "demo/status offline"
check "gateway stopped cleanly" wait_for "$work/demo.log" "stopped by SIGINT"
pgrep -f "$work/demo/" >/dev/null && bad "simulators left running" || ok
echo "demo: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
