#!/usr/bin/env bash
# make bench, the bridge's spool (figures only, never pass/fail on timing):
#   - append rate under each fsync policy (always, batch every 200 ms,
#     never) with 64-byte payloads on a 26-byte topic, in turns as the
#     event loop makes them: 1, 10 or 100 spool_append then one spool_flush
#     (with always, one fsync per turn);
#   - bytes on disk per message and the overhead per record (bytes on disk
#     minus topic and payload) against the target of <= 32 bytes;
#   - the spool's own drain ceiling: a spool reopened from its files read
#     back with spool_next + spool_ack per message and one spool_flush per
#     64 (max_inflight's default); the network's rate is measured elsewhere;
#   - how long spool_open's recovery scan of that spool takes.
# Runs tests/bench/spool_bench in a directory under /var/tmp (a real disk,
# not tmpfs). Exit 1 only when the spool failed or the bench could not run.
#   tests/bench/bridge_spool_bench.sh BUILD_DIR
set -eu
build=${1:-build}
bench=$build/tests/bench/spool_bench
seconds=${SPOOL_BENCH_SECONDS:-2}        # each measurement stops after this ...
max_msgs=${SPOOL_BENCH_MAX_MSGS:-500000} # ... or this many messages (61 MB)
topic_len=26 payload_len=64

[ -x "$bench" ] || { echo "spool bench: $bench missing (make bench builds it)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/mqgate-spool-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

fs=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || stat -f -c %T "$work")
dev=$(findmnt -n -o SOURCE -T "$work" 2>/dev/null || echo "?")
avail_mb=$(df -Pm "$work" | awk 'NR == 2 { print $4 }')
if [ "$avail_mb" -lt 400 ]; then
    echo "spool bench: only $avail_mb MB free under /var/tmp, 400 MB wanted" >&2
    exit 1
fi
[ "$fs" != tmpfs ] || echo "spool bench: warning: /var/tmp is tmpfs here, fsync costs nothing" >&2

"$bench" "$work" "$seconds" "$max_msgs" >"$work/results" 2>"$work/err" || {
    echo "spool bench: spool_bench failed:" >&2
    cat "$work/err" >&2
    exit 1
}

echo "spool bench: $payload_len-byte payloads on \"plants/site7/meter/voltage\" ($topic_len bytes)," \
     "$work on $fs ($dev), each run ${seconds} s or $max_msgs messages, whichever first, $(nproc) cores"

# Every `result` line as a table; the key=value pairs become columns.
awk -v tl="$topic_len" -v pl="$payload_len" '
function get(k,    i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
function when(f) { return f == "always" ? "every turn" : f == "batch" ? "every 200 ms" : "none" }
$1 != "result" { next }
get("op") == "append" {
    if (!head_a++) {
        print "spool: append, one spool_flush per turn (the loop flushes once per turn, from before_sleep)"
        printf "  %-7s %9s %13s %11s %13s %10s %10s\n", "fsync", "msgs/turn", "fsync", "msgs/s", "payload MB/s", "disk MB/s", "ms/turn"
    }
    f = get("fsync"); b = get("batch"); r = get("msgs_per_s")
    printf "  %-7s %9s %13s %11.0f %13.2f %10.2f %10.3f\n", f, b, when(f), r, get("payload_mb_per_s"),
           get("disk_mb_per_s"), (r > 0 ? 1000 * b / r : 0)
    n++; per += get("bytes_per_msg"); ov = get("overhead"); if (ov > worst) worst = ov
    if (get("disk_bytes") != get("file_bytes")) mismatch = 1
    next
}
get("op") == "drain" {
    if (!head_d++) {
        printf "spool: drain from the spool alone, reopened from its files (%s messages, %.1f MB):\n",
               get("filled"), get("disk_bytes") / 1e6
        print "       spool_next + spool_ack per message, one spool_flush per " get("batch") " (ACK records written then)"
        printf "  %-7s %13s %11s %13s %17s\n", "fsync", "fsync", "msgs/s", "payload MB/s", "spool_open scan"
    }
    f = get("fsync")
    printf "  %-7s %13s %11.0f %13.2f %10.1f ms %s\n", f, when(f), get("msgs_per_s"), get("payload_mb_per_s"),
           get("open_ms"), "(" int(get("open_mb_per_s")) " MB/s)"
    if (get("msgs") != get("filled")) partial = partial " " f
}
END {
    if (!n) { print "spool bench: no results" > "/dev/stderr"; exit 1 }
    printf "spool: on disk %.2f bytes per message = %d topic + %d payload + %.2f record overhead" \
           " (header, all runs); target <= 32 bytes per record: %s\n",
           per / n, tl, pl, worst, worst <= 32 ? "met" : "NOT met"
    if (mismatch) print "spool: note: disk_bytes from spool_stats differs from the sizes of the files"
    if (partial != "") print "spool: note: drain stopped at the time bound before the end (" substr(partial, 2) ")"
    print "spool: always = accepted once fsynced (ms/turn is the fsync latency at 1 msg/turn);" \
          " batch = one fsync per 200 ms, a machine crash may lose that interval; never = page cache only."
    print "spool: the always rows are the fsync latency of this disk (a VM disk may answer fsync from the" \
          " cache of the host); measure them again on the storage of the target."
    print "spool: the drain and the scan read files just written (page cache warm), so they show the" \
          " CPU cost (CRC, copies, index refill); a cold disk adds its read time."
}' "$work/results"
