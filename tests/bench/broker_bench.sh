#!/usr/bin/env bash
# The broker benchmark of `make bench`: runs each scenario of
# BUILD_DIR/tests/bench/mqtt_load against `mqgate broker` and Mosquitto (each
# started fresh per scenario on a free 127.0.0.1 port, stopped by PID) and
# prints one line per figure with both values and the ratio mqgate/Mosquitto.
# Figures only: nothing fails on timing. Exit 1 only when a broker crashed or
# hung, or the benchmark itself could not run.
#   tests/bench/broker_bench.sh BUILD_DIR
set -u
build=${1:-build}
load=$build/tests/bench/mqtt_load
mqgate=$build/mqgate
duration=${BENCH_DURATION:-3} # seconds per throughput and latency scenario
idle_conns=2000
brokers=(mqgate mosquitto)

work=$(mktemp -d)
broker_pid=
broker_log=
problems=()
res_mqgate= # the `result ...` line of mqtt_load for each broker, set by run
res_mosquitto=

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [ -n "$broker_pid" ]; then
        kill -KILL "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT

die() {
    echo "broker bench: $*" >&2
    exit 1
}

[ -x "$load" ] || die "no $load (make bench builds it)"
[ -x "$mqgate" ] || die "no $mqgate"
"$mqgate" help broker >/dev/null 2>&1 || die "$mqgate has no 'broker' command"
command -v mosquitto >/dev/null || die "mosquitto is not installed (make deps)"

# Both brokers and mqtt_load inherit this; 2,000 clients need ~2,000 fds each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((idle_conns + 200)) ]; then
    echo "broker bench: ulimit -n is $(ulimit -n): the idle figure may be cut short" >&2
fi

# wait_for FILE TEXT: bounded (5 s) wait for TEXT in FILE.
wait_for() {
    for _ in $(seq 1 50); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_broker NAME: a fresh broker on a free port; sets port, broker_pid, broker_log.
start_broker() {
    port=$("$load" freeport) || die "no free port"
    broker_log=$work/$1.log
    rm -f "$broker_log" # not the last scenario's: the background shell truncates it late
    case $1 in
    mosquitto)
        # Mosquitto's defaults otherwise (max_queued_messages 1000, max_inflight_messages 20).
        printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nmax_connections -1\n' \
            "$port" >"$work/mosquitto.conf"
        mosquitto -c "$work/mosquitto.conf" 2>"$broker_log" &
        broker_pid=$!
        wait_for "$broker_log" " running" ||
            die "mosquitto did not start: $(tail -3 "$broker_log")"
        ;;
    mqgate)
        # Defaults, but room for the idle scenario (max_connections is 1024 by default).
        printf 'broker:\n  max_connections: %d\n' $((idle_conns + 100)) >"$work/mqgate.yaml"
        "$mqgate" broker -c "$work/mqgate.yaml" -p "$port" 2>"$broker_log" &
        broker_pid=$!
        wait_for "$broker_log" "listening on 127.0.0.1:$port" ||
            die "mqgate broker did not start: $(tail -3 "$broker_log")"
        ;;
    esac
}

