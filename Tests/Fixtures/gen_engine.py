"""Fixtures for the engine: tiny iresnets saved by real PyTorch, and their embeddings.

The network code below is MagFace's models/iresnet.py (IrvingMeng/MagFace, itself insightface's
iresnet) with one change: the stage widths and the embedding size are parameters (MagFace fixes
64/128/256/512 and 512) so the fixtures stay small. Module names, order, eps, the bn1 -> conv1 ->
bn2 -> prelu -> conv2 -> bn3 block and the bn2 -> dropout -> flatten -> fc -> features head are
MagFace's exactly.

Writes Tests/IResNetTests/Fixtures/ and Tests/CheckpointTests/Fixtures/.
"""
import argparse
import copy
import io
import json
import zipfile

import numpy as np
import torch
from torch import nn

WIDTHS = [8, 16, 24, 32]
BLOCKS = [2, 1, 2, 1]
DIM = 16
N_IMAGES = 2


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride,
                     padding=dilation, groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class IBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1,
                 base_width=64, dilation=1):
        super(IBasicBlock, self).__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=2e-05, momentum=0.9)
        self.conv1 = conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=2e-05, momentum=0.9)
        self.prelu = nn.PReLU(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=2e-05, momentum=0.9)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.bn1(x)
        out = self.conv1(out)
        out = self.bn2(out)
        out = self.prelu(out)
        out = self.conv2(out)
        out = self.bn3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return out


class IResNet(nn.Module):
    fc_scale = 7 * 7

    def __init__(self, block, layers, widths=(64, 128, 256, 512), num_classes=512):
        super(IResNet, self).__init__()
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes, eps=2e-05, momentum=0.9)
        self.prelu = nn.PReLU(self.inplanes)
        self.layer1 = self._make_layer(block, widths[0], layers[0], stride=2)
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.bn2 = nn.BatchNorm2d(widths[3] * block.expansion, eps=2e-05, momentum=0.9)
        self.dropout = nn.Dropout2d(p=0.4, inplace=True)
        self.fc = nn.Linear(widths[3] * block.expansion * self.fc_scale, num_classes)
        self.features = nn.BatchNorm1d(num_classes, eps=2e-05, momentum=0.9)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion, eps=2e-05, momentum=0.9),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, 1)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width, dilation=1))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.prelu(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.bn2(x)
        x = self.dropout(x)
        x = x.view(x.size(0), -1)
        x = self.fc(x)
        x = self.features(x)
        return x


def build(seed):
    torch.manual_seed(seed)
    model = IResNet(IBasicBlock, BLOCKS, WIDTHS, DIM)
    # Non-trivial BatchNorm statistics and PReLU slopes so that folding is really tested.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.3, 2.0)
            elif isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.5)
            elif isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, (1.0 / fan_in) ** 0.5)
    return model.eval()


def embed(model, state_dict, x):
    model.load_state_dict(state_dict)
    with torch.no_grad():
        return model(x).numpy().astype(np.float32)


def embed64(model, state_dict, x):
    """The embeddings computed in float64 throughout (weights, inputs and arithmetic)."""
    model64 = copy.deepcopy(model).double()
    model64.load_state_dict({k: (v.double() if v.is_floating_point() else v) for k, v in state_dict.items()})
    with torch.no_grad():
        return model64(x.double()).numpy().astype(np.float64)


def cast(sd, dtype):
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}


