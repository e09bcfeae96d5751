#!/usr/bin/env python3
"""PyTorch's side of `kiln bench MODEL.pt`: the same latency figures for a TorchScript file run by
PyTorch itself (Debian's python3-torch 1.13), to put beside Kiln's in a table (a separate process:
run the two back to back on an idle machine).

Inputs as in kiln bench: --input FILE.npy (in forward's order) or --shape 1x128[:i64]; generated
int inputs are token ids in [0, --max-id) (masks: ones), floats N(0, 1).

usage: /usr/bin/python3 tools/bench_torch.py MODEL.pt [--input F.npy ...] [--shape 1x128:i64 ...]
         [--max-id N] [--threads 2] [--warmup 10] [--iters 30]
"""
import argparse
import statistics
import time

import numpy as np
import torch

DTYPES = {"f32": torch.float32, "f64": torch.float64, "i64": torch.int64, "i32": torch.int32, "bool": torch.bool}


def make_input(spec, max_id, gen):
    dims, _, kind = spec.partition(":")
    shape = [int(d) for d in dims.split("x")] if dims else []
    dtype = DTYPES[kind or "f32"]
    if dtype.is_floating_point:
        return torch.randn(shape, generator=gen, dtype=dtype)
    if max_id is None:
        raise SystemExit(f"--shape {spec}: integer inputs need --max-id")
    return torch.randint(0, max_id, shape, generator=gen, dtype=dtype)


def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, max(0, int(-(-p * len(sorted_ms) // 100)) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--shape", action="append", default=[])
    ap.add_argument("--max-id", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(0)
    inputs = [torch.from_numpy(np.load(f)) for f in a.input] + [make_input(s, a.max_id, gen) for s in a.shape]
    t0 = time.perf_counter()
    m = torch.jit.load(a.model).eval()
    load_ms = (time.perf_counter() - t0) * 1e3
    times = []
    with torch.no_grad():
        for _ in range(a.warmup + a.iters):
            s = time.perf_counter()
            m(*inputs)
            times.append((time.perf_counter() - s) * 1e3)
    timed = sorted(times[a.warmup:])
    print(f"{a.model} (PyTorch {torch.__version__} TorchScript), inputs: "
          + ", ".join(f"{str(x.dtype).replace('torch.', '')} {'x'.join(map(str, x.shape))}" for x in inputs))
    print(f"threads {a.threads}, warm-up {a.warmup} calls, {a.iters} timed calls")
    print(f"{'engine':22s} {'load ms':>10s} {'first ms':>10s} {'first10 ms':>10s} {'p50 ms':>10s} {'p90 ms':>10s} {'p99 ms':>10s}")
    print(f"{'pytorch':22s} {load_ms:10.1f} {times[0]:10.2f} {statistics.mean(times[:10]):10.2f} "
          f"{pct(timed, 50):10.2f} {pct(timed, 90):10.2f} {pct(timed, 99):10.2f}")


if __name__ == "__main__":
    main()
