#!/usr/bin/env bash
# make bench, the bridge's drain after an outage (figures only, never pass/fail
# on timing): N QoS 1 messages of 64 bytes are published into the gateway
# while its upstream (a loopback Mosquitto, "the cloud") is down, so they wait
# in the spool; then the cloud comes up and the bridge empties the spool into
# it. Printed: the drain rate (msg/s), the gateway's CPU per 1,000 messages
# during the drain, the spool's bytes on disk per message; the same drain
# through Mosquitto's own bridge, and the ratio. Exit 1 only when the setup is
# broken (a process did not start, crashed or hung), never on a figure.
#   tests/bench/bridge_drain_bench.sh BUILD_DIR
#   BENCH_DRAIN_N=100000 BENCH_DRAIN_TIMEOUT=25 (seconds a drain may take)
set -u
build=${1:-build}
mqgate=$build/mqgate
n=${BENCH_DRAIN_N:-100000}
drain_max=${BENCH_DRAIN_TIMEOUT:-25}
topic=bench/drain
payload=64
target=20000 # msg/s at QoS 1 to a loopback Mosquitto (the issue's goal)

work=$(mktemp -d)
pids=()     # everything started in the background, stopped by PID at exit
problems=()

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -CONT "$p" 2>/dev/null # a stopped process ignores all but KILL
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

die() {
    echo "bridge drain bench: $*" >&2
    exit 1
}

[ -x "$mqgate" ] || die "no $mqgate (make all builds it)"
for tool in mosquitto mosquitto_sub /usr/bin/python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT: bounded (5 s) wait for TEXT in FILE.
wait_for() {
    for _ in $(seq 1 50); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# stop NAME PID: SIGTERM, bounded wait, SIGKILL; a process that died before,
# hung, or exits non-zero is a problem (a crash is a broken setup).
stop() {
    local name=$1 pid=$2 rc
    kill -CONT "$pid" 2>/dev/null
    if ! kill -TERM "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        problems+=("$name died before the end (exit status $?)")
        return
    fi
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        problems+=("$name did not stop within 5 s of SIGTERM")
    fi
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] || problems+=("$name exited with status $rc on SIGTERM")
}

# The publisher: one MQTT 3.1.1 connection, N QoS 1 PUBLISHes pipelined with
# up to 1,000 unacknowledged, payload = the sequence number as 64 digits (so
# the subscriber can count distinct messages). mosquitto_pub -l is not used:
# it exits at the end of its input with messages still unacknowledged.
cat >"$work/pub.py" <<'EOF'
import socket, struct, sys, time
port, n, topic, size = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
window = 1000

def varint(v):
    out = bytearray()
    while True:
        b, v = v % 128, v // 128
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)

def publish(i):
    vh = struct.pack("!H", len(topic)) + topic + struct.pack("!H", i % 65535 + 1)
    body = vh + b"%0*d" % (size, i)
    return b"\x32" + varint(len(body)) + body

s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
cid = b"drain-bench-pub"
body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(cid)) + cid
s.sendall(b"\x10" + varint(len(body)) + body)
connack = s.recv(4)
if connack[:2] != b"\x20\x02" or connack[3] != 0:
    sys.exit("publisher: CONNACK %r" % connack)
t0 = time.monotonic()
sent = acked = 0
buf = b""
while acked < n:
    if sent < n and sent - acked < window:
        k = min(n, acked + window) - sent
        s.sendall(b"".join(publish(i) for i in range(sent, sent + k)))
        sent += k
    data = s.recv(65536)
    if not data:
        sys.exit("publisher: connection closed after %d acknowledgements" % acked)
    buf += data
    m = len(buf) // 4  # the broker sends only PUBACKs (4 bytes) here
    if any(buf[4 * j] != 0x40 for j in range(m)):
        sys.exit("publisher: unexpected packet from the broker")
    acked += m
    buf = buf[4 * m:]
seconds = time.monotonic() - t0
s.sendall(b"\xe0\x00")
s.close()
print("published=%d rate=%.0f" % (n, n / seconds))
EOF

# publish PORT: N messages; sets pub_rate; false when not all were acknowledged.
publish() {
    local out
    out=$(timeout 60 /usr/bin/python3 "$work/pub.py" "$1" "$n" "$topic" "$payload" 2>&1)
    pub_rate=$(echo "$out" | sed -n "s/^published=$n rate=//p")
    [ -n "$pub_rate" ] || { problems+=("publisher: ${out:-timed out}"); return 1; }
}

# start_cloud: a fresh loopback Mosquitto on port $cloud_port, default limits
# but for max_queued_messages (0: no limit, else it drops what its subscriber
# has not taken beyond 1,000). Subscriptions are logged so that the
# subscriber's readiness can be seen.
start_cloud() {
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nmax_queued_messages 0\n' \
        "$cloud_port" >"$work/cloud.conf"
    printf 'log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\n' \
        >>"$work/cloud.conf"
    rm -f "$work/cloud.log"
    mosquitto -c "$work/cloud.conf" 2>"$work/cloud.log" &
    cloud_pid=$!
    pids+=("$cloud_pid")
    wait_for "$work/cloud.log" " running" || die "the cloud mosquitto did not start: $(tail -3 "$work/cloud.log")"
}

