#!/usr/bin/env python3
"""Single-op ONNX models (opset 17, random weights, dim 0 symbolic) for timing Kiln's kernels
against ONNX Runtime's own (MLAS) one op at a time, with dev.kiln.bench.onnx.OnnxInferenceBench
(bench/README.md, "Per-op against ONNX Runtime"). Shapes are those of BERT-base / GPT-2 small and
ResNet-50. Written with the onnx package only (Debian python3-onnx); nothing is committed.

usage: /usr/bin/python3 tools/make_op_models.py [OUT_DIR]     (default target/op-models)
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
rng = np.random.default_rng(0)


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def save(out, name, nodes, in_shape, out_shape, inits):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + list(in_shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"] + list(out_shape))
    g = helper.make_graph(nodes, name, [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="kiln tools/make_op_models.py")
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, name + ".onnx"))
    print("wrote", name)


def matmul(out, k, n):
    w = rng.uniform(-0.05, 0.05, (k, n))
    save(out, f"matmul_{k}x{n}", [helper.make_node("MatMul", ["x", "w"], ["y"])], [k], [n], [const("w", w)])


def conv(out, name, c, h, o, kernel, stride):
    pad = kernel // 2
    w = rng.uniform(-0.05, 0.05, (o, c, kernel, kernel))
    b = rng.uniform(-0.05, 0.05, (o,))
    oh = (h + 2 * pad - kernel) // stride + 1
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[kernel, kernel], strides=[stride, stride],
                            pads=[pad] * 4)
    save(out, name, [node], [c, h, h], [o, oh, oh], [const("w", w), const("b", b)])


def softmax(out):
    save(out, "softmax_12x128x128", [helper.make_node("Softmax", ["x"], ["y"], axis=-1)], [12, 128, 128], [12, 128, 128], [])


def layernorm(out):
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-12)
    save(out, "layernorm_128x768", [node], [128, 768], [128, 768],
         [const("g", rng.uniform(0.5, 1.5, (768,))), const("b", rng.uniform(-0.1, 0.1, (768,)))])


def gelu(out):
    # the erf GELU as Hugging Face BERT exports it: x * 0.5 * (1 + erf(x / sqrt 2))
    nodes = [helper.make_node("Div", ["x", "s2"], ["t0"]), helper.make_node("Erf", ["t0"], ["t1"]),
             helper.make_node("Add", ["t1", "one"], ["t2"]), helper.make_node("Mul", ["x", "t2"], ["t3"]),
             helper.make_node("Mul", ["t3", "half"], ["y"])]
    save(out, "gelu_erf_128x3072", nodes, [128, 3072], [128, 3072],
         [const("s2", 1.4142135381698608), const("one", 1.0), const("half", 0.5)])


def attention(out):
    # HF-style self-attention core on [N, 128, 768] with 12 heads: Q = K = V = x (the projections are
    # the matmul rows), reshape/transpose, QK^T / 8, softmax, x V, transpose/reshape back
    shape = numpy_helper.from_array(np.array([0, 128, 12, 64], dtype=np.int64), "heads")
    back = numpy_helper.from_array(np.array([0, 128, 768], dtype=np.int64), "merged")
    nodes = [helper.make_node("Reshape", ["x", "heads"], ["h"]),
             helper.make_node("Transpose", ["h"], ["q"], perm=[0, 2, 1, 3]),
             helper.make_node("Transpose", ["h"], ["kt"], perm=[0, 2, 3, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]),
             helper.make_node("Div", ["s", "scale"], ["ss"]),
             helper.make_node("Softmax", ["ss"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "q"], ["c"]),
             helper.make_node("Transpose", ["c"], ["ct"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["ct", "merged"], ["y"])]
    save(out, "attention_128x768_h12", nodes, [128, 768], [128, 768], [shape, back, const("scale", 8.0)])


def matmul_int8_dynamic(out, k, n):
    # the pattern ONNX Runtime's quantize_dynamic writes for a MatMul: int8 symmetric weights
    w = rng.uniform(-0.05, 0.05, (k, n))
    ws = float(np.abs(w).max() / 127)
    wq = np.clip(np.rint(w / ws), -127, 127).astype(np.int8)
    inits = [numpy_helper.from_array(wq, "wq"), numpy_helper.from_array(np.array(0, dtype=np.int8), "wz"),
             const("ws", ws)]
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"]),
             helper.make_node("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["xs", "ws"], ["s"]),
             helper.make_node("Mul", ["accf", "s"], ["y"])]
    save(out, f"matmul_int8dyn_{k}x{n}", nodes, [k], [n], inits)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/op-models"
    os.makedirs(out, exist_ok=True)
    for k, n in [(768, 768), (768, 3072), (3072, 768), (4096, 4096)]:
        matmul(out, k, n)
    for k, n in [(768, 768), (768, 3072), (3072, 768)]:
        matmul_int8_dynamic(out, k, n)
    conv(out, "conv1_7x7s2_3to64_224", 3, 224, 64, 7, 2)
    conv(out, "conv_1x1_256to64_56", 256, 56, 64, 1, 1)
    conv(out, "conv_3x3_64to64_56", 64, 56, 64, 3, 1)
    conv(out, "conv_3x3s2_128to128_56", 128, 56, 128, 3, 2)
    conv(out, "conv_1x1_1024to256_14", 1024, 14, 256, 1, 1)
    conv(out, "conv_3x3_512to512_7", 512, 7, 512, 3, 1)
    conv(out, "conv_3x3_256to256_14", 256, 14, 256, 3, 1)      # ResNet-50's costliest conv at batch 1 (6 of them)
    conv(out, "conv_1x1_512to2048_7", 512, 7, 2048, 1, 1)
    softmax(out)
    layernorm(out)
    gelu(out)
    attention(out)


if __name__ == "__main__":
    main()
