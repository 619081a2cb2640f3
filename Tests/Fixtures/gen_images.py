"""Fixtures for ImagingTests, made with OpenCV 4.x (opencv-python-headless, pinned in
requirements.txt; docs/imaging.md says why 4.x and not 5.0).

Writes Tests/ImagingTests/Fixtures/:
  decode/*.jpg|*.png + <name>.bgr   files and what cv2.imread(path, IMREAD_COLOR) returns
  resize/src*.png, dst*.png          sources and cv2.resize(src, (112, 112), INTER_LINEAR)
  align/face.png, case*.png         source and cv2.warpAffine(src, M, (112, 112), borderValue=0)
  (expected images are stored as lossless PNG; ImagingTests checks the PNG decoder first)
  tensor/*.f32                      MagFace (torchvision ToTensor) and arcface inputs, float32 CHW
  bad/*                             broken files, each with the error magfleet must report
  manifest.json                     sizes, matrices, landmarks and expected error kinds
The CMYK/YCCK JPEGs come from cmyk_jpeg.c (libjpeg), built here with cc, since OpenCV cannot
write them. Deterministic: fixed seeds.
"""
import json
import pathlib
import shutil
import struct
import subprocess
import tempfile
import zlib

import numpy as np
import cv2

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def face_like(rng, h, w):
    """A smooth image with edges and noise: realistic for codecs and interpolation, never flat."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = h / 2, w / 2
    r = np.sqrt(((yy - cy) / (0.45 * h)) ** 2 + ((xx - cx) / (0.35 * w)) ** 2)
    base = np.stack([120 + 80 * np.cos(xx / 7.0), 90 + 100 * (r < 1), 60 + 150 * yy / h], axis=-1)
    base += 40 * np.sin(xx[..., None] / 3.0 + yy[..., None] / 5.0 + np.array([0, 1, 2]))
    return np.clip(base + rng.normal(0, 5, size=base.shape), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, rows, width, height, depth, color, extra=b""):
    """A minimal PNG writer for what cv2.imwrite cannot make (palette, gray+alpha, 2-bit gray)."""
    raw = b"".join(b"\x00" + row for row in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra
    data += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    path.write_bytes(data)


def exif_tiff(orientation, little=True):
    e = "<" if little else ">"
    head = (b"II" if little else b"MM") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(e + "I", 0)
    return head + ifd


def with_exif(jpeg_bytes, orientation, little=True):
    payload = b"Exif\x00\x00" + exif_tiff(orientation, little)
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg_bytes[:2] + app1 + jpeg_bytes[2:]


def umeyama(src, dst):
    """skimage.transform._geometric._umeyama(src, dst, estimate_scale=True), verbatim maths."""
    num, dim = src.shape
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_demean, dst_demean = src - src_mean, dst - dst_mean
    A = dst_demean.T @ src_demean / num
    d = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(A) < 0:
        d[dim - 1] = -1
    T = np.eye(dim + 1, dtype=np.float64)
    U, S, V = np.linalg.svd(A)
    rank = np.linalg.matrix_rank(A)
    if rank == dim - 1:
        if np.linalg.det(U) * np.linalg.det(V) > 0:
            T[:dim, :dim] = U @ V
        else:
            s = d[dim - 1]
            d[dim - 1] = -1
            T[:dim, :dim] = U @ np.diag(d) @ V
            d[dim - 1] = s
    else:
        T[:dim, :dim] = U @ np.diag(d) @ V
    scale = 1.0 / src_demean.var(axis=0).sum() * (S @ d)
    T[:dim, dim] = dst_mean - scale * (T[:dim, :dim] @ src_mean.T)
    T[:dim, :dim] *= scale
    return T


def imread_bgr(path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None and img.dtype == np.uint8 and img.ndim == 3, path
    return img


def generate(root):
    if not cv2.__version__.startswith("4."):
        raise SystemExit(f"gen_images needs opencv-python-headless 4.x (requirements.txt); found {cv2.__version__}. "
                         "OpenCV 5's warpAffine rounds differently from the 4.x that MagFace users run.")
    out = root / "Tests" / "ImagingTests" / "Fixtures"
    if out.exists():
        shutil.rmtree(out)
    for sub in ("decode", "resize", "align", "tensor", "bad"):
        (out / sub).mkdir(parents=True)
    rng = np.random.default_rng(4_2026_1129)
    manifest = {"opencv": cv2.__version__, "decode": [], "resize": [], "align": [], "bad": []}

    # ---- decode: JPEG variants ---------------------------------------------------------------
    dec = out / "decode"
    face = face_like(rng, 112, 112)
    small = face_like(rng, 23, 37)

    def jpeg(name, img, params, orientation=None):
        ok, buf = cv2.imencode(".jpg", img, params)
        assert ok
        data = buf.tobytes()
        if orientation is not None:
            data = with_exif(data, orientation, little=orientation % 2 == 0)
        (dec / name).write_bytes(data)

    q = cv2.IMWRITE_JPEG_QUALITY
    jpeg("face420.jpg", face, [q, 95])
    jpeg("face444.jpg", face, [q, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444])
    jpeg("face422.jpg", face, [q, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])
    jpeg("face440.jpg", face, [q, 90, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440])
    jpeg("progressive.jpg", face, [q, 85, cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    jpeg("odd420.jpg", small, [q, 75])
    jpeg("gray.jpg", cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), [q, 90])
    for o in range(1, 9):
        jpeg(f"exif{o}.jpg", small, [q, 90], orientation=o)
    # CMYK / YCCK through libjpeg (cmyk_jpeg.c).
    with tempfile.TemporaryDirectory() as tmp:
        tool = pathlib.Path(tmp) / "cmyk_jpeg"
        subprocess.run(["cc", "-O1", "-o", str(tool), str(pathlib.Path(__file__).with_name("cmyk_jpeg.c")), "-ljpeg"], check=True)
        cmyk = np.concatenate([255 - face, rng.integers(0, 120, (112, 112, 1), dtype=np.uint8)], axis=-1)
        raw = pathlib.Path(tmp) / "in.raw"
        raw.write_bytes(np.ascontiguousarray(cmyk[:40, :48]).tobytes())
        for kind in ("cmyk", "ycck"):
            subprocess.run([str(tool), "48", "40", kind, str(raw), str(dec / f"{kind}.jpg")], check=True)

    # ---- decode: PNG variants ----------------------------------------------------------------
    cv2.imwrite(str(dec / "rgb.png"), small)
    cv2.imwrite(str(dec / "gray.png"), cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
    alpha = rng.integers(0, 256, (23, 37, 1), dtype=np.uint8)
    cv2.imwrite(str(dec / "rgba.png"), np.concatenate([small, alpha], axis=-1))
    deep = (small.astype(np.uint16) * 257 + rng.integers(0, 257, small.shape)).astype(np.uint16)
    cv2.imwrite(str(dec / "rgb16.png"), deep)
    cv2.imwrite(str(dec / "gray16.png"), deep[..., 0])
    # palette + tRNS, gray+alpha, 2-bit gray, RGB written by hand.
    h, w = 23, 37
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    idx = rng.integers(0, 16, (h, w), dtype=np.uint8)
    write_png(dec / "palette.png", [bytes(r) for r in idx], w, h, 8, 3,
              png_chunk(b"PLTE", palette.tobytes()) + png_chunk(b"tRNS", bytes(range(0, 256, 16))))
    ga = np.stack([small[..., 1], alpha[..., 0]], axis=-1)
    write_png(dec / "grayalpha.png", [r.tobytes() for r in ga], w, h, 8, 4)
    two = rng.integers(0, 4, (h, 40), dtype=np.uint8)
    packed = [bytes((r[i] << 6) | (r[i + 1] << 4) | (r[i + 2] << 2) | r[i + 3] for i in range(0, 40, 4)) for r in two]
    write_png(dec / "gray2bit.png", packed, 40, h, 2, 0)
    rgb = small[..., ::-1]
    write_png(dec / "exif6.png", [r.tobytes() for r in rgb], w, h, 8, 2, png_chunk(b"eXIf", exif_tiff(6)))
    for f in sorted(dec.iterdir()):
        if f.suffix in (".jpg", ".png"):
            img = imread_bgr(f)
            (dec / (f.name + ".bgr")).write_bytes(img.tobytes())
            manifest["decode"].append({"file": f.name, "width": img.shape[1], "height": img.shape[0]})

    # ---- resize ------------------------------------------------------------------------------
    for i, (sh, sw) in enumerate([(150, 130), (96, 80), (224, 224), (113, 111), (61, 173), (50, 60), (112, 200), (1, 7)]):
        src = face_like(rng, sh, sw)
        name = f"src{i}_{sw}x{sh}.png"
        cv2.imwrite(str(out / "resize" / name), src)
        dst = cv2.resize(src, (112, 112), interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(out / "resize" / f"dst{i}.png"), dst)  # lossless; read back by the tested PNG decoder
        manifest["resize"].append({"file": name, "expected": f"dst{i}.png", "width": sw, "height": sh})

    # ---- alignment ---------------------------------------------------------------------------
    src = face_like(rng, 150, 140)
    cv2.imwrite(str(out / "align" / "face.png"), src)
    for i in range(6):
        a = rng.normal(0, 0.35)
        s = rng.uniform(0.55, 1.6)
        t = rng.uniform(-25, 25, 2) + np.array([15, 20])
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        lmk = (TEMPLATE - t) @ R.T / s + rng.normal(0, 1.5, TEMPLATE.shape)
        if i == 5:
            lmk[:, 0] = 140 - lmk[:, 0]  # mirrored points: det(A) < 0 branch
        M = umeyama(lmk, TEMPLATE)[0:2, :]
        warped = cv2.warpAffine(src, M, (112, 112), borderValue=0.0)
        cv2.imwrite(str(out / "align" / f"case{i}.png"), warped)
        manifest["align"].append({"case": f"case{i}", "landmarks": lmk.reshape(-1).tolist(), "matrix": M.reshape(-1).tolist()})

    # ---- tensors -----------------------------------------------------------------------------
    img = imread_bgr(dec / "face420.jpg")
    import torch
    # torchvision's ToTensor on a uint8 HWC array: permute to CHW, .float().div(255); then
    # gen_feat.py's Normalize(mean=0, std=1) is the identity.
    magface = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255).numpy()
    arcface = (img[..., ::-1].transpose(2, 0, 1).astype(np.float32) - np.float32(127.5)) / np.float32(127.5)
    (out / "tensor" / "face420.magface.f32").write_bytes(np.ascontiguousarray(magface, dtype="<f4").tobytes())
    (out / "tensor" / "face420.arcface.f32").write_bytes(np.ascontiguousarray(arcface, dtype="<f4").tobytes())

    # ---- bad files ---------------------------------------------------------------------------
    bad = out / "bad"
    good_jpg = (dec / "face420.jpg").read_bytes()
    good_png = (dec / "rgb.png").read_bytes()

    def add(name, data, kind, note):
        (bad / name).write_bytes(data)
        try:
            cv_img = cv2.imread(str(bad / name), cv2.IMREAD_COLOR)
            seen = "None" if cv_img is None else f"image {cv_img.shape[1]}x{cv_img.shape[0]}"
        except cv2.error as e:
            seen = "cv2.error: " + str(e).strip().splitlines()[-1]
        manifest["bad"].append({"file": name, "kind": kind, "note": note, "opencv": seen})

    add("empty.jpg", b"", "empty-file", "0 bytes")
    add("truncated.jpg", good_jpg[: len(good_jpg) * 2 // 3], "corrupt", "cut inside the scan (premature end)")
    add("header-only.jpg", good_jpg[:400], "corrupt", "cut right after the headers")
    sos = good_jpg.index(b"\xff\xda")
    garbled = bytearray(good_jpg)
    for k in range(sos + 200, sos + 260):
        garbled[k] = 0xFF if k % 7 == 0 else (garbled[k] * 31 + 7) & 0xFF
    add("corrupt.jpg", bytes(garbled), "corrupt", "garbage in the entropy-coded data")
    add("truncated.png", good_png[: len(good_png) // 2], "corrupt", "cut inside IDAT")
    crc = bytearray(good_png)
    idat = good_png.index(b"IDAT")
    crc[idat + 10] ^= 0x55
    add("badcrc.png", bytes(crc), "corrupt", "IDAT data changed, CRC no longer matches")
    add("text.jpg", b"this is not an image, just text with a .jpg name\n", "unsupported-format", "text")
    add("tiny.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
        b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", "unsupported-format", "a valid GIF")
    sof = good_jpg.index(b"\xff\xc0")
    big = bytearray(good_jpg)
    big[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    add("bomb.jpg", bytes(big), "too-large", "SOF claims 60000x60000")
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    add("bomb.png", good_png[:8] + png_chunk(b"IHDR", ihdr) + good_png[33:], "too-large", "IHDR claims 100000x100000")
    zero = bytearray(good_jpg)
    zero[sof + 5:sof + 7] = struct.pack(">H", 0)
    add("zero.jpg", bytes(zero), "zero-size", "SOF height 0")
    ihdr0 = struct.pack(">IIBBBBB", 0, 23, 8, 2, 0, 0, 0)
    add("zero.png", good_png[:8] + png_chunk(b"IHDR", ihdr0) + good_png[33:], "zero-size", "IHDR width 0")
    add("soi-only.jpg", b"\xff\xd8\xff\xd9", "corrupt", "start and end markers, nothing between")

    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"  wrote {out} ({total / 1024:.0f} KiB, cv2 {cv2.__version__})")
