#!/usr/bin/env bash
# make bench, the drivers: Modbus RTU slaves of 50 float32 points each
# (registers 0..99) behind tests/sim/modbus_sim on a pty, polled by
# `mqgate probe`. Prints figures, never fails on timing:
#   - one device at poll_interval 10 ms: readings per second, transactions
#     per poll cycle and CPU per 1,000 readings, coalesced and not;
#   - the software's ceiling: 20 such devices at 10 ms (100,000 readings/s
#     asked) on an unpaced pty;
#   - with the simulator pacing each reply like an 8N1 line at 9600 and
#     115200 baud: the bus time one cycle needs, computed from the frame
#     sizes (request + 3.5 characters + reply + the master's inter-frame
#     silence), against the cycle time measured from the readings' own
#     timestamps; the ratio is how much of what the line allows is used.
#   tests/bench/drivers_bench.sh BUILD_DIR
set -eu
build=${1:-build}
mqgate=$build/mqgate
sim=$build/tests/sim/modbus_sim
duration=${DRIVERS_BENCH_SECONDS:-5}
work=$(mktemp -d)
sim_pid=
cleanup() {
    if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

[ -x "$sim" ] || { echo "drivers bench: $sim missing (make integration-tests)" >&2; exit 1; }

# float32 n * 1.5 at register 2n of slaves 1..20 (abcd: high word first).
/usr/bin/python3 - "$work/map" <<'PY'
import struct, sys
with open(sys.argv[1], "w") as f:
    for slave in range(1, 21):
        regs = []
        for n in range(50):
            hi, lo = struct.unpack(">HH", struct.pack(">f", n * 1.5))
            regs += [hi, lo]
        f.write("%d holding 0 %s\n" % (slave, " ".join("0x%04x" % r for r in regs)))
PY

start_sim() {   # start_sim [--pace BAUD]
    rm -f "$work/ttyBench"
    local slaves=()
    for s in $(seq 1 20); do slaves+=(--slave "$s"); done
    "$sim" --link "$work/ttyBench" "${slaves[@]}" --map "$work/map" --no-control "$@" \
        >"$work/sim.out" 2>"$work/sim.err" </dev/null &
    sim_pid=$!
    for _ in $(seq 1 200); do
        grep -q '^ready' "$work/sim.out" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "drivers bench: the simulator did not start" >&2
    cat "$work/sim.err" >&2
    exit 1
}

stop_sim() {
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=
}

write_config() {   # write_config BAUD COALESCE DEVICES
    {
        echo "gateway: { log_level: warn }"
        echo "buses:"
        echo "  - { name: rs485, device: $work/ttyBench, baud: $1, response_timeout: 2s }"
        echo "devices:"
        for d in $(seq 1 "$3"); do
            echo "  - name: meter$d"
            echo "    bus: rs485"
            echo "    slave: $d"
            echo "    poll_interval: 10ms"
            echo "    coalesce: $2"
            echo "    points:"
            for n in $(seq 0 49); do
                echo "      - { name: p$n, address: $((2 * n)), type: float32 }"
            done
        done
    } >"$work/bench.yaml"
}

# run_probe [probe options]: runs for $duration; leaves the readings (with
# -T) in probe.out and prints "polls transactions readings cpu_ms", summed
# over the devices.
run_probe() {
    TIMEFORMAT='%U %S'
    { time "$mqgate" probe -c "$work/bench.yaml" -s -t "${duration}s" "$@" \
        >"$work/probe.out" 2>"$work/probe.err"; } 2>"$work/time.out" || true
    grep -q '^meter1: polls=' "$work/probe.out" ||
        { echo "drivers bench: probe printed no counters" >&2; cat "$work/probe.err" >&2; exit 1; }
    awk -v cpu="$(awk '{printf "%.0f", ($1 + $2) * 1000}' "$work/time.out")" '
        /^meter[0-9]+: polls=/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); s[kv[1]] += kv[2] } }
        END { print s["polls"], s["transactions"], s["readings_good"], cpu }' "$work/probe.out"
}

# Mean time between consecutive readings of meter1/p0, from -T timestamps (ms).
cycle_ms() {
    awk '$2 == "meter1/p0" { split(substr($1, 12, 12), t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000;
                             if (n == 0) first = ms; last = ms; n++ }
         END { if (n > 1) printf "%.2f", (last - first) / (n - 1); else print "n/a" }' "$work/probe.out"
}

per_s() { awk -v r="$1" -v d="$duration" 'BEGIN { printf "%.0f", r / d }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
cpu_per_k() { awk -v c="$1" -v r="$2" 'BEGIN { if (r + 0) printf "%.1f", c * 1000 / r; else print "n/a" }'; }

echo "drivers bench: 50 float32 points (100 registers) per Modbus RTU slave, modbus_sim on a pty, ${duration} s per run, $(nproc) cores"

start_sim
for coalesce in true false; do
    write_config 115200 "$coalesce" 1
    read -r polls trans readings cpu < <(run_probe -q)
    label=$([ "$coalesce" = true ] && echo "coalesced" || echo "one request per point")
    echo "drivers: 1 device every 10 ms, $label: $(per_s "$readings") readings/s," \
         "$(ratio "$trans" "$polls") transactions per poll cycle," \
         "CPU $(cpu_per_k "$cpu" "$readings") ms per 1,000 readings"
done
write_config 115200 true 20
read -r polls trans readings cpu < <(run_probe -q)
echo "drivers: ceiling, 20 devices every 10 ms (100,000 readings/s asked), unpaced: $(per_s "$readings") readings/s," \
     "$(ratio "$trans" "$polls") transactions per poll cycle, CPU $(cpu_per_k "$cpu" "$readings") ms per 1,000 readings"
stop_sim

# The line, 8N1 (10 bits per character): FC03 request 8 bytes, reply
# 5 + 2 * 100 = 205 bytes, the slave's turnaround of 3.5 characters, and the
# master's inter-frame silence (3.5 characters, or 1.75 ms above 19200).
for baud in 9600 115200; do
    write_config "$baud" true 1
    start_sim --pace "$baud"
    read -r polls trans readings cpu < <(run_probe -T)
    stop_sim
    line=$(awk -v b="$baud" 'BEGIN { c = 10000 / b; gap = (b > 19200) ? 1.75 : 3.5 * c;
                                     printf "%.2f", (8 + 205 + 3.5) * c + gap }')
    took=$(cycle_ms)
    echo "drivers: paced at $baud baud: the line allows one cycle per $line ms, the scheduler" \
         "took $took ms ($(per_s "$readings") readings/s); line use" \
         "$(awk -v l="$line" -v c="$took" 'BEGIN { if (c + 0 == 0) print "n/a"; else printf "%.1f%%", 100 * l / c }')"
done
