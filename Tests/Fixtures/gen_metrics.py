"""Fixtures for EvaluationTests: every reducer metric computed by scikit-learn and numpy.

Writes into Tests/EvaluationTests/Fixtures/:
- scores.json: tied positive/negative scores (multiples of 1/64) and sklearn's verification
  metrics on them (AUC, best accuracy, TAR@FAR in both conventions, score stats, histograms).
- table.f32 + table.json: a 600 x 32 synthetic table (20 identities x 20 probes + 200
  distractors) and the expected verification, identification, MegaFace, reject-curve and
  pair-verification numbers, with a pairs set (one pair has a path not in the table).
- head.json + head_expected.json: random head weights as JSON test vectors (magfleet itself
  saves heads as head.h5), inputs and the numpy softmax probabilities.
Definitions: docs/metrics.md.
"""
import json
import numpy as np
from sklearn.metrics import roc_curve, roc_auc_score

FARS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]


def verification(pos, neg):
    pos = np.asarray(pos, np.float32)
    neg = np.asarray(neg, np.float32)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    s = np.r_[pos, neg].astype(np.float64)
    auc = roc_auc_score(y, s)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    tps, fps = tpr * len(pos), fpr * len(neg)
    acc = (tps + (len(neg) - fps)) / (len(pos) + len(neg))
    i = int(np.argmax(acc))
    best_thr = None if np.isinf(thr[i]) else float(thr[i])
    fpr_d, tpr_d, thr_d = roc_curve(y, s)  # drop_intermediate=True, as insightface calls it
    points = []
    for far in FARS:
        k = np.searchsorted(fpr, far, side="right") - 1
        strict_tar = float(tpr[k])
        accepted = pos[pos.astype(np.float64) >= thr[k]]
        strict_thr = float(accepted.min()) if len(accepted) else None
        _, m = min(zip(abs(fpr_d - far), range(len(fpr_d))))
        points.append(dict(far=far, strictTAR=strict_tar, strictThreshold=strict_thr,
                           nearestTAR=float(tpr_d[m]), nearestFAR=float(fpr_d[m])))

    def stats(x):
        h, _ = np.histogram(x.astype(np.float64), bins=100, range=(-1, 1))
        return dict(count=len(x), mean=float(np.mean(x.astype(np.float64))), std=float(np.std(x.astype(np.float64))),
                    min=float(x.min()), max=float(x.max()), histogram=h.tolist())
    return dict(auc=float(auc), bestAccuracy=float(acc[i]), bestThreshold=best_thr, tarAtFAR=points,
                positiveStats=stats(pos), negativeStats=stats(neg), positivePairs=len(pos), negativePairs=len(neg))


def normalize(x):
    x64 = x.astype(np.float64)
    return (x64 / np.linalg.norm(x64, axis=1, keepdims=True)).astype(np.float32)


def pair_scores(S, labels, kept):
    pos, neg = [], []
    for a, i in enumerate(kept):
        for j in kept[a + 1:]:
            (pos if labels[i] == labels[j] else neg).append(S[i, j])
    return np.array(pos, np.float32), np.array(neg, np.float32)


