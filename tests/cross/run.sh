#!/usr/bin/env bash
# Runs mqgate's tests for the Raspberry Pi architectures on a non-ARM Debian
# machine: every unit test binary and every command-line test of a cross build
# under qemu-user (with the build's sysroot as QEMU_LD_PREFIX), then the .deb
# checks of tests/deb/test_deb.sh. Prints one summary line, "N passed, M failed",
# and exits non-zero when anything failed.
#   tests/cross/run.sh [ARCH:BUILD_DIR:SYSROOT]... [--deb FILE.deb]...
# ARCH is arm64 or armhf; SYSROOT is the one `make deps CROSS=ARCH` made
# (build/sysroot-ARCH). Tests see MQGATE_QEMU (qemu-aarch64 or qemu-arm) in
# their environment.
set -u
cd "$(dirname "$0")/../.." || exit 2

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export MQGATE_SRCDIR=$PWD
passed=0
failed=0
cases=0
failures=()
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Each test gets a time bound, so a hang fails the run instead of stalling it.
run_one() {
    local name=$1; shift
    local log=$tmp/log start=$SECONDS
    if timeout 300 "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        # cmocka's "[  PASSED  ] N test(s)." and the shell tests' "…: N checks, 0 failed"
        local n
        n=$(sed -n -e 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' \
                   -e 's/^.*: \([0-9]*\) checks, 0 failed$/\1/p' "$log" | tail -n 1)
        cases=$((cases + ${n:-0}))
        printf '  PASS  %s (%ds)\n' "$name" $((SECONDS - start))
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf '  FAIL  %s\n' "$name"
        sed 's/^/        /' "$log" | tail -n 60
    fi
}

qemu_for() {
    case $1 in
    arm64) echo qemu-aarch64 ;;
    armhf) echo qemu-arm ;;
    *) return 1 ;;
    esac
}

debs=()
targets=()
while [ $# -gt 0 ]; do
    case $1 in
    --deb) debs+=("$2"); shift 2 ;;
    *:*:*) targets+=("$1"); shift ;;
    *) echo "usage: $0 [ARCH:BUILD_DIR:SYSROOT]... [--deb FILE]..." >&2; exit 2 ;;
    esac
done

for target in "${targets[@]}"; do
    IFS=: read -r arch build sysroot <<<"$target"
    build=$(cd "$build" && pwd) || exit 2
    qemu=$(qemu_for "$arch") || { echo "unknown architecture '$arch'" >&2; exit 2; }
    command -v "$qemu" >/dev/null || { echo "$qemu not found: make deps CROSS=$arch" >&2; exit 2; }
    [ -d "$sysroot" ] || { echo "no $sysroot: make deps CROSS=$arch" >&2; exit 2; }
    echo "== $arch: tests in $build under $qemu"

    # A test that meets something qemu-user cannot do can tell it runs there.
    export MQGATE_QEMU=$qemu
    # The command-line tests run "$MQGATE"; this makes that run under qemu.
    wrapper=$tmp/mqgate-$arch
    printf '#!/bin/sh\nQEMU_LD_PREFIX=%s exec %s %s/mqgate "$@"\n' "$sysroot" "$qemu" "$build" >"$wrapper"
    chmod +x "$wrapper"

    run_one "$arch: mqgate is an $arch executable" \
        sh -c "file -L '$build/mqgate' | grep -q '$( [ "$arch" = arm64 ] && echo 'ARM aarch64' || echo '32-bit LSB.*ARM, EABI5')'"
    for t in "$build"/tests/unit/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.d|*.o) continue;; esac
        run_one "$arch: ${t#"$PWD"/}" env QEMU_LD_PREFIX="$sysroot" "$qemu" "$t"
    done
    for t in tests/cli/test_*.sh; do
        [ -f "$t" ] || continue
        run_one "$arch: $t" env MQGATE="$wrapper" bash "$t"
    done
    # The broker suites: the ARM broker under qemu, real clients on the host.
    for t in tests/integration/test_broker_*.sh; do
        [ -f "$t" ] || continue
        run_one "$arch: $t" env BROKER=mqgate MQGATE="$wrapper" bash "$t"
    done
    for t in tests/integration/test_broker_*.py; do
        [ -f "$t" ] || continue
        run_one "$arch: $t" env MQGATE="$wrapper" /usr/bin/python3 "$t"
    done
done

for deb in "${debs[@]}"; do
    run_one "deb: $(basename "$deb")" bash tests/deb/test_deb.sh "$deb"
done

echo
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "test programs: $passed passed, $failed failed; test cases and checks in passing programs: $cases"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
