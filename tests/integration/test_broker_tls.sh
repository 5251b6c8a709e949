#!/usr/bin/env bash
# TLS listeners, seen through mosquitto_pub/sub and openssl s_client: a TLS
# listener beside a plain one (messages cross between them), a client that
# trusts another CA refused, plain MQTT on the TLS port refused, TLS 1.1
# refused, client certificates required (one from our CA passes; none, or
# one from another CA, is refused), and TLS 1.3 as the minimum.
# Certificates are made here, EC P-256. BROKER=mosquitto or mqgate.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/integration/broker_lib.sh

make_test_certs || { echo "cannot make test certificates with openssl"; exit 1; }
T=$work/tls
# tpub ARGS...: mosquitto_pub to the TLS listener, trusting our CA (bounded).
tpub() { timeout 10 mosquitto_pub -h 127.0.0.1 -p "$tls_port" --cafile "$T/ca.crt" "$@" >>"$work/tpub.log" 2>&1; }

# handshake VERSION_FLAG [EXTRA...]: what openssl s_client negotiates with
# the TLS listener ("TLSv1.2", ...), or nothing when the handshake fails.
handshake() {
    timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -CAfile "$T/ca.crt" -brief "$@" \
        </dev/null 2>&1 | sed -n 's/^Protocol version: *//p'
}

# ---- optional client certificates, TLS and plain side by side ----
start_broker_tls false

for V in mqttv311 mqttv5; do
    sub tsub -V $V -p "$tls_port" --cafile "$T/ca.crt" -t "tls/$V" -C 2 -F '%t %p'
    tpub -V $V -t "tls/$V" -m over-tls
    pub -V $V -t "tls/$V" -m over-plain
    wait_messages tsub 2
    check "$V: a TLS subscriber gets messages published over TLS and over plain TCP (got: $(messages tsub | tr '\n' ,))" \
        [ "$(messages tsub | sort | tr '\n' ,)" = "tls/$V over-plain,tls/$V over-tls," ]

    sub psub -V $V -t "plain/$V" -C 1 -F '%p'
    tpub -V $V -t "plain/$V" -q 1 -m from-tls
    wait_messages psub 1
    check "$V: a plain subscriber gets a QoS 1 message published over TLS" [ "$(messages psub)" = from-tls ]
done

# Larger than one TLS record (16 KiB) both ways, so records are split and
# gathered: the payload must arrive byte for byte.
head -c 100000 /dev/urandom | base64 -w0 >"$work/big.txt"
sub bsub -p "$tls_port" --cafile "$T/ca.crt" -t tls/big -C 1 -F '%p'
tpub -t tls/big -q 1 -f "$work/big.txt"
wait_messages bsub 1
check "a 133 KB payload crosses TLS intact" cmp -s <(messages bsub | tr -d '\n') "$work/big.txt"

# A subscriber that stops reading for 2 s while a publisher floods it over
# TLS: the publisher is paused (back-pressure) and resumed with TLS input
# held back, and all 20000 QoS 1 messages still arrive, in order.
seq -f 'flood-%05g' 1 20000 >"$work/flood.txt"
(timeout 30 stdbuf -oL mosquitto_sub -d -h 127.0.0.1 -p "$tls_port" --cafile "$T/ca.crt" -t tls/flood -q 1 -C 20000 |
    { while IFS= read -r line; do
          echo "$line"
          case $line in *"received SUBACK"*) break;; esac
      done >"$work/flood.hdr"
      sleep 2
      grep '^flood-' >"$work/flood.out"; }) &
bg_pids+=("$!")
flood_sub=$!
if wait_for "$work/flood.hdr" "received SUBACK"; then ok; else bad "flood subscriber: no SUBACK"; fi
timeout 30 mosquitto_pub -h 127.0.0.1 -p "$tls_port" --cafile "$T/ca.crt" -t tls/flood -q 1 -l <"$work/flood.txt"
check "a flood of 20000 QoS 1 messages over TLS is accepted (exit $?)" [ $? -eq 0 ]
wait "$flood_sub"
check "a slow TLS subscriber gets all 20000, in order (got $(wc -l <"$work/flood.out"))" \
    cmp -s "$work/flood.out" "$work/flood.txt"

tls_wrong=(-h 127.0.0.1 -p "$tls_port" --cafile "$T/other-ca.crt")
timeout 10 mosquitto_pub "${tls_wrong[@]}" -t tls/x -m no >"$work/wrong.log" 2>&1
check "a client that trusts another CA does not connect" [ $? -ne 0 ]
timeout 10 mosquitto_pub -h 127.0.0.1 -p "$tls_port" -t tls/x -m no >"$work/cleartext.log" 2>&1
check "plain MQTT to the TLS listener is refused" [ $? -ne 0 ]

