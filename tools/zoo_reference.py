#!/usr/bin/env python3
"""Reference parameter and MAC counts of the ONNX model-zoo GoogLeNet and BN-Inception.

The `onnx` wheel ships the model zoo's topologies as `light_inception_v1.onnx` (BVLC GoogLeNet,
caffe) and `light_inception_v2.onnx` (BN-Inception, caffe2) with their weights replaced by
ConstantOfShape. This script counts, independently of the Rust zoo builders:

- params: every weight tensor's size, except batch-norm running statistics and the caffe2
  translation's constant `bn_scale`/`bn_bias` (1 and 0; the trainable scale and shift are the
  `bn/sc_w`, `bn/sc_b` tensors), i.e. the same convention as torchvision and timm
  (trainable parameters);
- MACs: multiply-accumulates of Conv and Gemm nodes at the model's input size (224x224),
  from ONNX shape inference; for GoogLeNet also with caffe's ceil-mode pooling restored (the
  BVLC model's 56/28/14/7 grids, which the zoo builder follows).

The numbers are the expected values in `compiler/tests/zoo.rs`. Usage:
    python3 tools/zoo_reference.py
"""
import os

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def light(name):
    return os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/light", name)


def counts(path, caffe_ceil=False):
    model = onnx.load(path)
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    sizes = {}
    # Weights materialized by ConstantOfShape from a shape initializer.
    for n in g.node:
        if n.op_type == "ConstantOfShape":
            sizes[n.output[0]] = int(np.prod(inits[n.input[0]]))
    # Weights stored as initializers (not the shapes above, not Reshape's constant shapes).
    for k, v in inits.items():
        if not k.endswith("__SHAPE") and "DUMMY" not in k:
            sizes[k] = int(v.size)
    skip = ("_mean_0", "_var_0", "bn_scale_0", "bn_bias_0")
    params = sum(v for k, v in sizes.items() if not k.endswith(skip))

    # Shapes: replace ConstantOfShape by real initializers so inference sees the weights.
    shapes = {}
    if caffe_ceil:
        # The caffe2 -> ONNX translation of GoogLeNet dropped caffe's ceil-mode pooling (its
        # grids are 55/27/13/6 instead of BVLC's 56/28/14/7, and the final 7x7 average pool
        # pads a 6x6 grid). Restore caffe's rule the way the BN-Inception file expresses it:
        # one extra padding row/column at the end of each stride-2 max pool.
        for n in model.graph.node:
            attrs = {a.name: a for a in n.attribute}
            if n.op_type == "MaxPool" and list(attrs["strides"].ints) == [2, 2]:
                attrs["pads"].ints[:] = [0, 0, 1, 1]
            if n.op_type == "AveragePool" and list(attrs["kernel_shape"].ints) == [7, 7]:
                attrs["pads"].ints[:] = [0, 0, 0, 0]
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for n in g.node:
        if n.op_type == "ConstantOfShape":
            shapes[n.output[0]] = [int(x) for x in inits[n.input[0]]]
    macs = 0
    for n in g.node:
        if n.op_type == "Conv":
            w = shapes[n.input[1]]
            out = shapes[n.output[0]]
            assert len(out) == 4 and all(out), (n.name, out)
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            w = shapes[n.input[1]]
            macs += int(np.prod(w))
    return params, macs


def main():
    for name, ceil in (
        ("light_inception_v1.onnx", False),
        ("light_inception_v1.onnx", True),
        ("light_inception_v2.onnx", False),
    ):
        params, macs = counts(light(name), ceil)
        grids = " (caffe ceil-mode pooling restored)" if ceil else ""
        print(f"{name}{grids}: params {params:,}  MACs {macs:,}")


if __name__ == "__main__":
    main()
