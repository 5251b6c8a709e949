#!/usr/bin/env bash
# Limits that protect the device from its clients: a connection that sends
# nothing, or dribbles its CONNECT a byte at a time (slowloris), is cut off
# at connect_timeout while a normal client keeps publishing and receiving;
# an oversize packet closes that client only; max_queued_bytes for an
# offline session; max_connections; and max_connect_rate (per address,
# mqgate only: Mosquitto has no such limit).
# Raw connections come from a small Python helper. BROKER=mosquitto or mqgate.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/integration/broker_lib.sh

cat >"$work/raw.py" <<'PY'
# Raw MQTT 3.1.1 connections for the limit tests. Every wait is bounded.
import socket, sys, time

def connect_packet(cid):
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(body)]) + body

def varint(n):
    out = b""
    while True:
        b, n = n % 128, n // 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out

def closed_within(s, limit):
    """Seconds until the peer closed s, or None if still open at `limit`."""
    start = time.monotonic()
    s.settimeout(0.05)
    while time.monotonic() - start < limit:
        try:
            if s.recv(4096) == b"":
                return time.monotonic() - start
        except socket.timeout:
            pass
        except OSError:
            return time.monotonic() - start
    return None

def open_conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s

def mqtt_connect(port, cid, wait=3.0):
    """A socket after a successful CONNACK, or None (refused or closed)."""
    try:
        s = open_conn(port)
        s.sendall(connect_packet(cid))
        s.settimeout(wait)
        ack = s.recv(4)
        if len(ack) == 4 and ack[0] == 0x20 and ack[3] == 0:
            return s
        s.close()
    except OSError:
        pass
    return None

cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "silent":            # connect, send nothing: when is it closed?
    t = closed_within(open_conn(port), float(sys.argv[3]))
    print("open" if t is None else "%.2f" % t)
elif cmd == "dribble":         # CONNECT one byte per INTERVAL seconds
    s, pkt, interval = open_conn(port), connect_packet(b"dribbler"), float(sys.argv[3])
    start, result = time.monotonic(), "completed"
    for byte in pkt:
        try:
            s.sendall(bytes([byte]))
        except OSError:
            result = "%.2f" % (time.monotonic() - start)
            break
        t = closed_within(s, interval)
        if t is not None:
            result = "%.2f" % (time.monotonic() - start)
            break
    print(result)
elif cmd == "oversize":        # a PUBLISH of SIZE payload bytes after CONNECT
    s = mqtt_connect(port, b"oversize")
    if s is None:
        print("no-connack")
        sys.exit(0)
    topic, size = b"lim/big", int(sys.argv[3])
    body = len(topic).to_bytes(2, "big") + topic + b"x" * size
    try:
        s.sendall(bytes([0x30]) + varint(len(body)) + body)
    except OSError:
        pass
    print("open" if closed_within(s, 5) is None else "closed")
elif cmd == "conns":           # N connections at once, held: how many got CONNACK?
    n, ok, held = int(sys.argv[3]), 0, []
    for i in range(n):
        s = mqtt_connect(port, b"c%d" % i, 2.0)
        if s is not None:
            ok += 1
            held.append(s)
    print("%d %d" % (ok, n - ok))
    sys.stdout.flush()
    for s in held:
        s.close()
PY
raw() { timeout 30 /usr/bin/python3 "$work/raw.py" "$@"; }

# ---- slowloris beside a normal client, and an oversize packet ----
start_broker_conf "max_packet_size 2048
max_queued_bytes 4096" "connect_timeout: 2s
max_packet_size: 2048
max_queued_bytes: 4096"

sub live -t lim/live -C 30 -F '%p'
# One publisher connection, 30 messages over 6 s: it spans the whole test.
(for i in $(seq 1 30); do echo "m$i"; sleep 0.2; done) |
    timeout 20 mosquitto_pub -h 127.0.0.1 -p "$port" -t lim/live -l >"$work/live_pub.log" 2>&1 &
live_pub=$!
bg_pids+=("$live_pub")

raw silent "$port" 6 >"$work/silent.out" &
silent_pid=$!
raw dribble "$port" 0.5 >"$work/dribble.out" &
dribble_pid=$!
wait "$silent_pid" "$dribble_pid"
silent=$(cat "$work/silent.out")
dribble=$(cat "$work/dribble.out")
if [ "$BROKER" = mqgate ]; then
    # connect_timeout is 2 s: closed at the deadline, not before, not long after.
    check "a silent connection is closed at connect_timeout (after ${silent}s)" \
        awk -v t="$silent" 'BEGIN { exit !(t != "open" && t >= 1.8 && t <= 3.5) }'
    check "a CONNECT dribbled a byte every 0.5 s is cut off at connect_timeout (after ${dribble}s)" \
        awk -v t="$dribble" 'BEGIN { exit !(t != "completed" && t >= 1.8 && t <= 3.5) }'
    check "the log says why" grep -q "no CONNECT in time" "$work/broker.log"
else
    echo "mosquitto: silent connection: $silent, dribbled CONNECT: $dribble (not checked)"
fi

got=$(raw oversize "$port" 4000)
check "an oversize PUBLISH (4000 > max_packet_size 2048) closes its connection (got $got)" [ "$got" = closed ]
got=$(raw oversize "$port" 1000)
check "a PUBLISH within max_packet_size keeps its connection (got $got)" [ "$got" = open ]