# drain NAME PID STATUS_TOPIC: with PID (the bridge's process) stopped and the
# spool full, start the cloud and a subscriber to the data and to STATUS_TOPIC
# (what the bridge publishes upstream as it connects: its start of the drain),
# let PID go, and wait (bounded) for N messages. Sets rate, got, distinct,
# seconds, cpu_ms. PID is stopped (SIGSTOP) so the subscriber is surely
# listening before the bridge can connect.
drain() {
    local name=$1 pid=$2 status=$3 c0 c1 line
    start_cloud
    timeout "$drain_max" mosquitto_sub -h 127.0.0.1 -p "$cloud_port" -i drain-bench-sub -q 1 \
        -t "$topic" -t "$status" -C $((n + 1)) -F '%U %t %p' >"$work/sub.out" 2>"$work/sub.err" &
    local sub_pid=$!
    pids+=("$sub_pid")
    wait_for "$work/cloud.log" "drain-bench-sub 1 $status" ||
        die "the cloud subscriber did not subscribe: $(cat "$work/sub.err")"
    c0=$(cpu_ticks "$pid")
    kill -CONT "$pid"
    wait "$sub_pid"
    c1=$(cpu_ticks "$pid")
    local t_end
    t_end=$(date +%s.%N)
    stop "cloud mosquitto ($name)" "$cloud_pid"
    # Columns: arrival time, topic, payload. The drain runs from the status
    # message (the connection) to the last data message; when not all came,
    # to the end of the wait (both are the wall clock of this machine).
    line=$(awk -v t="$topic" -v st="${status%%+*}" -v n="$n" -v end="$t_end" '
        index($2, st) == 1 && !c { c = $1 }
        $2 == t { got++; last = $1; if (!seen[$3]++) distinct++ }
        END { if (!c) c = last; if (got < n) last = end
              printf "%d %d %.3f\n", got, distinct, last - c }' "$work/sub.out")
    read -r got distinct seconds <<<"$line"
    rate=$(awk -v g="$got" -v s="$seconds" 'BEGIN { if (s > 0) printf "%.0f", g / s; else print 0 }')
    cpu_ms=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) ))
}

# wait_spooled PORT: bounded wait until $SYS/bridge/spool/messages is N.
wait_spooled() {
    local v=
    for _ in $(seq 1 40); do
        # shellcheck disable=SC2016 # a literal MQTT topic
        v=$(timeout 3 mosquitto_sub -h 127.0.0.1 -p "$1" -t '$SYS/bridge/spool/messages' -C 1 -W 2 2>/dev/null)
        [ "$v" = "$n" ] && return 0
        sleep 0.25
    done
    problems+=("spool holds ${v:-?} messages, not $n, after the publisher was acknowledged")
    return 1
}

# report LABEL CPU_NOTE: one line for the last drain.
report() {
    local per1000 core done_note
    per1000=$(awk -v c="$cpu_ms" -v g="$got" 'BEGIN { if (g) printf "%.1f", c * 1000 / g; else print "n/a" }')
    core=$(awk -v c="$cpu_ms" -v s="$seconds" 'BEGIN { if (s > 0) printf "%.2f", c / 1000 / s; else print "n/a" }')
    done_note="$got of $n in ${seconds} s"
    [ "$got" = "$n" ] || done_note="$done_note, NOT all within ${drain_max} s"
    [ "$distinct" = "$got" ] || done_note="$done_note, $((got - distinct)) duplicates"
    echo "bridge drain: $1: $rate msg/s ($done_note); CPU $per1000 ms per 1,000 messages ($core of a core)$2"
}

