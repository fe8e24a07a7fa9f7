#!/usr/bin/env python3
"""onnxruntime reference logits for the six zoo networks (the goldens of tests/zoo.rs).

For each network, exports it with `incept zoo export` (seed 7, 10 classes, a small input:
96x96 for GoogLeNet and BN-Inception, 107x107 for the others), runs it in onnxruntime (fp32,
CPU, one thread, all graph optimizations off so it computes what the graph says) on the seeded
image the Rust test uses, and writes the logits to tests/data/zoo/ort_logits.json. The Rust
test runs the same export in tract and compares. Also runs the ONNX model zoo's
light_inception_v1/v2 (from the onnx wheel) with weights seeded by `incept zoo materialize`.

Regenerate (after changing a builder or the seeding; explain the diff in the commit):
    cargo build --release --bin incept
    python3 tools/zoo_ort.py
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCEPT = os.path.join(ROOT, "target", "release", "incept")
OUT = os.path.join(ROOT, "tests", "data", "zoo", "ort_logits.json")
NETS = [
    ("googlenet", 96),
    ("bn-inception", 96),
    ("inception-v3", 107),
    ("inception-v4", 107),
    ("inception-resnet-v1", 107),
    ("inception-resnet-v2", 107),
]
SEED, CLASSES, IMAGE_SEED = 7, 10, 3
# The ONNX model zoo's GoogLeNet and BN-Inception from the onnx wheel, weights seeded by
# `incept zoo materialize --seed 7` (their own input: 224x224, 1000-way softmax).
LIGHT = ["light_inception_v1.onnx", "light_inception_v2.onnx"]


def image(seed, n):
    """The seeded image of tests/zoo.rs (`images(seed, 1, n)`): a 64-bit LCG in [-1, 1]."""
    state = seed
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out[i] = np.float32((state >> 40) / float(1 << 24)) * np.float32(2.0) - np.float32(1.0)
    return out


def main():
    if not os.path.exists(INCEPT):
        sys.exit(f"{INCEPT} missing: cargo build --release --bin incept")
    goldens = {"seed": SEED, "classes": CLASSES, "image_seed": IMAGE_SEED, "networks": []}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in NETS:
            path = os.path.join(tmp, name + ".onnx")
            subprocess.run(
                [INCEPT, "zoo", "export", name, "--seed", str(SEED), "--classes", str(CLASSES),
                 "--size", str(size), "-o", path],
                check=True,
            )
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            x = image(IMAGE_SEED, 3 * size * size).reshape(1, 3, size, size)
            (logits,) = sess.run(None, {sess.get_inputs()[0].name: x})
            goldens["networks"].append(
                {"name": name, "size": size, "logits": [float(v) for v in logits.ravel()]}
            )
            print(f"{name}: {np.array2string(logits.ravel(), precision=4)}")
            os.remove(path)
        goldens["onnx_zoo"] = []
        light_dir = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
        for name in LIGHT:
            path = os.path.join(tmp, name)
            subprocess.run(
                [INCEPT, "zoo", "materialize", os.path.join(light_dir, name), "--seed", str(SEED),
                 "-o", path],
                check=True,
            )
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            x = image(IMAGE_SEED, 3 * 224 * 224).reshape(1, 3, 224, 224)
            (probs,) = sess.run(None, {sess.get_inputs()[0].name: x})
            probs = probs.ravel()
            top = np.argsort(-probs)[:5]
            goldens["onnx_zoo"].append(
                {"file": name, "top5": [int(i) for i in top], "probs": [float(v) for v in probs]}
            )
            print(f"{name}: top-5 {top.tolist()} p {np.array2string(probs[top], precision=4)}")
            os.remove(path)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(goldens, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
