#!/usr/bin/env bash
# `mqgate pub` and `mqgate sub` against a real Mosquitto on loopback ports of
# their own, in MQTT 3.1.1 and 5.0: with each other and with mosquitto_pub /
# mosquitto_sub, QoS 0/1/2, output formats, -C, -W, retained messages, stdin
# lines, persistent sessions, wills, v5 properties, refusals and usage errors.
# Every wait is bounded; everything started is stopped by PID.
set -u
MQGATE=${MQGATE:-build/mqgate}
work=$(mktemp -d)
chmod 755 "$work"   # mosquitto, started as root, reads its files as user mosquitto
broker_pid=
bg_pids=()
checks=0
fails=0

cleanup() {
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
check() { # DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then ok; else bad "$what"; fi
}
same() { # DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT [TENTHS]: bounded wait for TEXT to appear in FILE.
wait_for() {
    local n=${3:-50}
    for _ in $(seq 1 "$n"); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# wait_exit PID [TENTHS]: bounded wait for a background process; its status
# in $status (124 when it had to be killed).
wait_exit() {
    local n=${2:-50}
    for _ in $(seq 1 "$n"); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$1" 2>/dev/null; then kill "$1" 2>/dev/null; fi
    wait "$1" 2>/dev/null
    status=$?
}

# A Mosquitto with three listeners: open ($port), ACL'd so that secret/#
# is denied ($acl_port), and password-only ($auth_port, alice/s3cret).
start_broker() {
    port=$(free_port); acl_port=$(free_port); auth_port=$(free_port)
    printf 'topic readwrite #\ntopic deny secret/#\n' >"$work/acl"
    mosquitto_passwd -b -c "$work/pw" alice s3cret 2>/dev/null
    chmod 644 "$work/acl" "$work/pw"
    cat >"$work/mosquitto.conf" <<EOF
per_listener_settings true
persistence false
log_dest stderr
log_type all
listener $port 127.0.0.1
allow_anonymous true
listener $acl_port 127.0.0.1
allow_anonymous true
acl_file $work/acl
listener $auth_port 127.0.0.1
allow_anonymous false
password_file $work/pw
EOF
    mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
    broker_pid=$!
    wait_for "$work/broker.log" " running" || { echo "mosquitto did not start"; cat "$work/broker.log"; exit 1; }
}

pub() { timeout 10 "$MQGATE" pub -h 127.0.0.1 -p "$port" "$@"; }
mpub() { timeout 10 mosquitto_pub -h 127.0.0.1 -p "$port" "$@"; }

# msub NAME ARGS...: `mqgate sub` in the background (output $work/NAME.out,
# trace $work/NAME.err, PID in NAME_pid); returns once it is subscribed.
msub() {
    local name=$1; shift
    timeout 20 "$MQGATE" sub -h 127.0.0.1 -p "$port" -d "$@" >"$work/$name.out" 2>"$work/$name.err" &
    bg_pids+=("$!")
    eval "${name}_pid=$!"
    if wait_for "$work/$name.err" "received SUBACK"; then ok; else bad "$name: not subscribed"; cat "$work/$name.err"; fi
}

# osub NAME ARGS...: the same with mosquitto_sub (line-buffered through stdbuf).
osub() {
    local name=$1; shift
    timeout 20 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -d "$@" >"$work/$name.raw" 2>&1 &
    bg_pids+=("$!")
    eval "${name}_pid=$!"
    if wait_for "$work/$name.raw" "received SUBACK"; then ok; else bad "$name: not subscribed"; fi
}

# lines NAME: what NAME printed, one line per message, as "a,b,c,".
lines() {
    if [ -f "$work/$1.raw" ]; then
        grep -v -e '^Client ' -e '^Subscribed ' -e '^Timed out' "$work/$1.raw"
    else
        cat "$work/$1.out"
    fi | tr '\n' ,
}

# wait_lines NAME COUNT: bounded wait until NAME printed COUNT lines.
wait_lines() {
    for _ in $(seq 1 50); do
        [ "$(lines "$1" | tr -cd , | wc -c)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

start_broker

# ---- usage, help, and nothing listening --------------------------------------
for tool in pub sub; do
    "$MQGATE" $tool --help >"$work/help" 2>&1; same "$tool --help exit" $? 0
    check "$tool --help shows usage" grep -q "usage: mqgate $tool" "$work/help"
    "$MQGATE" help $tool >"$work/help2" 2>&1
    check "help $tool = $tool --help" cmp -s "$work/help" "$work/help2"
    "$MQGATE" $tool --bogus >/dev/null 2>"$work/err"; same "$tool --bogus exit" $? 2
    check "$tool --bogus names it" grep -q "unknown option '--bogus'" "$work/err"
    "$MQGATE" $tool -t a -q 3 -m x >/dev/null 2>&1; same "$tool -q 3 exit" $? 2
    "$MQGATE" $tool -t a -m x -V 4.5 >/dev/null 2>&1; same "$tool -V 4.5 exit" $? 2
    "$MQGATE" $tool -t a -m x -D publish content-type x >/dev/null 2>"$work/err"
    same "$tool -D without -V 5 exit" $? 2
    "$MQGATE" $tool -t a -m x -c >/dev/null 2>"$work/err"; same "$tool -c without -i exit" $? 2
    dead=$(free_port)
    what=(-m x); [ $tool = sub ] && what=()
    timeout 10 "$MQGATE" $tool -h 127.0.0.1 -p "$dead" -t a "${what[@]}" >/dev/null 2>"$work/err"
    same "$tool: nothing listening exit" $? 1
    check "$tool: nothing listening message" grep -q "cannot connect to 127.0.0.1 port $dead: Connection refused" "$work/err"
done
"$MQGATE" pub -t a >/dev/null 2>"$work/err"; same "pub without a message exit" $? 2
"$MQGATE" pub -t 'a/+' -m x >/dev/null 2>"$work/err"; same "pub to a wildcard exit" $? 2
"$MQGATE" pub -t a -m x -n >/dev/null 2>"$work/err"; same "pub -m with -n exit" $? 2
"$MQGATE" sub >/dev/null 2>"$work/err"; same "sub without a topic exit" $? 2
"$MQGATE" sub -t 'a/#/b' >/dev/null 2>"$work/err"; same "sub to a bad filter exit" $? 2
"$MQGATE" sub -t a --nl >/dev/null 2>"$work/err"; same "sub --nl in 3.1.1 exit" $? 2
"$MQGATE" pub -V 5 -t a -m x -D publish session-expiry-interval 3 >/dev/null 2>"$work/err"
same "a property not allowed in PUBLISH exit" $? 2
check "... and why" grep -q "not allowed in publish" "$work/err"

# ---- refusals: CONNACK, PUBACK -------------------------------------------------
for V in 311 5; do
    timeout 10 "$MQGATE" pub -p "$auth_port" -V $V -t a -m x >/dev/null 2>"$work/err"
    same "v$V: refused connection exit" $? 1
    check "v$V: refused connection says why" grep -q "connection refused: not authorized" "$work/err"
    timeout 10 "$MQGATE" pub -p "$auth_port" -V $V -u alice -P s3cret -t a -m x -q 1
    same "v$V: with the password exit" $? 0
done
timeout 10 "$MQGATE" pub -p "$acl_port" -V 5 -q 1 -t secret/x -m x >/dev/null 2>"$work/err"
same "v5: publish denied by ACL exit" $? 1
check "v5: publish denied says why" grep -q "publish refused: not authorized" "$work/err"

for V in 311 5; do
    OV=mqttv311; [ $V = 5 ] && OV=mqttv5

    # ---- mqgate pub -> mqgate sub at every QoS ----
    msub basic -V $V -t "t/$V" -q 2 -C 3 -F '%q %p'
    pub -V $V -t "t/$V" -q 0 -m zero
    pub -V $V -t "t/$V" -q 1 -m one
    pub -V $V -t "t/$V" -q 2 -m two
    wait_lines basic 3
    same "v$V: mqgate pub -> mqgate sub, QoS 0/1/2" "$(lines basic)" "0 zero,1 one,2 two,"
    wait_exit "$basic_pid"; same "v$V: sub -C 3 exits 0" "$status" 0
    check "v$V: QoS 2 flow completed" grep -q "sending PUBCOMP" "$work/basic.err"

    # ---- mosquitto_pub -> mqgate sub ----
    msub frommp -V $V -t "m/$V" -q 2 -C 3 -F '%q %p'
    mpub -V $OV -t "m/$V" -q 0 -m zero
    mpub -V $OV -t "m/$V" -q 1 -m one
    mpub -V $OV -t "m/$V" -q 2 -m two
    wait_lines frommp 3
    same "v$V: mosquitto_pub -> mqgate sub" "$(lines frommp)" "0 zero,1 one,2 two,"

    # ---- mqgate pub -> mosquitto_sub ----
    osub tomp -V $OV -t "o/$V" -q 2 -C 3 -F '%q %p'
    pub -V $V -t "o/$V" -q 0 -m zero
    pub -V $V -t "o/$V" -q 1 -m one
    pub -V $V -t "o/$V" -q 2 -m two
    wait_lines tomp 3
    same "v$V: mqgate pub -> mosquitto_sub" "$(lines tomp)" "0 zero,1 one,2 two,"

    # ---- -v, and -C stops after N ----
    msub verbose -V $V -t "v/$V/#" -v -C 2
    pub -V $V -t "v/$V/a" -m "hello world"
    pub -V $V -t "v/$V/b" -n
    pub -V $V -t "v/$V/c" -m third
    wait_exit "$verbose_pid"
    same "v$V: -v prints 'topic payload', -C 2 stops" "$(lines verbose)" "v/$V/a hello world,v/$V/b (null),"

    # ---- -W: exit 27 after the timeout ----
    start=$(date +%s%N)
    timeout 10 "$MQGATE" sub -p "$port" -V $V -t "quiet/$V" -W 1 >"$work/w.out" 2>"$work/w.err"
    same "v$V: -W 1 exit status" $? 27
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    check "v$V: -W 1 took about a second ($ms ms)" [ "$ms" -ge 900 ] && [ "$ms" -lt 5000 ]
    check "v$V: -W says 'Timed out'" grep -q "Timed out" "$work/w.err"

    # ---- retained: kept, seen by a new subscriber, cleared by -n -r ----
    pub -V $V -t "r/$V" -r -m kept -q 1
    msub ret -V $V -t "r/$V" -C 1 -F '%r %p'
    wait_exit "$ret_pid"
    same "v$V: a new subscriber gets the retained message" "$(lines ret)" "1 kept,"
    timeout 10 "$MQGATE" sub -p "$port" -V $V -t "r/$V" -R -W 1 >"$work/skip.out" 2>/dev/null
    same "v$V: -R does not print it" "$(cat "$work/skip.out")" ""
    pub -V $V -t "r/$V" -r -n
    timeout 10 "$MQGATE" sub -p "$port" -V $V -t "r/$V" -W 1 >"$work/ret2.out" 2>/dev/null
    same "v$V: -n -r cleared it" "$(cat "$work/ret2.out")" ""
    pub -V $V -t "ro/$V" -r -m old
    msub ronly -V $V -t "ro/$V" --retained-only -v
    pub -V $V -t "ro/$V" -m fresh
    wait_exit "$ronly_pid"
    same "v$V: --retained-only prints the retained one, exits at a fresh one" "$(lines ronly)" "ro/$V old,"
    same "v$V: --retained-only exit" "$status" 0
    pub -V $V -t "ro/$V" -r -n

    # ---- -l: every stdin line; -s and -f: one message ----
    msub stdin -V $V -t "l/$V" -C 5 -F '%l:%p'
    printf 'one\ntwo\n\nfour\nlast-without-newline' | timeout 10 "$MQGATE" pub -p "$port" -V $V -t "l/$V" -l -q 1
    same "v$V: pub -l exit" $? 0
    wait_lines stdin 5
    same "v$V: pub -l publishes each line" "$(lines stdin)" "3:one,3:two,0:,4:four,20:last-without-newline,"
    msub whole -V $V -t "s/$V" -C 2 -F '%l'
    printf 'a\nb\n' | pub -V $V -t "s/$V" -s
    printf 'xyz' >"$work/file"
    pub -V $V -t "s/$V" -f "$work/file"
    wait_lines whole 2
    same "v$V: -s and -f publish one message each" "$(lines whole)" "4,3,"

    # ---- a persistent session gets what was published while offline ----
    id="persist-$V"; expiry=(); [ $V = 5 ] && expiry=(-x 60)
    timeout 10 "$MQGATE" sub -p "$port" -V $V -c -i "$id" "${expiry[@]}" -q 1 -t "p/$V" -E
    same "v$V: -E exits once subscribed" $? 0
    pub -V $V -t "p/$V" -q 1 -m offline1
    pub -V $V -t "p/$V" -q 2 -m offline2
    timeout 10 "$MQGATE" sub -p "$port" -V $V -c -i "$id" "${expiry[@]}" -q 1 -t "p/$V" -C 2 >"$work/p.out"
    same "v$V: persistent session exit" $? 0
    same "v$V: queued messages delivered on reconnect" "$(tr '\n' , <"$work/p.out")" "offline1,offline2,"
    timeout 10 "$MQGATE" sub -p "$port" -V $V -c -i "$id" "${expiry[@]}" -U "p/$V" >/dev/null
    same "v$V: -U alone unsubscribes and exits" $? 0
    pub -V $V -t "p/$V" -q 1 -m after-unsub
    timeout 10 "$MQGATE" sub -p "$port" -V $V -i "$id" -t "none/$V" -W 1 >"$work/p2.out" 2>/dev/null
    same "v$V: nothing queued after -U" "$(cat "$work/p2.out")" ""

    # ---- will: delivered when the client dies ----
    osub will -V $OV -t "will/$V" -C 1 -F '%t %p'
    # Started without `timeout` in between, so the kill reaches mqgate itself.
    "$MQGATE" sub -p "$port" -V $V -d -t "x/$V" --will-topic "will/$V" --will-payload "gone" \
        --will-qos 1 >/dev/null 2>"$work/dying.err" &
    dying_pid=$!
    bg_pids+=("$dying_pid")
    check "v$V: the dying client subscribed" wait_for "$work/dying.err" "received SUBACK"
    kill -9 "$dying_pid"
    wait "$dying_pid" 2>/dev/null
    wait_lines will 1
    same "v$V: the will is published when the client is killed" "$(lines will)" "will/$V gone,"
done

# ---- MQTT 5 properties -------------------------------------------------------
props=(-D publish content-type text/plain -D publish response-topic reply/here
       -D publish correlation-data abc123 -D publish message-expiry-interval 3600
       -D publish payload-format-indicator 1 -D publish user-property k1 v1
       -D publish user-property k2 "v 2")
fmt='%t|%C|%R|%D|%E|%F|%P|%l|%q|%r|%%|%x|\t|%5l|%-4q|%.3t'
msub props -V 5 -t f/5 -q 1 -C 1 -F "$fmt"
osub oprops -V mqttv5 -t f/5 -C 1 -F '%C|%R|%D|%F|%P'
pub -V 5 -t f/5 -q 1 -m hello "${props[@]}"
wait_lines props 1
got=$(lines props)
case "$got" in
"f/5|text/plain|reply/here|abc123|360"[0-9]"|1|k1:v1 k2:v 2|5|1|0|%|68656c6c6f|	|    5|1   |f/5,") ok;;
*) bad "v5: -F with properties: got '$got'";;
esac
wait_lines oprops 1
same "v5: mosquitto_sub sees mqgate pub's properties" "$(lines oprops)" "text/plain|reply/here|abc123|1|k1:v1 k2:v 2,"
msub mprops -V 5 -t g/5 -C 1 -F '%C|%P|%R'
mpub -V mqttv5 -t g/5 -m x -D publish content-type json -D publish user-property a b \
    -D publish response-topic r/t
wait_lines mprops 1
same "v5: mqgate sub sees mosquitto_pub's properties" "$(lines mprops)" "json|a:b|r/t,"

msub subid -V 5 -t h/5 -C 1 -F '%S %p' -D subscribe subscription-identifier 42
pub -V 5 -t h/5 -m x
wait_lines subid 1
same "v5: subscription identifier" "$(lines subid)" "42 x,"

msub alias -V 5 -t a/5 -C 3 -F '%t %p'
pub -V 5 -t a/5 -m same -q 1 --repeat 3 -D publish topic-alias 1
same "v5: pub --repeat with a topic alias exit" $? 0
wait_lines alias 3
same "v5: the topic alias is used and resolved" "$(lines alias)" "a/5 same,a/5 same,a/5 same,"

msub keep -V 5 -t k/5 -C 1 -k 1 -F '%p'
sleep 2.2
pub -V 5 -t k/5 -m alive
wait_exit "$keep_pid"
check "v5: keep-alive PINGREQ while idle" grep -q "received PINGRESP" "$work/keep.err"
same "v5: still connected after idling" "$(lines keep)" "alive,"

msub conn -V 5 -t c/5 -C 1 -F '%p' -D connect receive-maximum 10 -D connect maximum-packet-size 1000 \
    -D connect user-property who me -D connect session-expiry-interval 0
pub -V 5 -t c/5 -m "$(head -c 2000 /dev/zero | tr '\0' x)"
pub -V 5 -t c/5 -m small
wait_exit "$conn_pid"
same "v5: connect properties (a packet over maximum-packet-size is not sent)" "$(lines conn)" "small,"

# ---- a scripted broker: SUBACK refusals, inbound topic aliases, QoS 2 repeats ----
cat >"$work/fake.py" <<'PY'
import socket, struct, sys
def recv_exact(c, n):
    b = b""
    while len(b) < n:
        d = c.recv(n - len(b))
        if not d: raise EOFError
        b += d
    return b
def read_packet(c):
    t = recv_exact(c, 1)[0]; mult = 1; n = 0
    while True:
        d = recv_exact(c, 1)[0]; n += (d & 127) * mult; mult *= 128
        if d < 128: break
    return t >> 4, recv_exact(c, n)
def pkt(t, body): return bytes([t, len(body)]) + body
def publish(topic, payload, alias, qos=0, pid=0, dup=False):
    body = struct.pack(">H", len(topic)) + topic
    if qos: body += struct.pack(">H", pid)
    body += bytes([3, 0x23]) + struct.pack(">H", alias) + payload
    return pkt(0x30 | (8 if dup else 0) | qos << 1, body)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(4); s.settimeout(30)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
for _ in range(2):
    c, _a = s.accept(); c.settimeout(10)
    try:
        read_packet(c); c.sendall(pkt(0x20, b"\0\0\0"))
        t, body = read_packet(c)
        pid = body[:2]; rest = body[3 + body[2]:]; filters = []
        while rest:
            n = struct.unpack(">H", rest[:2])[0]; filters.append(rest[2:2 + n]); rest = rest[3 + n:]
        codes = bytes(0x87 if f.startswith(b"denied") else 1 for f in filters)
        c.sendall(pkt(0x90, pid + b"\0" + codes))
        if all(f.startswith(b"denied") for f in filters):
            continue
        c.sendall(publish(b"al/1", b"one", 1) + publish(b"", b"two", 1))
        c.sendall(publish(b"", b"q2", 1, 2, 5) + publish(b"", b"q2", 1, 2, 5, dup=True))
        recs = [read_packet(c)[0] for _ in range(2)]
        c.sendall(pkt(0x62, b"\0\5"))
        comp = read_packet(c)[0]
        open(sys.argv[1] + ".acks", "w").write("%s %s" % (recs, comp))
        while read_packet(c)[0] != 14: pass
    except (EOFError, OSError):
        pass
    finally:
        c.close()
PY
timeout 40 /usr/bin/python3 "$work/fake.py" "$work/fake.port" &
fake_pid=$!
bg_pids+=("$fake_pid")
for _ in $(seq 1 50); do [ -s "$work/fake.port" ] && break; sleep 0.1; done
fport=$(cat "$work/fake.port" 2>/dev/null)
timeout 10 "$MQGATE" sub -p "$fport" -V 5 -t denied/x >/dev/null 2>"$work/fake1.err"
same "every subscription refused: exit" $? 1
check "... says which and why" grep -q "subscription to 'denied/x' refused: not authorized" "$work/fake1.err"
timeout 10 "$MQGATE" sub -p "$fport" -V 5 -q 2 -t 'al/#' -t denied/y -C 3 -v >"$work/fake2.out" 2>"$work/fake2.err"
same "one subscription refused: exit after -C 3" $? 0
check "... the refused one is reported" grep -q "subscription to 'denied/y' refused" "$work/fake2.err"
same "inbound topic aliases resolved, QoS 2 repeat delivered once" "$(tr '\n' , <"$work/fake2.out")" "al/1 one,al/1 two,al/1 q2,"
wait_exit "$fake_pid"
same "QoS 2 received: PUBREC for both copies, PUBCOMP after PUBREL" "$(cat "$work/fake.port.acks" 2>/dev/null)" "[5, 5] 7"

echo "pubsub: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
