#!/usr/bin/env bash
# Authentication and authorisation seen through mosquitto_pub/sub: the
# password file (right, wrong, unknown, anonymous per listener), the ACL on
# PUBLISH (v5 reason 0x87, 3.1.1 silent drop), on delivery (live and
# retained), on SUBSCRIBE (mqgate only: Mosquitto 2.0 grants any filter),
# on wills, the failed-login log line, and reload on SIGHUP (mqgate).
# Runs against BROKER=mqgate and BROKER=mosquitto alike.
set -u
cd "$(dirname "$0")/../.." || exit 2
mqgate_given=${MQGATE:-}
. tests/integration/broker_lib.sh

# The password file: ours (`mqgate passwd` writes Mosquitto's format), or
# mosquitto_passwd's when testing Mosquitto without our binary.
passwd_set() { # FILE USER PASSWORD [-c]
    if [ -n "$mqgate_given" ] || [ "$BROKER" = mqgate ]; then
        "$MQGATE" passwd ${4:-} -b "$1" "$2" "$3" >/dev/null
    else
        mosquitto_passwd ${4:-} -b "$1" "$2" "$3" >/dev/null
    fi
}
passwd_set "$work/passwd" alice alice-pw -c || { echo "cannot write the password file"; exit 1; }
passwd_set "$work/passwd" bob bob-pw || exit 1

cat >"$work/acl" <<'EOF'
# anonymous clients
topic read open/#
topic write open/anon

user alice
topic readwrite a/#
topic deny a/secret
topic read b/#

user bob
topic readwrite b/#
topic write a/frombob
topic write a/secret
EOF

start_broker_auth "$work/passwd" "$work/acl"

# connack ARGS...: the CONNACK code mosquitto_pub sees ("none" if no CONNACK).
connack() {
    local out
    out=$(timeout 10 mosquitto_pub -h 127.0.0.1 -d -m x "$@" 2>&1)
    local code
    code=$(sed -n 's/.*received CONNACK (\([0-9]*\)).*/\1/p' <<<"$out" | head -1)
    echo "${code:-none}"
}
A=(-p "$port" -u alice -P alice-pw)
B=(-p "$port" -u bob -P bob-pw)

# --- the password file -------------------------------------------------------
# Refusals: we answer a bad password with "bad user name or password" (v5
# 0x86, 3.1.1 4); Mosquitto 2.0 says "not authorized" (0x87, 5).
if [ "$BROKER" = mqgate ]; then bad311=4 bad5=134; else bad311=5 bad5=135; fi
for V in mqttv311 mqttv5; do
    if [ $V = mqttv5 ]; then bad=$bad5 noauth=135; else bad=$bad311 noauth=5; fi
    check "$V: right password accepted" [ "$(connack -V $V "${A[@]}" -t a/x)" = 0 ]
    check "$V: wrong password refused ($bad)" \
        [ "$(connack -V $V -p "$port" -u alice -P wrong -t a/x)" = "$bad" ]
    check "$V: unknown user refused ($bad)" \
        [ "$(connack -V $V -p "$port" -u carol -P alice-pw -t a/x)" = "$bad" ]
    check "$V: user without a password refused ($bad)" \
        [ "$(connack -V $V -p "$port" -u alice -t a/x)" = "$bad" ]
    check "$V: anonymous refused where allow_anonymous is false ($noauth)" \
        [ "$(connack -V $V -p "$port" -t open/anon)" = "$noauth" ]
    check "$V: anonymous accepted where the listener allows it" \
        [ "$(connack -V $V -p "$port_anon" -t open/anon)" = 0 ]
    check "$V: a user still needs the right password on that listener" \
        [ "$(connack -V $V -p "$port_anon" -u alice -P wrong -t a/x)" = "$bad" ]
done

if [ "$BROKER" = mqgate ]; then
    # Failed logins: logged with the address and user name, at most one line
    # per address per 10 s (everything above came from 127.0.0.1).
    check "failed login logged with address and user" \
        grep -q "login failed from 127\.0\.0\.1:[0-9]* as 'alice': wrong password" "$work/broker.log"
    check "failed logins rate-limited to one line per address (got $(grep -c 'login failed' "$work/broker.log"))" \
        [ "$(grep -c 'login failed' "$work/broker.log")" = 1 ]
fi

