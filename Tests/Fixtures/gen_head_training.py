"""The classification head's training and checkpoint rule, run by PyTorch (needs torch and numpy;
see requirements.txt; any CPU build of torch does).

- head_training.json: a small head problem (D 16, hidden 8, 5 classes, 60 training and 25
  validation rows, unit length, float32), PyTorch's initial weights (nn.Linear default init),
  every epoch's row order and every batch's dropout mask (already scaled by 1/(1-p)), and what
  PyTorch computed with them: per epoch the mean training loss, the validation top-1 and loss
  (eval mode, mean cross-entropy), the epoch chosen by the rule of docs/metrics.md section 3
  (best validation top-1, ties by the lower validation loss, then the earliest) and that
  epoch's weights. The Swift test replays the same training (HeadTrainer.fit with the injected
  order and masks) and must choose the same epoch.

The model is `Linear -> ReLU -> (x mask) -> Linear`, i.e. nn.Dropout with its mask drawn here
and written out, trained by torch.optim.Adam (lr 1e-2 so that 20 epochs of 4 batches learn; betas and eps PyTorch defaults) on
nn.CrossEntropyLoss (mean) in batches of 16. float32 throughout, as magfleet.

    .build/torchvenv/bin/python Tests/Fixtures/generate.py head_training
"""
import json

import numpy as np
import torch

D, H, C, N_TRAIN, N_VAL, EPOCHS, BATCH, P_DROP, LR = 16, 8, 5, 60, 25, 20, 16, 0.3, 1e-2


def first_on_ties(top1):
    return int(np.argmax(top1)) + 1


def rule(top1, loss):
    best = 0
    for e in range(1, len(top1)):
        if top1[e] > top1[best] or (top1[e] == top1[best] and loss[e] < loss[best]):
            best = e
    return best + 1


def generate(root):
    out = root / "Tests" / "EvaluationTests" / "Fixtures"
    torch.manual_seed(18)
    rng = np.random.default_rng(18)
    centres = rng.standard_normal((C, D))
    def rows(n):
        y = np.arange(n) % C
        x = centres[y] + 0.9 * rng.standard_normal((n, D))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32), y
    x, y = rows(N_TRAIN)
    vx, vy = rows(N_VAL)

    fc1, fc2 = torch.nn.Linear(D, H), torch.nn.Linear(H, C)
    initial = {k: v.detach().numpy().copy() for k, v in
               dict(w1=fc1.weight, b1=fc1.bias, w2=fc2.weight, b2=fc2.bias).items()}
    params = list(fc1.parameters()) + list(fc2.parameters())
    opt = torch.optim.Adam(params, lr=LR)
    ce = torch.nn.CrossEntropyLoss()
    tx, ty, tvx, tvy = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(vx), torch.from_numpy(vy)
    orders, masks, train_loss, val_top1, val_loss, weights, margins = [], [], [], [], [], [], []
    for _ in range(EPOCHS):
        order = torch.randperm(N_TRAIN)
        orders.append(order.tolist())
        total = 0.0
        for s in range(0, N_TRAIN, BATCH):
            idx = order[s:s + BATCH]
            mask = (torch.rand(len(idx), H) >= P_DROP).float() / (1 - P_DROP)
            masks.append(mask.flatten().tolist())
            z = fc2(torch.relu(fc1(tx[idx])) * mask)
            loss = ce(z, ty[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        train_loss.append(total / N_TRAIN)
        with torch.no_grad():
            z = fc2(torch.relu(fc1(tvx)))
            val_loss.append(float(ce(z, tvy)))
            val_top1.append(float((z.argmax(1) == tvy).float().mean()))
            top2 = torch.topk(torch.softmax(z, 1), 2, dim=1).values
            margins.append(float((top2[:, 0] - top2[:, 1]).min()))
        weights.append({k: v.detach().numpy().copy() for k, v in
                        dict(w1=fc1.weight, b1=fc1.bias, w2=fc2.weight, b2=fc2.bias).items()})
    chosen = rule(val_top1, val_loss)
    # The fixture must exercise the tie-break: top-1 ties at its best, and the loss picks
    # another epoch than "first on ties" would.
    assert first_on_ties(val_top1) != chosen, (val_top1, val_loss)
    # Every validation row's top two probabilities differ by more than float32 training drift
    # could close, so that both sides count the same hits.
    assert min(margins) > 2e-5, min(margins)
    assert len(set(val_loss)) == len(val_loss)
    best = weights[chosen - 1]
    def flat(a):
        return [float(v) for v in np.asarray(a, np.float32).ravel()]
    (out / "head_training.json").write_text(json.dumps(dict(
        torch=torch.__version__, inputDimension=D, hidden=H, classes=C, epochs=EPOCHS, batchSize=BATCH,
        dropout=P_DROP, learningRate=LR, x=flat(x), y=y.tolist(), validationX=flat(vx), validationY=vy.tolist(),
        initial={k: flat(v) for k, v in initial.items()}, orders=orders, masks=masks,
        expected=dict(trainingLoss=train_loss, validationTop1=val_top1, validationLoss=val_loss, chosenEpoch=chosen,
                      firstOnTiesEpoch=first_on_ties(val_top1), smallestTop2Margin=min(margins),
                      chosenWeights={k: flat(v) for k, v in best.items()}))))
    print(f"  wrote head_training.json (torch {torch.__version__}): chosen epoch {chosen}, "
          f"first-on-ties {first_on_ties(val_top1)}, top-1 {val_top1}")
