#!/usr/bin/env python3
"""How exact a bf16 Winograd engine could be, before anyone writes one (issue 20's opt-in
`--precision bf16`: cosine >= 0.9995 against float64 PyTorch on iresnet100).

MagFace's iresnet (Tests/Fixtures/gen_engine.py) with random weights, as bench_peers.py makes
them, embeds real preprocessed faces (the demo's JPEGs, or uniform noise) in float64 (the
reference) and with every 3x3 stride-1 convolution replaced by F(4x4, 3x3) Winograd, the
engine's algorithm and matrices (Sources/Tensor/Winograd.swift), in float32 with:

  f32         the transformed input V and weights U in float32 (magfleet's fast path today);
  bf16-UV     V and U rounded to bfloat16 (round to nearest even), products summed in float32:
              what VDPBF16PS or AMX's TDPBF16PS computes;
  bf16-all    as bf16-UV, and the other convolutions' operands (stem, stride-2, 1x1) and
              the fc's rounded to bfloat16 too.

  bf16-mixed  as bf16-UV at the positions `--precision bf16` rounds (WinogradWeights.bf16Positions:
              row and column 0 of the 6x6 tile and (1, 2), (2, 1), (2, 2)), float32 at the rest;

and prints each variant's cosine against float64 per image (min, median) and the rank-1
agreement of nearest neighbours among the images. `--network wide` takes instead the network
of the opt-in PyTorch check (`gen_engine.py DIR iresnet100`: its BatchNorm statistics, seed
1, its two noise inputs), whose embeddings grow to norms of 5e7; `--by-position` then rounds
one position of the 6x6 tile at a time and prints each one's 1 - cosine (docs/performance.md,
"bf16 by position").

    .build/fxvenv/bin/python Tests/Benchmarks/bf16_winograd_error.py [--arch iresnet100] [--images DIR] [--count 24]
    .build/fxvenv/bin/python Tests/Benchmarks/bf16_winograd_error.py --network wide [--by-position]
"""
import argparse
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Fixtures"))
from gen_engine import IBasicBlock, IResNet  # noqa: E402

