#!/usr/bin/env python3
"""Peer for `kiln bench allreduce`: torch.distributed all-reduce (SUM, float32) with the gloo
backend between 2 processes on loopback, the same sizes and method as Kiln's bench (warm-up,
then barrier + all-reduce repeats timed on rank 0, median; repeats = 64 MB / size clamped to
[5, 200]). Prints one line per size and writes JSON with --json.

    /usr/bin/python3 bench/peers/allreduce_gloo.py [--nproc 2] [--max-bytes 268435456] [--json FILE]
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def sizes(lo, hi, factor):
    s = lo
    while s <= hi:
        yield s
        s *= factor


def worker(rank, n, args, port, queue):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=n)
    rows = []
    for size in sizes(args.min_bytes, args.max_bytes, args.factor):
        t = torch.ones(size // 4, dtype=torch.float32)
        reps = max(5, min(200, (64 << 20) // size))
        for _ in range(2):
            dist.all_reduce(t)
        times = []
        for _ in range(reps):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - t0)
        if rank == 0:
            med = statistics.median(times)
            algbw = size / med / 1e9
            rows.append({"bytes": size, "median_us": med * 1e6, "algbw_gbs": algbw,
                         "busbw_gbs": algbw * 2 * (n - 1) / n})
            print(f"{size:>12} B  {med * 1e6:10.1f} us  algbw {algbw:7.3f}  busbw {rows[-1]['busbw_gbs']:7.3f} GB/s", flush=True)
    if rank == 0:
        queue.put(rows)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--min-bytes", type=int, default=1024)
    p.add_argument("--max-bytes", type=int, default=256 << 20)
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--port", type=int, default=29611)
    p.add_argument("--json")
    args = p.parse_args()
    print(f"torch {torch.__version__} gloo all-reduce, {args.nproc} processes on loopback")
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.spawn(worker, args=(args.nproc, args, args.port, queue), nprocs=args.nproc, join=True)
    rows = queue.get()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peer": f"torch {torch.__version__} gloo", "nproc": args.nproc, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
