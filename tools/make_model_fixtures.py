#!/usr/bin/env python3
"""Exports small real models with PyTorch's torch.onnx.export: fixtures for Kiln's ONNX executor.

Run from the repository root with the system Python (torch 1.13, onnx 1.12, numpy):

    /usr/bin/python3 tools/make_model_fixtures.py            # committed fixtures -> src/test/resources/models/
    /usr/bin/python3 tools/make_model_fixtures.py --bench    # larger models -> target/bench-models/ (not committed)

Models (seeded random weights; eval mode; batch axis 0 is dynamic, named "batch"):
    mlp          Flatten, Linear(784,256), ReLU, Linear(256,128), ReLU, Linear(128,10); input [N,1,28,28]
    cnn          (Conv2d 3x3 p1, BatchNorm2d, ReLU, MaxPool2d 2) x2 with 8 and 16 channels, Flatten,
                 Linear(784,10); input [N,1,28,28]. BatchNorm has non-trivial running stats and affine.
    transformer  nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True);
                 input [N,16,64]
each exported at opsets 13 and 17 as <model>_op<opset>.onnx (graph input "input", output "output"),
plus <model>_input.npy (float32, batch 3, not the batch used for tracing, so a fixed batch size
would be caught) and <model>_expected.npy (PyTorch's output for that input, float32). The same
weights are used for both opsets, so one input/expected pair serves both.
--bench writes cnn_large (32/64 channels, Linear(3136,256), Linear(256,10)) and transformer_large
(d_model=256, nhead=8, dim_feedforward=1024, sequence length 128) the same way, into target/bench-models/.
MANIFEST.txt in the output folder lists every file with its shape and sha256 prefix.
Re-running reproduces the same weights and arrays (fixed seeds, deterministic CPU kernels).
"""
import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
FIXTURE_DIR = os.path.join(ROOT, "src", "test", "resources", "models")
BENCH_DIR = os.path.join(ROOT, "target", "bench-models")
OPSETS = (13, 17)
TRACE_BATCH = 2
FIXTURE_BATCH = 3


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def cnn(c1=8, c2=16, hidden=None):
    layers = [nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
    flat = c2 * 7 * 7
    layers += [nn.Linear(flat, 10)] if hidden is None else [nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, 10)]
    return nn.Sequential(*layers)


def transformer(d_model=64, nhead=4, ff=128):
    return nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead, dim_feedforward=ff, batch_first=True)


def randomize_norms(model):
    """BatchNorm running stats and all norm affine parameters away from their 0/1 defaults."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn_like(m.running_mean) * 0.5)
                m.running_var.copy_(torch.rand_like(m.running_var) + 0.5)
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
            if isinstance(m, nn.MultiheadAttention):
                m.in_proj_bias.copy_(0.1 * torch.randn_like(m.in_proj_bias))
                m.out_proj.bias.copy_(0.1 * torch.randn_like(m.out_proj.bias))


def export(model, name, sample_shape, out_dir, seed):
    """Writes <name>_op<opset>.onnx for each opset, <name>_input.npy and <name>_expected.npy."""
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1000)
    trace_input = torch.randn((TRACE_BATCH,) + sample_shape, generator=gen)
    x = torch.randn((FIXTURE_BATCH,) + sample_shape, generator=gen)
    files = []
    for opset in OPSETS:
        path = os.path.join(out_dir, f"{name}_op{opset}.onnx")
        # The grad-enabled trace keeps TransformerEncoderLayer off its fused fast path
        # (aten::_transformer_encoder_layer_fwd has no ONNX symbolic).
        # PRESERVE (with the model in eval mode) keeps BatchNormalization nodes: EVAL would fold
        # them into the preceding Conv, and the executor should see the op.
        torch.onnx.export(model, trace_input, path, opset_version=opset, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                          training=torch.onnx.TrainingMode.PRESERVE if has_batchnorm(model) else torch.onnx.TrainingMode.EVAL,
                          do_constant_folding=True)
        check(path, opset)
        files.append(path)
    with torch.no_grad():
        y = model(x)
    for suffix, arr in (("input", x), ("expected", y)):
        path = os.path.join(out_dir, f"{name}_{suffix}.npy")
        np.save(path, arr.detach().numpy().astype(np.float32))
        files.append(path)
    return files


def has_batchnorm(model):
    return any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def check(path, opset):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    version = {o.domain: o.version for o in m.opset_import}.get("", None)
    if version != opset:
        raise SystemExit(f"{path}: opset {version}, expected {opset}")
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"  {os.path.basename(path)}: ir {m.ir_version}, opset {version}, {len(m.graph.node)} nodes, ops {ops}")


def write_manifest(out_dir, files):
    lines = ["# file  shape(npy)  sha256[:16]   (written by tools/make_model_fixtures.py)"]
    for f in sorted(files):
        with open(f, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()[:16]
        shape = str(list(np.load(f).shape)).replace(" ", "") if f.endswith(".npy") else "-"
        lines.append(f"{os.path.basename(f)}  {shape}  {digest}")
    with open(os.path.join(out_dir, "MANIFEST.txt"), "w") as fh:
        fh.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true", help="write the larger benchmark models into target/bench-models/")
    ap.add_argument("--out", help="output folder (default: by mode)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out_dir = args.out or (BENCH_DIR if args.bench else FIXTURE_DIR)
    os.makedirs(out_dir, exist_ok=True)
    if args.bench:
        specs = [("cnn_large", lambda: cnn(32, 64, 256), (1, 28, 28)),
                 ("transformer_large", lambda: transformer(256, 8, 1024), (128, 256))]
    else:
        specs = [("mlp", mlp, (1, 28, 28)), ("cnn", cnn, (1, 28, 28)), ("transformer", transformer, (16, 64))]
    files = []
    for seed, (name, make, shape) in enumerate(specs):
        torch.manual_seed(seed)
        model = make()
        randomize_norms(model)
        print(f"{name}:")
        files += export(model, name, shape, out_dir, seed)
    write_manifest(out_dir, files)
    total = sum(os.path.getsize(f) for f in files)
    print(f"wrote {len(files)} files, {total / 1e6:.2f} MB, into {os.path.relpath(out_dir)}")


if __name__ == "__main__":
    sys.exit(main())
