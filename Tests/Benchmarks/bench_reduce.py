#!/usr/bin/env python3
"""Reducer scale benchmark: `magfleet reduce --synthetic` on 100,000 x 512 (3,530 probes over
80 identities) against the same metrics in numpy + scikit-learn, in one run.

    /opt/fxvenv/bin/python Tests/Benchmarks/bench_reduce.py [--magfleet .build/debug/magfleet]
        [--rows 100000] [--distractor-negatives] [--no-head] [--skip-peer-reject]

Prints magfleet's wall time and peak RSS (getrusage of the child), its per-stage seconds,
the peer's per-stage seconds, and every shared number side by side. The peer reads the exact
table magfleet generated (--dump-table), so both see the same float32 embeddings.
"""
import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "Fixtures"))
from gen_metrics import verification, normalize  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--magfleet", default=".build/debug/magfleet")
    ap.add_argument("--rows", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--distractor-negatives", action="store_true")
    ap.add_argument("--no-head", action="store_true")
    ap.add_argument("--skip-peer-reject", action="store_true")
    a = ap.parse_args()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-reduce-"))
    cmd = [a.magfleet, "reduce", "--synthetic", f"{a.rows}x{a.dim}", "--synthetic-probes", "3530x80",
           "--out", str(tmp / "out"), "--dump-table", str(tmp / "table.f32")]
    cmd += [] if a.no_head else ["--head"]
    cmd += ["--distractor-negatives"] if a.distractor_negatives else []
    print("$", " ".join(cmd))
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    rep = json.loads((tmp / "out" / "report.json").read_text())
    print(f"magfleet: wall {wall:.1f} s (incl. generating and dumping the table), CPU {cpu:.1f} s, "
          f"peak RSS {peak:.0f} MiB, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("magfleet stages (s):", {k: round(v, 2) for k, v in sorted(rep["seconds"].items())})

    peer = {}
    t = time.perf_counter()
    X = np.fromfile(tmp / "table.f32", dtype=np.float32).reshape(a.rows, a.dim)
    labels = np.array([int(x) for x in (tmp / "table.f32.labels").read_text().split()])
    probes, dis = np.where(labels >= 0)[0], np.where(labels < 0)[0]
    Xp = normalize(X[probes])
    Spp = Xp @ Xp.T
    pl = labels[probes]
    iu = np.triu_indices(len(probes), 1)
    same = pl[iu[0]] == pl[iu[1]]
    s = Spp[iu]
    peer["scores"] = time.perf_counter() - t
    t = time.perf_counter()
    negs = [s[~same]]
    if a.distractor_negatives:
        print("peer: probe x distractor negatives are not materialised by the peer (340M floats); skipping its verification")
        ver = None
    else:
        ver = verification(s[same], s[~same])
    peer["verification"] = time.perf_counter() - t
    t = time.perf_counter()
    top = np.full((len(probes), 10), -np.inf, np.float32)
    toprow = np.zeros((len(probes), 10), np.int64)
    megamax = {}
    sizes = [k for k in [10, 100, 1000, 10000] if k < len(dis)] + [len(dis)]
    running = np.full(len(probes), -np.inf, np.float32)
    block = 8192
    for start in range(0, a.rows, block):
        rows = np.arange(start, min(a.rows, start + block))
        S = Xp @ normalize(X[rows]).T
        S[probes[:, None] == rows[None, :]] = -np.inf
        cat = np.concatenate([top, S], axis=1)
        catrow = np.concatenate([toprow, np.broadcast_to(rows, S.shape)], axis=1)
        idx = np.lexsort((catrow, -cat), axis=1)[:, :10]
        top = np.take_along_axis(cat, idx, 1)
        toprow = np.take_along_axis(catrow, idx, 1)
    D = None
    for k0 in range(0, len(dis), block):
        drows = dis[k0:k0 + block]
        D = Xp @ normalize(X[drows]).T
        for k in sizes:
            if k0 < k:
                m = D[:, :min(k - k0, D.shape[1])].max(axis=1)
                megamax[k] = np.maximum(megamax.get(k, running), m)
    first = np.argmax(labels[toprow] == pl[:, None], axis=1)
    hit = (labels[toprow] == pl[:, None]).any(axis=1)
    rank1 = int((hit & (first == 0)).sum())
    cmc = [float(((hit) & (first < k)).mean()) for k in range(1, 11)]
    mega = []
    same_mat = (pl[:, None] == pl[None, :]) & ~np.eye(len(probes), dtype=bool)
    for k in sizes:
        ok = (Spp > megamax[k][:, None]) & same_mat
        mega.append((k, int(ok.sum()), int(same_mat.sum())))
    peer["identification"] = time.perf_counter() - t
    t = time.perf_counter()
    from sklearn.metrics import roc_auc_score
    norms = np.linalg.norm(X[probes].astype(np.float64), axis=1).astype(np.float32)
    order = sorted(range(len(probes)), key=lambda i: (norms[i], i))
    reject = []
    if not a.skip_peer_reject:
        for f in [k * 0.05 for k in range(11)]:
            kept = np.array(sorted(order[int(np.floor(f * len(probes))):]))
            sub = Spp[np.ix_(kept, kept)]
            ku = np.triu_indices(len(kept), 1)
            ks = pl[kept][ku[0]] == pl[kept][ku[1]]
            reject.append((f, float(roc_auc_score(ks, sub[ku].astype(np.float64)))))
    peer["reject-curve (AUC only)"] = time.perf_counter() - t
    print("peer stages (s):", {k: round(v, 2) for k, v in peer.items()}, f"total {sum(peer.values()):.1f}")

    v, idr = rep["verification"], rep["identification"]
    rows = []
    if ver:
        rows += [("ROC-AUC", v["auc"], ver["auc"]), ("best accuracy", v["bestAccuracy"], ver["bestAccuracy"]),
                 ("best threshold", v["bestThreshold"], ver["bestThreshold"])]
        for p, q in zip(v["tarAtFAR"], ver["tarAtFAR"]):
            rows.append((f"TAR@{p['far']:.0e} strict", p["strictTAR"], q["strictTAR"]))
            rows.append((f"TAR@{p['far']:.0e} nearest", p["nearestTAR"], q["nearestTAR"]))
        rows += [("pos mean", v["positiveStats"]["mean"], ver["positiveStats"]["mean"]),
                 ("neg std", v["negativeStats"]["std"], ver["negativeStats"]["std"])]
    rows += [("rank-1 correct", idr["rank1Correct"], rank1), ("CMC@10", idr["cmc"][9], cmc[9])]
    for m, (k, c, q) in zip(idr["megaface"], mega):
        rows.append((f"MegaFace {k} correct", m["correct"], c))
    for r, (f, auc) in zip(rep["rejectCurve"], reject):
        rows.append((f"reject {f:.2f} AUC", r["auc"], auc))
    print(f"{'metric':<24}{'magfleet':>16}{'numpy/sklearn':>16}{'|diff|':>12}")
    for name, x, y in rows:
        print(f"{name:<24}{x:>16.6f}{y:>16.6f}{abs(x - y):>12.2e}")


if __name__ == "__main__":
    main()
