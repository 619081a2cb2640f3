#!/usr/bin/env bash
# MegaFace scale (issue 17): a whole coordinator run of ROWS synthetic images through real
# worker processes (the test embedder, NOT A MODEL: the bookkeeping, the wire and the store are
# real), under `ulimit -n NOFILE`, then the merge alone again from the kept run directory.
# Prints the coordinator's peak RSS (its merge included), wall times, the run directory's size
# against the store's, and the merge's peak RSS and open-file need. Prints numbers only.
#
#   swift build -c release --product magfleet
#   Tests/Benchmarks/bench_scale.sh .build/release/magfleet [ROWS] [DIM] [SHARD] [NOFILE] [WORKERS]
#   (defaults: 1000000 512 256 1024 2; the first 3,530 rows are probes of 80 identities, the
#   rest distractors, as in the seed's protocol)
#   KILL_AT=0.6 Tests/Benchmarks/bench_scale.sh ... kills the coordinator with SIGKILL once 60%
#   of the shards are journaled, then runs the same command again (the resume), and checks
#   that the store has every row once.
set -euo pipefail
MAGFLEET=$(realpath "${1:?path to magfleet}")
ROWS=${2:-1000000} DIM=${3:-512} SHARD=${4:-256} NOFILE=${5:-1024} WORKERS=${6:-2}
WORK=$(mktemp -d /tmp/magfleet-scale-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
cd "$WORK"
PROBES=$(( ROWS < 3530 ? ROWS : 3530 ))
awk -v n="$ROWS" -v p="$PROBES" 'BEGIN { for (i = 0; i < n; i++) {
    if (i < p) printf "synthetic:facescrub/%07d.jpg id%02d\n", i, i % 80; else printf "synthetic:megaface/%07d.jpg\n", i } }' > list.txt
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TEST=(--embedder test --test-dim "$DIM")
for w in $(seq "$WORKERS"); do
  "$MAGFLEET" worker --connect "tcp://127.0.0.1:$PORT" "${TEST[@]}" --log-level error > "worker$w.log" 2>&1 &
done
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1) ($(nproc) cores), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rows $ROWS, dim $DIM, shard $SHARD, ulimit -n $NOFILE, $WORKERS workers"
coordinator() {
  ( ulimit -n "$NOFILE"
    exec /usr/bin/time -f "coordinator$1: %e s wall, %U s user, %S s sys, max RSS %M kB" \
      "$MAGFLEET" coordinator --list list.txt --out store.h5 --run-dir run --bind "tcp://127.0.0.1:$PORT" "${TEST[@]}" \
        --shard-size "$SHARD" --keep-run-dir --no-progress --log-level warning )
}
if [ -n "${KILL_AT:-}" ]; then
  SHARDS=$(( (ROWS + SHARD - 1) / SHARD ))
  ( ulimit -n "$NOFILE"
    exec "$MAGFLEET" coordinator --list list.txt --out store.h5 --run-dir run --bind "tcp://127.0.0.1:$PORT" "${TEST[@]}" \
      --shard-size "$SHARD" --keep-run-dir --no-progress --log-level warning ) > first.log 2>&1 &
  CPID=$!
  journaled() { local n; n=$(grep -c '^done' run/journal 2>/dev/null) || true; echo "${n:-0}"; }
  # The coordinator's resident memory as the run goes (flat while serving), then kill -9.
  for step in $(python3 -c "k = $KILL_AT; print(' '.join(str(int($SHARDS * k * i / 4)) for i in (1, 2, 3, 4)))"); do
    while [ "$(journaled)" -lt "$step" ]; do sleep 0.5; done
    echo "at $(journaled) of $SHARDS shards: coordinator $(grep -E 'VmRSS' /proc/$CPID/status | tr -s ' \t' ' ')"
  done
  echo "serving peak: $(grep VmHWM /proc/$CPID/status | tr -s ' \t' ' ')"
  kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
  echo "killed -9 with $(journaled) of $SHARDS shards journaled"
  coordinator " (resumed)" 2>&1 | grep -v "^merged\|^leases" || true
else
  coordinator "" 2>&1 | grep -v "^merged\|^this run\|^leases" || true
fi
kill $(jobs -p) 2>/dev/null || true
wait 2>/dev/null || true
"${PEER_PYTHON:-python3}" - <<'PY' || true
import h5py, numpy as np
f = h5py.File("store.h5", "r")
print(f"store: {f.attrs['count']} rows, {f.attrs['ok_count']} ok, {len(f['label_names'])} label names")
PY
store=$(stat -c %s store.h5); run=$(du -sb run | cut -f1)
python3 - "$store" "$run" "$ROWS" "$DIM" <<'PY'
import sys
store, run, rows, dim = map(int, sys.argv[1:])
print(f"store {store / 1e6:.1f} MB ({rows * dim * 4 / 1e6:.1f} MB of embeddings); run dir {run / 1e6:.1f} MB = {run / store:.2f}x the store")
PY
echo "shard files: $(ls run/shards | wc -l)"
( ulimit -n "$NOFILE"
  /usr/bin/time -f "merge --run-dir alone: %e s wall, max RSS %M kB" "$MAGFLEET" merge --run-dir run --out again.h5 ) 2>&1 | grep -v "^merged"
( ulimit -n 16
  /usr/bin/time -f "the same merge under ulimit -n 16: %e s wall, max RSS %M kB" "$MAGFLEET" merge --run-dir run --out again16.h5 ) 2>&1 | grep -v "^merged"
cmp -s again.h5 again16.h5 || echo "(the two merges differ only in created_at)"
