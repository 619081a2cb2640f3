"""Fixtures for the feature store tests, made with h5py and numpy.

- foreign.h5: an HDF5 file another tool made (no magfleet attributes).
- h5py_store.h5: a store written by h5py from docs/feature-store.md alone (format version 1):
  magfleet must read a conforming file it did not write.
- wrong_version.h5: the same store marked format_version 99; incomplete.h5: marked complete = 0.
- ann.hdf5: an ann-benchmarks file (train/test/neighbors/distances, "angular") made by h5py.
- search_base.npy [300, 32] f4, search_queries.npy [6, 32] f4, and numpy's exact cosine top 10
  (search_top_rows.npy / search_top_scores.npy, f8 [6, 10], float64 arithmetic).
"""
import numpy as np
import h5py


def write_store(path, emb, paths, labels, label_names, status, reasons, version=1, complete=1):
    n, d = emb.shape
    s = h5py.string_dtype("utf-8")
    with h5py.File(path, "w") as f:
        f.create_dataset("embeddings", data=emb.astype("<f4"), chunks=(min(n, 64), d), maxshape=(None, d))
        f.create_dataset("norms", data=np.linalg.norm(emb, axis=1).astype("<f4") * (status == 0))
        f.create_dataset("paths", data=np.array(paths, dtype=object), dtype=s)
        f.create_dataset("labels", data=labels.astype("<i8"))
        f.create_dataset("label_names", data=np.array(label_names, dtype=object), dtype=s)
        f.create_dataset("status", data=status.astype("u1"))
        f.create_dataset("failure_reasons", data=np.array(reasons, dtype=object), dtype=s)
        a = f.attrs
        a["magfleet_format"] = "magfleet-feature-store"
        a["format_version"] = np.int64(version)
        a["kind"] = "store"
        a["complete"] = np.int64(complete)
        a["model_fingerprint"] = "h5py-fixture"
        a["architecture"] = "iresnet18"
        a["embedding_dim"] = np.int64(d)
        a["preprocessing_preset"] = "magface-112"
        a["flip"] = np.int64(0)
        a["image_list_sha256"] = "0" * 64
        a["tool_version"] = "gen_store.py"
        a["created_at"] = "2026-11-29T00:00:00Z"
        a["random_weights"] = np.int64(1)
        a["count"] = np.int64(n)
        a["ok_count"] = np.int64(int((status == 0).sum()))
        a["failed_count"] = np.int64(int((status != 0).sum()))


def generate(root):
    out = root / "Tests" / "FeatureStoreTests" / "Fixtures"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261129)

    with h5py.File(out / "foreign.h5", "w") as f:
        f.create_dataset("data", data=rng.normal(size=(4, 3)).astype("f4"))
        f.attrs["creator"] = "not magfleet"

    n, d = 7, 8
    emb = rng.normal(size=(n, d)).astype("f4")
    status = np.array([0, 0, 1, 0, 0, 0, 1], dtype="u1")
    emb[status == 1] = 0
    paths = [f"people/{'Zoë' if i % 2 else 'Ana'}/img_{i}.jpg" for i in range(n)]
    labels = np.array([0, 1, 0, 1, -1, 0, 1])
    reasons = ["" if s == 0 else "decode: not a JPEG" for s in status]
    write_store(out / "h5py_store.h5", emb, paths, labels, ["Ana", "Zoë"], status, reasons)
    np.save(out / "h5py_store_embeddings.npy", emb)
    write_store(out / "wrong_version.h5", emb, paths, labels, ["Ana", "Zoë"], status, reasons, version=99)
    write_store(out / "incomplete.h5", emb, paths, labels, ["Ana", "Zoë"], status, reasons, complete=0)

    # ann-benchmarks layout, as its datasets.py writes it.
    train = rng.normal(size=(40, 16)).astype("f4")
    test = rng.normal(size=(4, 16)).astype("f4")
    tn = train / np.linalg.norm(train, axis=1, keepdims=True)
    qn = test / np.linalg.norm(test, axis=1, keepdims=True)
    dist = 1 - qn @ tn.T
    nb = np.argsort(dist, axis=1, kind="stable")[:, :5]
    with h5py.File(out / "ann.hdf5", "w") as f:
        f.attrs["type"] = "dense"
        f.attrs["distance"] = "angular"
        f.attrs["dimension"] = 16
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=nb.astype("i4"))
        f.create_dataset("distances", data=np.take_along_axis(dist, nb, 1).astype("f4"))

    # Search reference: clustered points so that neighbours are well separated from the rest.
    centers = rng.normal(size=(10, 32))
    base = (centers[rng.integers(0, 10, 300)] + 0.6 * rng.normal(size=(300, 32))) * rng.uniform(5, 30, (300, 1))
    base = base.astype("f4")
    queries = (centers[rng.integers(0, 10, 6)] + 0.6 * rng.normal(size=(6, 32))).astype("f4")
    b = base.astype("f8") / np.linalg.norm(base.astype("f8"), axis=1, keepdims=True)
    q = queries.astype("f8") / np.linalg.norm(queries.astype("f8"), axis=1, keepdims=True)
    scores = q @ b.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    np.save(out / "search_base.npy", base)
    np.save(out / "search_queries.npy", queries)
    np.save(out / "search_top_rows.npy", top.astype("f8"))
    np.save(out / "search_top_scores.npy", np.take_along_axis(scores, top, 1))
    print(f"  wrote {out} (h5py {h5py.__version__}, numpy {np.__version__})")
