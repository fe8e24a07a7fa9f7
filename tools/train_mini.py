#!/usr/bin/env python3
"""Train the bundled test model: a small Inception-style CNN on Fashion-MNIST.

The model is the crate's smoke-test classifier: small enough to commit (~60 KB) and run in
every test, real enough that its accuracy means something. Two Inception modules (1x1, 1x1→3x3,
1x1→3x3→3x3 and pool→1x1 branches concatenated, the BN-Inception factorisation) between a stem
convolution and a global-average-pool + linear head.

Outputs (all deterministic for a given seed):
  models/mini-inception-fmnist/mini-inception-fmnist.onnx   opset 13, input [N,1,28,28]
  models/mini-inception-fmnist/manifest.toml                 sha256 and measured accuracy
  tests/data/fmnist/<class>.png                              one test image per class
  tests/data/fmnist/reference.json                           onnxruntime logits for them

Usage (from the repository root, after `tools/setup`):
  python3 tools/train_mini.py [--epochs 6] [--seed 0]
Data: Debian's `dataset-fashion-mnist` (MIT), /usr/share/datasets/fashion-mnist.
"""

import argparse
import gzip
import hashlib
import json
import os
import time

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"
OUT = "models/mini-inception-fmnist"
FIXTURES = "tests/data/fmnist"
CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


# ---------------------------------------------------------------- model definition
# Each conv: (name, in_ch, out_ch, kernel). Branches of a module are lists of convs.
def module_spec(prefix, cin, b1, b2r, b2, b3r, b3, b4):
    return {
        "b1": [(f"{prefix}_b1", cin, b1, 1)],
        "b2": [(f"{prefix}_b2r", cin, b2r, 1), (f"{prefix}_b2", b2r, b2, 3)],
        "b3": [(f"{prefix}_b3r", cin, b3r, 1), (f"{prefix}_b3a", b3r, b3, 3),
               (f"{prefix}_b3b", b3, b3, 3)],
        "b4": [(f"{prefix}_b4", cin, b4, 1)],
        "out": b1 + b2 + b3 + b4,
    }


STEM = ("stem", 1, 24, 3)
MOD_A = module_spec("mixed_a", 24, 16, 16, 24, 8, 12, 12)     # 64 out, 14x14
MOD_B = module_spec("mixed_b", 64, 32, 24, 32, 8, 16, 16)     # 96 out, 7x7
NUM_CLASSES = 10


def all_convs():
    convs = [STEM]
    for m in (MOD_A, MOD_B):
        for b in ("b1", "b2", "b3", "b4"):
            convs += m[b]
    return convs


def init_params(rng):
    params = {}
    for name, cin, cout, k in all_convs():
        fan_in = cin * k * k
        params[name + ".w"] = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        params[name + ".b"] = np.zeros(cout, np.float32)
    cin = MOD_B["out"]
    params["fc.w"] = (rng.standard_normal((NUM_CLASSES, cin)) * np.sqrt(1.0 / cin)).astype(np.float32)
    params["fc.b"] = np.zeros(NUM_CLASSES, np.float32)
    return params


