#!/usr/bin/env python3
"""Reading MagFace's features.list: `magfleet import --format features-list` (parse + write
the HDF5 store) against numpy reading the same file (np.loadtxt, and np.fromstring per line),
in one run, alternating, N rounds; prints each figure's median and MB/s, and checks that
magfleet's float32 values are bit-identical to numpy's.

    .build/peers/bin/python Tests/Benchmarks/bench_features_list.py [--magfleet .build/release/magfleet]
        [--rows 20000] [--dim 512] [--rounds 3]

The file is written as gen_feat.py writes it: `path v1 ... vD ` with numpy's float32 str().
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--magfleet", default=".build/release/magfleet")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.list")
        rng = np.random.default_rng(1)
        X = (rng.standard_normal((args.rows, args.dim)) * 0.05).astype(np.float32)
        with open(path, "w") as f:
            for i, row in enumerate(X):
                f.write(f"facescrub/id{i % 80}/img{i}.png " + " ".join(str(v) for v in row) + " \n")
        mb = os.path.getsize(path) / 1e6
        times = {"magfleet import": [], "numpy loadtxt": [], "numpy fromstring": []}
        for _ in range(args.rounds):
            store = os.path.join(tmp, "x.h5")
            if os.path.exists(store):
                os.remove(store)
            t = time.perf_counter()
            subprocess.run([args.magfleet, "import", path, "--format", "features-list", "--out", store],
                           check=True, stdout=subprocess.DEVNULL)
            times["magfleet import"].append(time.perf_counter() - t)
            t = time.perf_counter()
            Y = np.loadtxt(path, usecols=range(1, args.dim + 1), dtype=np.float32)
            times["numpy loadtxt"].append(time.perf_counter() - t)
            t = time.perf_counter()
            with open(path) as f:
                Z = np.stack([np.fromstring(line.partition(" ")[2], dtype=np.float32, sep=" ") for line in f])
            times["numpy fromstring"].append(time.perf_counter() - t)
        with h5py.File(store) as f:
            M = f["embeddings"][:]
        same = np.array_equal(M.view(np.uint32), Y.view(np.uint32)) and np.array_equal(Y.view(np.uint32), Z.view(np.uint32))
        print(f"{args.rows} x {args.dim}, {mb:.1f} MB; bit-identical: {same}")
        for name, ts in times.items():
            m = statistics.median(ts)
            print(f"{name:18s} median {m:6.2f} s  {mb / m:6.1f} MB/s  (min {min(ts):.2f}, max {max(ts):.2f})")


if __name__ == "__main__":
    main()