for V in mqttv311 mqttv5; do
    # --- PUBLISH: WRITE -------------------------------------------------------
    sub pa -V $V "${A[@]}" -t 'a/#' -F '%t %p'
    sub pb -V $V "${B[@]}" -t 'b/#' -F '%t %p'
    pub -V $V "${B[@]}" -t a/frombob -q 1 -m granted
    pub -V $V "${A[@]}" -t b/denied -q 1 -m denied 2>/dev/null # alice may read b/#, not write it
    pub -V $V "${A[@]}" -t b/denied -q 0 -m denied0
    pub -V $V "${B[@]}" -t b/marker -q 1 -m marker
    wait_messages pb 1
    wait_messages pa 1
    check "$V: an allowed publish is delivered" grep -qx "a/frombob granted" <(messages pa)
    check "$V: a denied publish is not delivered (got: $(messages pb | tr '\n' ,))" \
        [ "$(messages pb | tr '\n' ,)" = "b/marker marker," ]
    if [ $V = mqttv5 ]; then
        out=$(pub -V $V "${A[@]}" -t b/denied -q 1 -m x -d 2>&1)
        check "v5: a denied QoS 1 publish gets PUBACK 0x87 ($out)" grep -q "PUBACK (Mid: 1, RC:135)" <<<"$out"
        out=$(pub -V $V "${A[@]}" -t a/ok -q 1 -m x -d 2>&1)
        check "v5: an allowed QoS 1 publish gets PUBACK 0" grep -q "PUBACK (Mid: 1, RC:0)" <<<"$out"
        out=$(pub -V $V "${A[@]}" -t b/denied -q 2 -m x -d 2>&1)
        check "v5: a denied QoS 2 publish ends at PUBREC (no PUBREL) ($out)" \
            bash -c 'grep -q "received PUBREC" <<<"$1" && ! grep -q "sending PUBREL" <<<"$1"' _ "$out"
    else
        out=$(pub -V $V "${A[@]}" -t b/denied -q 1 -m x -d 2>&1)
        check "3.1.1: a denied QoS 1 publish is acknowledged normally" grep -q "PUBACK" <<<"$out"
    fi

    # --- delivery: READ (live) -----------------------------------------------
    pub -V $V "${B[@]}" -t a/secret -q 1 -m secret     # bob may write it, alice may not read it
    pub -V $V "${B[@]}" -t a/frombob -q 1 -m after
    wait_messages pa 2
    check "$V: a message alice may read still arrives" grep -qx "a/frombob after" <(messages pa)
    check "$V: a message alice may not read is withheld (got: $(messages pa | tr '\n' ,))" \
        [ "$(messages pa | grep -c secret)" = 0 ]
    kill "$pa_pid" "$pb_pid" 2>/dev/null

    # --- retained: READ on the messages sent at SUBSCRIBE ---------------------
    pub -V $V "${B[@]}" -t a/secret -r -q 1 -m "ret-secret-$V"
    pub -V $V "${B[@]}" -t a/frombob -r -q 1 -m "ret-ok-$V"
    sub ra -V $V "${A[@]}" -t 'a/#' -F '%t %p'
    pub -V $V "${B[@]}" -t a/frombob -q 1 -m "live-$V"  # after the retained ones
    wait_messages ra 2
    check "$V: a retained message alice may read is delivered" grep -qx "a/frombob ret-ok-$V" <(messages ra)
    check "$V: a retained message alice may not read is not (got: $(messages ra | tr '\n' ,))" \
        [ "$(messages ra | grep -c secret)" = 0 ]
    kill "$ra_pid" 2>/dev/null
    pub -V $V "${B[@]}" -t a/secret -r -n
    pub -V $V "${B[@]}" -t a/frombob -r -n

    # --- SUBSCRIBE (mqgate only; Mosquitto 2.0 grants every filter) -----------
    if [ "$BROKER" = mqgate ]; then
        if [ $V = mqttv5 ]; then denied=135; else denied=128; fi
        timeout 10 mosquitto_sub -h 127.0.0.1 -V $V "${A[@]}" -d -E \
            -t 'b/x' -t 'c/x' -t 'a/#' -t '#' >"$work/suback.out" 2>&1
        check "$V: SUBACK grants b/x and a/#, refuses c/x and # ($(grep Subscribed "$work/suback.out"))" \
            grep -q "Subscribed (mid: 1): 0, $denied, 0, $denied" "$work/suback.out"
    fi

    # --- wills: WRITE, checked for the will's owner ---------------------------
    sub wa -V $V "${A[@]}" -t 'a/#' -F '%t %p'
    sub wb -V $V "${B[@]}" -t 'b/#' -F '%t %p'
    for h in ok denied; do
        if [ $h = ok ]; then wt=a/will; else wt=b/will; fi
        stdbuf -oL mosquitto_sub -h 127.0.0.1 -V $V "${A[@]}" -d -t a/holder -W 30 \
            --will-topic "$wt" --will-payload "will-$h" >"$work/holder-$h.out" 2>&1 &
        eval "holder_$h=$!"
        bg_pids+=("$!")
        check "$V: will holder ($h) connected" wait_for "$work/holder-$h.out" "received SUBACK"
    done
    kill -9 "$holder_denied" "$holder_ok" 2>/dev/null   # no DISCONNECT: the wills go
    wait "$holder_denied" "$holder_ok" 2>/dev/null
    wait_messages wa 1
    pub -V $V "${B[@]}" -t b/marker -q 1 -m marker
    wait_messages wb 1
    check "$V: a will on a topic its owner may write is published" grep -qx "a/will will-ok" <(messages wa)
    check "$V: a will on a topic its owner may not write is not (got: $(messages wb | tr '\n' ,))" \
        [ "$(messages wb | tr '\n' ,)" = "b/marker marker," ]
    kill "$wa_pid" "$wb_pid" 2>/dev/null
