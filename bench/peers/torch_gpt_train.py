#!/usr/bin/python3
"""PyTorch side of the GPT training comparison (issues #21, #22): the architecture of Kiln's
`kiln train --model gpt` (GPT-2 blocks from nn.TransformerEncoderLayer, pre-norm, tanh-GELU,
4x feed-forward, causal mask, learned positions, final LayerNorm, head tied to the token
embedding; byte tokens, vocabulary 257), AdamW (betas 0.9/0.95), global-norm clipping at 1, on
random windows of the same text. Prints one JSON line per process group:
{"ranks", "threads", "steps", "median_step_s", "tokens_per_s", "peak_rss_mib", "loss_first", "loss_last", "torch"}.

Usage: torch_gpt_train.py --data FILE|DIR [--layers 6 --width 512 --heads 8 --context 128 --batch 8
       --steps 20 --threads 2] [--ddp 2] [--vocab 257]   (--ddp N: N gloo processes on this machine,
       --threads each; --vocab other than 257: random token ids, e.g. GPT-2 small's 50257, timing only)
"""
import argparse, json, os, resource, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_text(path):
    files = []
    if os.path.isdir(path):
        for root, _, names in os.walk(path):
            for n in sorted(names):
                p = os.path.join(root, n)
                if not os.path.islink(p):
                    files.append(p)
        files.sort()
    else:
        files = [path]
    out = bytearray()
    for p in files:
        b = open(p, "rb").read()
        if b"\0" in b:
            continue
        out += b
        if b and b[-1:] != b"\n":
            out += b"\n"
    return bytes(out[: int(round(len(out) * 0.9))])


class Gpt(nn.Module):
    def __init__(self, vocab, context, width, layers, heads, dropout):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.wpe = nn.Embedding(context, width)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([nn.TransformerEncoderLayer(width, heads, 4 * width, dropout,
                                                           activation=lambda x: F.gelu(x, approximate="tanh"),
                                                           layer_norm_eps=1e-5, batch_first=True, norm_first=True)
                                for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width, eps=1e-5)
        mask = torch.triu(torch.full((context, context), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(t).unsqueeze(0)))
        for layer in self.h:
            x = layer(x, src_mask=self.mask[:t, :t])
        return F.linear(self.ln_f(x), self.wte.weight)


def run(rank, world, a, text):
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if world > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29533")
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    model = Gpt(a.vocab, a.context, a.width, a.layers, a.heads, 0.1)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.0)
    g = torch.Generator().manual_seed(7 + rank)
    data = torch.frombuffer(bytearray(text), dtype=torch.uint8).long()
    times, losses = [], []
    for step in range(a.steps):
        if a.vocab == 257:
            at = torch.randint(0, len(text) - a.context - 1, (a.batch,), generator=g)
            x = torch.stack([data[i:i + a.context] for i in at.tolist()])
            y = torch.stack([data[i + 1:i + 1 + a.context] for i in at.tolist()])
        else:   # another vocabulary (e.g. GPT-2's 50257): random ids, for speed and memory only
            x = torch.randint(0, a.vocab, (a.batch, a.context), generator=g)
            y = torch.randint(0, a.vocab, (a.batch, a.context), generator=g)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x).reshape(-1, a.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        losses.append(loss.item())
    warm = times[3:] if len(times) > 4 else times
    med = sorted(warm)[len(warm) // 2]
    if rank == 0:
        print(json.dumps({"ranks": world, "threads": a.threads, "steps": a.steps, "median_step_s": round(med, 4),
                          "tokens_per_s": round(world * a.batch * a.context / med, 1),
                          "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                          "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4), "torch": torch.__version__}), flush=True)
    if world > 1:
        torch.distributed.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ddp", type=int, default=1)
    p.add_argument("--vocab", type=int, default=257)
    a = p.parse_args()
    text = read_text(a.data)
    if a.ddp > 1:
        torch.multiprocessing.spawn(run, args=(a.ddp, a, text), nprocs=a.ddp, join=True)
    else:
        run(0, 1, a, text)


if __name__ == "__main__":
    main()