check "openssl s_client negotiates TLS 1.2 (got '$(handshake -tls1_2)')" [ "$(handshake -tls1_2)" = TLSv1.2 ]
check "openssl s_client negotiates TLS 1.3 (got '$(handshake -tls1_3)')" [ "$(handshake -tls1_3)" = TLSv1.3 ]

# TLS 1.1, if this OpenSSL can still speak it: proven against its own
# s_server first (it needs security level 0), then refused by the broker.
# s_server quits at EOF on stdin: it reads a FIFO held open here instead.
old_port=$(free_port)
mkfifo "$work/s_server.in"
exec 9<>"$work/s_server.in"
timeout 10 openssl s_server -accept "127.0.0.1:$old_port" -cert "$T/server.crt" -key "$T/server.key" \
    -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -naccept 1 <&9 >"$work/s_server.log" 2>&1 &
s_server_pid=$!
bg_pids+=("$s_server_pid")
if wait_for "$work/s_server.log" ACCEPT &&
   [ "$(timeout 10 openssl s_client -connect "127.0.0.1:$old_port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
          -brief </dev/null 2>&1 | sed -n 's/^Protocol version: *//p')" = TLSv1.1 ]; then
    got=$(handshake -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0')
    check "TLS 1.1 is refused (got '$got')" [ -z "$got" ]
else
    echo "SKIP: this OpenSSL cannot speak TLS 1.1; the TLS 1.1 refusal is not tested"
fi
kill "$s_server_pid" 2>/dev/null
exec 9>&-

pub -t after/checks -m still-up
check "the broker still serves after the refused handshakes" [ $? -eq 0 ]
[ "$BROKER" = mqgate ] && check "mqgate logs the failed handshake" grep -q "TLS handshake failed" "$work/broker.log"
stop_broker

# ---- client certificates required ----
start_broker_tls true
sub csub -p "$tls_port" --cafile "$T/ca.crt" --cert "$T/client.crt" --key "$T/client.key" -t cert/t -C 1 -F '%p'
tpub --cert "$T/client.crt" --key "$T/client.key" -t cert/t -q 1 -m with-cert
wait_messages csub 1
check "with a client certificate from the CA: connected, message delivered" [ "$(messages csub)" = with-cert ]
tpub -t cert/t -m none
check "without a client certificate: refused" [ $? -ne 0 ]
tpub --cert "$T/other-client.crt" --key "$T/other-client.key" -t cert/t -m other
check "with a client certificate from another CA: refused" [ $? -ne 0 ]
pub -t cert/plain -m plain
check "the plain listener beside it needs no certificate" [ $? -eq 0 ]
stop_broker

# ---- the TLS handshake counts against connect_timeout (mqgate) ----
if [ "$BROKER" = mqgate ]; then
    start_broker_tls false 1.2 "connect_timeout: 1s"
    # A connection that never starts the handshake, one that stops inside its
    # ClientHello, and a real client beside them that must be unaffected.
    timeout 10 /usr/bin/python3 - "$tls_port" >"$work/stall.out" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
silent = socket.create_connection(("127.0.0.1", port), timeout=5)
partial = socket.create_connection(("127.0.0.1", port), timeout=5)
partial.sendall(b"\x16\x03\x01\x00\xc8\x01")   # a record header and a few bytes
start, left = time.monotonic(), {"silent": silent, "partial": partial}
for s in left.values():
    s.settimeout(0.05)
while left and time.monotonic() - start < 5:
    for name, s in list(left.items()):
        try:
            if s.recv(100) == b"":
                print(name, "%.2f" % (time.monotonic() - start)); del left[name]
        except socket.timeout:
            pass
        except OSError:
            print(name, "%.2f" % (time.monotonic() - start)); del left[name]
for name in left:
    print(name, "open")
PY
    stall_pid=$!
    sub hsub -p "$tls_port" --cafile "$T/ca.crt" -t hs/t -C 1 -F '%p'
    wait "$stall_pid"
    tpub -t hs/t -m still-served
    wait_messages hsub 1
    for name in silent partial; do
        t=$(sed -n "s/^$name //p" "$work/stall.out")
        check "connect_timeout 1s: a $name TLS handshake is cut off at the deadline (after ${t}s)" \
            awk -v t="$t" 'BEGIN { exit !(t != "" && t != "open" && t >= 0.8 && t <= 2.5) }'
    done
    check "a TLS client beside them is served" [ "$(messages hsub)" = still-served ]
    check "the log says the handshake did not finish in time" \
        grep -q "TLS handshake not finished in time" "$work/broker.log"
    stop_broker
fi

# ---- TLS 1.3 minimum ----
start_broker_tls false 1.3
check "min_version 1.3: TLS 1.2 refused (got '$(handshake -tls1_2)')" [ -z "$(handshake -tls1_2)" ]
check "min_version 1.3: TLS 1.3 accepted (got '$(handshake -tls1_3)')" [ "$(handshake -tls1_3)" = TLSv1.3 ]
stop_broker

finish
