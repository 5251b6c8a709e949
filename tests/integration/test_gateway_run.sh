#!/usr/bin/env bash
# `mqgate run` end to end: a simulated Modbus bus (two slaves) and an NMEA
# GPS on ptys, the gateway reading them into its embedded broker, and real
# MQTT clients (mosquitto_sub/pub) checking the exact topics and payloads,
# availability when a slave dies and comes back, commands written to the
# slave with their replies, reloads (valid and invalid) and a clean stop.
#   MQGATE=build/mqgate MQGATE_SIM_DIR=build/tests/sim tests/integration/test_gateway_run.sh
set -u
BROKER=mqgate
. "$(dirname "$0")/broker_lib.sh"
SIM_DIR=${MQGATE_SIM_DIR:-$(dirname "$MQGATE")/tests/sim}
port=$(free_port)
gw_pid=

stop_all() {
    [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null
    exec 7>&- 2>/dev/null
    cleanup
}
trap stop_all EXIT

# ---- the simulators -------------------------------------------------------
mkfifo "$work/modbus.ctl"
"$SIM_DIR/modbus_sim" --link "$work/ttyModbus" --slave 1 --slave 2 \
    --set 1:input:0=0x4366,0x199a --set 1:input:10=2301 --set 1:holding:20=100 \
    --set 1:holding:30=1,2 --set 2:holding:0=7 \
    <"$work/modbus.ctl" >"$work/modbus.out" 2>"$work/modbus.err" &
bg_pids+=("$!")
exec 7>"$work/modbus.ctl"
check "modbus_sim ready" wait_for "$work/modbus.out" "ready"
"$SIM_DIR/uart_sim" --link "$work/ttyGps" --mode nmea --rate 10 --no-control \
    </dev/null >"$work/gps.out" 2>"$work/gps.err" &
bg_pids+=("$!")
check "uart_sim ready" wait_for "$work/gps.out" "ready"

# sim_cmd COMMAND: one command to modbus_sim; its reply line in $reply.
sim_cmd() {
    local before
    before=$(wc -l <"$work/modbus.out")
    echo "$1" >&7
    for _ in $(seq 1 50); do
        [ "$(wc -l <"$work/modbus.out")" -gt "$before" ] && break
        sleep 0.1
    done
    reply=$(tail -n 1 "$work/modbus.out")
}

# ---- the configuration ----------------------------------------------------
write_config() { # PREFIX
    cat >"$work/gw.yaml" <<EOF2
gateway: { name: $1, log_level: info }
homeassistant: { enabled: true }
broker:
  listeners: [ { bind: 127.0.0.1, port: $port } ]
buses:
  - { name: rs485, device: $work/ttyModbus, baud: 115200, response_timeout: 100ms,
      retries: 0, reconnect_max: 500ms }
  - { name: gps, type: uart, device: $work/ttyGps }
devices:
  - name: meter
    bus: rs485
    slave: 1
    poll_interval: 200ms
    publish: { payload: json, json_fields: [value, unit, quality] }
    points:
      - { name: voltage, register: input, address: 0, type: float32, unit: V }
      - { name: scaled, register: input, address: 10, scale: 0.1, unit: V }
      - { name: setpoint, address: 20, scale: 0.1, writable: true, min: 0, max: 100 }
  - name: pair
    bus: rs485
    slave: 1
    poll_interval: 200ms
    publish: { payload: grouped, topic: "{gateway}/{device}" }
    points: [ { name: a, address: 30 }, { name: b, address: 31 } ]
  - name: meter2
    bus: rs485
    slave: 2
    poll_interval: 200ms
    offline_after: 2
    points: [ { name: v, address: 0 } ]
  - name: gps
    bus: gps
    framing: nmea
    points:
      - { name: latitude, sentence: GGA, field: latitude, decimals: 4 }
      - { name: satellites, sentence: GGA, field: satellites }
EOF2
}
write_config e2e
"$MQGATE" run -c "$work/gw.yaml" >"$work/gw.log" 2>&1 &
gw_pid=$!
check "gateway running" wait_for "$work/gw.log" "running with"

# ---- readings: exact topics and payloads ------------------------------------
sub all -t 'e2e/#' -v
check "meter readings" wait_for "$work/all.raw" 'e2e/meter/scaled {"value":230.1,"unit":"V","quality":"good"}'
check "float32 as meant" wait_for "$work/all.raw" 'e2e/meter/voltage {"value":230.1,"unit":"V","quality":"good"}'
check "scaled setpoint" wait_for "$work/all.raw" 'e2e/meter/setpoint {"value":10,"unit":"","quality":"good"}'
check "gps latitude" wait_for "$work/all.raw" 'e2e/gps/latitude 48.11'
check "gps satellites" wait_for "$work/all.raw" 'e2e/gps/satellites 8'
check "plain value payload" wait_for "$work/all.raw" 'e2e/meter2/v 7'
if grep -Eq '^e2e/pair \{"timestamp":"[0-9T:.-]+Z","a":1,"b":2\}$' "$work/all.raw"; then ok; else
    bad "grouped payload: $(grep '^e2e/pair' "$work/all.raw" | head -1)"; fi
check "availability online" wait_for "$work/all.raw" 'e2e/meter/status online'
check "gateway status" wait_for "$work/all.raw" 'e2e/status online'

# retained: a late subscriber gets the availability at once
retained() { # TOPIC: the retained payload, or nothing
    timeout 5 mosquitto_sub -h 127.0.0.1 -p "$port" -t "$1" -C 1 -W 2 2>/dev/null
}
[ "$(retained e2e/meter2/status)" = online ] && ok || bad "meter2 status not retained online"

# ---- Home Assistant discovery: retained, and again when HA starts --------------
disc=$(retained homeassistant/sensor/e2e_meter/voltage/config)
case "$disc" in
    *'"unique_id":"e2e_meter_voltage"'*'"state_topic":"e2e/meter/voltage"'*'"value_template":"{{ value_json.value }}"'*) ok ;;
    *) bad "discovery config of meter/voltage: $disc" ;;