# ours LABEL WINDOW MQTT_VERSION: one drain through `mqgate run`; sets ours_rate.
ours() {
    local label=$1 window=$2 version=$3 port state pid
    port=$(free_port)
    cloud_port=$(free_port)
    state=$work/state-$window-$version
    mkdir -p "$state"
    cat >"$work/gw.yaml" <<EOF
gateway: { name: edge, state_dir: $state }
broker: { sys_interval: 1s, listeners: [ { bind: 127.0.0.1, port: $port } ] }
bridge:
  url: mqtt://127.0.0.1:$cloud_port
  mqtt_version: "$version"
  reconnect_min: 100ms
  reconnect_max: 500ms
  forward: [ { filter: "bench/#", qos: 1 } ]
  spool: { max_size: 256MiB, max_inflight: $window }
EOF
    rm -f "$work/gw.log"
    "$mqgate" run -c "$work/gw.yaml" 2>"$work/gw.log" &
    pid=$!
    pids+=("$pid")
    # Started, and the upstream seen down: what comes now waits in the spool.
    if ! { wait_for "$work/gw.log" "forwarding 1 rule(s)" &&
           wait_for "$work/gw.log" "upstream not reachable"; }; then
        die "mqgate run did not start its bridge: $(tail -3 "$work/gw.log")"
    fi
    ours_rate=
    got=0
    if publish "$port" && wait_spooled "$port"; then
        if [ -z "${spool_note:-}" ]; then
            local bytes
            bytes=$(find "$state/spool" -type f -name '*.seg' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
            spool_note=$(awk -v b="$bytes" -v n="$n" -v d=$(( ${#topic} + payload )) -v r="$pub_rate" 'BEGIN {
                printf "%d bytes in segment files for %d messages: %.1f bytes per message, %d of topic and payload, %.1f of record overhead; filled at %.0f msg/s (publisher acknowledged)", b, n, b / n, d, b / n - d, r }')
            echo "bridge drain: spool: $spool_note"
        fi
        kill -STOP "$pid"
        drain "mqgate $label" "$pid" edge/status
        ours_rate=$rate
        local met="NOT met"
        [ "$rate" -ge "$target" ] && met=met
        report "mqgate, $label" "; target >= $target msg/s: $met"
    fi
    stop "mqgate run ($label)" "$pid"
    grep -q -e 'Sanitizer' -e 'runtime error' "$work/gw.log" && problems+=("sanitizer report from mqgate ($label)")
}

# theirs LABEL INFLIGHT: one drain through Mosquitto's bridge; sets theirs_rate.
theirs() {
    local label=$1 inflight=$2 port pid
    port=$(free_port)
    cloud_port=$(free_port)
    # cleansession false: the local side keeps queueing for the bridge while
    # it is down; max_queued_messages 0: no limit, so nothing is dropped.
    cat >"$work/local.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
max_queued_messages 0
max_inflight_messages $inflight
connection edge
address 127.0.0.1:$cloud_port
topic bench/# out 1
cleansession false
restart_timeout 1
EOF
    rm -f "$work/local.log"
    mosquitto -c "$work/local.conf" 2>"$work/local.log" &
    pid=$!
    pids+=("$pid")
    wait_for "$work/local.log" " running" || die "the local mosquitto did not start: $(tail -3 "$work/local.log")"
    theirs_rate=
    got=0
    if publish "$port"; then
        kill -STOP "$pid"
        # shellcheck disable=SC2016 # a literal MQTT topic: Mosquitto's bridge notification
        drain "mosquitto $label" "$pid" '$SYS/broker/connection/+/state'
        theirs_rate=$rate
        report "mosquitto bridge, $label" ""
    fi
    stop "local mosquitto ($label)" "$pid"
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

echo "bridge drain bench: $("$mqgate" --version 2>/dev/null | head -1) vs" \
     "$(mosquitto -h 2>/dev/null | head -1 | sed 's/ (build.*//'), $n QoS 1 messages of $payload bytes" \
     "spooled during an outage, then drained to a loopback Mosquitto; $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"
echo "bridge drain: the drain is timed at the cloud's subscriber, from the bridge's connection" \
     "(its status message upstream) to the last message; CPU is the bridge process's (utime + stime) over the same span"

ours "window 64 (default), MQTT 5" 64 5
ours64=$ours_rate
ours "window 1024, MQTT 5" 1024 5
ours1024=$ours_rate
if [ -n "$ours1024" ] && [ "$got" != "$n" ]; then
    echo "bridge drain: note: window 1024 over MQTT 5 stalls: Paho queues what exceeds the receive" \
         "maximum (20) and refuses sends beyond its 100 buffered messages (maxBufferedMessages);" \
         "its send thread then waits for a new send or its 1 s timer, not for the PUBACKs"
fi
ours "window 64, MQTT 3.1.1" 64 3.1.1
ours311=$ours_rate
theirs "max_inflight_messages 20 (default), MQTT 3.1.1" 20
theirs20=$theirs_rate
theirs "max_inflight_messages 64, MQTT 3.1.1" 64
theirs64=$theirs_rate

echo "bridge drain: ratio mqgate/mosquitto, both with defaults (window 64 vs 20): $(ratio "$ours64" "$theirs20");" \
     "same window 64: $(ratio "$ours64" "$theirs64") (MQTT 5), $(ratio "$ours311" "$theirs64") (both MQTT 3.1.1);" \
     "window 1024: $(ratio "$ours1024" "$theirs64") of Mosquitto at 64"
echo "bridge drain: note: the upstream Mosquitto grants MQTT 5 clients a receive maximum of 20" \
     "(its max_inflight_messages) and Paho honours it, so over MQTT 5 at most 20 are on the wire" \
     "whatever spool.max_inflight says; Mosquitto's bridge speaks 3.1.1, which has no such limit"
echo "bridge drain: note: Mosquitto's bridge queues in memory (lost if it crashes or restarts," \
     "persistence saves it only every autosave_interval); mqgate's spool is on disk (fsync: batch, every 200 ms)"

for p in "${problems[@]}"; do
    echo "bridge drain bench: PROBLEM: $p"
done
# Crashes and hangs fail the run; slow or incomplete drains do not.
for p in "${problems[@]}"; do
    case $p in *died*|*'did not stop'*|*'exited with status'*|*publisher*|*sanitizer*) exit 1;; esac
done
exit 0
