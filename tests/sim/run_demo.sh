#!/usr/bin/env bash
# `make run`: the demo. Starts a simulated energy meter (Modbus RTU slave 1,
# float32 input registers whose values drift every second) and a simulated
# GPS (NMEA at 1 Hz) on ptys under $MQGATE_DEMO_DIR (default
# /tmp/mqgate-demo, where config/demo.yaml expects them), then runs the
# gateway on the demo configuration in the foreground. Ctrl-C stops all.
#   tests/sim/run_demo.sh BUILD_DIR CONFIG
set -eu
build=${1:-build}
config=${2:-config/demo.yaml}
dir=${MQGATE_DEMO_DIR:-/tmp/mqgate-demo}
mkdir -p "$dir"
pids=()
stop() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

# The simulators run in their own sessions, so Ctrl-C stops the gateway
# first (it then reports its devices offline) and the trap stops them.
# The meter: voltage, current, power and frequency as an SDM120 lays them
# out, moving a little every second (commands on modbus_sim's stdin).
setsid /usr/bin/python3 -u - <<'PY' | setsid "$build/tests/sim/modbus_sim" --link "$dir/meter" --slave 1 >/dev/null &
import math, signal, struct, time
signal.signal(signal.SIGPIPE, signal.SIG_DFL)   # the simulator gone: end quietly
def regs(x):
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return "%d %d" % (hi, lo)
t = 0
while True:
    v = 230 + 2.5 * math.sin(t / 7)
    i = 4.2 + 0.8 * math.sin(t / 11)
    print("set 1 input 0 " + regs(v))
    print("set 1 input 6 " + regs(i))
    print("set 1 input 12 " + regs(v * i * 0.97))
    print("set 1 input 70 " + regs(50 + 0.03 * math.sin(t / 3)))
    t += 1
    time.sleep(1)
PY
pids+=("$!")
setsid "$build/tests/sim/uart_sim" --link "$dir/gps" --mode nmea --rate 1 --no-control \
    </dev/null >/dev/null &
pids+=("$!")
for _ in $(seq 1 100); do
    [ -e "$dir/meter" ] && [ -e "$dir/gps" ] && break
    sleep 0.05
done
echo "demo: simulated meter on $dir/meter, GPS on $dir/gps; in another terminal:"
echo "  $build/mqgate sub -t '#' -v"
"$build/mqgate" run -c "$config"