def forward(params, x):
    import jax
    import jax.numpy as jnp

    def conv(name, x, k):
        y = jax.lax.conv_general_dilated(
            x, params[name + ".w"], (1, 1), [(k // 2, k // 2)] * 2,
            dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return jax.nn.relu(y + params[name + ".b"][None, :, None, None])

    def maxpool(x, k, s, p):
        return jax.lax.reduce_window(
            x, -jnp.inf, jax.lax.max, (1, 1, k, k), (1, 1, s, s),
            [(0, 0), (0, 0), (p, p), (p, p)])

    def module(m, x):
        outs = []
        for b in ("b1", "b2", "b3"):
            y = x
            for name, _, _, k in m[b]:
                y = conv(name, y, k)
            outs.append(y)
        y = maxpool(x, 3, 1, 1)
        name, _, _, k = m["b4"][0]
        outs.append(conv(name, y, k))
        return jnp.concatenate(outs, axis=1)

    x = conv(STEM[0], x, 3)            # 28x28
    x = maxpool(x, 2, 2, 0)            # 14x14
    x = module(MOD_A, x)
    x = maxpool(x, 2, 2, 0)            # 7x7
    x = module(MOD_B, x)
    x = jnp.mean(x, axis=(2, 3))
    return x @ params["fc.w"].T + params["fc.b"]


def normalize(images_u8):
    """(x - 128) / 128, the Inception convention, on [N, 28, 28] uint8 -> [N, 1, 28, 28]."""
    return ((images_u8.astype(np.float32) - 128.0) / 128.0)[:, None, :, :]


# ---------------------------------------------------------------- training
def train(params, x, y, epochs, seed, batch=128, lr=2e-3):
    import jax
    import jax.numpy as jnp

    def loss_fn(p, xb, yb):
        logits = forward(p, xb)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    b1, b2, eps = 0.9, 0.999, 1e-8
    m = {k: jnp.zeros_like(v) for k, v in params.items()}
    v = {k: jnp.zeros_like(v) for k, v in params.items()}

    @jax.jit
    def step(p, m, v, t, xb, yb, lr):
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        m = {k: b1 * m[k] + (1 - b1) * g[k] for k in p}
        v = {k: b2 * v[k] + (1 - b2) * g[k] ** 2 for k in p}
        p = {k: p[k] - lr * (m[k] / (1 - b1 ** t)) / (jnp.sqrt(v[k] / (1 - b2 ** t)) + eps) for k in p}
        return p, m, v, loss

    params = {k: jnp.asarray(v) for k, v in params.items()}
    rng = np.random.default_rng(seed + 1)
    t = 0
    steps_per_epoch = len(x) // batch
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        start = time.time()
        losses = []
        # cosine learning-rate decay over the whole run
        for i in range(steps_per_epoch):
            t += 1
            frac = t / (epochs * steps_per_epoch)
            cur_lr = lr * 0.5 * (1 + np.cos(np.pi * frac))
            idx = order[i * batch:(i + 1) * batch]
            params, m, v, loss = step(params, m, v, t, x[idx], y[idx], cur_lr)
            losses.append(float(loss))
        print(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f} ({time.time() - start:.0f} s)")
    return {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}


# ---------------------------------------------------------------- ONNX export
def to_onnx(params):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def conv(name, x, k):
        inits.append(numpy_helper.from_array(params[name + ".w"], name + ".w"))
        inits.append(numpy_helper.from_array(params[name + ".b"], name + ".b"))
        nodes.append(helper.make_node("Conv", [x, name + ".w", name + ".b"], [name + "_conv"],
                                      name=name, kernel_shape=[k, k], pads=[k // 2] * 4))
        nodes.append(helper.make_node("Relu", [name + "_conv"], [name + "_relu"], name=name + "_relu"))
        return name + "_relu"

    def maxpool(x, name, k, s, p):
        nodes.append(helper.make_node("MaxPool", [x], [name], name=name, kernel_shape=[k, k],
                                      strides=[s, s], pads=[p] * 4))
        return name

    def module(m, x, prefix):
        outs = []
        for b in ("b1", "b2", "b3"):
            y = x
            for name, _, _, k in m[b]:
                y = conv(name, y, k)
            outs.append(y)
        y = maxpool(x, prefix + "_pool", 3, 1, 1)
        outs.append(conv(m["b4"][0][0], y, 1))
        nodes.append(helper.make_node("Concat", outs, [prefix + "_concat"], name=prefix + "_concat", axis=1))
        return prefix + "_concat"

    x = conv(STEM[0], "input", 3)
    x = maxpool(x, "pool1", 2, 2, 0)
    x = module(MOD_A, x, "mixed_a")
    x = maxpool(x, "pool2", 2, 2, 0)
    x = module(MOD_B, x, "mixed_b")
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["features"], name="flatten", axis=1))
    inits.append(numpy_helper.from_array(params["fc.w"], "fc.w"))
    inits.append(numpy_helper.from_array(params["fc.b"], "fc.b"))
    nodes.append(helper.make_node("Gemm", ["features", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))

    graph = helper.make_graph(
        nodes, "mini_inception_fmnist",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="inception-edge tools/train_mini.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-images", type=int, default=60000)
    args = ap.parse_args()

    import onnxruntime as ort
    from PIL import Image

    xtr, ytr = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    xte, yte = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")
    xtr, ytr = xtr[:args.train_images], ytr[:args.train_images]
    print(f"train {len(xtr)} images, test {len(xte)} images")

    params = init_params(np.random.default_rng(args.seed))
    params = train(params, normalize(xtr), ytr.astype(np.int32), args.epochs, args.seed)

    blob = to_onnx(params)
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "mini-inception-fmnist.onnx")
    with open(path, "wb") as f:
        f.write(blob)
    sha = hashlib.sha256(blob).hexdigest()

    # Check the export against the jax forward pass, then measure accuracy with onnxruntime.
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    xt = normalize(xte)
    ort_logits = np.concatenate([sess.run(None, {"input": xt[i:i + 500]})[0] for i in range(0, len(xt), 500)])
    jax_logits = np.asarray(forward(params, xt[:500]))
    diff = float(np.abs(ort_logits[:500] - jax_logits).max())
    print(f"onnxruntime vs jax max abs diff on 500 images: {diff:.2e}")
    assert diff < 1e-3, diff
    top1 = float((ort_logits.argmax(1) == yte).mean())
    print(f"test top-1 (onnxruntime, {len(xte)} images never trained on): {top1:.4f}")

    # One fixture image per class (the first test image of each class) and reference logits.
    os.makedirs(FIXTURES, exist_ok=True)
    ref = {"model_sha256": sha, "normalize": "(x - 128) / 128", "images": []}
    for c, name in enumerate(CLASSES):
        i = int(np.nonzero(yte == c)[0][0])
        fname = name.lower().replace("/", "-").replace(" ", "-") + ".png"
        Image.fromarray(xte[i]).save(os.path.join(FIXTURES, fname), optimize=True)
        ref["images"].append({"file": fname, "test_index": i, "label": c,
                              "logits": [float(v) for v in ort_logits[i]]})
    with open(os.path.join(FIXTURES, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)

    labels = ",\n    ".join(json.dumps(c) for c in CLASSES)
    manifest = f'''# Generated by tools/train_mini.py --epochs {args.epochs} --seed {args.seed}: do not edit by hand.
labels = [
    {labels},
]

[model]
name = "mini-inception-fmnist"
file = "mini-inception-fmnist.onnx"
sha256 = "{sha}"
source = "Trained in this repository by tools/train_mini.py (jax, Adam, {args.epochs} epochs, seed {args.seed}) on the {len(xtr)} Fashion-MNIST training images. Two BN-Inception-style modules, {sum(p.size for p in params.values())} parameters."
licence = "Weights: MIT OR Apache-2.0 (this project). Data: Fashion-MNIST, MIT, Zalando SE."
output = "logits"

[input]
width = 28
height = 28
channels = "gray"
layout = "nchw"
normalize = "inception"
resize = "area"
fit = "center-crop"

[accuracy]
dataset = "Fashion-MNIST t10k (never trained on)"
images = {len(xte)}
top1 = {top1:.4f}
command = "python3 tools/train_mini.py (onnxruntime {ort.__version__}, fp32)"

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
