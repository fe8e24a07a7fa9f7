#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from committed assets.

    python3 tools/make_fuzz_corpus.py

Seeds are small valid inputs for each parser: frames of every pixel format with their
geometry header, fixture PNGs and a JPEG, an MJPEG multipart stream, the model manifests, the
mini int8 NNEF blob (as a plain tar, so mutations are not stopped by gzip checksums), small
ONNX models, and HTTP request heads.
"""
import gzip
import io
import shutil
import struct
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    # frame: header (w, h, pad, format, out w/h, fit/filter, layout/fill, channels, stride) + pixels
    bpp = [3, 3, 4, 2, 1.5, 2, 1]
    for fmt, b in enumerate(bpp):
        w, h = 8, 6
        head = struct.pack("<HHBBBBBBBB", w, h, 3, fmt, 5, 4, fmt % 3 | (0x80 * (fmt % 2)),
                           fmt & 1, fmt % 3, fmt & 1)
        pixels = bytes((i * 37) & 0xFF for i in range(int(w * h * b) + 3 * h))
        put("frame", f"format{fmt}", head + pixels)
    # image_decode: fixture PNGs and a JPEG
    for png in sorted((ROOT / "tests/data/fmnist").glob("*.png"))[:4]:
        put("image_decode", png.name, png.read_bytes())
    img = Image.new("RGB", (16, 12), (200, 30, 90))
    jpg = io.BytesIO()
    img.save(jpg, "JPEG", quality=70)
    put("image_decode", "tiny.jpg", jpg.getvalue())
    # mjpeg_multipart: two parts
    part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
    j = jpg.getvalue()
    put("mjpeg_multipart", "two-parts", part % (len(j), j) * 2)
    put("mjpeg_multipart", "no-length", b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + j + b"\r\n")
    # manifest
    for m in sorted((ROOT / "models").glob("*/manifest.toml")):
        put("manifest", m.parent.name + ".toml", m.read_bytes())
    # nnef_blob: the mini int8 model as a plain tar
    blob = (ROOT / "tests/data/int8/mini-inception-fmnist.int8.nnef.tgz").read_bytes()
    put("nnef_blob", "mini.nnef.tar", gzip.decompress(blob))
    # onnx_model
    for m in sorted((ROOT / "tests/data/models").glob("*.onnx")):
        put("onnx_model", m.name, m.read_bytes())
    # web_request
    reqs = {
        "page": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "bearer": b"GET /api/latest HTTP/1.1\r\nAuthorization: Bearer fuzz-token-0123456789\r\n\r\n",
        "cookie": b"GET /stream.mjpg HTTP/1.1\r\nCookie: a=1; incept_token=fuzz-token-0123456789\r\n\r\n",
        "query": b"GET /?token=fuzz-token-0123456789 HTTP/1.1\r\n\r\n",
        "post": b"POST /api/latest HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
    }
    for name, r in reqs.items():
        put("web_request", name, r)


if __name__ == "__main__":
    main()
