#!/usr/bin/env bash
# Runs libFuzzer targets one after the other (`make fuzz`), each for SECONDS
# on its working corpus FUZZ_BUILD/corpus-work/<name>/: the seeds and saved
# regressions are copied in (the source corpus is never written), and what
# earlier runs found stays there. Prints per target the inputs executed, the
# new inputs and coverage found, and the crashes (crash, leak, timeout and
# out-of-memory inputs, left in FUZZ_BUILD/artifacts/<name>/ with the log in
# FUZZ_BUILD/logs/<name>.log), and the saved regressions that still crash
# (those are left out of the run). Exits 1 when anything crashed.
#   tests/fuzz/fuzz.sh FUZZ_BUILD SECONDS NAME...
set -u
cd "$(dirname "$0")/../.." || exit 2

if [ $# -lt 3 ]; then
    echo "usage: $0 FUZZ_BUILD SECONDS NAME..." >&2
    exit 2
fi
build=$1
seconds=$2
shift 2

# Leaks are failures; the stack of a crash is symbolized when llvm-symbolizer
# is installed.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

total_crashes=0
total_open=0
start_all=$(date +%s)
printf '%-14s %12s %8s %14s %8s\n' target executions "new inputs" "coverage" crashes
for name in "$@"; do
    bin=$build/fuzz_$name
    work=$build/corpus-work/$name
    art=$build/artifacts/$name
    log=$build/logs/$name.log
    mkdir -p "$work" "$art" "$build/logs"
    [ -d tests/fuzz/corpus/"$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
    # A regression that still crashes is reported, not fuzzed from: libFuzzer
    # would stop at it before fuzzing anything.
    open=0
    open_list=""
    for f in tests/fuzz/regressions/"$name"/*; do
        [ -f "$f" ] || continue
        if { timeout 60 "$bin" "$f" >/dev/null 2>&1; } 2>/dev/null; then
            cp -n "$f" "$work"/
        else
            open=$((open + 1))
            open_list="$open_list    still crashes: $f"$'\n'
        fi
    done
    before=$(find "$art" -type f | sort)
    dict=()
    [ -f tests/fuzz/"$name".dict ] && dict=(-dict=tests/fuzz/"$name".dict)
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art"/ "${dict[@]}" "$work" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)
    cov_start=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    cov_end=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    new_art=$(comm -13 <(printf '%s\n' "$before" | sed '/^$/d') <(find "$art" -type f | sort))
    crashes=$(printf '%s\n' "$new_art" | sed '/^$/d' | wc -l)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # it died without leaving an input (see the log)
    fi
    total_crashes=$((total_crashes + crashes))
    total_open=$((total_open + open))
    printf '%-14s %12s %10s %7s -> %-5s %6s\n' "$name" "${execs:-?}" "${added:-?}" \
        "${cov_start:-?}" "${cov_end:-?}" "$crashes"
    printf '%s' "$open_list"
    if [ "$crashes" -gt 0 ]; then
        printf '%s\n' "$new_art" | sed '/^$/d; s/^/    input: /'
        grep -m 3 -E 'ERROR: |SUMMARY: |fuzz check failed' "$log" | sed 's/^/    /'
        echo "    log: $log"
    fi
done
echo "fuzz: $# targets, $(( $(date +%s) - start_all )) s, $total_crashes new crashes," \
     "$total_open regressions still crashing"
[ "$total_crashes" -eq 0 ] && [ "$total_open" -eq 0 ]
