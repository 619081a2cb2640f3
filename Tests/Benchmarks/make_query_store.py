#!/usr/bin/env python3
"""Writes the inputs of a large benchmark store: N x D float32 embeddings (random unit
directions around 2,000 centres, times norms in [10, 30], never zeros) as emb.npy, and one path
per row as paths.txt. `magfleet import emb.npy --format npy --paths paths.txt --out store.h5`
then makes the store (bench_query.py does both).

    python make_query_store.py OUTDIR [--rows 1000000 --dim 512]
"""
import argparse, os
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--rows", type=int, default=1_000_000)
ap.add_argument("--dim", type=int, default=512)
args = ap.parse_args()
n, d = args.rows, args.dim
os.makedirs(args.out, exist_ok=True)
rng = np.random.default_rng(7)
centers = rng.normal(size=(2000, d)).astype("f4")
emb = np.lib.format.open_memmap(os.path.join(args.out, "emb.npy"), mode="w+", dtype="<f4", shape=(n, d))
step = 65536
for s in range(0, n, step):
    e = min(n, s + step)
    x = centers[rng.integers(0, 2000, e - s)] + 0.7 * rng.normal(size=(e - s, d)).astype("f4")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    emb[s:e] = x * rng.uniform(10, 30, (e - s, 1)).astype("f4")
emb.flush()
with open(os.path.join(args.out, "paths.txt"), "w") as f:
    for i in range(n):
        f.write(f"id{i % 50000:05d}/{i:07d}.jpg\n")
