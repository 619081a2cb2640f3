#!/usr/bin/env python3
"""Query and serve at scale, side by side with faiss-cpu in the same run (issues 17 item 5, 21).

    swift build -c release --scratch-path .build
    python3 -m venv .build/benchvenv && .build/benchvenv/bin/pip install faiss-cpu numpy
    .build/benchvenv/bin/python Tests/Benchmarks/bench_query.py .build/release/magfleet DIR [--rows 1000000 --dim 512]

DIR gets emb.npy + paths.txt (make_query_store.py) and store.h5 (`magfleet import`) unless
they are there. Then, with the store in the page cache:
1. `magfleet query --benchmark`: single queries against the streaming-read floor measured
   just before each, and a batch;
2. `magfleet query --path` end to end (process start to exit), median of --repeat;
3. 100 queries from a text file of paths and #ROWs, and the same 100 from an .npy;
4. faiss IndexFlatIP over the same unit vectors: single queries and the batch, and whether its
   top 10 equals magfleet's;
5. `magfleet serve` under wrk at concurrency 1, 8, 64 (POST /search by a random row), its
   memory against the embeddings' size, and faiss at the same concurrency for reference.
Prints numbers only; nothing here fails on a slow machine.
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile, time
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def timed(cmd):
    t = time.perf_counter()
    out = run(cmd)
    return time.perf_counter() - t, out.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("magfleet")
    ap.add_argument("dir")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration per concurrency (at least 30 s at 64)")
    args = ap.parse_args()
    mf, d = os.path.abspath(args.magfleet), args.dir
    emb_path, paths_path, store = (os.path.join(d, x) for x in ("emb.npy", "paths.txt", "store.h5"))
    if not os.path.exists(emb_path):
        run([sys.executable, os.path.join(HERE, "make_query_store.py"), d, "--rows", str(args.rows), "--dim", str(args.dim)])
    if not os.path.exists(store):
        run([mf, "import", emb_path, "--format", "npy", "--paths", paths_path, "--out", store,
             "--fingerprint", "bench", "--architecture", "iresnet100", "--preset", "magface-112"])
    print(f"cpu: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}, "
          f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}")
    print(f"store: {store} {os.path.getsize(store) / 1e9:.2f} GB")
    subprocess.run(["cat", store], stdout=subprocess.DEVNULL, check=True)  # into the page cache

    # 1. --benchmark
    out = run([mf, "query", store, "--benchmark", str(args.queries)]).stdout
    print("magfleet query --benchmark:\n  " + out.strip().replace("\n", "\n  "))

    # 2. --path end to end
    paths = open(paths_path).read().split("\n")
    e2e = sorted(timed([mf, "query", store, "--path", paths[12345], "--top", "10"])[0] for _ in range(args.repeat))
    print(f"query --path end to end: median {statistics.median(e2e):.2f} s (min {e2e[0]:.2f}, n={len(e2e)})")

    # 3. 100 text queries vs .npy
    tmp = tempfile.mkdtemp()
    text = os.path.join(tmp, "q.txt")
    rows = [(i * 7919) % args.rows for i in range(100)]
    with open(text, "w") as f:
        for k, r in enumerate(rows):
            f.write((f"#{r}" if k % 2 else paths[r]) + "\n")
    emb = np.load(emb_path, mmap_mode="r")
    qs = np.ascontiguousarray(emb[rows]).astype("f4")
    npy = os.path.join(tmp, "q.npy")
    np.save(npy, qs)
    t_text = statistics.median(timed([mf, "query", store, "--queries", text, "--top", "10", "--json"])[0] for _ in range(3))
    t_npy = statistics.median(timed([mf, "query", store, "--queries", npy, "--top", "10", "--json"])[0] for _ in range(3))
    print(f"100 queries end to end: text file (paths and #ROWs) {t_text:.2f} s, .npy {t_npy:.2f} s (median of 3)")

    # 4. faiss
    import faiss
    t = time.perf_counter()
    unit = np.array(emb, dtype="f4")  # a copy: the memmap is read-only
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    print(f"faiss: {faiss.__version__}, threads {faiss.omp_get_max_threads()}, build {time.perf_counter() - t:.1f} s")
    qn = qs / np.linalg.norm(qs, axis=1, keepdims=True)
    singles = []
    for i in range(args.queries):
        t = time.perf_counter(); index.search(qn[i:i + 1], 10); singles.append((time.perf_counter() - t) * 1e3)
    t = time.perf_counter(); _, I = index.search(qn, 10); batch = (time.perf_counter() - t) * 1e3
    print(f"faiss IndexFlatIP: single median {statistics.median(singles):.1f} ms (min {min(singles):.1f}), batch of 100 {batch:.0f} ms")
    agree = 0
    ans = json.loads(run([mf, "query", store, "--queries", npy, "--top", "10", "--json", "--include-self"]).stdout)
    for k in range(100):
        agree += [n["row"] for n in ans[k]["neighbors"]] == list(I[k])
    print(f"top 10 equal to faiss's: {agree}/100 queries")
    del unit, index

    # 5. serve under wrk
    if shutil.which("wrk"):
        serve_load(mf, store, args, emb.nbytes)
    else:
        print("wrk not installed (apt-get install wrk): no load test")


def serve_load(mf, store, args, embedding_bytes):
    server = subprocess.Popen([mf, "serve", store, "--bind", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()
        m = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        if not m:
            print("serve did not start: " + line)
            return
        base = m.group(1)
        print("serve: " + line.strip())
        lua = os.path.join(tempfile.mkdtemp(), "search.lua")
        with open(lua, "w") as f:
            f.write('math.randomseed(7)\nrequest = function()\n  return wrk.format("POST", "/search", {["Content-Type"]="application/json"}, '
                    f'\'{{"row": \' .. math.random(0, {args.rows - 1}) .. \', "top": 10}}\')\nend\n')
        for c in (1, 8, 64):
            # At 64 one batch is a GEMM of seconds on a small machine: give it time to finish some.
            seconds = args.seconds if c < 64 else max(args.seconds, 30)
            out = run(["wrk", "-t", str(min(c, 2)), "-c", str(c), "-d", f"{seconds}s", "--timeout", "30s", "--latency", "-s", lua, base]).stdout
            p50 = re.search(r"50%\s+(\S+)", out).group(1)
            p99 = re.search(r"99%\s+(\S+)", out).group(1)
            rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            print(f"serve c={c}: p50 {p50} p99 {p99} {rps} q/s" + (f" NON-2XX {errors.group(1)}" if errors else ""))
        info = json.loads(run(["curl", "-s", base + "/info"]).stdout)
        print(f"serve scans {info['searches']['scans']} for {info['searches']['queries']} queries")
        status = open(f"/proc/{server.pid}/status").read()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024
        anon = int(re.search(r"RssAnon:\s+(\d+)", status).group(1)) * 1024
        print(f"serve memory: RSS {rss / 2**30:.2f} GiB (peak {hwm / 2**30:.2f}; anonymous {anon / 2**20:.0f} MiB, the rest the mapped store) "
              f"= {rss / embedding_bytes:.2f}x the embeddings ({embedding_bytes / 2**30:.2f} GiB)")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
