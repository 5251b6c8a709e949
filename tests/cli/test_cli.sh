#!/usr/bin/env bash
# The mqgate command line as a user meets it: exit codes (0 ok, 1 runtime,
# 2 usage/config), --help everywhere, `check` on every example and on a broken
# file, `run` stopping on SIGTERM and reloading on SIGHUP, and the generated
# configuration reference matching config/README.md.
set -u
MQGATE=${MQGATE:-build/mqgate}
fails=0
checks=0
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }

# expect_exit CODE CMD... : run CMD, compare its exit code.
expect_exit() {
    local want=$1; shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" = "$want" ]; then ok; else bad "'$*' exited $got, want $want"; cat "$tmp/err"; fi
}

expect_in() { # FILE TEXT
    if grep -qF -- "$2" "$1"; then ok; else bad "'$2' not in $1:"; head -20 "$1"; fi
}

# --- top level ---
expect_exit 0 "$MQGATE" --version
grep -Eq '^mqgate [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" && ok || bad "--version output: $(cat "$tmp/out")"
expect_exit 0 "$MQGATE" --help
expect_in "$tmp/out" "commands:"
expect_exit 2 "$MQGATE"
expect_in "$tmp/err" "usage: mqgate"
expect_exit 2 "$MQGATE" frobnicate
expect_in "$tmp/err" "'frobnicate' is not a command"

# --- every subcommand has --help, and `help NAME` says the same ---
for cmd in run check probe broker pub sub help; do
    expect_exit 0 "$MQGATE" "$cmd" --help
    expect_in "$tmp/out" "usage: mqgate $cmd"
    cp "$tmp/out" "$tmp/help1"
    expect_exit 0 "$MQGATE" help "$cmd"
    cmp -s "$tmp/out" "$tmp/help1" && ok || bad "'help $cmd' differs from '$cmd --help'"
done
expect_exit 2 "$MQGATE" help nosuch
expect_exit 2 "$MQGATE" check --bogus-option
expect_exit 2 "$MQGATE" run --bogus-option
expect_exit 2 "$MQGATE" check -c config/demo.yaml extra-arg

