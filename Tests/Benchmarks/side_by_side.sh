#!/usr/bin/env bash
# magfleet bench (fast and --exact), onnxruntime, OpenVINO held to float32 and OpenVINO in its
# default configuration (no precision hint: bf16 on CPUs with AMX or AVX512_BF16) on the same
# random-weight network, batch sizes and thread count, alternated for several rounds so that a
# shared machine's load hits all alike. Prints every run's lines, then a summary: the median
# img/s of each engine per batch size with its range over the rounds, and the median of the
# per-round ratios magfleet / peer (docs/performance.md quotes these).
#
#   Tests/Benchmarks/side_by_side.sh [ROUNDS=3] [BATCHES=1,8] [THREADS=2] [ARCH=iresnet100]
#
# ENGINES="fast bf16 openvino openvino-default" runs a subset (default: the five without bf16
# and openblas; bf16 is `magfleet bench --precision bf16`, CPUs with AVX512_BF16 only;
# openblas is the fast path with its GEMMs on OpenBLAS, `MAGFLEET_GEMM=openblas`).
#
# Needs MAGFLEET (default .build/release/magfleet) and a Python with torch, onnx, onnxruntime
# and openvino (MAGFLEET_PEER_PYTHON, default /opt/fxvenv/bin/python; docs/performance.md says
# how to make one). The FMA peak `magfleet bench` measures is printed with its rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3} BATCHES=${2:-1,8} THREADS=${3:-2} ARCH=${4:-iresnet100}
PY=${MAGFLEET_PEER_PYTHON:-/opt/fxvenv/bin/python}
MAGFLEET=${MAGFLEET:-.build/release/magfleet}
SECONDS_PER=${MIN_SECONDS:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ONNX=$work/$ARCH.onnx
"$PY" Tests/Benchmarks/bench_peers.py --arch "$ARCH" --batch-size 1 --threads "$THREADS" --min-seconds 0 --min-iterations 1 --onnx "$ONNX" >/dev/null 2>&1
log=$work/runs.txt
for r in $(seq "$ROUNDS"); do
    echo "== round $r"
    for engine in ${ENGINES:-fast exact onnxruntime openvino openvino-default}; do
        case $engine in
            fast) cmd=("$MAGFLEET" bench --arch "$ARCH" --batch-size "$BATCHES" --threads "$THREADS" --min-seconds "$SECONDS_PER" --min-iterations 3) ;;
            bf16) cmd=("$MAGFLEET" bench --precision bf16 --arch "$ARCH" --batch-size "$BATCHES" --threads "$THREADS" --min-seconds "$SECONDS_PER" --min-iterations 3) ;;
            openblas) cmd=(env MAGFLEET_GEMM=openblas "$MAGFLEET" bench --arch "$ARCH" --batch-size "$BATCHES" --threads "$THREADS" --min-seconds "$SECONDS_PER" --min-iterations 3) ;;
            exact) cmd=("$MAGFLEET" bench --exact --arch "$ARCH" --batch-size "$BATCHES" --threads "$THREADS" --min-seconds "$SECONDS_PER" --min-iterations 3) ;;
            *) cmd=("$PY" Tests/Benchmarks/bench_peers.py --runtime "$engine" --arch "$ARCH" --batch-size "$BATCHES" --threads "$THREADS" --min-seconds "$SECONDS_PER" --min-iterations 3 --onnx "$ONNX") ;;
        esac
        echo "-- $engine"
        out=$("${cmd[@]}" 2>"$work/err") || { cat "$work/err" >&2; exit 1; }
        printf '%s\n' "$out"
        grep -h "compiled for" "$work/err" || true
        # Rows start with the batch size; tag them with the round and engine for the summary.
        awk -v r="$r" -v e="$engine" '$1 ~ /^[0-9]+$/ { print r, e, $1, $4, $7, $8 }' <<<"$out" >>"$log"
    done
done
"$PY" - "$log" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(dict)  # (batch, engine) -> {round: img/s}
rss = {}
ENGINES = ["fast", "bf16", "openblas", "exact", "onnxruntime", "openvino", "openvino-default"]
for line in open(sys.argv[1]):
    r, engine, batch, ips, peak, unit = line.split()
    runs[(int(batch), engine)][int(r)] = float(ips)
    rss[(int(batch), engine)] = f"{peak} {unit}"
print("\nsummary: median img/s [min-max over rounds]; ratio = median of per-round magfleet/peer")
for batch in sorted({b for b, _ in runs}):
    cells = []
    for engine in ENGINES:
        v = list(runs[(batch, engine)].values())
        if v:
            cells.append(f"{engine} {statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}]")
    print(f"batch {batch}: " + ", ".join(cells))
    for mine, peers in [("fast", ["openblas", "onnxruntime", "openvino", "openvino-default"]), ("bf16", ["openvino", "openvino-default"]),
                        ("openblas", ["openvino"]), ("exact", ["onnxruntime", "openvino", "openvino-default"])]:
        for peer in peers:
            a, b = runs[(batch, mine)], runs[(batch, peer)]
            ratios = [a[r] / b[r] for r in a if r in b]
            if ratios:
                print(f"  {mine}/{peer}: {statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]")
    print("  peak RSS: " + ", ".join(f"{e} {rss[(batch, e)]}" for e in ENGINES if (batch, e) in rss))
PY
