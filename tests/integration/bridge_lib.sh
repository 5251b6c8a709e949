# Helpers for the bridge's end-to-end tests: a real Mosquitto as the "cloud"
# broker (persistent, so a subscriber's session and its queue survive a
# stop), `mqgate run` bridging to it, numbered messages from bridge_seqpub,
# and the arithmetic on what arrived (lost, duplicated, out of order).
# Sourced by tests/integration/test_gateway_bridge*.sh after broker_lib.sh.

TOOLS=${MQGATE_TOOLS:-$(dirname "$MQGATE")/tests/integration}
SEQPUB=$TOOLS/bridge_seqpub
gport=$(free_port)   # the gateway's embedded broker
cport=$(free_port)   # the cloud
gw_pid=
gw_n=0
cloud_pid=
cloud_n=0
csub_pids=()
mounted=

# Smaller figures under the sanitizers (build/san/...), which run slower.
case "$MQGATE" in */san/*) SAN=1 ;; *) SAN=0 ;; esac

for tool in "$SEQPUB" "$MQGATE"; do
    [ -x "$tool" ] || { echo "missing $tool (make all integration-tests)"; exit 2; }
done
mkdir -p "$work/state"

# stop_pid PID [SIGNAL]: signal a process we started, wait (bounded, 10 s)
# until it is gone; its exit status in $stopped_rc.
stop_pid() {
    local pid=$1 sig=${2:-TERM}
    stopped_rc=
    [ -n "$pid" ] || return 0
    # Killed on purpose: no "Killed" notice from bash, no status to read.
    [ "$sig" = KILL ] && disown "$pid" 2>/dev/null
    kill -"$sig" "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid" 2>/dev/null; echo "pid $pid ignored SIG$sig"; }
    wait "$pid" 2>/dev/null
    stopped_rc=$?
}

bridge_cleanup() {
    [ -n "$gw_pid" ] && stop_pid "$gw_pid" KILL
    for p in "${csub_pids[@]}"; do stop_pid "$p"; done
    [ -n "$cloud_pid" ] && stop_pid "$cloud_pid"
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    cleanup
}
trap bridge_cleanup EXIT
# tests/run.sh's timeout sends SIGTERM: clean up (the tmpfs too) then as well.
trap 'exit 1' TERM INT

# abort: a failure the rest cannot go on from; the summary, then exit 1.
abort() {
    echo "${TEST_NAME:-bridge}: $checks checks, $fails failed (aborted)"
    exit 1
}

# wait_until TENTHS COMMAND...: bounded wait until COMMAND succeeds.
wait_until() {
    local tenths=$1; shift
    for _ in $(seq 1 "$tenths"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# ---- the cloud ---------------------------------------------------------------
# Persistent (saved on SIGTERM), every message queued for an offline
# persistent subscriber (max_queued_messages 0: no limit), root kept so it
# can write its database into $work.
cloud_start() {
    cloud_n=$((cloud_n + 1))
    cloud_log=$work/cloud.$cloud_n.log
    cat >"$work/cloud.conf" <<EOF
listener $cport 127.0.0.1
allow_anonymous true
user root
persistence true
persistence_location $work/
persistence_file cloud.db
autosave_interval 0
max_queued_messages 0
log_dest stderr
log_type all
EOF
    /usr/sbin/mosquitto -c "$work/cloud.conf" 2>"$cloud_log" &
    cloud_pid=$!
    if ! wait_for "$cloud_log" " running" 100; then
        bad "the cloud mosquitto did not start"; cat "$cloud_log"; abort
    fi
}

# cloud_stop: SIGTERM; the database (sessions, queues) is saved.
cloud_stop() {
    stop_pid "$cloud_pid"
    cloud_pid=
    grep -q "Saving in-memory database" "$cloud_log" || bad "the cloud did not save its database"
}

# cloud_forget: a fresh cloud next time (no sessions, no retained messages).
cloud_forget() {
    rm -f "$work/cloud.db"
}

# fresh: the next scenario starts with an empty spool and a cloud that
# knows no session.
fresh() {
    rm -rf "$work/state/spool"
    cloud_forget
}

# cloud_down_with NAME FILTER...: a cloud subscriber's session made, then
# the cloud stopped: what the bridge sends when it is back waits for NAME.
cloud_down_with() {
    cloud_start
    csub_start "$@"
    cloud_stop
}

# csub_start NAME FILTER...: a persistent cloud subscriber (client id NAME,
# QoS 1, clean session off), "topic payload" lines in $work/NAME.out. It
# reconnects by itself when the cloud comes back, and its session holds
# what arrived meanwhile. Waits for its SUBACK.
csub_start() {
    local name=$1; shift
    local args=()
    for f in "$@"; do args+=(-t "$f"); done
    stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$cport" -i "$name" -c -q 1 -F '%t %p' \
        "${args[@]}" >>"$work/$name.out" 2>>"$work/$name.err" &
    csub_pids+=("$!")
    check "cloud subscriber $name subscribed" wait_for "$cloud_log" "Sending SUBACK to $name"
}

csub_stop_all() {
    for p in "${csub_pids[@]}"; do stop_pid "$p"; done
    csub_pids=()
}

cpub() { # ARGS...: mosquitto_pub to the cloud
    timeout 10 mosquitto_pub -h 127.0.0.1 -p "$cport" "$@"
}

# ---- the gateway ---------------------------------------------------------------
# gw_start CONFIG [ULIMIT_F]: mqgate run, log in $gw_log; waits until it runs.
# With ULIMIT_F, the gateway runs under `ulimit -f` (1 KiB blocks); its log
# then goes through a pipe, which the limit does not apply to.
gw_start() {
    gw_n=$((gw_n + 1))
    gw_log=$work/gw.$gw_n.log
    if [ -n "${2:-}" ]; then
        (ulimit -f "$2" && exec "$MQGATE" run -c "$1") > >(cat >"$gw_log") 2>&1 &
    else
        "$MQGATE" run -c "$1" >"$gw_log" 2>&1 &
    fi
    gw_pid=$!
    if ! wait_for "$gw_log" "running with" 100; then
        bad "gateway did not start with $1"; tail -20 "$gw_log"; abort
    fi
}

# gw_stop: SIGTERM; checks the exit status and that no sanitizer spoke.
gw_stop() {
    stop_pid "$gw_pid"
    gw_pid=
    check "gateway exits 0 on SIGTERM (got $stopped_rc)" [ "$stopped_rc" = 0 ]
    check_no_sanitizer "$gw_log"
}

gw_kill() {
    stop_pid "$gw_pid" KILL
    gw_pid=
}

check_no_sanitizer() { # LOG
    if grep -q -e 'Sanitizer' -e 'runtime error' "$1"; then
        bad "sanitizer report in $1"
        grep -A 20 -e 'Sanitizer' -e 'runtime error' "$1" | head -40
    else
        ok
    fi
}

gw_alive() {
    [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null
}

# sys TOPIC: the retained value of a $SYS topic on the gateway (empty if none).
sys() {
    timeout 5 mosquitto_sub -h 127.0.0.1 -p "$gport" -t "$1" -C 1 -W 2 2>/dev/null
}

sys_is() { # TOPIC VALUE
    [ "$(sys "$1")" = "$2" ]
}

# wait_sys TOPIC VALUE [TENTHS]: bounded wait (default 15 s: the values are
# republished every sys_interval) for a $SYS value.
wait_sys() {
    wait_until "${3:-150}" sys_is "$1" "$2"
}

# sys_at_least TOPIC MIN: the value is a number >= MIN.
sys_at_least() {
    local v
    v=$(sys "$1")
    [ -n "$v" ] && [ "$v" -ge "$2" ] 2>/dev/null
}

lines_at_least() { # FILE COUNT
    [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]
}

# ---- numbered messages ------------------------------------------------------------
# seqpub OUT ARGS...: bridge_seqpub to the gateway; output in $work/OUT.out,
# its last line's number in $seq_k, its exit status in $seq_rc.
seqpub() {
    local out=$1; shift
    "$SEQPUB" -p "$gport" "$@" >"$work/$out.out" 2>"$work/$out.err"
    seq_rc=$?
    seq_k=$(tail -n 1 "$work/$out.out" | awk '{print $2}')
    seqpub_clean "$out"
}

# seqpub_clean OUT: bridge_seqpub (sanitized builds) reported nothing.
seqpub_clean() {
    if grep -q -e 'Sanitizer' -e 'runtime error' "$work/$1.err"; then
        bad "sanitizer report from bridge_seqpub ($1)"; head -40 "$work/$1.err"
    fi
}

# spool_waiting_at_start: what the last gateway start found in its spool
# (its "spool DIR: N message(s) waiting" line).
spool_waiting_at_start() {
    sed -n 's/.*: \([0-9]*\) message(s) waiting.*/\1/p' "$gw_log" | head -n 1
}

