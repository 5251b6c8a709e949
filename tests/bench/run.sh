#!/usr/bin/env bash
# make bench: prints figures, never fails on timing. Today: how long loading
# and validating a large configuration takes (it happens at start and on every
# SIGHUP). The broker, driver and bridge benchmarks join here as they land.
#   tests/bench/run.sh BUILD_DIR
set -eu
build=${1:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 50 Modbus devices x 10 points = 500 points, the size the gateway targets.
{
    echo "buses:"
    echo "  - { name: rs485, device: /dev/ttyUSB0, baud: 115200 }"
    echo "devices:"
    for d in $(seq 1 50); do
        echo "  - name: dev$d"
        echo "    bus: rs485"
        echo "    slave: $d"
        echo "    points:"
        for p in $(seq 0 9); do
            echo "      - { name: p$p, register: holding, address: $((p * 2)), type: float32, unit: V, scale: 0.1 }"
        done
    done
} >"$tmp/big.yaml"

runs=50
start=$(date +%s%N)
for _ in $(seq 1 $runs); do
    "$build/mqgate" check -q -c "$tmp/big.yaml"
done
end=$(date +%s%N)
per_run_us=$(( (end - start) / runs / 1000 ))
echo "config: load+validate 500 points ($(wc -c <"$tmp/big.yaml") bytes): ${per_run_us} us per run (mqgate check, process start included, mean of $runs)"
