#!/usr/bin/env python3
"""Small ONNX models with inputs an image classifier must refuse, for the error-path tests.

Usage (from the repository root): python3 tools/make_fixtures.py
Writes tests/data/models/{rank2-input,five-channel-input,batch4-input,sigmoid-head}.onnx
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


if __name__ == "__main__":
    main()
