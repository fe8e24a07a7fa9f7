"""The crate's preprocessing (core/src/preprocess.rs) replicated bit for bit in numpy.

Bilinear resize with half-pixel centres and Q11 fixed-point coordinates, center-crop geometry,
and the Inception normalization (v / 128 - 1 in float32), so that reference outputs computed
here see exactly the input tensor the Rust pipeline builds from the same image.
"""

import numpy as np

FRAC = 11
ONE = 1 << FRAC


def _coords(dst, src):
    o = np.arange(dst, dtype=np.uint64)
    num = (2 * o + 1) * np.uint64(src) * np.uint64(ONE)
    s = num // np.uint64(2 * dst)
    s = np.where(s > ONE // 2, s - np.uint64(ONE // 2), np.uint64(0))
    s = np.minimum(s, np.uint64((src - 1) * ONE))
    i0 = (s >> np.uint64(FRAC)).astype(np.int64)
    f = (s & np.uint64(ONE - 1)).astype(np.uint64)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, f


def center_crop_rect(fw, fh, ow, oh):
    """(x, y, w, h) of the source region Fit::CenterCrop takes."""
    scaled = lambda a, b, c, mx: min(max((a * b + c // 2) // c, 1), mx)  # noqa: E731
    if fw * oh > fh * ow:
        w = scaled(fh, ow, oh, fw)
        return (fw - w) // 2, 0, w, fh
    h = scaled(fw, oh, ow, fh)
    return 0, (fh - h) // 2, fw, h


def bilinear(img, ow, oh):
    """[H, W, C] uint8 -> [oh, ow, C] float32 on the 0-255 scale, as core's Resize::Bilinear."""
    h, w = img.shape[:2]
    x0, x1, fx = _coords(ow, w)
    y0, y1, fy = _coords(oh, h)
    p = img.astype(np.uint64)
    one = np.uint64(ONE)
    fx = fx[None, :, None]
    fy = fy[:, None, None]
    top = p[y0][:, x0] * (one - fx) + p[y0][:, x1] * fx
    bot = p[y1][:, x0] * (one - fx) + p[y1][:, x1] * fx
    total = top * (one - fy) + bot * fy
    return total.astype(np.float32) * np.float32(1.0 / (ONE * ONE))


def inception_input(rgb, size=299):
    """[H, W, 3] uint8 RGB -> [1, 3, size, size] float32: center crop, bilinear, (v-128)/128."""
    x, y, w, h = center_crop_rect(rgb.shape[1], rgb.shape[0], size, size)
    v = bilinear(rgb[y:y + h, x:x + w], size, size)
    x = v * np.float32(1.0 / 128.0) + np.float32(-1.0)
    return x.transpose(2, 0, 1)[None].astype(np.float32)
