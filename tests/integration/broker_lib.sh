# Helpers for broker tests: start a broker (ours or Mosquitto) on a free
# loopback port, run real MQTT clients against it, wait with bounds.
# Sourced by tests/integration/test_broker_*.sh.

BROKER=${BROKER:-mosquitto}
MQGATE=${MQGATE:-build/mqgate}
work=$(mktemp -d)
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
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL [$BROKER]: $*"; }
check() { # DESCRIPTION CONDITION...
    local what=$1; shift
    if "$@"; then ok; else bad "$what"; fi
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

start_broker() {
    port=$(free_port)
    case "$BROKER" in
    mosquitto)
        printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n' \
            "$port" >"$work/mosquitto.conf"
        mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" " running" || { echo "mosquitto did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    mqgate)
        "$MQGATE" broker -p "$port" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" "listening on 127.0.0.1:$port" || { echo "mqgate broker did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    *) echo "unknown BROKER=$BROKER"; exit 2;;
    esac
}

stop_broker() {
    [ -n "$broker_pid" ] || return 0
    kill "$broker_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    wait "$broker_pid" 2>/dev/null
    local rc=$?
    broker_pid=
    # Our broker must stop cleanly on SIGTERM: exit 0, and (sanitized builds)
    # no AddressSanitizer, LeakSanitizer or UBSan report.
    if [ "$BROKER" = mqgate ]; then
        check "broker exits 0 on SIGTERM (got $rc)" [ "$rc" = 0 ]
        if grep -q -e 'Sanitizer' -e 'runtime error' "$work/broker.log"; then
            bad "sanitizer report in the broker log"
            grep -A 20 -e 'Sanitizer' -e 'runtime error' "$work/broker.log" | head -40
        else
            ok
        fi
    fi
}

# sub NAME ARGS...: start mosquitto_sub in the background, output in
# $work/NAME.out, and wait until the broker has acknowledged its subscription.
sub() {
    local name=$1; shift
    # stdbuf: line-buffered output, so the test sees lines as they arrive.
    timeout 20 stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -d "$@" >"$work/$name.raw" 2>&1 &
    bg_pids+=("$!")
    eval "${name}_pid=$!"
    if wait_for "$work/$name.raw" "received SUBACK"; then ok; else bad "$name: no SUBACK"; fi
}

# messages NAME: the subscriber's output without the debug lines.
messages() {
    grep -v -e '^Client ' -e '^Subscribed ' -e '^Timed out' "$work/$1.raw" 2>/dev/null
}

# wait_messages NAME COUNT: bounded wait (10 s, for loaded CI machines) until
# NAME printed COUNT messages.
wait_messages() {
    for _ in $(seq 1 100); do
        [ "$(messages "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

pub() {
    timeout 10 mosquitto_pub -h 127.0.0.1 -p "$port" "$@"
}

finish() {
    echo "tested broker: $BROKER"
    echo "broker: $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
}

# start_broker_auth PASSWORD_FILE ACL_FILE: like start_broker, with two
# listeners sharing the password file and ACL: $port refuses anonymous
# clients, $port_anon allows them. Mosquitto needs per_listener_settings for
# that, and `user` so that it keeps the rights to read the files.
start_broker_auth() {
    port=$(free_port)
    port_anon=$(free_port)
    case "$BROKER" in
    mosquitto)
        {
            printf 'per_listener_settings true\nuser %s\npersistence false\n' "$(id -un)"
            printf 'log_dest stderr\nlog_type all\n'
            printf 'listener %s 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\n' \
                "$port" "$1" "$2"
            printf 'listener %s 127.0.0.1\nallow_anonymous true\npassword_file %s\nacl_file %s\n' \
                "$port_anon" "$1" "$2"
        } >"$work/mosquitto.conf"
        mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" " running" || { echo "mosquitto did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    mqgate)
        cat >"$work/broker.yaml" <<YAML
broker:
  listeners:
    - { bind: 127.0.0.1, port: $port, allow_anonymous: false }
    - { bind: 127.0.0.1, port: $port_anon, allow_anonymous: true }
  auth:
    password_file: "$1"
    acl_file: "$2"
YAML
        "$MQGATE" broker -v -c "$work/broker.yaml" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" "listening on 127.0.0.1:$port_anon" || { echo "mqgate broker did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    *) echo "unknown BROKER=$BROKER"; exit 2;;
    esac
}

# ---- TLS listeners and limits (test_broker_tls.sh, test_broker_limits.sh) ----

