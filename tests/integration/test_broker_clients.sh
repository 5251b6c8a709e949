#!/usr/bin/env bash
# MQTT behaviour seen through clients we did not write (mosquitto_pub and
# mosquitto_sub, MQTT 3.1.1 and 5.0): delivery at each QoS, QoS downgrade,
# wildcards and $-topics, retained messages, persistent sessions, wills,
# shared subscriptions, v5 properties passed through, message expiry.
# BROKER=mosquitto runs it against the reference broker (which keeps the
# suite honest); BROKER=mqgate against ours.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/integration/broker_lib.sh

start_broker

for V in mqttv311 mqttv5; do
    # --- delivery at every QoS, in order ---
    sub basic -V $V -t "t/$V/basic" -q 2 -C 3 -F '%q %p'
    pub -V $V -t "t/$V/basic" -q 0 -m zero
    pub -V $V -t "t/$V/basic" -q 1 -m one
    pub -V $V -t "t/$V/basic" -q 2 -m two
    wait_messages basic 3
    check "$V: qos 0/1/2 delivered in order (got: $(messages basic | tr '\n' ,))" \
        [ "$(messages basic | tr '\n' ,)" = "0 zero,1 one,2 two," ]

    # --- delivered QoS = min(publish, granted) ---
    sub down -V $V -t "t/$V/down" -q 0 -C 1 -F '%q %p'
    pub -V $V -t "t/$V/down" -q 2 -m hi
    wait_messages down 1
    check "$V: qos 2 publish to a qos 0 subscription arrives at qos 0" [ "$(messages down)" = "0 hi" ]

    # --- wildcards and $-topics ---
    sub wild -V $V -t "w$V/+/temp" -t "w$V/b/#" -C 3 -F '%t'
    pub -V $V -t "w$V/a/temp" -m 1
    pub -V $V -t "w$V/a/hum" -m 2          # matches neither
    pub -V $V -t "w$V/b" -m 3              # '#' matches its parent level
    pub -V $V -t "w$V/b/x/y" -m 4
    wait_messages wild 3
    got=$(messages wild | sort | tr '\n' ,)
    check "$V: + and # match as specified (got '$got')" [ "$got" = "w$V/a/temp,w$V/b,w$V/b/x/y," ]

    sub hash -V $V -t '#' -W 2 -F '%t'
    pub -V $V -t "\$test/$V" -m secret
    pub -V $V -t "plain/$V" -m visible
    wait_messages hash 1
    sleep 0.3
    check "$V: '#' does not match \$-topics" [ "$(messages hash | grep -c "$V")" = 1 ]
    check "$V: '#' matches ordinary topics" grep -q "^plain/$V$" <(messages hash)

    # --- retained: store, deliver on subscribe, replace, clear ---
    pub -V $V -t "r/$V" -r -m first
    pub -V $V -t "r/$V" -r -m second
    sub ret1 -V $V -t "r/$V" -C 1 -F '%r %p'
    wait_messages ret1 1
    check "$V: a new subscriber gets the latest retained message, flagged retained" [ "$(messages ret1)" = "1 second" ]
    pub -V $V -t "r/$V" -r -n
    sub ret2 -V $V -t "r/$V" -W 1 -F '%r %p'
    sleep 1.2
    check "$V: an empty retained message clears it" [ -z "$(messages ret2)" ]

    # --- persistent session: subscriptions and QoS 1 messages kept offline ---
    id="persist-$V"
    if [ $V = mqttv5 ]; then expiry=(-x 60); else expiry=(); fi
    sub p1 -V $V -i "$id" -c "${expiry[@]}" -q 1 -t "p/$V" -E
    wait "$p1_pid" 2>/dev/null
    pub -V $V -t "p/$V" -q 1 -m offline1
    pub -V $V -t "p/$V" -q 1 -m offline2
    timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -V $V -i "$id" -c "${expiry[@]}" -q 1 -t "p/$V" -C 2 -W 5 >"$work/p2.out" 2>&1
    check "$V: messages published while a persistent session was offline arrive on reconnect" \
        [ "$(tr '\n' , <"$work/p2.out")" = "offline1,offline2," ]

    # --- wills: sent when a client dies, not on a normal disconnect ---
    sub will -V $V -t "will/$V" -C 1 -W 10
    # Started directly (not under timeout) so that SIGKILL reaches the client.
    stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -V $V -t "nothing/$V" -k 5 -d \
        --will-topic "will/$V" --will-payload gone >"$work/victim.raw" 2>&1 &
    victim=$!
    bg_pids+=("$victim")
    wait_for "$work/victim.raw" "received CONNACK" || bad "$V: will client did not connect"
    kill -9 "$victim"
    wait "$victim" 2>/dev/null
    wait_messages will 1
    check "$V: the will of a killed client is published" [ "$(messages will)" = gone ]

    sub nowill -V $V -t "nowill/$V" -W 2
    pub -V $V -t "other/$V" -m x --will-topic "nowill/$V" --will-payload unexpected
    sleep 1
    check "$V: no will after a normal disconnect" [ -z "$(messages nowill)" ]
