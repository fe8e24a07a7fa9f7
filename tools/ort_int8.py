#!/usr/bin/env python3
"""onnxruntime's int8 quantization of the Inception-v3 Fashion-MNIST classifier, as a
reference for inception-edge's own compiler: same model, same calibration images, same
1,000 test fixtures, same preprocessing (tools/preprocess.py is bit-exact with core).

    python3 tools/ort_int8.py [--calib N] [--test N] [--method MinMax|Entropy|Percentile]
           [--bench] [--out DIR]

Prints fp32 and QDQ int8 (u8 activations, per-channel s8 weights) top-1 and agreement;
with --bench also single-thread latency of fp32 and int8 on one input.
"""
import argparse
import gzip
import os
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)

sys.path.insert(0, os.path.dirname(__file__))
from train_v3_head import grey_to_input  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests/data/fmnist-v3")
MODEL = os.path.join(ROOT, "models/inception-v3-fmnist/inception-v3-fmnist.onnx")


def idx(path):
    raw = gzip.open(path).read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


class Reader(CalibrationDataReader):
    """Feeds images one by one as the model input, turned into tensors by `to_input`."""

    def __init__(self, images, to_input=lambda img: grey_to_input(img[None])):
        self.images = list(images)
        self.to_input = to_input

    def get_next(self):
        if not self.images:
            return None
        return {"input": self.to_input(self.images.pop(0))}


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def logits(sess, images):
    return np.concatenate([sess.run(None, {"input": grey_to_input(images[i:i + 8])})[0]
                           for i in range(0, len(images), 8)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calib", type=int, default=200)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--method", default="MinMax")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    calib = idx(os.path.join(DATA, "calib-200-images-idx3-ubyte.gz"))[:args.calib]
    test = idx(os.path.join(DATA, "test-1000-images-idx3-ubyte.gz"))[:args.test]
    labels = idx(os.path.join(DATA, "test-1000-labels-idx1-ubyte.gz"))[:args.test]
    out = args.out or tempfile.mkdtemp()
    qpath = os.path.join(out, f"v3-int8-{args.method.lower()}.onnx")
    t = time.time()
    quantize_static(MODEL, qpath, Reader(calib), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=getattr(CalibrationMethod, args.method))
    # tract cannot unify the symbolic batch of onnxruntime's value_info with batch 1
    import onnx
    m = onnx.load(qpath)
    del m.graph.value_info[:]
    onnx.save(m, qpath)
    print(f"quantized ({args.method}, {len(calib)} images) in {time.time() - t:.0f} s -> {qpath}")
    if args.test == 0:
        test = test[:0]
    f = logits(session(MODEL), test) if len(test) else None
    if f is None:
        print("no test images: accuracy skipped")
    else:
        report(f, session, qpath, test, labels)
    if args.bench:
        bench(qpath, test if len(test) else idx(os.path.join(DATA, "test-1000-images-idx3-ubyte.gz")))


def report(f, session, qpath, test, labels):
    q = logits(session(qpath), test)
    cos = np.sum(f * q, 1) / (np.linalg.norm(f, axis=1) * np.linalg.norm(q, axis=1))
    print(f"fp32 top-1 {np.mean(f.argmax(1) == labels) * 100:.2f} %, "
          f"int8 top-1 {np.mean(q.argmax(1) == labels) * 100:.2f} %, "
          f"agreement {np.mean(f.argmax(1) == q.argmax(1)) * 100:.2f} %, "
          f"mean logit cosine {cos.mean():.5f} on {len(test)}")


def bench(qpath, test):
    if True:
        x = grey_to_input(test[:1])
        for name, path in (("fp32", MODEL), ("int8", qpath)):
            s = session(path)
            for _ in range(3):
                s.run(None, {"input": x})
            times = []
            for _ in range(10):
                t = time.perf_counter()
                s.run(None, {"input": x})
                times.append(time.perf_counter() - t)
            print(f"onnxruntime {name}: median {np.median(times) * 1e3:.1f} ms (1 thread)")


if __name__ == "__main__":
    main()