# make_test_certs: in $work/tls, EC P-256 (fast): a test CA (ca.crt) with a
# server certificate for 127.0.0.1 (server.crt/key) and a client one (CN
# tls-client, client.crt/key); an unrelated CA (other-ca.crt) with a client
# certificate of its own (other-client.crt/key). Returns non-zero on failure.
make_test_certs() {
    local d=$work/tls
    mkdir -p "$d" || return 1
    (
        cd "$d" || exit 1
        newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
        for ca in ca other-ca; do
            openssl req -x509 "${newkey[@]}" -keyout $ca.key -out $ca.crt -days 2 \
                -subj "/CN=mqgate test $ca" 2>/dev/null || exit 1
        done
        leaf() { # NAME CA CN EXTENSIONS
            openssl req -new "${newkey[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$3" \
                2>/dev/null || exit 1
            printf '%s\n' "$4" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial \
                -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null || exit 1
        }
        leaf server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
        leaf client ca tls-client "extendedKeyUsage=clientAuth"
        leaf other-client other-ca tls-client "extendedKeyUsage=clientAuth"
    )
}

# launch_broker LAST_PORT: start $BROKER with the configuration already
# written ($work/mosquitto.conf or $work/mqgate.yaml) and wait (bounded)
# until it listens on LAST_PORT, the last listener it opens.
launch_broker() {
    case "$BROKER" in
    mosquitto)
        mosquitto -c "$work/mosquitto.conf" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" " running" || { echo "mosquitto did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    mqgate)
        "$MQGATE" broker -c "$work/mqgate.yaml" 2>"$work/broker.log" &
        broker_pid=$!
        wait_for "$work/broker.log" "listening on 127.0.0.1:$1" || { echo "mqgate broker did not start"; cat "$work/broker.log"; exit 1; }
        ;;
    *) echo "unknown BROKER=$BROKER"; exit 2;;
    esac
}

# start_broker_tls [REQUIRE_CERT] [MIN_VERSION] [MQGATE_YAML]: a plain
# listener on $port and a TLS one on $tls_port side by side, with the
# certificates of make_test_certs; clients may (REQUIRE_CERT=false, the
# default) or must (true) present a certificate from ca.crt. MIN_VERSION:
# 1.2 (default) or 1.3. MQGATE_YAML: more `broker:` keys for mqgate
# ("key: value" lines, indented here).
start_broker_tls() {
    local require=${1:-false} min=${2:-1.2} extra=${3:-} d=$work/tls
    port=$(free_port)
    tls_port=$(free_port)
    case "$BROKER" in
    mosquitto)
        # `user`: mosquitto started as root would drop to a user that cannot read $work.
        printf '%s\n' "per_listener_settings false" "user $(id -un)" "allow_anonymous true" "persistence false" \
            "log_dest stderr" "log_type all" "listener $port 127.0.0.1" \
            "listener $tls_port 127.0.0.1" "cafile $d/ca.crt" "certfile $d/server.crt" \
            "keyfile $d/server.key" "require_certificate $require" "tls_version tlsv$min" \
            "max_queued_messages 0" >"$work/mosquitto.conf"   # keep QoS 1 for slow subscribers, as mqgate does
        ;;
    mqgate)
        printf '%s\n' "broker:" "  listeners:" "    - bind: 127.0.0.1" "      port: $port" \
            "    - bind: 127.0.0.1" "      port: $tls_port" "      protocol: mqtts" \
            "      allow_anonymous: true" "      tls:" "        cert_file: $d/server.crt" \
            "        key_file: $d/server.key" "        ca_file: $d/ca.crt" \
            "        require_certificate: $require" "        min_version: \"$min\"" \
            "  persistence:" "    enabled: false" >"$work/mqgate.yaml"
        printf '%s\n' "$extra" | sed -e '/^$/d' -e 's/^/  /' >>"$work/mqgate.yaml"
        ;;
    esac
    launch_broker "$tls_port"
}

# start_broker_conf MOSQUITTO_LINES YAML_LINES: one plain listener on $port
# with extra settings: lines for mosquitto.conf (after the listener line,
# so listener options apply to it), and `broker:` keys for mqgate (each
# line "key: value", indented here).
start_broker_conf() {
    port=$(free_port)
    case "$BROKER" in
    mosquitto)
        printf 'allow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\nlistener %s 127.0.0.1\n%s\n' \
            "$port" "$1" >"$work/mosquitto.conf"
        ;;
    mqgate)
        { printf 'broker:\n  persistence:\n    enabled: false\n  listeners:\n    - bind: 127.0.0.1\n      port: %s\n' "$port"
          printf '%s\n' "$2" | sed -e '/^$/d' -e 's/^/  /'; } >"$work/mqgate.yaml"
        ;;
    esac
    launch_broker "$port"
}
