#!/usr/bin/env bash
# The bridge's spool across SIGKILL of `mqgate run`, with a real Mosquitto
# as the cloud broker:
#   a. while spooling: the cloud is down, bridge_seqpub publishes without
#      pause, the gateway is killed; every message up to K, the highest
#      number acknowledged with all before it, arrives once the gateway is
#      back and the cloud too (fsync batch, then fsync always);
#   b. while draining: N messages spooled, the cloud comes back, the gateway
#      is killed part way through sending them; after a restart all N arrive.
# Each prints one line of figures (K or N, delivered, duplicates, lost).
#   MQGATE=build/mqgate tests/integration/test_gateway_bridge_kill.sh
set -u
BROKER=mqgate-bridge-kill
TEST_NAME=bridgekill
. "$(dirname "$0")/broker_lib.sh"
. "$(dirname "$0")/bridge_lib.sh"
port=$gport
started=$SECONDS
INFLIGHT=64   # spool.max_inflight: the bridge's window

write_config() { # FILE FSYNC
    cat >"$1" <<EOF
gateway: { name: gw, state_dir: $work/state, status_topic: "status/{gateway}" }
broker:
  listeners: [ { bind: 127.0.0.1, port: $gport } ]
  sys_interval: 1s
  # Off: retained messages of one scenario (the devices' availability)
  # would be restored in the next and forwarded again, and counted.
  persistence: { enabled: false }
bridge:
  url: mqtt://127.0.0.1:$cport
  reconnect_min: 100ms
  reconnect_max: 1s
  forward: [ { filter: "t/#", add_prefix: "up/", qos: 1 } ]
  spool: { fsync: $2, max_inflight: $INFLIGHT }
EOF
}

# ---- a. killed while spooling ---------------------------------------------------------
kill_while_spooling() { # FSYNC
    local fsync=$1 name=kspool_$1 at
    [ "$SAN" = 1 ] && at=1000 || at=5000
    fresh
    cloud_down_with "$name" 'up/t/#'
    write_config "$work/$name.yaml" "$fsync"
    gw_start "$work/$name.yaml"
    # Far more than it will get through: the kill comes first.
    "$SEQPUB" -p "$gport" -t t/k -n 1000000 -e 100 -T 120 \
        >"$work/${name}_pub.out" 2>"$work/${name}_pub.err" &
    local pub=$!
    check "$fsync: $at acknowledged before the kill" \
        wait_until 300 grep -q "^acked $at\$" "$work/${name}_pub.out"
    gw_kill
    stop_pid "$pub" 0  # signal 0: just wait (bounded) for it to see the loss
    local k
    k=$(tail -n 1 "$work/${name}_pub.out" | awk '{print $2}')
    check "$fsync: bridge_seqpub saw the loss (exit $stopped_rc: $(tail -n 1 "$work/${name}_pub.out"))" \
        [ "$stopped_rc" = 1 ]
    seqpub_clean "${name}_pub"
    gw_start "$work/$name.yaml"
    local found
    found=$(spool_waiting_at_start)
    check "$fsync: the restart found at least $k in the spool (${found:-none})" \
        [ "${found:-0}" -ge "$k" ]
    cloud_start
    check "$fsync: spool drained" wait_sys '$SYS/bridge/spool/messages' 0 300
    check "$fsync: 1..$k arrive" wait_until 300 lines_at_least "$work/$name.out" "$k"
    seq_stats "$work/$name.out" 1 "$k"
    echo "kill while spooling (fsync $fsync): K=$k, found at restart=$found, delivered=$s_unique (up to $s_max)," \
         "duplicates=$s_dups, lost=$s_missing, out of order=$s_disorder"
    check "$fsync: lost 0 of 1..$k ($s_missing)" [ "$s_missing" = 0 ]
    check "$fsync: in order ($s_disorder)" [ "$s_disorder" = 0 ]
    check "$fsync: no gap after K either (run $s_run)" [ "$s_run" = 1 ]
    check "$fsync: duplicates within the window ($s_dups <= $INFLIGHT)" [ "$s_dups" -le "$INFLIGHT" ]
    gw_stop
    csub_stop_all
    cloud_stop
}
kill_while_spooling batch
echo "spooling, fsync batch: done in $((SECONDS - started)) s"
kill_while_spooling always
echo "spooling, fsync always: done in $((SECONDS - started)) s"

# ---- b. killed while draining ------------------------------------------------------------
# The kill must land after some but not all of N arrived upstream; if the
# drain was over first (a fast machine), the scenario runs again (3 tries).
[ "$SAN" = 1 ] && N=6000 || N=20000
drain_try() { # TRY: 0 when the kill landed mid-drain
    local name=kdrain_$1
    fresh
    cloud_down_with "$name" 'up/t/#'
    write_config "$work/$name.yaml" batch
    gw_start "$work/$name.yaml"
    seqpub "${name}_pub" -t t/d -n "$N" -e 0 -T 120
    check "drain: all $N accepted (rc $seq_rc, K $seq_k)" [ "$seq_rc:$seq_k" = "0:$N" ]
    check "drain: $N spooled" wait_sys '$SYS/bridge/spool/messages' "$N" 300
    cloud_start
    check "drain: a third arrived" wait_until 300 lines_at_least "$work/$name.out" $((N / 3))
    gw_kill
    before=$(wc -l <"$work/$name.out")
    drain_out=$work/$name.out
    [ "$before" -lt "$N" ]
}
for try in 1 2 3; do
    drain_try "$try" && break
    echo "drain: all $N arrived before the kill (try $try); again"
    gw_kill
    csub_stop_all
    cloud_stop
done
check "drain: the kill landed mid-drain ($before of $N)" [ "$before" -gt 0 -a "$before" -lt "$N" ]
gw_start "$work/kdrain_$try.yaml"
found=$(spool_waiting_at_start)
check "drain: the restart found what was not acknowledged (${found:-none}, $before arrived)" \
    [ "${found:-0}" -gt 0 -a "${found:-0}" -le $((N - before + 2 * INFLIGHT)) ]
check "drain: spool drained after the restart" wait_sys '$SYS/bridge/spool/messages' 0 300
check "drain: all $N arrive" wait_until 300 lines_at_least "$drain_out" "$N"
seq_stats "$drain_out" 1 "$N"
echo "kill while draining: N=$N, arrived before the kill=$before, found at restart=$found," \
     "delivered=$s_unique, duplicates=$s_dups," \
     "lost=$s_missing, out of order=$s_disorder"
check "drain: lost 0 ($s_missing)" [ "$s_missing" = 0 ]
check "drain: first sightings in order ($s_disorder)" [ "$s_disorder" = 0 ]
# Resent after the restart: what was in flight, plus acknowledgements taken
# but not yet written when the kill came (at most one window's worth).
check "drain: duplicates within two windows ($s_dups <= $((2 * INFLIGHT)))" \
    [ "$s_dups" -le $((2 * INFLIGHT)) ]
gw_stop
csub_stop_all
cloud_stop
echo "draining: done in $((SECONDS - started)) s"

echo "$TEST_NAME: $checks checks, $fails failed"
if [ "$fails" -gt 0 ]; then echo "--- last gateway log ($gw_log)"; tail -40 "$gw_log"; fi
[ "$fails" -eq 0 ]
