#!/usr/bin/env python3
"""Pre-quantized ONNX fixtures for inception-edge's importer: onnxruntime 1.32 quantizes the
mini model (models/mini-inception-fmnist) twice with the committed calibration images —
QDQ format (all ops), QOperator format with only Conv quantized, and QOperator with every
operator quantized (which the importer refuses) — and records its own
int8 logits on the fixture images.

    python3 tools/ort_prequantized.py

Writes tests/data/int8/mini-ort-{qdq,qop-conv,qop-all}.onnx and mini-ort-reference.json.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
from ort_int8 import Reader, idx  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/mini-inception-fmnist/mini-inception-fmnist.onnx")
OUT = os.path.join(ROOT, "tests/data/int8")
CALIB = os.path.join(ROOT, "tests/data/fmnist-v3/calib-200-images-idx3-ubyte.gz")


def to_input(grey):
    """28x28 uint8 -> [1, 1, 28, 28] float32, Inception normalization (as core does it)."""
    x = grey.astype(np.float32) * np.float32(1.0 / 128.0) + np.float32(-1.0)
    return x[None, None]


def main():
    calib = idx(CALIB)
    names = {"qdq": (QuantFormat.QDQ, None), "qop-conv": (QuantFormat.QOperator, ["Conv"]),
             # every operator in QOperator form (QLinearConcat...): what the importer refuses
             "qop-all": (QuantFormat.QOperator, None)}
    for name, (fmt, ops) in names.items():
        path = os.path.join(OUT, f"mini-ort-{name}.onnx")
        quantize_static(MODEL, path, Reader(calib, to_input), quant_format=fmt, op_types_to_quantize=ops,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        m = onnx.load(path)
        del m.graph.value_info[:]
        m.producer_name = f"onnxruntime {ort.__version__} quantize_static ({name}) via tools/ort_prequantized.py"
        onnx.save(m, path)
        print(path, os.path.getsize(path), "bytes")
    fixtures = sorted(f for f in os.listdir(os.path.join(ROOT, "tests/data/fmnist")) if f.endswith(".png"))
    ref = {"images": []}
    sessions = {n: ort.InferenceSession(os.path.join(OUT, f"mini-ort-{n}.onnx"),
                                        providers=["CPUExecutionProvider"]) for n in names}
    fp32 = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    for f in fixtures:
        grey = np.asarray(Image.open(os.path.join(ROOT, "tests/data/fmnist", f)).convert("L"))
        x = to_input(grey)
        entry = {"file": f, "fp32": fp32.run(None, {"input": x})[0][0].tolist()}
        for n, s in sessions.items():
            entry[n] = s.run(None, {"input": x})[0][0].tolist()
        ref["images"].append(entry)
    with open(os.path.join(OUT, "mini-ort-reference.json"), "w") as fh:
        json.dump(ref, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
