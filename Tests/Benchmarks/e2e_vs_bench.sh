#!/usr/bin/env bash
# End to end against the engine, on the same host and threads: `magfleet bench` at the batch
# sizes a worker may choose, then `magfleet extract` of an image list with real JPEGs (wall
# time of the whole command: process starts, model loads, decoding, merge), alternated for
# several rounds. Prints each run and, per round, extract's img/s over bench's best.
#
#   Tests/Benchmarks/e2e_vs_bench.sh MAGFLEET CHECKPOINT LIST ROOT [ROUNDS=3] [THREADS=1] [WORKERS=1] [EXTRA extract args...]
#
# LIST/ROOT: e.g. from `magfleet demo data --out demo --distractors 880` (1,000 JPEGs).
# PRECISION=bf16 runs both commands with `--precision bf16` (default f32).
set -euo pipefail
MAGFLEET=$1 MODEL=$2 LIST=$3 ROOT=$4 ROUNDS=${5:-3} THREADS=${6:-1} WORKERS=${7:-1}
shift $(( $# < 7 ? $# : 7 ))
ARCH=${ARCH:-iresnet100} PRECISION=${PRECISION:-f32}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=$(grep -cv '^\s*\(#\|$\)' "$LIST")
for r in $(seq "$ROUNDS"); do
    echo "== round $r (load: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$MAGFLEET" bench --arch "$ARCH" --batch-size 1,2,4,8,16 --threads $(( THREADS * WORKERS )) --precision "$PRECISION" --min-seconds 4 --min-iterations 3 \
        >"$work/bench"
    cat "$work/bench"
    best=$(awk '$1 ~ /^[0-9]+$/ { if ($4 > b) b = $4 } END { print b }' "$work/bench")
    rm -rf "$work/s.h5" "$work/s.h5.run"
    start=$(date +%s.%N)
    "$MAGFLEET" extract --list "$LIST" --root "$ROOT" --model "$MODEL" --out "$work/s.h5" --workers "$WORKERS" \
        --threads "$THREADS" --precision "$PRECISION" --no-progress --log-level info "$@" 2>"$work/log" >/dev/null
    end=$(date +%s.%N)
    grep -h "batch size chosen" "$work/log" | sed 's/^/    /' || true
    wall=$(echo "$end - $start" | bc)
    awk -v n="$images" -v w="$wall" -v b="$best" -v r="$r" \
        'BEGIN { e = n / w; printf "round %d: extract %d images in %.1f s = %.2f img/s; bench best %.2f img/s; ratio %.3f\n", r, n, w, e, b, e / b }'
done