# seq_stats FILE LO HI: reads "topic seq=NNNNNN..." lines and sets
#   s_total   lines
#   s_unique  distinct numbers
#   s_dups    s_total - s_unique
#   s_missing numbers in LO..HI never seen
#   s_outside distinct numbers seen outside LO..HI
#   s_disorder first sightings that came after a higher number's
#   s_min s_max  the smallest and largest number seen (0 when none)
#   s_run     the numbers seen form one run min..max with nothing missing (1/0)
seq_stats() {
    local r
    r=$(awk -v lo="$2" -v hi="$3" '
        match($0, /seq=[0-9]+/) {
            n = substr($0, RSTART + 4, RLENGTH - 4) + 0
            total++
            if (n in seen) { dups++; next }
            seen[n] = 1; unique++
            if (n < last) disorder++
            last = n
            if (min == "" || n < min) min = n
            if (n > max) max = n
            if (n < lo || n > hi) outside++
        }
        END {
            for (i = lo; i <= hi; i++) if (!(i in seen)) missing++
            run = (unique > 0 && max - min + 1 == unique) ? 1 : 0
            printf "%d %d %d %d %d %d %d %d %d\n", total, unique, dups, missing, outside,
                   disorder, min + 0, max + 0, run
        }' "$1")
    read -r s_total s_unique s_dups s_missing s_outside s_disorder s_min s_max s_run <<<"$r"
}