PRESETS = {"iresnet18": [2, 2, 2, 2], "iresnet34": [3, 4, 6, 3], "iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}

BT = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
     [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
AT = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]


def bf16(t):
    """Rounds float32 values to the nearest bfloat16 (ties to even), kept as float32."""
    return t.to(torch.bfloat16).to(torch.float32)


# The positions `--precision bf16` rounds (Sources/Tensor/Winograd.swift, bf16Positions).
MIXED = torch.tensor([[i == 0 or j == 0 or (i, j) in [(1, 2), (2, 1), (2, 2)] for j in range(6)] for i in range(6)])


def winograd(x, weight, bias, round_operands):
    """A 3x3, stride-1, padding-1 convolution by F(4x4, 3x3) in float32; `round_operands`:
    False, True (every position) or a 6x6 boolean mask of the positions to round."""
    n, c, h, w = x.shape
    th, tw = (h + 3) // 4, (w + 3) // 4
    # Pad by 1 on the top/left and enough on the bottom/right for whole 6x6 tiles.
    d = F.pad(x, (1, tw * 4 + 1 - w, 1, th * 4 + 1 - h)).unfold(2, 6, 4).unfold(3, 6, 4)  # n c th tw 6 6
    bt, g, at = (torch.tensor(m, dtype=torch.float64) for m in (BT, G, AT))
    v = torch.einsum("ij,nctwjk,lk->nctwil", bt.float(), d, bt.float())
    u = torch.einsum("ij,ocjk,lk->ocil", g, weight.double(), g).float()  # the engine transforms weights in Double
    if round_operands is True:
        v, u = bf16(v), bf16(u)
    elif round_operands is not False:
        v, u = torch.where(round_operands, bf16(v), v), torch.where(round_operands, bf16(u), u)
    m = torch.einsum("ocij,nctwij->notwij", u, v)
    y = torch.einsum("ij,notwjk,lk->notwil", at.float(), m, at.float())  # n o th tw 4 4
    y = y.permute(0, 1, 2, 4, 3, 5).reshape(n, -1, th * 4, tw * 4)[:, :, :h, :w].contiguous()
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def patch(model, variant, mask=None):
    """Makes every conv (and the fc) of a float32 copy compute as `variant` says (`mask`: the
    positions to round, for variant "mask")."""
    rounding = {"f32": False, "bf16-mixed": MIXED, "mask": mask}.get(variant, True)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            fast = module.kernel_size == (3, 3) and module.stride == (1, 1) and module.padding == (1, 1)
            if fast:
                module.forward = (lambda m: lambda x: winograd(x, m.weight, m.bias, rounding))(module)
            elif variant == "bf16-all":
                module.forward = (lambda m: lambda x: F.conv2d(bf16(x), bf16(m.weight), m.bias, m.stride, m.padding))(module)
        elif isinstance(module, torch.nn.Linear) and variant == "bf16-all":
            module.forward = (lambda m: lambda x: F.linear(bf16(x), bf16(m.weight), m.bias))(module)
    return model


def randomize(model):
    """magfleet's random weights (Sources/IResNet/RandomWeights.swift): convolutions and the fc
    normal with variance 1/fan-in; BatchNorm weights 0.8-1.2 but 0.05-0.15 for each block's
    last one (bn3), biases and means uniform(-0.1, 0.1), variances 0.5-1.5, PReLU 0.2-0.3."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                module.weight.normal_(0, (1 / module.weight[0].numel()) ** 0.5)
                if module.bias is not None:
                    module.bias.uniform_(-0.1, 0.1)
            elif isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                if module.weight is not None:
                    module.weight.uniform_(0.05, 0.15) if name.endswith("bn3") else module.weight.uniform_(0.8, 1.2)
                    module.bias.uniform_(-0.1, 0.1)
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            elif isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(0.2, 0.3)
    return model


def images(directory, count):
    """Preprocessed faces as MagFace's gen_feat.py feeds them: BGR, /255, then (x-0.5)/0.5."""
    if directory is None:
        return torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (count, 3, 112, 112)))
    import cv2
    paths = sorted(pathlib.Path(directory).rglob("*.jpg"))[:count]
    batch = [cv2.imread(str(p)).astype(np.float64).transpose(2, 0, 1) / 255.0 for p in paths]
    return ((torch.from_numpy(np.ascontiguousarray(np.stack(batch))) - 0.5) / 0.5).contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="iresnet100", choices=sorted(PRESETS))
    ap.add_argument("--images", help="a folder of 112x112 JPEGs (e.g. the demo's); default uniform noise")
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--network", choices=["random", "wide"], default="random",
                    help="random: magfleet's random weights; wide: the opt-in PyTorch check's network and inputs")
    ap.add_argument("--by-position", action="store_true", help="round one position at a time (1 - cosine each)")
    args = ap.parse_args()
    if args.network == "wide":
        import gen_engine
        gen_engine.WIDTHS, gen_engine.BLOCKS, gen_engine.DIM = [64, 128, 256, 512], PRESETS[args.arch], 512
        reference = gen_engine.build(1)
        x = torch.from_numpy(np.random.default_rng(3).uniform(-1, 1, size=(2, 3, 112, 112)).astype(np.float32)).double()
    else:
        torch.manual_seed(0)
        reference = randomize(IResNet(IBasicBlock, PRESETS[args.arch]).eval())
        x = images(args.images, args.count)
    with torch.no_grad():
        want = reference.double()(x)
        unit = lambda e: e / e.norm(dim=1, keepdim=True)
        nearest = lambda e: (unit(e) @ unit(e).T).fill_diagonal_(-2).argmax(dim=1)
        pairwise = unit(want) @ unit(want).T
        label = "the PyTorch check's network" if args.network == "wide" else "random weights"
        spread = pairwise[~torch.eye(len(x), dtype=torch.bool)]
        print(f"{args.arch}, {label}, {len(x)} {'images from ' + args.images if args.images else 'noise inputs'}; "
              f"float64 cosine between different images: median {spread.median().item():.4f}, max {spread.max().item():.4f}")
        import copy
        if args.by_position:
            print("  1 - cosine (worst image) with one position of the 6x6 tile rounded, row i, column j:")
            for i in range(6):
                row = []
                for j in range(6):
                    mask = torch.zeros(6, 6, dtype=torch.bool)
                    mask[i, j] = True
                    got = patch(copy.deepcopy(reference).float(), "mask", mask)(x.float()).double()
                    row.append(f"{1 - (unit(got) * unit(want)).sum(dim=1).min().item():.1e}")
                print("   ", "  ".join(row), flush=True)
        for variant in ["f32", "bf16-UV", "bf16-mixed", "bf16-all"]:
            model = patch(copy.deepcopy(reference).float(), variant)
            got = model(x.float()).double()
            cos = (unit(got) * unit(want)).sum(dim=1)
            same = (nearest(got) == nearest(want)).float().mean().item()
            print(f"  {variant:9s} cosine min {cos.min().item():.7f} (1 - cos {1 - cos.min().item():.1e}), median {cos.median().item():.7f}; "
                  f"nearest neighbour as float64's for {same * 100:.0f}% of images")


if __name__ == "__main__":
    main()
