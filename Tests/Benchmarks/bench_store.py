#!/usr/bin/env python3
"""Feature store benchmark: merge speed and query latency, side by side with faiss-cpu.

    swift build -c release --product magfleet
    /opt/fxvenv/bin/python Tests/Benchmarks/bench_store.py .build/release/magfleet [--rows 100000 --dim 512]

1. numpy makes N x D clustered float32 embeddings; h5py writes them as 8 shard files that
   follow docs/feature-store.md (interleaved global indices, a few failed rows).
2. `magfleet merge` merges them (timed here, wall clock, median of --repeat runs).
3. `magfleet query --benchmark` loads the store and times single and batched queries.
4. faiss IndexFlatIP on the same unit vectors and the same queries, in this process.
5. The top 10 of a few queries from `magfleet query --json` are compared with faiss's.
Prints numbers only; nothing here fails on a slow machine.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
import numpy as np
import h5py


def write_shard(path, rows, emb, failed, total):
    s = h5py.string_dtype("utf-8")
    n, d = len(rows), emb.shape[1]
    e = emb[rows].copy()
    st = failed[rows].astype("u1")
    e[st == 1] = 0
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=e, chunks=(256, d), maxshape=(None, d))
        f.create_dataset("norms", data=np.linalg.norm(e, axis=1).astype("f4"))
        f.create_dataset("paths", data=np.array([f"img/{g:07d}.jpg" for g in rows], dtype=object), dtype=s)
        f.create_dataset("labels", data=(rows % 1000).astype("<i8"))
        f.create_dataset("label_names", data=np.array([f"id{i}" for i in range(1000)], dtype=object), dtype=s)
        f.create_dataset("status", data=st)
        f.create_dataset("failure_reasons", data=np.array(["decode: bench" if x else "" for x in st], dtype=object), dtype=s)
        f.create_dataset("indices", data=rows.astype("<i8"))
        a = f.attrs
        for k, v in dict(magfleet_format="magfleet-feature-store", kind="shard", model_fingerprint="bench",
                         architecture="iresnet100", preprocessing_preset="magface-112", image_list_sha256="0" * 64,
                         tool_version="bench", created_at="2026-11-29T00:00:00Z").items():
            a[k] = v
        for k, v in dict(format_version=1, embedding_dim=d, flip=0, random_weights=1, total_rows=total,
                         count=n, ok_count=int((st == 0).sum()), failed_count=int(st.sum()), complete=1).items():
            a[k] = np.int64(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("magfleet")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="write the shards and the store here and keep them (default: a temporary directory)")
    args = ap.parse_args()
    import faiss

    n, d = args.rows, args.dim
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(2000, d)).astype("f4")
    emb = (centers[rng.integers(0, 2000, n)] + 0.7 * rng.normal(size=(n, d)).astype("f4")) * rng.uniform(10, 30, (n, 1)).astype("f4")
    emb = emb.astype("f4")
    failed = np.zeros(n, bool)
    failed[rng.choice(n, n // 1000, replace=False)] = True
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        shards = []
        for s in range(args.shards):
            path = os.path.join(tmp, f"shard-{s}.h5")
            write_shard(path, np.arange(s, n, args.shards), emb, failed, n)
            shards.append(path)
        store = os.path.join(tmp, "store.h5")
        times = []
        for _ in range(args.repeat):
            if os.path.exists(store):
                os.remove(store)
            t = time.perf_counter()
            subprocess.run([args.magfleet, "merge", *shards, "--out", store], check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        mb = n * d * 4 / 2**20
        print(f"merge rows={n} dim={d} shards={args.shards} median_s={statistics.median(times):.2f} "
              f"({mb / statistics.median(times):.0f} MiB/s of embeddings) runs={[round(x, 2) for x in times]}")

        out = subprocess.run([args.magfleet, "query", store, "--benchmark", str(args.queries), "--top", "10"],
                             check=True, capture_output=True, text=True).stdout
        print("magfleet " + out.strip().replace("\n", "\nmagfleet "))

        ok = np.flatnonzero(~failed)
        unit = emb[ok] / np.linalg.norm(emb[ok], axis=1, keepdims=True)
        index = faiss.IndexFlatIP(d)
        index.add(unit)
        positions = [(q * 7919) % len(ok) for q in range(args.queries)]
        qs = unit[positions]
        singles = []
        for q in range(args.queries):
            t = time.perf_counter()
            index.search(qs[q:q + 1], 10)
            singles.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        index.search(qs, 10)
        batch = (time.perf_counter() - t) * 1e3
        singles.sort()
        print(f"faiss    IndexFlatIP faiss={faiss.__version__} threads={faiss.omp_get_max_threads()}")
        print(f"faiss    single_query_ms min={singles[0]:.2f} median={singles[len(singles) // 2]:.2f} p90={singles[len(singles) * 9 // 10]:.2f} n={args.queries} top=10")
        print(f"faiss    batched_ms total={batch:.1f} per_query={batch / args.queries:.3f} n={args.queries}")

        # Same answers: magfleet's top 10 for 5 stored rows vs faiss's (ignoring each query's own row).
        qfile = os.path.join(tmp, "q.txt")
        with open(qfile, "w") as f:
            f.writelines(f"#{ok[p]}\n" for p in positions[:5])
        answers = json.loads(subprocess.run([args.magfleet, "query", store, "--queries", qfile, "--top", "10", "--json"],
                                            check=True, capture_output=True, text=True).stdout)
        _, ref = index.search(qs[:5], 11)
        agree = sum([a["row"] for a in ans["neighbors"]] == [int(ok[r]) for r in refrow if r != positions[i]][:10]
                    for i, (ans, refrow) in enumerate(zip(answers, ref)))
        print(f"agreement top-10 identical for {agree}/5 queries")


if __name__ == "__main__":
    main()