wait "$live_pub"
check "the normal publisher ran undisturbed (exit $?)" [ $? -eq 0 ]
wait_messages live 30
check "the normal subscriber got all 30 messages, in order (got $(messages live | wc -l))" \
    [ "$(messages live | tr '\n' ,)" = "$(seq -f 'm%g' 1 30 | tr '\n' ,)" ]


# ---- max_queued_bytes: an offline session keeps at most 4096 payload bytes ----
timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -c -i qbytes -q 1 -t lim/q -E
check "a persistent session subscribes, then goes offline (exit $?)" [ $? -eq 0 ]
filler=$(printf '%0997d' 0)
for i in $(seq 1 10); do pub -q 1 -t lim/q -m "$(printf '%03d' "$i")$filler"; done
sub queued -c -i qbytes -q 1 -t lim/q -W 3 -F '%p'
wait_messages queued 4
sleep 0.5   # any message past the limit would have come with the first four
got=$(messages queued | cut -c1-3 | tr '\n' ,)
if [ "$BROKER" = mqgate ]; then
    check "10 messages of 1000 bytes: the first 4 were kept (got $got)" [ "$got" = "001,002,003,004," ]
else
    check "10 messages of 1000 bytes: some were dropped (got $got)" [ "$(messages queued | wc -l)" -lt 10 ]
fi
stop_broker

# ---- max_connections: 20 at once, the rest refused (closed, no CONNACK) ----
# A broker of its own: on the broker above, after the closes there,
# Mosquitto 2.0.11 let all 25 in (seen while writing this test).
start_broker_conf "max_connections 20" "max_connections: 20"
got=$(raw conns "$port" 25)
check "max_connections 20: 20 of 25 connections accepted (got ok/refused: $got)" [ "$got" = "20 5" ]
# The slots come back once those connections are gone.
freed=no
for _ in $(seq 1 20); do
    pub -t lim/after -m x 2>/dev/null && { freed=yes; break; }
    sleep 0.1
done
check "after they close, a new client connects again" [ "$freed" = yes ]
stop_broker

# ---- max_connect_rate (mqgate only) ----
if [ "$BROKER" = mqgate ]; then
    start_broker_conf "" "max_connect_rate: 5"
    got=$(raw conns "$port" 20)
    ok=${got% *}
    check "max_connect_rate 5: a burst of 20 from one address gets 5 or 6 in (got ok/refused: $got)" \
        [ "$ok" -ge 5 -a "$ok" -le 6 ]
    refused_lines=$(grep -c "over max_connect_rate" "$work/broker.log")
    check "refusals are logged at most once a second (got $refused_lines lines)" \
        [ "$refused_lines" -ge 1 -a "$refused_lines" -le 2 ]
    sleep 1.1  # the bucket refills at 5 a second: this waits for tokens, not for readiness
    got=$(raw conns "$port" 3)
    check "a second later, the address may connect again (got ok/refused: $got)" [ "$got" = "3 0" ]
    stop_broker
fi

# ---- memory_limit (mqgate only): a subscriber that stops reading fills the
# broker's memory; past the limit an MQTT 5 publisher's QoS 1 is refused
# (PUBACK 0x97, quota exceeded) while the broker keeps serving; once the
# subscriber reads again the limit lets go and publishing works again.
if [ "$BROKER" = mqgate ]; then
    start_broker_conf "" "memory_limit: 256KiB
sys_interval: 1s"
    stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -d -q 1 -i memslow -t mem/x -F '%p' \
        >"$work/memslow.raw" 2>&1 &
    memslow=$!
    bg_pids+=("$memslow")
    check "memory_limit: the slow subscriber subscribes" wait_for "$work/memslow.raw" "received SUBACK"
    kill -STOP "$memslow"
    # 100 QoS 1 messages of 8000 bytes (800 KB) for a subscriber that reads
    # nothing: past its inflight window they wait in the broker.
    filler=$(printf '%08000d' 0)
    for i in $(seq 1 100); do echo "$filler"; done |
        timeout 20 mosquitto_pub -h 127.0.0.1 -p "$port" -V 5 -q 1 -d -i mempub -t mem/x -l \
        >"$work/mempub.log" 2>&1
    refused=$(grep -c "RC:151" "$work/mempub.log")
    check "memory_limit 256KiB: QoS 1 from an MQTT 5 client is refused with 0x97 (got $refused PUBACKs)" \
        [ "$refused" -ge 1 ]
    check "the broker logs that the limit bites" \
        grep -q "memory_limit 256 KiB reached: .* bytes held; pausing publishers and dropping QoS 0" \
        "$work/broker.log"
    # The retained figure first, then the next one (sys_interval is 1 s).
    heap=$(timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -C 2 -t '$SYS/broker/heap/current' |
        tail -n 1)
    check "meanwhile the broker serves other clients: \$SYS/broker/heap/current is $heap" \
        [ "${heap:-0}" -gt 200000 ]
    kill -CONT "$memslow"
    check "the subscriber reads again: the limit lets go, and says so" \
        wait_for "$work/broker.log" "memory_limit 256 KiB: back under it" 100
    pub -V 5 -q 1 -d -t mem/x -m after-the-limit >"$work/mempub2.log" 2>&1
    check "then an MQTT 5 QoS 1 publish is accepted (PUBACK reason 0)" \
        grep -q "received PUBACK (Mid: 1, RC:0)" "$work/mempub2.log"
    check "and delivered to the subscriber" wait_for "$work/memslow.raw" "after-the-limit" 100
    kill "$memslow" 2>/dev/null
    stop_broker
fi

finish