def generate(root):
    out = root / "Tests" / "EvaluationTests" / "Fixtures"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261129)

    # 1. Tied scores.
    pos = (np.round(rng.normal(0.55, 0.2, 700) * 64) / 64).clip(-1, 1).astype(np.float32)
    neg = (np.round(rng.normal(0.05, 0.15, 20000) * 64) / 64).clip(-1, 1).astype(np.float32)
    (out / "scores.json").write_text(json.dumps(dict(positives=pos.tolist(), negatives=neg.tolist(),
                                                     expected=verification(pos, neg))))

    # 2. A small table.
    ids, per, nd, d = 20, 20, 200, 32
    centres = normalize(rng.normal(size=(ids, d)))
    rows, labels, paths = [], [], []
    for k in range(ids * per):
        i = k % ids
        q = rng.uniform(0.3, 1.0)
        rows.append((10 + 30 * q) * (centres[i] + (1.6 - q) * 1.3 * rng.normal(size=d) / np.sqrt(d)))
        labels.append(i)
        paths.append(f"probes/id{i:02d}/{k}.jpg")
    for k in range(nd):
        rows.append(rng.uniform(10, 40) * rng.normal(size=d) / np.sqrt(d))
        labels.append(-1)
        paths.append(f"distractors/{k}.jpg")
    order = rng.permutation(len(rows))  # interleave probes and distractors
    X = np.array(rows, np.float32)[order]
    labels = np.array(labels)[order]
    paths = [paths[k] for k in order]
    X.tofile(out / "table.f32")
    norms = np.linalg.norm(X.astype(np.float64), axis=1).astype(np.float32)
    Xn = normalize(X)
    S = (Xn.astype(np.float64) @ Xn.astype(np.float64).T).astype(np.float32)
    probes = np.where(labels >= 0)[0]
    dis = np.where(labels < 0)[0]
    P = len(probes)
    Spp = S[np.ix_(probes, probes)]
    plabels = labels[probes]
    vp, vn = pair_scores(Spp, plabels, list(range(P)))
    ver = verification(vp, vn)
    # Rank-1 / CMC over all rows: ties by lower row index (stable sort on -score).
    hits = np.zeros(11, int)
    for a, r in enumerate(probes):
        s = S[r].astype(np.float64).copy()
        s[r] = -np.inf
        nn = np.argsort(-s, kind="stable")[:10]
        same = np.where(labels[nn] == labels[r])[0]
        if len(same):
            hits[same[0] + 1] += 1
    cmc = (np.cumsum(hits[1:]) / P).tolist()
    # MegaFace: first k distractors in table order.
    sizes = [10, 100, len(dis)]
    mega = []
    for k in sizes:
        mx = S[np.ix_(probes, dis[:k])].max(axis=1)
        q = c = 0
        for a in range(P):
            for g in range(P):
                if g != a and plabels[g] == plabels[a]:
                    q += 1
                    c += int(Spp[a, g] > mx[a])
        mega.append(dict(distractors=k, queries=q, correct=c, rate=c / q))
    # Reject curve.
    best_d = np.full(P, -np.inf)
    best_d_row = np.full(P, 10**9)
    for a, r in enumerate(probes):
        s = S[r, dis]
        m = s.max()
        best_d[a] = m
        best_d_row[a] = dis[np.where(s == m)[0].min()]
    reject = []
    pnorms = norms[probes]
    sorted_idx = sorted(range(P), key=lambda a: (pnorms[a], a))
    for f in [k * 0.05 for k in range(11)]:
        kept = sorted(sorted_idx[int(np.floor(f * P)):])
        correct = 0
        for a in kept:
            best = (best_d[a], -best_d_row[a])
            hit = False
            for b in kept:
                if b != a and (Spp[a, b], -probes[b]) > best:
                    best = (Spp[a, b], -probes[b])
                    hit = plabels[b] == plabels[a]
            correct += int(hit)
        kp, kn = pair_scores(Spp, plabels, kept)
        v = verification(kp, kn)
        reject.append(dict(rejected=f, keptProbes=len(kept), rank1=correct / len(kept), auc=v["auc"],
                           bestAccuracy=v["bestAccuracy"], fnmrAtFMR1e3=1 - v["tarAtFAR"][3]["strictTAR"]))
    # Pairs: 300 positives, 500 negatives, plus one with a missing path.
    pairs = []
    seen = set()
    while len(pairs) < 300:
        a, b = rng.choice(probes, 2, replace=False)
        if labels[a] == labels[b] and (min(a, b), max(a, b)) not in seen:
            seen.add((min(a, b), max(a, b)))
            pairs.append((a, b, True))
    while len(pairs) < 800:
        a, b = rng.choice(probes, 2, replace=False)
        if labels[a] != labels[b] and (min(a, b), max(a, b)) not in seen:
            seen.add((min(a, b), max(a, b)))
            pairs.append((a, b, False))
    threshold = 0.4
    tp = fn = fp = tn = 0
    for a, b, same in pairs:
        pred = bool(S[a, b] >= np.float32(threshold))
        tp += same and pred; fn += same and not pred; fp += (not same) and pred; tn += (not same) and not pred
    # LFW-style 10-fold accuracy over the scored pairs, in file order.
    fs = np.array([S[a, b] for a, b, _ in pairs], np.float32)
    fy = np.array([bool(x) for _, _, x in pairs])
    fold_acc = []
    for test in np.array_split(np.arange(len(pairs)), 10):
        train = np.setdiff1d(np.arange(len(pairs)), test)
        cands = np.unique(fs[train])[::-1]
        accs = [((fs[train] >= t) == fy[train]).sum() for t in cands]
        t = cands[int(np.argmax(accs))]
        fold_acc.append(float(((fs[test] >= t) == fy[test]).mean()))
    pair_json = [dict(a=paths[a], b=paths[b], same=bool(s)) for a, b, s in pairs]
    pair_json.append(dict(a="missing/0.jpg", b=paths[probes[0]], same=True))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    expected = dict(
        verification=ver, rank1Correct=int(hits[1]), rank1=hits[1] / P, cmc=cmc, megaface=mega, reject=reject,
        pairs=dict(threshold=threshold, tp=tp, fn=fn, fp=fp, tn=tn, accuracy=(tp + tn) / len(pairs), precision=prec,
                   recall=rec, f1=2 * prec * rec / (prec + rec) if prec + rec else 0.0, missing=1,
                   tenFoldAccuracies=fold_acc, tenFoldMean=float(np.mean(fold_acc)), tenFoldStd=float(np.std(fold_acc))))
    (out / "table.json").write_text(json.dumps(dict(
        rows=len(X), dimension=d, labels=labels.tolist(), labelNames=[f"id{i:02d}" for i in range(ids)], paths=paths,
        pairs=dict(format="magfleet-pairs", version=1, seed=0, positives=301, negatives=500, pairs=pair_json),
        expected=expected)))

    # 3. Head forward pass.
    h, c = 16, 5
    w1, b1 = rng.uniform(-0.3, 0.3, (h, d)), rng.uniform(-0.1, 0.1, h)
    w2, b2 = rng.uniform(-0.5, 0.5, (c, h)), rng.uniform(-0.1, 0.1, c)
    w1, b1, w2, b2 = (a.astype(np.float32) for a in (w1, b1, w2, b2))
    xs = Xn[:7]
    z = np.maximum(xs.astype(np.float64) @ w1.T.astype(np.float64) + b1, 0) @ w2.T.astype(np.float64) + b2
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    (out / "head.json").write_text(json.dumps(dict(format="magfleet-head", version=1, inputDimension=d, hidden=h,
                                                   labelNames=[f"c{i}" for i in range(c)], w1=w1.ravel().tolist(),
                                                   b1=b1.tolist(), w2=w2.ravel().tolist(), b2=b2.tolist())))
    (out / "head_expected.json").write_text(json.dumps(dict(inputs=xs.ravel().tolist(), probabilities=p.ravel().tolist())))
    print(f"  wrote {out}: rank-1 {hits[1]}/{P}, AUC {ver['auc']:.4f}")
