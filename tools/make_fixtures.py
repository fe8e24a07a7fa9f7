#!/usr/bin/env python3
"""Small ONNX models with inputs an image classifier must refuse, for the error-path tests.

Usage (from the repository root): python3 tools/make_fixtures.py
Writes tests/data/models/{rank2-input,five-channel-input,batch4-input,sigmoid-head,residual}.onnx
(deterministic).
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = "tests/data/models"


def save(name, graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="inception-edge tools/make_fixtures.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(model.SerializeToString())


def conv_model(name, shape):
    c = shape[1]
    w = numpy_helper.from_array(np.full((4, c, 1, 1), 0.1, np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1])], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], 4, 8, 8])], [w])
    save(name + ".onnx", g)


def main():
    os.makedirs(OUT, exist_ok=True)
    w = numpy_helper.from_array(np.full((8, 4), 0.5, np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "rank2-input",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    save("rank2-input.onnx", g)
    conv_model("five-channel-input", [1, 5, 8, 8])
    conv_model("batch4-input", [4, 3, 8, 8])
    # an image model whose last op has no int8 lowering (the compiler must name it)
    w = numpy_helper.from_array(np.full((4, 1, 3, 3), 0.1, np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Sigmoid", ["c"], ["y"], name="gate")], "sigmoid-head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 28, 28])], [w])
    save("sigmoid-head.onnx", g)
    residual()


def residual():
    """An Inception-ResNet-style block with seeded weights: two branches, a concatenation, a
    1x1 convolution scaled by 0.2 and added to the block input, a ReLU, a classifier head."""
    rng = np.random.default_rng(0)

    def conv_w(name, o, i, k):
        w = rng.normal(0, np.sqrt(2.0 / (i * k * k)), (o, i, k, k)).astype(np.float32)
        b = rng.normal(0, 0.1, (o,)).astype(np.float32)
        return [numpy_helper.from_array(w, name + ".w"), numpy_helper.from_array(b, name + ".b")]

    inits = conv_w("stem", 8, 3, 3) + conv_w("b1", 8, 8, 1) + conv_w("b2", 4, 8, 3) + \
        conv_w("up", 8, 12, 1)
    inits.append(numpy_helper.from_array(np.array(0.2, np.float32), "scale"))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.3, (5, 8)).astype(np.float32), "fc.w"))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.1, (5,)).astype(np.float32), "fc.b"))

    def conv(name, x, k, relu=True):
        pads = [k // 2] * 4
        nodes = [helper.make_node("Conv", [x, name + ".w", name + ".b"], [name], name=name,
                                  kernel_shape=[k, k], pads=pads)]
        if relu:
            nodes.append(helper.make_node("Relu", [name], [name + ".relu"], name=name + ".relu"))
        return nodes

    nodes = conv("stem", "input", 3) + conv("b1", "stem.relu", 1) + conv("b2", "stem.relu", 3)
    nodes.append(helper.make_node("Concat", ["b1.relu", "b2.relu"], ["cat"], name="cat", axis=1))
    nodes += conv("up", "cat", 1, relu=False)
    nodes += [
        helper.make_node("Mul", ["up", "scale"], ["scaled"], name="scaled"),
        helper.make_node("Add", ["stem.relu", "scaled"], ["sum"], name="residual"),
        helper.make_node("Relu", ["sum"], ["block"], name="block"),
        helper.make_node("GlobalAveragePool", ["block"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "residual",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])], inits)
    save("residual.onnx", g)


if __name__ == "__main__":
    main()