done

# --- MQTT 5 only ---
# Shared subscription: each message goes to one member of the group.
sub s1 -V mqttv5 -t '$share/g/shared/t' -W 4 -F '%p'
sub s2 -V mqttv5 -t '$share/g/shared/t' -W 4 -F '%p'
for i in $(seq 1 10); do pub -V mqttv5 -t shared/t -q 1 -m "$i"; done
sleep 1
total=$(( $(messages s1 | wc -l) + $(messages s2 | wc -l) ))
check "v5: a shared subscription delivers each message once across the group" [ "$total" = 10 ]
check "v5: the group spreads messages over its members" [ "$(messages s1 | wc -l)" -gt 0 -a "$(messages s2 | wc -l)" -gt 0 ]

# Request/response properties and user properties pass through.
sub props -V mqttv5 -t v5/props -C 1 -F '%R|%D|%C|%P|%p'
pub -V mqttv5 -t v5/props -m body -D publish response-topic reply/here \
    -D publish correlation-data c0ffee -D publish content-type text/plain \
    -D publish user-property unit C
wait_messages props 1
check "v5: response topic, correlation data, content type and user properties pass through" \
    [ "$(messages props)" = "reply/here|c0ffee|text/plain|unit:C|body" ]

# Message expiry: a message that expires while queued is not delivered.
sub e1 -V mqttv5 -i expiring -c -x 60 -q 1 -t v5/expire -E
wait "$e1_pid" 2>/dev/null
pub -V mqttv5 -t v5/expire -q 1 -m stale -D publish message-expiry-interval 1
pub -V mqttv5 -t v5/expire -q 1 -m fresh -D publish message-expiry-interval 60
sleep 2.2
timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -i expiring -c -x 60 -q 1 -t v5/expire -C 1 -W 3 \
    -F '%p %E' >"$work/e2.out" 2>&1
check "v5: an expired message is dropped; the other arrives with its remaining lifetime" \
    grep -Eq '^fresh (5[0-9]|60)$' "$work/e2.out"

# Will delay: published after the delay when the client does not come back,
# not at all when it does.
sub wd -V mqttv5 -t v5/willdelay -W 6 -F '%p'
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -i delayed -c -x 60 -t v5/none -d \
    --will-topic v5/willdelay --will-payload late -D will will-delay-interval 1 >"$work/wd1.raw" 2>&1 &
victim=$!
wait_for "$work/wd1.raw" "received CONNACK" || bad "will-delay client did not connect"
kill -9 "$victim"; wait "$victim" 2>/dev/null
sleep 0.4
check "v5: a delayed will is not sent at once" [ -z "$(messages wd)" ]
wait_messages wd 1
check "v5: a delayed will is sent after its delay" [ "$(messages wd)" = late ]

sub wd2 -V mqttv5 -t v5/willdelay2 -W 4 -F '%p'
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -i comeback -c -x 60 -t v5/none -d \
    --will-topic v5/willdelay2 --will-payload never -D will will-delay-interval 2 >"$work/wd2.raw" 2>&1 &
victim=$!
wait_for "$work/wd2.raw" "received CONNACK" || bad "will-delay client did not connect"
kill -9 "$victim"; wait "$victim" 2>/dev/null
timeout 5 mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -i comeback -c -x 60 -t v5/none -W 1 >/dev/null 2>&1
sleep 2.5
check "v5: no will when the client comes back within the delay" [ -z "$(messages wd2)" ]

stop_broker
finish
