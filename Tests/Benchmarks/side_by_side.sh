#!/usr/bin/env bash
# magfleet bench and onnxruntime on the same network, batch size and thread count, alternated
# for several rounds so that a shared machine's load hits both alike. Prints each run's lines;
# compare img/s round by round (docs/performance.md quotes the median ratio).
#
#   Tests/Benchmarks/side_by_side.sh [ROUNDS=3] [BATCH=8] [THREADS=2] [ARCH=iresnet100]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3} BATCH=${2:-8} THREADS=${3:-2} ARCH=${4:-iresnet100}
PY=${MAGFLEET_PEER_PYTHON:-/opt/fxvenv/bin/python}
MAGFLEET=${MAGFLEET:-.build/debug/magfleet}
ONNX=$(mktemp -d)/$ARCH.onnx
trap 'rm -rf "$(dirname "$ONNX")"' EXIT
"$PY" Tests/Benchmarks/bench_onnxruntime.py --arch "$ARCH" --batch 1 --threads "$THREADS" --min-seconds 0 --min-iterations 1 --onnx "$ONNX" >/dev/null 2>&1
for r in $(seq "$ROUNDS"); do
    echo "== round $r"
    "$MAGFLEET" bench --arch "$ARCH" --batch "$BATCH" --threads "$THREADS" --min-seconds 8 --min-iterations 2 | sed -n '1p;$p'
    "$PY" Tests/Benchmarks/bench_onnxruntime.py --arch "$ARCH" --batch "$BATCH" --threads "$THREADS" --min-seconds 8 --min-iterations 2 --onnx "$ONNX" 2>/dev/null | sed -n '1p;$p'
done
