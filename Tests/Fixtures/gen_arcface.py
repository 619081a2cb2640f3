"""insightface's embeddings of real fixture images: the `arcface` preset checked end to end.

Runs the tiny bare insightface-style checkpoint (Tests/IResNetTests/Fixtures/tiny_bare_f16.pth,
written by gen_engine.py) through insightface's own inference path, in real PyTorch + OpenCV,
on three image fixtures written by gen_images.py:

  face420.jpg  112x112 JPEG, used as decoded
  resize       src0_130x150.png, cv2.resize(img, (112, 112)) (INTER_LINEAR, inference.py)
  aligned      align/face.png with case0's five landmarks, face_align.norm_crop: the similarity
               transform of skimage's SimilarityTransform.estimate (umeyama, as in gen_images.py;
               skimage itself is not a peer here) and cv2.warpAffine(img, M, (112, 112), borderValue=0)

Preprocessing is recognition/arcface_torch/inference.py verbatim: BGR2RGB, HWC -> CHW,
.float(), div_(255).sub_(0.5).div_(0.5). Flip fusion as insightface's eval: the embedding of
the image plus that of cv2.flip(img, 1), before any normalisation.

Writes Tests/IResNetTests/Fixtures/arcface_expected.f32 ([flip][image][dim] float32 LE: the
three plain embeddings, then the three fused ones) and arcface.json. Run
    /tmp/torchenv/bin/python Tests/Fixtures/generate.py arcface
It reads the outputs of the engine and images areas (never rewrites them); generate.py runs it
after them when they are regenerated together (AFTER below).
"""
import json

import cv2
import numpy as np
import torch

import gen_engine
from gen_images import TEMPLATE, umeyama, imread_bgr

# generate.py runs these first: this reads their outputs (the checkpoint, the images).
AFTER = ("engine", "images")
IMAGES = [
    {"name": "face420", "file": "decode/face420.jpg", "geometry": "untouched"},
    {"name": "resized", "file": "resize/src0_130x150.png", "geometry": "resized"},
    {"name": "aligned", "file": "align/face.png", "geometry": "aligned", "case": "case0"},
]
# The Swift test's bar (ClusterTests/ArcFacePresetTests.swift), per embedding.
TOLERANCE = {"relative_l2": 1e-4, "cosine": 0.99999}


def network(checkpoint, dtype):
    """The tiny iresnet with the float16 checkpoint's weights, upcast (as magfleet does) to `dtype`."""
    model = gen_engine.IResNet(gen_engine.IBasicBlock, gen_engine.BLOCKS, gen_engine.WIDTHS, gen_engine.DIM)
    sd = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in sd.values() if v.is_floating_point())
    model = model.to(dtype)
    model.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()})
    return model.eval()


def crop(images_dir, entry, landmarks):
    """The 112x112 BGR crop insightface feeds: as read, resized, or norm_crop-aligned."""
    img = imread_bgr(images_dir / entry["file"])
    if entry["geometry"] == "aligned":
        lmk = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
        M = umeyama(lmk, TEMPLATE)[0:2, :]
        return cv2.warpAffine(img, M, (112, 112), borderValue=0.0)
    if img.shape[:2] != (112, 112):
        assert entry["geometry"] == "resized"
        return cv2.resize(img, (112, 112))
    assert entry["geometry"] == "untouched"
    return img


def tensor(img, dtype=torch.float32):
    """inference.py: cvtColor BGR2RGB, transpose to CHW, .float(), div_(255).sub_(0.5).div_(0.5)."""
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    img = np.transpose(img, (2, 0, 1))
    t = torch.from_numpy(img).unsqueeze(0).to(dtype)
    t.div_(255).sub_(0.5).div_(0.5)
    return t


def embeddings(model, crops, dtype):
    with torch.no_grad():
        plain = [model(tensor(c, dtype))[0] for c in crops]
        fused = [p + model(tensor(cv2.flip(c, 1), dtype))[0] for p, c in zip(plain, crops)]
    return np.stack([np.stack([e.numpy() for e in plain]), np.stack([e.numpy() for e in fused])])


def generate(root):
    out = root / "Tests" / "IResNetTests" / "Fixtures"
    checkpoint = out / "tiny_bare_f16.pth"
    images_dir = root / "Tests" / "ImagingTests" / "Fixtures"
    manifest = json.loads((images_dir / "manifest.json").read_text())
    cases = {c["case"]: c["landmarks"] for c in manifest["align"]}
    entries = [dict(e, landmarks=cases[e["case"]]) if "case" in e else dict(e) for e in IMAGES]
    crops = [crop(images_dir, e, e.get("landmarks")) for e in entries]

    expected = embeddings(network(checkpoint, torch.float32), crops, torch.float32).astype("<f4")
    assert expected.shape == (2, len(IMAGES), gen_engine.DIM)
    # The same in float64 throughout: how far PyTorch's own float32 result is from exact.
    exact = embeddings(network(checkpoint, torch.float64), crops, torch.float64)
    rel64 = np.linalg.norm(expected - exact, axis=-1) / np.linalg.norm(exact, axis=-1)
    # inference.py's div/sub/div against magfleet's (x - 127.5) / 127.5 table, both float32.
    levels = torch.arange(256, dtype=torch.float32)
    torch_levels = levels.clone().div_(255).sub_(0.5).div_(0.5)
    table = (levels - 127.5) / 127.5
    differing = int((torch_levels != table).sum())
    worst_level = float((torch_levels - table).abs().max())

    (out / "arcface_expected.f32").write_bytes(np.ascontiguousarray(expected).tobytes())
    (out / "arcface.json").write_text(json.dumps({
        "checkpoint": "tiny_bare_f16.pth",
        "images": [{k: e[k] for k in ("name", "file", "geometry", "landmarks") if k in e} for e in entries],
        "layout": "float32 LE [flip: no, yes][image][dim]",
        "dim": gen_engine.DIM,
        "tolerance": TOLERANCE,
        "norms": np.linalg.norm(expected.astype(np.float64), axis=-1).round(6).tolist(),
        "torch_float32_vs_float64_relative_l2_max": float(rel64.max()),
        "input_levels_differing_from_magfleet_table": differing,
        "input_levels_max_abs_difference": worst_level,
        "torch": torch.__version__, "opencv": cv2.__version__,
    }, indent=1) + "\n")
    print(f"  wrote arcface_expected.f32 and arcface.json in {out} (torch {torch.__version__}, "
          f"opencv {cv2.__version__}); float32 vs float64 {rel64.max():.2e}; {differing} of 256 input levels "
          f"differ from (x - 127.5) / 127.5 by up to {worst_level:.1e}")
