"""Fixtures for the C binding smoke tests: one JPEG and one PNG written and decoded by OpenCV."""
import numpy as np
import cv2


def generate(root):
    out = root / "Tests" / "BindingsTests" / "Fixtures"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261129)
    # A smooth gradient plus noise: realistic for a codec, never all zeros.
    h, w = 24, 40
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 6, yy * 10, (xx + yy) * 4], axis=-1).astype(np.float64)
    img = np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(str(out / "smoke.png"), img)
    cv2.imwrite(str(out / "smoke.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    # What cv2.imread (BGR) returns for each file, as raw bytes h*w*3.
    for name in ("smoke.png", "smoke.jpg"):
        decoded = cv2.imread(str(out / name), cv2.IMREAD_COLOR)
        assert decoded.shape == (h, w, 3)
        (out / (name + ".bgr")).write_bytes(decoded.tobytes())
    print(f"  wrote {out} (cv2 {cv2.__version__})")