def generate(root):
    out = root / "Tests" / "IResNetTests" / "Fixtures"
    out.mkdir(parents=True, exist_ok=True)
    model = build(20261129)
    sd = {k: v.clone() for k, v in model.state_dict().items()}

    rng = np.random.default_rng(7)
    # Inputs stored as float16; the model sees exactly those values (as float32).
    x16 = rng.uniform(-1, 1, size=(N_IMAGES, 3, 112, 112)).astype(np.float16)
    (out / "inputs.f16").write_bytes(x16.tobytes())
    x = torch.from_numpy(x16.astype(np.float32))

    expected = {}
    expected["float32"] = embed(model, sd, x)
    sd16 = cast(sd, torch.float16)
    expected["float16"] = embed(model, cast(sd16, torch.float32), x)
    sdbf = cast(sd, torch.bfloat16)
    expected["bfloat16"] = embed(model, cast(sdbf, torch.float32), x)
    for name, e in expected.items():
        (out / f"expected_{name}.f32").write_bytes(e.tobytes())
    # The float64 reference: the same weights and inputs, computed in double precision. The
    # engine's fast (Winograd) and exact paths are both measured against it.
    (out / "expected_float64.f64").write_bytes(embed64(model, sd, x).tobytes())

    # 1. MagFace's layout, zip format: features.module. prefix, MagLinear's fc.weight beside the
    #    backbone, optimizer state, a PReLU slice of a larger storage (offset 10).
    magface = {"features.module." + k: v for k, v in sd.items()}
    big = torch.randn(100)
    big[10:10 + WIDTHS[0]] = sd["prelu.weight"]
    magface["features.module.prelu.weight"] = big[10:10 + WIDTHS[0]]
    maglinear = torch.randn(DIM, 300)  # MagLinear: [embedding, classes]
    magface["fc.weight"] = maglinear
    torch.save({
        "epoch": 25, "arch": "iresnet_tiny", "state_dict": magface,
        "optimizer": {"state": {0: {"momentum_buffer": torch.randn(DIM, 300)}},
                      "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0]}]},
    }, out / "tiny_magface.pth")

    # 2. Legacy format, module.features. prefix, channels_last (non-contiguous) conv weights.
    legacy = {}
    for k, v in sd.items():
        if v.dim() == 4:
            v = v.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
            assert v.shape[-1] == 1 or not v.is_contiguous()
        legacy["module.features." + k] = v
    torch.save({"state_dict": legacy}, out / "tiny_legacy.pth", _use_new_zipfile_serialization=False)

    # 3. A bare state dict in float16 (zip) and 4. in bfloat16 (legacy).
    torch.save(sd16, out / "tiny_bare_f16.pth")
    torch.save(sdbf, out / "tiny_bare_bf16.pth", _use_new_zipfile_serialization=False)

    (out / "tiny.json").write_text(json.dumps({
        "blocks": BLOCKS, "widths": WIDTHS, "dim": DIM, "images": N_IMAGES,
        "torch": torch.__version__,
        "norms": {k: [float(np.linalg.norm(r)) for r in v] for k, v in expected.items()},
    }, indent=1) + "\n")

    # Checkpoint error cases.
    cout = root / "Tests" / "CheckpointTests" / "Fixtures"
    cout.mkdir(parents=True, exist_ok=True)
    small = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.tensor([1.5, -2.0])}
    torch.save(small, cout / "small.pth")
    torch.save(small, cout / "small_legacy.pth", _use_new_zipfile_serialization=False)
    # A transposed view: strides (1, 3) over a 12-element storage.
    torch.save({"t": torch.arange(12, dtype=torch.float32).reshape(4, 3).t()}, cout / "strided.pth")
    # MagFace's training script may pickle its argparse namespace: a global off the whitelist.
    torch.save({"state_dict": small, "args": argparse.Namespace(lr=0.1)}, cout / "unknown_global.pth")
    # The same archive with its entries deflated.
    buf = io.BytesIO()
    torch.save(small, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(cout / "compressed.pth", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    print(f"  wrote {out} and {cout} (torch {torch.__version__})")


def wide_check(directory, arch="iresnet18"):
    """A real-width check, too large to commit (~100 MB): writes DIR/wide.pth (MagFace layout,
    zip), DIR/wide_inputs.f32 (2 images), DIR/wide_expected.f32 and the float64 reference
    DIR/wide_expected.f64. Run it, then
        MAGFLEET_WIDE_CHECK=DIR swift test --filter realWidthMatchesPyTorch
    """
    import pathlib
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    blocks = {"iresnet18": [2, 2, 2, 2], "iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}[arch]
    global WIDTHS, BLOCKS, DIM
    saved = (WIDTHS, BLOCKS, DIM)
    WIDTHS, BLOCKS, DIM = [64, 128, 256, 512], blocks, 512
    try:
        model = build(1)
    finally:
        WIDTHS, BLOCKS, DIM = saved
    x = torch.from_numpy(np.random.default_rng(3).uniform(-1, 1, size=(2, 3, 112, 112)).astype(np.float32))
    with torch.no_grad():
        e = model(x).numpy().astype(np.float32)
    e64 = embed64(model, model.state_dict(), x)
    (d / "wide_expected.f64").write_bytes(e64.tobytes())
    sd = {"features.module." + k: v for k, v in model.state_dict().items()}
    sd["fc.weight"] = torch.randn(512, 2000)
    torch.save({"epoch": 1, "arch": arch, "state_dict": sd}, d / "wide.pth")
    (d / "wide_inputs.f32").write_bytes(x.numpy().tobytes())
    (d / "wide_expected.f32").write_bytes(e.tobytes())
    (d / "wide.json").write_text(json.dumps({"arch": arch}) + "\n")
    print(f"  wrote {d} ({arch}); norms {np.linalg.norm(e, axis=1)}")


if __name__ == "__main__":
    import sys
    wide_check(sys.argv[1], *(sys.argv[2:3]))
