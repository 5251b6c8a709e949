#!/usr/bin/env bash
# make bench, the gateway end to end (figures only, never pass/fail):
#   - latency from a reading leaving the driver to a local MQTT subscriber
#     reading it (p50/p99), and CPU per 1,000 readings, with a Modbus meter
#     (20 points every 20 ms) and a GPS on simulated ports
#     (tests/bench/gateway_latency: the data path in one process);
#   - the RSS of `mqgate run` with the demo configuration, and with 500
#     points (50 Modbus slaves of 10 points each, every second), and its CPU
#     per 1,000 readings published.
#   tests/bench/gateway_bench.sh BUILD_DIR
set -eu
build=${1:-build}
sims=$build/tests/sim
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_file() { for _ in $(seq 1 100); do [ -e "$1" ] && return 0; sleep 0.05; done; return 1; }

slaves=()
for s in $(seq 1 50); do slaves+=(--slave "$s"); done
"$sims/modbus_sim" --link "$work/ttyBus" "${slaves[@]}" --no-control </dev/null >/dev/null 2>&1 &
pids+=("$!")
"$sims/uart_sim" --link "$work/ttyGps" --mode nmea --rate 10 --no-control </dev/null >/dev/null 2>&1 &
pids+=("$!")
wait_file "$work/ttyBus" && wait_file "$work/ttyGps" || { echo "gateway bench: simulators did not start" >&2; exit 1; }

# devices N POINTS INTERVAL: N Modbus devices (slaves 1..N) of POINTS float32 points.
devices() {
    for d in $(seq 1 "$1"); do
        echo "  - name: dev$d"
        echo "    bus: rs485"
        echo "    slave: $d"
        echo "    poll_interval: $3"
        echo "    points:"
        for p in $(seq 0 $(($2 - 1))); do
            echo "      - { name: p$p, address: $((2 * p)), type: float32, unit: V, scale: 0.5 }"
        done
    done
}
config() { # PORT DEVICES POINTS INTERVAL GPS(yes|no)
    echo "gateway: { name: bench, log_level: warn, state_dir: $work/state }"
    echo "broker: { listeners: [ { bind: 127.0.0.1, port: $1 } ] }"
    echo "buses:"
    echo "  - { name: rs485, device: $work/ttyBus, baud: 115200, response_timeout: 1s }"
    [ "$5" = yes ] && echo "  - { name: gps, type: uart, device: $work/ttyGps }"
    echo "devices:"
    devices "$2" "$3" "$4"
    if [ "$5" = yes ]; then
        echo "  - name: gps"
        echo "    bus: gps"
        echo "    framing: nmea"
        echo "    points: [ { name: lat, sentence: GGA, field: latitude }, { name: lon, sentence: GGA, field: longitude } ]"
    fi
}

echo "gateway bench: simulated Modbus slaves and GPS on ptys, $(nproc) cores"
config "$(free_port)" 1 20 20ms yes >"$work/latency.yaml"
line=$("$build/tests/bench/gateway_latency" "$work/latency.yaml" 5 | grep '^result ')
get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "gateway: reading to local subscriber, $(get messages) messages in 5 s:" \
     "p50 $(get p50_us) us, p99 $(get p99_us) us, max $(get max_us) us;" \
     "CPU $(get cpu_ms_per_1000) ms per 1,000 readings (driver, mapping, broker and the subscriber)"

# rss_of CONFIG SECONDS: VmRSS (KiB) of mqgate run after SECONDS, and its
# CPU (ms) and the messages a subscriber counted over the last 3 s.
run_and_measure() {
    local port=$1 cfg=$2
    "$build/mqgate" run -c "$cfg" >"$work/run.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    sleep 2   # start-up and the first polls: not measured
    local c0
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    count=$(timeout 3 mosquitto_sub -h 127.0.0.1 -p "$port" -t '#' 2>/dev/null | wc -l || true)
    local c1
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
    # RSS counts shared library pages too; Anonymous is the process's own
    # memory, and PSS splits the shared pages among their users.
    anon=$(awk '/^Anonymous/ {print $2}' "/proc/$pid/smaps_rollup")
    pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
    cpu_ms=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

port=$(free_port)
sed -e "s|port: 1883|port: $port|" -e "s|/tmp/mqgate-demo/meter|$work/ttyBus|" \
    -e "s|/tmp/mqgate-demo/gps|$work/ttyGps|" -e "s|/tmp/mqgate-demo|$work|" config/demo.yaml >"$work/demo.yaml"
run_and_measure "$port" "$work/demo.yaml"
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo "gateway: mqgate run, demo configuration (4 + 3 points): RSS $(mib "$rss")" \
     "(own memory $(mib "$anon"), PSS $(mib "$pss"))"
port=$(free_port)
config "$port" 50 10 1s no >"$work/500.yaml"
run_and_measure "$port" "$work/500.yaml"
echo "gateway: mqgate run, 500 points (50 slaves x 10, every second): RSS $(mib "$rss")" \
     "(own memory $(mib "$anon"), PSS $(mib "$pss"));" \
     "$count messages in 3 s, CPU $(awk -v c="$cpu_ms" -v n="$count" 'BEGIN { if (n) printf "%.1f", c * 1000 / n; else print "n/a" }') ms per 1,000 readings"