# stop_broker NAME SCENARIO: SIGTERM by PID, bounded wait, then SIGKILL. A
# broker that died before, or exits non-zero, is a problem to report.
stop_broker() {
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        wait "$broker_pid" 2>/dev/null
        problems+=("$1 died during '$2' (exit status $?); log tail: $(tail -3 "$broker_log" | tr '\n' ' ')")
        broker_pid=
        return
    fi
    kill -TERM "$broker_pid"
    for _ in $(seq 1 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$broker_pid" 2>/dev/null; then
        kill -KILL "$broker_pid"
        problems+=("$1 did not stop within 5 s of SIGTERM after '$2'")
    fi
    wait "$broker_pid"
    local rc=$?
    [ "$rc" = 0 ] || problems+=("$1 exited with status $rc on SIGTERM after '$2'")
    broker_pid=
}

# run SCENARIO MQTT_LOAD_ARGS...: the scenario against each broker; the
# result line of each in res_mqgate / res_mosquitto ("" when none).
run() {
    local scenario=$1 b rc
    shift
    for b in "${brokers[@]}"; do
        start_broker "$b"
        timeout 90 "$load" "$@" -p "$port" -P "$broker_pid" >"$work/out" 2>"$work/err"
        rc=$?
        if [ "$rc" = 124 ]; then
            problems+=("mqtt_load hung against $b in '$scenario' (killed after 90 s)")
        elif [ "$rc" != 0 ]; then
            problems+=("$b, '$scenario': mqtt_load exit $rc: $(head -3 "$work/err" | tr '\n' ' ')")
        fi
        stop_broker "$b" "$scenario"
        printf -v "res_$b" '%s' "$(grep '^result ' "$work/out")"
    done
}

# field NAME RESULT_LINE: the value of NAME=... ("" when absent).
field() {
    local kv
    for kv in $2; do
        [ "${kv%%=*}" = "$1" ] && { echo "${kv#*=}"; return; }
    done
}

# ratio A B: A/B with two decimals, "n/a" when either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# figure LABEL KEY UNIT [EXTRA]: one line, both brokers and the ratio.
figure() {
    local a b
    a=$(field "$2" "$res_mqgate")
    b=$(field "$2" "$res_mosquitto")
    echo "$1: mqgate ${a:-n/a} $3, mosquitto ${b:-n/a} $3, ratio $(ratio "$a" "$b")${4:+ $4}"
}

# The CPU seconds each process used during the run, and a warning when
# mqtt_load itself was near a full core (the figure is then a lower bound).
cpu_note() {
    local lm lq note
    lm=$(field cpu_s "$res_mqgate")
    lq=$(field cpu_s "$res_mosquitto")
    note="cpu s: broker $(field broker_cpu_s "$res_mqgate")/$(field broker_cpu_s "$res_mosquitto")"
    note="$note, mqtt_load ${lm:-?}/${lq:-?}"
    if awk -v a="${lm:-0}" -v b="${lq:-0}" -v d="$duration" \
        'BEGIN { exit !(a > 0.9 * d || b > 0.9 * d) }'; then
        note="$note; mqtt_load near a full core: a lower bound"
    fi
    echo "$note"
}

ours=$("$mqgate" --version 2>/dev/null | head -1)
theirs=$(mosquitto -h 2>/dev/null | head -1 | sed 's/ (build.*//')
echo "broker bench: $ours vs $theirs, ${duration} s per scenario, 64-byte payloads, $(nproc) cores"

run "fan-in qos0" fanin -n 8 -q 0 -d "$duration" -s 64
figure "fan-in qos0 (8 pubs -> 1 sub)" rate msg/s \
    "(undelivered: mqgate $(field undelivered "$res_mqgate"), mosquitto $(field undelivered "$res_mosquitto"); $(cpu_note))"

run "fan-in qos1" fanin -n 8 -q 1 -d "$duration" -s 64
figure "fan-in qos1 (8 pubs -> 1 sub)" rate msg/s \
    "(lost: mqgate $(field lost "$res_mqgate") of $(field acked "$res_mqgate"),\
 mosquitto $(field lost "$res_mosquitto") of $(field acked "$res_mosquitto") acked; $(cpu_note))"
lost=$(field lost "$res_mqgate")
[ -n "$lost" ] && [ "$lost" != 0 ] &&
    problems+=("mqgate lost $lost QoS 1 messages it had acknowledged (fan-in qos1)")

run "fan-out" fanout -n 16 -q 0 -d "$duration" -s 64
figure "fan-out qos0 (1 pub -> 16 subs)" rate deliveries/s "($(cpu_note))"

run "latency" latency -r 2000 -d "$duration" -s 64
figure "latency p50 at 2000 msg/s" p50_us us
figure "latency p99 at 2000 msg/s" p99_us us

run "idle" idle -n "$idle_conns"
figure "idle $idle_conns connections: RSS growth" kib_per_conn KiB/conn \
    "(connected: mqgate $(field connected "$res_mqgate"), mosquitto $(field connected "$res_mosquitto"))"

for p in "${problems[@]}"; do
    echo "broker bench: PROBLEM: $p"
done
# Crashes and hangs of a broker fail the run; lost messages and slow figures do not.
for p in "${problems[@]}"; do
    case $p in *died*|*'did not stop'*|*'exited with status'*|*hung*) exit 1;; esac
done
exit 0
