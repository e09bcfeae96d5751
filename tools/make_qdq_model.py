#!/usr/bin/env python3
"""Writes a QDQ-quantized copy of a float CNN ONNX file, in the format ONNX Runtime's
quantize_static writes by default (QuantizeLinear -> DequantizeLinear around each Conv/Gemm input,
per-channel symmetric int8 weights and int32 biases behind DequantizeLinear), for Kiln's QDQ
benchmarks and tests.

Activation scales are calibrated on one input: the float model is run once by Kiln (`./kiln run`)
with every Conv/Gemm input added as a graph output; a tensor that is never negative gets uint8
codes (zero point 0, scale max / 255), others int8 (zero point 0, scale max|x| / 127).

Usage: /usr/bin/python3 tools/make_qdq_model.py MODEL.onnx INPUT.npy OUT.onnx
Needs python3-onnx and numpy (Debian), and a built ./kiln.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def npy_name(name):
    """The file `kiln run` writes for an output (RunCommand.fileName)."""
    s = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return ("_" + s if not s or s.startswith(".") else s) + ".npy"


def calibrate(model, input_npy, kiln):
    """{tensor name: (min, max)} of every Conv/Gemm data input, from one run of the float model."""
    names = []
    for n in model.graph.node:
        if n.op_type in ("Conv", "Gemm") and n.input[0] not in names:
            names.append(n.input[0])
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            m.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "calib.onnx")
        onnx.save(m, path)
        out = os.path.join(d, "out")
        subprocess.run([kiln, "run", path, "--input", input_npy, "--output-dir", out], check=True,
                       stdout=subprocess.DEVNULL)
        ranges = {}
        for name in names:
            f = os.path.join(out, npy_name(name))
            if not os.path.exists(f):
                raise SystemExit("make_qdq_model: no calibration output for " + name + " in " + out)
            a = np.load(f)
            ranges[name] = (float(a.min()), float(a.max()))
        return ranges


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    src, input_npy, dst = sys.argv[1:]
    kiln = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kiln")
    model = onnx.load(src)
    ranges = calibrate(model, input_npy, kiln)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    new_inits, new_nodes, done = [], [], {}

    def qdq_activation(name):
        if name in done:
            return done[name]
        lo, hi = ranges[name]
        if lo >= 0:
            scale, zp, zt = max(hi, 1e-8) / 255.0, np.array(0, dtype=np.uint8), TensorProto.UINT8
        else:
            scale, zp, zt = max(abs(lo), abs(hi), 1e-8) / 127.0, np.array(0, dtype=np.int8), TensorProto.INT8
        s, z = name + "_scale", name + "_zp"
        new_inits.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), s))
        new_inits.append(numpy_helper.from_array(zp, z))
        q, dq = name + "_quantized", name + "_dequantized"
        new_nodes.append(helper.make_node("QuantizeLinear", [name, s, z], [q], name=name + "_QuantizeLinear"))
        new_nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=name + "_DequantizeLinear"))
        done[name] = (dq, scale)
        return done[name]

    def qdq_weight(name, axis):
        w = numpy_helper.to_array(inits[name]).astype(np.float32)
        red = tuple(i for i in range(w.ndim) if i != axis)
        scale = np.maximum(np.abs(w).max(axis=red), 1e-12) / 127.0
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(np.int8)
        qn, sn, zn, dq = name + "_quantized", name + "_scale", name + "_zp", name + "_dequantized"
        new_inits.append(numpy_helper.from_array(q, qn))
        new_inits.append(numpy_helper.from_array(scale.astype(np.float32), sn))
        new_inits.append(numpy_helper.from_array(np.zeros(scale.shape, dtype=np.int8), zn))
        new_nodes.append(helper.make_node("DequantizeLinear", [qn, sn, zn], [dq], name=name + "_DequantizeLinear", axis=axis))
        return dq, scale

    def qdq_bias(name, scale):
        b = numpy_helper.to_array(inits[name]).astype(np.float64)
        q = np.rint(b / scale).astype(np.int32)
        qn, sn, dq = name + "_quantized", name + "_scale", name + "_dequantized"
        new_inits.append(numpy_helper.from_array(q, qn))
        new_inits.append(numpy_helper.from_array(scale.astype(np.float32), sn))
        new_nodes.append(helper.make_node("DequantizeLinear", [qn, sn], [dq], name=name + "_DequantizeLinear", axis=0))
        return dq

    replaced = set()
    for n in g.node:
        if n.op_type in ("Conv", "Gemm") and n.input[1] in inits:
            x, xs = qdq_activation(n.input[0])
            trans_b = any(a.name == "transB" and a.i == 1 for a in n.attribute)
            axis = 0 if n.op_type == "Conv" or trans_b else 1
            w, ws = qdq_weight(n.input[1], axis)
            ins = [x, w]
            if len(n.input) > 2 and n.input[2] in inits:
                ins.append(qdq_bias(n.input[2], xs * ws))
                replaced.add(n.input[2])
            replaced.add(n.input[1])
            node = helper.make_node(n.op_type, ins, list(n.output), name=n.name)
            node.attribute.extend(n.attribute)
            new_nodes.append(node)
        else:
            new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    keep = [i for i in g.initializer if i.name not in replaced]
    del g.initializer[:]
    g.initializer.extend(keep + new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    print("make_qdq_model: %s (%d nodes, %d activation Q/DQ pairs)" % (dst, len(g.node), len(done)))


if __name__ == "__main__":
    main()