# --- check: every example is valid and summarised ---
for f in config/examples/*.yaml config/demo.yaml; do
    expect_exit 0 "$MQGATE" check -c "$f"
    expect_in "$tmp/out" "$f: valid"
    expect_in "$tmp/out" "gateway '"
done
expect_exit 0 "$MQGATE" check -q -c config/demo.yaml
[ ! -s "$tmp/out" ] && ok || bad "check -q printed: $(cat "$tmp/out")"

# --- check: a broken file gives every error, gcc style, exit 2 ---
cat >"$tmp/broken.yaml" <<'YAML'
gateway:
  nmae: x
buses:
  - name: rs485
    device: /dev/ttyUSB0
    baud: fast
devices:
  - name: m1
    bus: rs458
    slave: 1
    points:
      - { name: v, address: 0 }
YAML
expect_exit 2 "$MQGATE" check -c "$tmp/broken.yaml"
expect_in "$tmp/err" "$tmp/broken.yaml:2:3: error: unknown key 'nmae' in gateway; did you mean 'name'?"
expect_in "$tmp/err" "$tmp/broken.yaml:6:11: error: 'baud' expects an integer, got 'fast'"
expect_in "$tmp/err" "$tmp/broken.yaml:9:10: error: no bus named 'rs458'; did you mean 'rs485'?"
expect_in "$tmp/err" "3 errors"
expect_exit 2 "$MQGATE" check -c "$tmp/does-not-exist.yaml"
expect_in "$tmp/err" "does-not-exist.yaml: error: cannot open: No such file or directory"
expect_exit 2 "$MQGATE" run -c "$tmp/broken.yaml"
expect_in "$tmp/err" "error: unknown key 'nmae'"

# --- run: starts, reloads on SIGHUP, stops on SIGTERM with exit 0 ---
wait_for_log() { # TEXT: bounded wait for a line in the run log
    for _ in $(seq 1 100); do
        grep -qF -- "$1" "$tmp/run.log" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
# Port 0: the embedded broker takes any free port, so tests never collide
# with a broker already on 1883.
free_broker='broker: { listeners: [ { port: 0 } ] }'
{ cat config/examples/energy-meter.yaml; echo "$free_broker"; } >"$tmp/run.yaml"
"$MQGATE" run -c "$tmp/run.yaml" 2>"$tmp/run.log" &
pid=$!
wait_for_log "running with 1 bus(es), 1 device(s), 6 point(s)" && ok || bad "run did not start: $(cat "$tmp/run.log")"

# The gateway runs its embedded broker, with its retained status "online".
rport=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/run.log" | head -1)
status=$(timeout 10 "$MQGATE" sub -p "${rport:-1}" -t barn-pi/status -C 1 2>&1)
[ "$status" = online ] && ok || bad "gateway status topic: '$status' (port '$rport')"

printf 'gateway:\n  name: [broken\n' >"$tmp/run.yaml"
kill -HUP "$pid"
wait_for_log "keeping the running configuration" && ok || bad "bad reload not reported: $(cat "$tmp/run.log")"
kill -0 "$pid" 2>/dev/null && ok || bad "run died on a bad reload"

{ cat config/examples/gps-nmea.yaml; echo "$free_broker"; } >"$tmp/run.yaml"
kill -HUP "$pid"
wait_for_log "'tractor-pi' running with 1 bus(es), 1 device(s), 6 point(s)" && ok || bad "good reload not applied: $(cat "$tmp/run.log")"

kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
wait "$pid"; rc=$?
pid=
[ "$rc" = 0 ] && ok || bad "run exited $rc after SIGTERM"
expect_in "$tmp/run.log" "stopped by SIGTERM"

# --- "Try MQTT in two terminals", as the README shows it ---
"$MQGATE" broker -p 0 2>"$tmp/broker.log" &
bpid=$!
for _ in $(seq 1 100); do grep -q "listening on" "$tmp/broker.log" && break; sleep 0.05; done
bport=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/broker.log" | head -1)
if [ -n "$bport" ]; then
    ok
    timeout 10 "$MQGATE" sub -d -p "$bport" -t 'demo/#' -v -C 1 >"$tmp/demo.out" 2>"$tmp/demo.err" &
    spid=$!
    for _ in $(seq 1 100); do grep -q "received SUBACK" "$tmp/demo.err" && break; sleep 0.05; done
    "$MQGATE" pub -p "$bport" -t demo/hi -m hello
    wait "$spid"
    grep -qx "demo/hi hello" "$tmp/demo.out" && ok || bad "two terminals: sub printed '$(cat "$tmp/demo.out")'"
else
    bad "mqgate broker did not start: $(cat "$tmp/broker.log")"
fi
kill -TERM "$bpid" 2>/dev/null
wait "$bpid"; rc=$?
[ "$rc" = 0 ] && ok || bad "mqgate broker exited $rc after SIGTERM"

# --- check --dry-run: the exact messages, from sample readings ---
expect_exit 0 "$MQGATE" check -q -n -c config/examples/energy-meter.yaml
grep -Eq '^barn-pi/meter1/voltage \{"value":230\.5,"unit":"V","timestamp":"[0-9-]{10}T[0-9:.]{12}Z","quality":"good"\}   \[qos 1\]$' \
    "$tmp/out" && ok || bad "dry-run voltage line: $(grep voltage "$tmp/out" | head -1)"
expect_in "$tmp/out" "barn-pi/meter1/status online   [qos 1, retained]"
expect_in "$tmp/out" 'homeassistant/sensor/barn-pi_meter1/voltage/config {"name":"Voltage","unique_id":"barn-pi_meter1_voltage",'
grep -Eq '^barn-pi/meter1/energy_import \{"value":null,.*"quality":"bad"\}   \[qos 1, retained\]$' \
    "$tmp/out" && ok || bad "dry-run failed read: $(grep energy_import "$tmp/out" | tail -1)"
for f in config/examples/*.yaml config/demo.yaml; do
    expect_exit 0 "$MQGATE" check -q -n -c "$f"
done

# --- probe: the devices of a config, read as run would, printed ---
expect_exit 2 "$MQGATE" probe -c "$tmp/broken.yaml"
expect_exit 2 "$MQGATE" probe -n 0
expect_exit 2 "$MQGATE" probe -t soon
expect_exit 0 "$MQGATE" probe --list-ports
[ -s "$tmp/out" ] && ok || bad "probe --list-ports printed nothing"
cat >"$tmp/probe.yaml" <<EOF2
buses:
  - { name: rs485, device: $tmp/nothing-here, reconnect_min: 20ms, reconnect_max: 50ms }
devices:
  - { name: meter, bus: rs485, slave: 1, poll_interval: 50ms, points: [ { name: v, address: 0 } ] }
EOF2
expect_exit 2 "$MQGATE" probe -c "$tmp/probe.yaml" -d nosuch
expect_in "$tmp/err" "no device named 'nosuch'"
# A port that is not there: every poll reports it, and the device never answered.
expect_exit 1 "$MQGATE" probe -c "$tmp/probe.yaml" -n 3 -s
expect_in "$tmp/out" "meter/v bad: disconnected (port not open: $tmp/nothing-here: No such file or directory)"
expect_in "$tmp/out" "meter offline: disconnected"
expect_in "$tmp/out" "meter: polls=3 "
# Against the simulated slave, when this build has it (not under qemu).
sim=$(dirname "$MQGATE")/tests/sim/modbus_sim
if [ -x "$sim" ]; then
    "$sim" --link "$tmp/ttySim" --slave 1 --set 1:holding:0=0x4148,0 --no-control \
        >"$tmp/sim.out" 2>"$tmp/sim.err" </dev/null &
    simpid=$!
    for _ in $(seq 1 100); do grep -q '^ready' "$tmp/sim.out" && break; sleep 0.05; done
    sed -i "s|$tmp/nothing-here|$tmp/ttySim|; s|{ name: v, address: 0 }|{ name: v, address: 0, type: float32, unit: V }|" \
        "$tmp/probe.yaml"
    expect_exit 0 "$MQGATE" probe -c "$tmp/probe.yaml" -n 2 -T
    expect_in "$tmp/out" "meter online"
    grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z meter/v 12.5 V$' "$tmp/out" && ok ||
        bad "probe -T printed: $(cat "$tmp/out")"
    [ "$(grep -c 'meter/v 12.5 V' "$tmp/out")" = 2 ] && ok || bad "probe -n 2 printed: $(cat "$tmp/out")"
    kill "$simpid"; wait "$simpid"
fi

# --- the reference in config/README.md is the generated one ---
expect_exit 0 "$MQGATE" help config
sed -n '/^## Key reference/,$p' config/README.md >"$tmp/readme-ref"
if cmp -s "$tmp/out" "$tmp/readme-ref"; then ok; else
    bad "config/README.md's reference is stale: regenerate with 'build/mqgate help config'"
    diff "$tmp/readme-ref" "$tmp/out" | head -20
fi

echo "cli: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
