"""Writes the camera sample frames under tests/data/camera/ from a committed photo.

Camera drivers deliver YUYV (packed YUV 4:2:2, BT.601 limited range) and MJPEG (baseline JPEG,
4:2:2 chroma). No camera is attached to the build machines, so these frames are made from
tests/data/photos/chelsea.png (scikit-image, BSD) the way a UVC camera encodes them:

    python tools/make_camera_samples.py

Outputs (regenerating must give identical bytes; commit them once):
    chelsea-320x240.png    the RGB frame the samples encode (the reference of the tests)
    chelsea-320x240.yuyv   raw YUYV, 640 bytes per row
    chelsea-320x240.mjpg   one MJPEG frame (JPEG quality 85, 4:2:2)
"""

from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "camera"
W, H = 320, 240


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    photo = Image.open(ROOT / "tests" / "data" / "photos" / "chelsea.png").convert("RGB")
    # centre crop to 4:3, then resize
    w, h = photo.size
    cw = min(w, h * 4 // 3)
    ch = cw * 3 // 4
    left, top = (w - cw) // 2, (h - ch) // 2
    frame = photo.crop((left, top, left + cw, top + ch)).resize((W, H), Image.BILINEAR)
    frame.save(OUT / "chelsea-320x240.png", optimize=True)

    rgb = np.asarray(frame).astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    # BT.601 limited range
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    # 4:2:2: average chroma over horizontal pairs
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    q = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)
    yuyv = np.empty((H, W * 2), dtype=np.uint8)
    yuyv[:, 0::4] = q(y[:, 0::2])
    yuyv[:, 1::4] = q(u2)
    yuyv[:, 2::4] = q(y[:, 1::2])
    yuyv[:, 3::4] = q(v2)
    (OUT / "chelsea-320x240.yuyv").write_bytes(yuyv.tobytes())

    frame.save(OUT / "chelsea-320x240.mjpg", format="JPEG", quality=85, subsampling=1)


if __name__ == "__main__":
    main()
