#!/usr/bin/env bash
# The coordinator's startup: time from exec to its "bound" log line, and its peak RSS then
# (VmHWM), for a checkpoint; no worker connects. The coordinator only needs the model's
# fingerprint, so this is the price of learning it.
#
#   Tests/Benchmarks/coordinator_startup.sh MAGFLEET CHECKPOINT [ROUNDS=3]
set -euo pipefail
MAGFLEET=$1 MODEL=$2 ROUNDS=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'synthetic:0\n' >"$work/list.txt"
for r in $(seq "$ROUNDS"); do
    rm -rf "$work/run" "$work/out.h5"
    start=$(date +%s.%N)
    "$MAGFLEET" coordinator --list "$work/list.txt" --out "$work/out.h5" --run-dir "$work/run" \
        --bind tcp://127.0.0.1:0 --model "$MODEL" --log-level info >"$work/log" 2>&1 &
    pid=$!
    until grep -q '"\?bound' "$work/log" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    end=$(date +%s.%N)
    hwm=$(awk '/VmHWM/ { print $2, $3 }' "/proc/$pid/status" 2>/dev/null || echo "?")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf 'round %d: bound after %.2f s, peak RSS %s\n' "$r" "$(echo "$end - $start" | bc)" "$hwm"
done