esac
sub ha -t 'homeassistant/#' -v
check "discovery retained" wait_for "$work/ha.raw" 'homeassistant/number/e2e_meter/setpoint/config'
n_before=$(messages ha | wc -l)
pub -t homeassistant/status -m online
for _ in $(seq 1 50); do [ "$(messages ha | wc -l)" -gt "$n_before" ] && break; sleep 0.1; done
[ "$(messages ha | wc -l)" -ge $((n_before * 2 - 1)) ] && ok ||
    bad "Home Assistant's birth did not re-announce: $n_before then $(messages ha | wc -l)"

# ---- a slave dies and comes back ---------------------------------------------
sim_cmd "fault 2 silent"
check "meter2 offline" wait_for "$work/all.raw" 'e2e/meter2/status offline'
[ "$(retained e2e/meter2/status)" = offline ] && ok || bad "meter2 offline not retained"
check "meter keeps publishing" wait_for "$work/all.raw" 'e2e/meter/voltage' 
sim_cmd "fault 2 none"
n_online=$(grep -c 'e2e/meter2/status online' "$work/all.raw")
for _ in $(seq 1 50); do
    [ "$(grep -c 'e2e/meter2/status online' "$work/all.raw")" -gt "$n_online" ] && break
    sleep 0.1
done
[ "$(grep -c 'e2e/meter2/status online' "$work/all.raw")" -gt "$n_online" ] && ok ||
    bad "meter2 did not come back online"

# ---- commands ----------------------------------------------------------------
pub -t e2e/meter/setpoint/set -m 42.5
check "command reply ok" wait_for "$work/all.raw" 'e2e/meter/setpoint/set/result ok'
sim_cmd "get 1 holding 20"
[ "$reply" = "ok 425" ] && ok || bad "register after command: $reply"
pub -t e2e/meter/setpoint/set -m abc
check "bad command refused" wait_for "$work/all.raw" "e2e/meter/setpoint/set/result error: not a number"
pub -t e2e/meter/setpoint/set -m 1000
check "out of range refused" wait_for "$work/all.raw" "e2e/meter/setpoint/set/result error: above max"
sim_cmd "get 1 holding 20"
[ "$reply" = "ok 425" ] && ok || bad "a refused command reached the slave: $reply"
sim_cmd "stats 1"
case "$reply" in *fc06=1*) ok ;; *) bad "writes at the slave: $reply" ;; esac

# ---- reload: a valid file, then a broken one -----------------------------------
write_config e2f
kill -HUP "$gw_pid"
check "reloaded" wait_for "$work/gw.log" "reloaded"
sub new -t 'e2f/#' -v
check "new prefix after reload" wait_for "$work/new.raw" 'e2f/meter/voltage'
check "old subscriber still connected" wait_for "$work/all.raw" 'e2e/meter/voltage'
kill -0 "$all_pid" 2>/dev/null && ok || bad "the subscriber was dropped by the reload"
echo "devices: [ { name: broken" >>"$work/gw.yaml"
kill -HUP "$gw_pid"
check "bad reload reported" wait_for "$work/gw.log" "keeping the running configuration"
lines=$(messages new | wc -l)
sleep 0.5   # readings keep coming under the running configuration
[ "$(messages new | wc -l)" -gt "$lines" ] && ok || bad "publishing stopped after a bad reload"

# ---- clean stop ----------------------------------------------------------------
kill -TERM "$gw_pid"
wait "$gw_pid"; rc=$?
gw_pid=
[ "$rc" = 0 ] && ok || bad "mqgate run exited $rc after SIGTERM"
echo quit >&7
finish_gateway() {
    echo "gateway: $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
}
if [ "$fails" -gt 0 ]; then echo "--- gateway log"; tail -40 "$work/gw.log"; fi
finish_gateway
