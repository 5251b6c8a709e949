#!/usr/bin/env bash
# Replays the fuzz corpus and the saved regressions of every target
# (tests/fuzz/corpus/<name>/, tests/fuzz/regressions/<name>/) through the
# replayers of each build tree (BUILD_DIR/tests/fuzz/replay_<name>, built by
# `make fuzz-replay` or as part of the unit tests), from the repository root.
# One check per input file and build; prints "fuzz replay: N checks, M
# failed" and exits non-zero when any input failed or a replayer is missing.
#   tests/fuzz/replay.sh BUILD_DIR [BUILD_DIR...]
set -u
cd "$(dirname "$0")/../.." || exit 2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ $# -eq 0 ]; then
    echo "usage: $0 BUILD_DIR [BUILD_DIR...]" >&2
    exit 2
fi

checks=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Runs one replayer over some inputs; prints and counts what failed. A run
# over whole directories that fails is repeated file by file, to name the
# inputs at fault.
replay() {
    local bin=$1; shift
    local files=("$@")
    # (The braces keep bash's "Segmentation fault" job notices out.)
    if { timeout 600 "$bin" "${files[@]}" >"$log" 2>&1; } 2>/dev/null; then
        return
    fi
    for f in "${files[@]}"; do
        { timeout 60 "$bin" "$f" >"$log" 2>&1; } 2>/dev/null
        local rc=$?
        if [ "$rc" -ne 0 ]; then
            failed=$((failed + 1))
            if [ "$rc" -gt 128 ]; then
                printf '  FAIL  %s %s (killed by SIG%s)\n' "$bin" "$f" "$(kill -l $((rc - 128)))"
            else
                printf '  FAIL  %s %s (exit %s)\n' "$bin" "$f" "$rc"
            fi
            sed 's/^/        /' "$log" | tail -n 40
        fi
    done
}

for build in "$@"; do
    for src in tests/fuzz/fuzz_*.c; do
        name=${src#tests/fuzz/fuzz_}
        name=${name%.c}
        files=()
        for dir in tests/fuzz/corpus/"$name" tests/fuzz/regressions/"$name"; do
            [ -d "$dir" ] || continue
            for f in "$dir"/*; do
                [ -f "$f" ] && files+=("$f")
            done
        done
        [ ${#files[@]} -gt 0 ] || continue
        checks=$((checks + ${#files[@]}))
        bin=$build/tests/fuzz/replay_$name
        if [ ! -x "$bin" ]; then
            printf '  FAIL  %s: not built\n' "$bin"
            failed=$((failed + ${#files[@]}))
            continue
        fi
        replay "$bin" "${files[@]}"
    done
done

echo "fuzz replay: $checks checks, $failed failed"
[ "$failed" -eq 0 ] && [ "$checks" -gt 0 ]
