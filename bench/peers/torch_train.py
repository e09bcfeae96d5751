#!/usr/bin/python3
"""PyTorch side of the Fashion-MNIST training comparison (run by bench/train-vs-pytorch.sh).

Same models, batch, optimizer and data order rules as `kiln train`; prints one JSON object:
{"model", "epochs", "epoch_seconds": [...], "samples_per_second", "test_accuracy", "threads", "torch"}.
Usage: torch_train.py --model mlp|cnn --epochs 1 --batch 64 --lr 0.05 --threads 2
"""
import argparse, gzip, json, os, struct, sys, time

import numpy as np
import torch
import torch.nn as nn

DIR = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(train):
    p = "train" if train else "t10k"
    x = idx(os.path.join(DIR, f"{p}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    x = (x - 0.2860) / 0.3530
    y = idx(os.path.join(DIR, f"{p}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    xtr, ytr = load(True)
    xte, yte = load(False)
    m = model(a.model)
    opt = torch.optim.SGD(m.parameters(), lr=a.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(a.epochs):
        m.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr) - a.batch + 1, a.batch):
            idx_ = perm[i:i + a.batch]
            opt.zero_grad()
            loss = loss_fn(m(xtr[idx_]), ytr[idx_])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    m.eval()
    with torch.no_grad():
        correct = sum((m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(xte), 1000))
    print(json.dumps({"model": a.model, "epochs": a.epochs, "epoch_seconds": times,
                      "samples_per_second": (len(xtr) // a.batch * a.batch) / (sum(times) / len(times)),
                      "test_accuracy": correct / len(xte), "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    sys.exit(main())