done

# --- a session is resumed only by the user who made it (mqgate) --------------
# Mosquitto hands alice's queued messages to bob if he takes her client id
# (filtered by bob's READ rights); we start bob afresh.
if [ "$BROKER" = mqgate ]; then
    timeout 10 mosquitto_sub -h 127.0.0.1 "${A[@]}" -i shared-id -c -q 1 -t 'b/#' -d -E >/dev/null 2>&1
    pub "${B[@]}" -t b/queued -q 1 -m "for-alice"
    sub takeover "${B[@]}" -i shared-id -c -q 1 -t b/other -F '%t %p'
    pub "${B[@]}" -t b/other -q 1 -m marker
    wait_messages takeover 1
    check "another user does not resume a session (got: $(messages takeover | tr '\n' ,))" \
        [ "$(messages takeover | tr '\n' ,)" = "b/other marker," ]
    kill "$takeover_pid" 2>/dev/null
fi

# --- reload on SIGHUP (mqgate): new ACL swapped in; a bad one keeps the old --
if [ "$BROKER" = mqgate ]; then
    v5_pub_rc() { pub -V mqttv5 "${A[@]}" -t "$1" -q 1 -m x -d 2>&1 | sed -n 's/.*PUBACK (Mid: 1, RC:\([0-9]*\)).*/\1/p'; }
    check "before reload: alice may not write c/x" [ "$(v5_pub_rc c/x)" = 135 ]
    printf 'user alice\ntopic readwrite a/#\ntopic write c/x\n' >"$work/acl"
    kill -HUP "$broker_pid"
    check "reload logged" wait_for "$work/broker.log" "ACL file $work/acl: 2 rule(s)"
    check "after reload: alice may write c/x" [ "$(v5_pub_rc c/x)" = 0 ]
    printf 'user alice\ntopic read a/#/b\n' >"$work/acl"
    kill -HUP "$broker_pid"
    check "a bad ACL is reported with its line" wait_for "$work/broker.log" "$work/acl:2:"
    check "a bad ACL keeps the previous one" wait_for "$work/broker.log" "authentication not reloaded"
    check "after a failed reload: alice may still write c/x" [ "$(v5_pub_rc c/x)" = 0 ]

    # --- a guessing client is throttled (last: it locks out 127.0.0.1) ------
    # Past 20 failures from one address in 10 s its logins are refused
    # without a PBKDF2 hash, the right password included. A fresh window
    # first, so the earlier failures of this script do not count.
    sleep 10.5
    for _ in $(seq 1 22); do connack -V mqttv311 -p "$port" -u alice -P guess -t a/x >/dev/null; done
    check "after 22 failures in 10 s even the right password is refused" \
        [ "$(connack -V mqttv311 "${A[@]}" -t a/x)" = "$bad311" ]
    sleep 10.5
    check "after the window the right password works again" \
        [ "$(connack -V mqttv311 "${A[@]}" -t a/x)" = 0 ]
fi

stop_broker

# --- a password file that does not load stops the start (mqgate) ------------
if [ "$BROKER" = mqgate ]; then
    printf 'alice:plain-text\n' >"$work/bad-passwd"
    sed "s|password_file: .*|password_file: \"$work/bad-passwd\"|" "$work/broker.yaml" >"$work/bad.yaml"
    timeout 10 "$MQGATE" broker -c "$work/bad.yaml" 2>"$work/bad.log"
    rc=$?
    check "broker with a malformed password file exits 1 (got $rc)" [ "$rc" = 1 ]
    check "and names the file and line ($(head -c 300 "$work/bad.log"))" grep -q "$work/bad-passwd:1:" "$work/bad.log"
    check "and leaks nothing" bash -c '! grep -q -e Sanitizer -e "runtime error" "$1"' _ "$work/bad.log"
fi
finish
