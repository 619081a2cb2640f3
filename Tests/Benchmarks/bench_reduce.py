#!/usr/bin/env python3
"""Reducer scale benchmark: `magfleet reduce` against the same metrics in numpy + scikit-learn,
in one run, each side's wall time and peak RSS measured on its own child process (wait4).

Two inputs:
- default: `reduce --synthetic ROWSx512` (3,530 probes over 80 identities), the table dumped
  with --dump-table for the peer;
- `--store`: MegaFace's own scale by default (1,000,000 rows: 3,530 probes + 996,470
  distractors), generated here with numpy (probes: a unit centre per identity + noise, every
  50th probe from the next identity's centre at low norm; distractors: noise) and written as a
  magfleet feature store with h5py (docs/feature-store.md, as Tests/Fixtures/gen_store.py
  does); magfleet reduces the store, the peer reads the same store with h5py.

    PY=.build/torchvenv/bin/python     # numpy, scikit-learn, h5py
    OPENBLAS_NUM_THREADS=2 $PY Tests/Benchmarks/bench_reduce.py [--magfleet .build/debug/magfleet]
        [--rows 100000] [--store [--rows 1000000]] [--distractor-negatives] [--no-head]
        [--skip-peer-reject] [--rounds 3] [--peer-rounds 1] [--keep DIR]

Prints, per round, magfleet's wall, CPU and peak RSS and its stages; the peer's stages, wall
and peak RSS; the load average; and every shared number side by side (medians over rounds).
With --distractor-negatives the peer streams the 3.5e9 probe x distractor negatives too:
exact AUC from counts (each block of negatives sorted, the positives searched in it), and the negatives' count,
mean and std (it does not hold them either).
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "Fixtures"))
from gen_metrics import verification, normalize  # noqa: E402

PROBES, IDENTITIES = 3530, 80


def child(cmd, env=None):
    """Runs `cmd`; returns (wall s, CPU s, peak RSS MiB) of that child alone."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{cmd[0]} failed: status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def make_store(path, rows, dim, seed=18):
    """A seed-shaped table as a magfleet store (h5py), written in blocks."""
    import h5py
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((IDENTITIES, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.full(rows, -1, np.int64)
    labels[:PROBES] = np.arange(PROBES) % IDENTITIES
    paths = [f"probes/id{l}/{r}.jpg" for r, l in enumerate(labels[:PROBES])] + [f"distractors/{r}.jpg" for r in range(PROBES, rows)]
    s = h5py.string_dtype("utf-8")
    norms = np.zeros(rows, np.float32)
    with h5py.File(path, "w") as f:
        emb = f.create_dataset("embeddings", shape=(rows, dim), dtype="<f4", chunks=(min(rows, 1024), dim), maxshape=(None, dim))
        block = 65536
        for start in range(0, rows, block):
            r = np.arange(start, min(rows, start + block))
            noise = rng.standard_normal((len(r), dim)).astype(np.float32)
            x = np.empty((len(r), dim), np.float32)
            probe = r < PROBES
            if probe.any():
                ids = labels[r[probe]]
                wrong = r[probe] % 50 == 49
                centre = np.where(wrong, (ids + 1) % IDENTITIES, ids)
                quality = np.where(wrong, rng.uniform(0.3, 0.4, len(ids)), rng.uniform(0.3, 1.0, len(ids))).astype(np.float32)
                scale = 10 + 30 * quality
                x[probe] = scale[:, None] * (centres[centre] + (0.8 / np.sqrt(dim)) * (1.6 - quality)[:, None] * noise[probe])
            if (~probe).any():
                scale = rng.uniform(10, 40, int((~probe).sum())).astype(np.float32)
                x[~probe] = scale[:, None] * noise[~probe] / np.float32(np.sqrt(dim))
            emb[r[0]:r[-1] + 1] = x
            norms[r] = np.linalg.norm(x.astype(np.float64), axis=1)
        f.create_dataset("norms", data=norms)
        f.create_dataset("paths", data=np.array(paths, dtype=object), dtype=s)
        f.create_dataset("labels", data=labels)
        f.create_dataset("label_names", data=np.array([f"id{i}" for i in range(IDENTITIES)], dtype=object), dtype=s)
        f.create_dataset("status", data=np.zeros(rows, "u1"))
        f.create_dataset("failure_reasons", data=np.array([""] * rows, dtype=object), dtype=s)
        a = f.attrs
        a["magfleet_format"] = "magfleet-feature-store"
        a["format_version"] = np.int64(1)
        a["kind"] = "store"
        a["complete"] = np.int64(1)
        a["model_fingerprint"] = "bench-reduce-synthetic"
        a["architecture"] = "synthetic"
        a["embedding_dim"] = np.int64(dim)
        a["preprocessing_preset"] = "none"
        a["flip"] = np.int64(0)
        a["image_list_sha256"] = "0" * 64
        a["tool_version"] = "bench_reduce.py"
        a["created_at"] = "2026-12-02T00:00:00Z"
        a["random_weights"] = np.int64(0)
        a["count"] = np.int64(rows)
        a["ok_count"] = np.int64(rows)
        a["failed_count"] = np.int64(0)


def load(path):
    """The table (float32 N x D) and labels, from a store (h5py) or a --dump-table file."""
    if path.suffix == ".h5":
        import h5py
        with h5py.File(path) as f:
            return f["embeddings"][:], f["labels"][:]
    X = np.fromfile(path, dtype=np.float32)
    labels = np.array([int(x) for x in pathlib.Path(str(path) + ".labels").read_text().split()])
    return X.reshape(len(labels), -1), labels


def peer(path, distractor_negatives, skip_reject):
    """Every shared number, in numpy + scikit-learn; returns (stages, results)."""
    stages, res = {}, {}
    t = time.perf_counter()
    X, labels = load(path)
    stages["load"] = time.perf_counter() - t
    t = time.perf_counter()
    probes, dis = np.where(labels >= 0)[0], np.where(labels < 0)[0]
    Xp = normalize(X[probes])
    Spp = Xp @ Xp.T
    pl = labels[probes]
    iu = np.triu_indices(len(probes), 1)
    same = pl[iu[0]] == pl[iu[1]]
    s = Spp[iu]
    pos = np.sort(s[same])
    stages["scores"] = time.perf_counter() - t
    t = time.perf_counter()
    if not distractor_negatives:
        res["verification"] = verification(s[same], s[~same])
    stages["verification"] = time.perf_counter() - t
    t = time.perf_counter()
    top = np.full((len(probes), 10), -np.inf, np.float32)
    toprow = np.zeros((len(probes), 10), np.int64)
    sizes = [10 ** k for k in range(1, 20) if 10 ** k < len(dis)] + [len(dis)]
    megamax = {k: np.full(len(probes), -np.inf, np.float32) for k in sizes}
    ordinal = np.cumsum(labels < 0) - 1  # a distractor's index among the distractors
    neg = dict(n=0, gt=0, eq=0, sum=0.0, sumsq=0.0)
    block = 8192
    for start in range(0, len(labels), block):
        rows = np.arange(start, min(len(labels), start + block))
        S = Xp @ normalize(X[rows]).T
        if rows[0] <= probes[-1]:
            S[probes[:, None] == rows[None, :]] = -np.inf  # a probe is not its own neighbour
        # Top 10 per probe by (score desc, row asc): the block's scores at or above each
        # probe's 10th best so far are merged with the kept 10 (all of them while fewer than 10).
        floor = top[:, -1]
        if np.isinf(floor).any():  # the first block: its 10 best by argpartition
            k = min(10, S.shape[1])
            cand = np.argpartition(-S, k - 1, axis=1)[:, :k]
            pi = np.repeat(np.arange(len(probes)), k)
            ci = cand.ravel()
        else:
            pi, ci = np.nonzero(S >= floor[:, None])
        if len(pi):
            keep_p = np.repeat(np.arange(len(probes)), 10)
            all_p = np.concatenate([keep_p, pi])
            all_s = np.concatenate([top.ravel(), S[pi, ci]])
            all_r = np.concatenate([toprow.ravel(), rows[ci]])
            order = np.lexsort((all_r, -all_s, all_p))
            all_p, all_s, all_r = all_p[order], all_s[order], all_r[order]
            starts = np.searchsorted(all_p, np.arange(len(probes)))
            rank = np.arange(len(all_p)) - starts[all_p]
            sel = rank < 10
            top = all_s[sel].reshape(len(probes), 10)
            toprow = all_r[sel].reshape(len(probes), 10)
        dcols = np.where(labels[rows] < 0)[0]
        if len(dcols):
            D = S if len(dcols) == len(rows) else S[:, dcols]  # a view when the block is all distractors
            dord = ordinal[rows[dcols]]  # ascending
            for kk in sizes:
                inside = int(np.searchsorted(dord, kk))  # the block's distractors among the first kk
                if inside:
                    megamax[kk] = np.maximum(megamax[kk], D[:, :inside].max(axis=1))
            if distractor_negatives:
                # Counted from the positives' side: sort the block's negatives once, then
                # for each positive p, #negatives < p and == p (searchsorted into the block).
                flat = np.sort(D.ravel())
                below = np.searchsorted(flat, pos, "left")
                equal = np.searchsorted(flat, pos, "right") - below
                neg["n"] += flat.size
                neg["gt"] += int(below.sum())
                neg["eq"] += int(equal.sum())
                f64 = flat.astype(np.float64)
                neg["sum"] += float(f64.sum())
                neg["sumsq"] += float((f64 * f64).sum())
    first = np.argmax(labels[toprow] == pl[:, None], axis=1)
    hit = (labels[toprow] == pl[:, None]).any(axis=1)
    res["rank1Correct"] = int((hit & (first == 0)).sum())
    res["cmc10"] = float(((hit) & (first < 10)).mean())
    same_mat = (pl[:, None] == pl[None, :]) & ~np.eye(len(probes), dtype=bool)
    res["megaface"] = [(k, int(((Spp > megamax[k][:, None]) & same_mat).sum())) for k in sizes]
    stages["identification"] = time.perf_counter() - t
    if distractor_negatives:
        t = time.perf_counter()
        probe_neg = np.sort(s[~same])
        below = np.searchsorted(probe_neg, pos, "left")
        n = neg["n"] + probe_neg.size
        gt = neg["gt"] + int(below.sum())
        eq = neg["eq"] + int((np.searchsorted(probe_neg, pos, "right") - below).sum())
        p64 = probe_neg.astype(np.float64)
        total, sq = neg["sum"] + float(p64.sum()), neg["sumsq"] + float((p64 * p64).sum())
        mean = total / n
        res["streamed"] = dict(negatives=n, auc=(gt + 0.5 * eq) / (len(pos) * n), negMean=mean, negStd=float(np.sqrt(max(sq / n - mean * mean, 0))))
        stages["verification (streamed AUC, mean, std)"] = time.perf_counter() - t
    t = time.perf_counter()
    from sklearn.metrics import roc_auc_score
    norms = np.linalg.norm(X[probes].astype(np.float64), axis=1).astype(np.float32)
    order = sorted(range(len(probes)), key=lambda i: (norms[i], i))
    res["reject"] = []
    if not skip_reject:
        for f in [k * 0.05 for k in range(11)]:
            kept = np.array(sorted(order[int(np.floor(f * len(probes))):]))
            sub = Spp[np.ix_(kept, kept)]
            ku = np.triu_indices(len(kept), 1)
            ks = pl[kept][ku[0]] == pl[kept][ku[1]]
            res["reject"].append((f, float(roc_auc_score(ks, sub[ku].astype(np.float64)))))
    stages["reject-curve (AUC only)"] = time.perf_counter() - t
    return stages, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--magfleet", default=".build/debug/magfleet")
    ap.add_argument("--rows", type=int, default=None, help="default 100,000; 1,000,000 with --store")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--store", action="store_true", help="reduce an HDF5 store made here (MegaFace's scale by default)")
    ap.add_argument("--distractor-negatives", action="store_true")
    ap.add_argument("--no-head", action="store_true")
    ap.add_argument("--skip-peer-reject", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="magfleet runs (medians are printed); 0: compare with --keep's report.json")
    ap.add_argument("--peer-rounds", type=int, default=1)
    ap.add_argument("--keep", help="a directory for the store and outputs, kept (default: a temporary one)")
    ap.add_argument("--peer-only", help=argparse.SUPPRESS)  # internal: run the peer on this path, JSON to --peer-out
    ap.add_argument("--peer-out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.peer_only:
        stages, res = peer(pathlib.Path(a.peer_only), a.distractor_negatives, a.skip_peer_reject)
        pathlib.Path(a.peer_out).write_text(json.dumps(dict(stages=stages, results=res)))
        return
    rows = a.rows or (1_000_000 if a.store else 100_000)
    tmp = pathlib.Path(a.keep) if a.keep else pathlib.Path(tempfile.mkdtemp(prefix="bench-reduce-"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()}")
    if a.store:
        data = tmp / f"store-{rows}x{a.dim}.h5"
        if not data.exists():
            t = time.perf_counter()
            make_store(data, rows, a.dim)
            print(f"wrote {data} ({data.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t:.1f} s")
        cmd = [a.magfleet, "reduce", str(data), "--out", str(tmp / "out")]
    else:
        data = tmp / "table.f32"
        cmd = [a.magfleet, "reduce", "--synthetic", f"{rows}x{a.dim}", "--synthetic-probes", f"{PROBES}x{IDENTITIES}",
               "--out", str(tmp / "out"), "--dump-table", str(data)]
    cmd += [] if a.no_head else ["--head"]
    cmd += ["--distractor-negatives"] if a.distractor_negatives else []
    print("$", " ".join(cmd))
    runs = []
    for r in range(a.rounds):
        load0 = os.getloadavg()[0]
        wall, cpu, peak = child(cmd)
        rep = json.loads((tmp / "out" / "report.json").read_text())
        runs.append((wall, cpu, peak))
        print(f"magfleet round {r + 1}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak:.0f} MiB, load average {load0:.1f} -> "
              f"{os.getloadavg()[0]:.1f}; stages (s): {({k: round(v, 1) for k, v in sorted(rep['seconds'].items())})}")
    if runs:
        med = [statistics.median(x) for x in zip(*runs)]
        table_mib = rows * a.dim * 4 / 2**20
        print(f"magfleet median of {a.rounds}: wall {med[0]:.1f} s, CPU {med[1]:.1f} s, peak RSS {med[2]:.0f} MiB "
              f"= {med[2] / table_mib:.2f}x the {table_mib:.0f} MiB embedding table")
    else:  # --rounds 0: compare the peer with the report.json an earlier run left in --keep
        rep = json.loads((tmp / "out" / "report.json").read_text())
        print(f"magfleet: not run (--rounds 0), comparing with {tmp / 'out' / 'report.json'}")

    peer_runs = []
    for r in range(a.peer_rounds):
        out = tmp / "peer.json"
        pcmd = [sys.executable, __file__, "--peer-only", str(data), "--peer-out", str(out)]
        pcmd += ["--distractor-negatives"] if a.distractor_negatives else []
        pcmd += ["--skip-peer-reject"] if a.skip_peer_reject else []
        load0 = os.getloadavg()[0]
        wall, cpu, peak = child(pcmd)
        got = json.loads(out.read_text())
        peer_runs.append((wall, cpu, peak))
        print(f"peer round {r + 1}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS {peak:.0f} MiB, load average {load0:.1f} -> "
              f"{os.getloadavg()[0]:.1f}; stages (s): {({k: round(v, 1) for k, v in got['stages'].items()})}")
    pmed = [statistics.median(x) for x in zip(*peer_runs)]
    print(f"peer median of {a.peer_rounds}: wall {pmed[0]:.1f} s, CPU {pmed[1]:.1f} s, peak RSS {pmed[2]:.0f} MiB")

    res = got["results"]
    v, idr = rep["verification"], rep["identification"]
    rows_out = []
    ver = res.get("verification")
    if ver:
        rows_out += [("ROC-AUC", v["auc"], ver["auc"]), ("best accuracy", v["bestAccuracy"], ver["bestAccuracy"]),
                     ("best threshold", v["bestThreshold"], ver["bestThreshold"])]
        for p, q in zip(v["tarAtFAR"], ver["tarAtFAR"]):
            rows_out.append((f"TAR@{p['far']:.0e} strict", p["strictTAR"], q["strictTAR"]))
            rows_out.append((f"TAR@{p['far']:.0e} nearest", p["nearestTAR"], q["nearestTAR"]))
        rows_out += [("pos mean", v["positiveStats"]["mean"], ver["positiveStats"]["mean"]),
                     ("neg std", v["negativeStats"]["std"], ver["negativeStats"]["std"])]
    if "streamed" in res:
        st = res["streamed"]
        rows_out += [("negatives", v["negativePairs"], st["negatives"]), ("ROC-AUC (streamed)", v["auc"], st["auc"]),
                     ("neg mean", v["negativeStats"]["mean"], st["negMean"]), ("neg std", v["negativeStats"]["std"], st["negStd"])]
    rows_out += [("rank-1 correct", idr["rank1Correct"], res["rank1Correct"]), ("CMC@10", idr["cmc"][9], res["cmc10"])]
    for m, (k, c) in zip(idr["megaface"], res["megaface"]):
        rows_out.append((f"MegaFace {m['distractors']}/{k} correct", m["correct"], c))
    for r, (f, auc) in zip(rep["rejectCurve"], res["reject"]):
        rows_out.append((f"reject {f:.2f} AUC", r["auc"], auc))
    print(f"{'metric':<28}{'magfleet':>18}{'numpy/sklearn':>18}{'|diff|':>12}")
    for name, x, y in rows_out:
        print(f"{name:<28}{x:>18.6f}{y:>18.6f}{abs(x - y):>12.2e}")


if __name__ == "__main__":
    main()
