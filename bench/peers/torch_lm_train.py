#!/usr/bin/python3
"""PyTorch side of issue #21's language model (dev.kiln.bench.train.LmTrainBench): vocab 8192, d_model 512,
8 heads, 6 pre-norm GELU nn.TransformerEncoderLayers (FFN 2048), learned positions, causal mask, final
LayerNorm and Linear head, batch 8 x 128, AdamW lr 1e-4, the same batch every step.

--weights DIR: the initial weights and token ids that `LmTrainBench --export DIR` wrote (.npy, PyTorch's
names), so both engines start from the same weights; without it, PyTorch's own init and random ids.
Prints one line per step (loss, seconds) and a JSON summary: median step after the first three, peak RSS.

Usage: torch_lm_train.py [--steps 10] [--dropout 0.1] [--threads 2] [--weights DIR]
"""
import argparse, json, os, resource, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Lm(nn.Module):
    def __init__(self, vocab=8192, d=512, heads=8, layers=6, ffn=2048, ctx=128, dropout=0.1):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(d, heads, ffn, dropout, activation="gelu", layer_norm_eps=1e-5,
                                                                batch_first=True, norm_first=True) for _ in range(layers)])
        self.lnf = nn.LayerNorm(d, eps=1e-5)
        self.head = nn.Linear(d, vocab)
        self.register_buffer("mask", torch.triu(torch.full((ctx, ctx), float("-inf")), diagonal=1), persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        h = self.tok(ids) + self.pos(torch.arange(t).unsqueeze(0))
        for b in self.blocks:
            h = b(h, src_mask=self.mask[:t, :t])
        return self.head(self.lnf(h))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--weights")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Lm(dropout=a.dropout)
    if a.weights:
        state = {k: torch.from_numpy(np.load(os.path.join(a.weights, k + ".npy"))) for k in model.state_dict()}
        model.load_state_dict(state)
        x = torch.from_numpy(np.load(os.path.join(a.weights, "ids.npy")))
        y = torch.from_numpy(np.load(os.path.join(a.weights, "targets.npy")))
    else:
        g = torch.Generator().manual_seed(7)
        x = torch.randint(0, 8192, (8, 128), generator=g)
        y = torch.randint(0, 8192, (8 * 128,), generator=g)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for s in range(a.steps):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x).reshape(-1, 8192), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        print("step %d loss %.6f  %.0f ms" % (s, loss.item(), times[-1] * 1e3), flush=True)
    warm = sorted(times[3:] if len(times) > 4 else times)
    print(json.dumps({"threads": a.threads, "steps": a.steps, "dropout": a.dropout, "median_step_s": round(warm[len(warm) // 2], 4),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
