#!/usr/bin/env python3
"""Makes Kiln's TorchScript fixtures (src/test/resources/torchscript/) with real PyTorch (1.13).

For each small model: NAME_script.pt (torch.jit.script) and NAME_trace.pt (torch.jit.trace), the
inputs NAME_in0.npy, NAME_in1.npy ... and the expected outputs NAME_out0.npy ... of the eager
model in eval mode. Tuple outputs are flattened in order; ints become int64 0-d arrays.
Everything is seeded, so re-running gives the same numbers (zip timestamps may differ).

usage: /usr/bin/python3 tools/make_torchscript_fixtures.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "src", "test", "resources", "torchscript")


class Branchy(nn.Module):
    """Control flow, a helper method, a ModuleList loop, chunk, slicing, a tuple with an int."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)
        self.layers = nn.ModuleList([nn.Linear(6, 6) for _ in range(2)])
        self.scale_by = 0.5

    def scale(self, x, k: int):
        for _ in range(k):
            x = x * self.scale_by
        return x

    def forward(self, x, flag: bool = True):
        if flag and x.sum() > 0:
            x = self.fc(x)
        elif x.dim() == 2:
            x = -x
        else:
            x = x + 1
        for layer in self.layers:
            x = torch.tanh(layer(x))
        n = 0
        while n < 3:
            n += 1
        y, z = x.chunk(2, dim=1)
        out = self.scale(y, n) + z[:, 0:1] * 2.0
        return out, x.size(0)


class OpsMix(nn.Module):
    """Embedding, layer norm, gelu, softmax/log_softmax, cat, split, permute, addmm, sigmoid."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.norm = nn.LayerNorm(8)
        self.proj = nn.Linear(8, 8, bias=False)
        self.w = nn.Parameter(torch.randn(8, 4))
        self.b = nn.Parameter(torch.randn(4))

    def forward(self, ids, x):
        e = self.norm(self.emb(ids))                        # (B, T, 8)
        h = F.gelu(self.proj(e)) + F.gelu(e, approximate="tanh")
        a, b = torch.split(h, [3, 5], dim=-1)
        c = torch.cat([b, a], dim=2).permute(0, 2, 1).contiguous()   # (B, 8, T)
        p = torch.softmax(c, dim=-1) + torch.log_softmax(c, -1).transpose(1, 2).mean()
        m = torch.addmm(self.b, x, self.w)                 # (B, 4)
        s = torch.sigmoid(m).unsqueeze(1).squeeze(1) - torch.sub(m, 1.0, alpha=2)
        v = h.reshape(h.size(0), -1).view(-1, 8).sum(dim=0, keepdim=True)
        return p, s / 3, v


class TfMasked(nn.Module):
    """A transformer layer with an attention mask: PyTorch's slow (non-fused) path."""

    def __init__(self):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True,
                                                activation="gelu")

    def forward(self, x, mask):
        return self.layer(x, src_mask=mask)


class Attn(nn.Module):
    """nn.MultiheadAttention with a key padding mask, returning the averaged attention weights."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x, pad):
        out, w = self.mha(x, x, x, key_padding_mask=pad)
        return out, w


class Conv1dNet(nn.Module):
    """Conv1d, GroupNorm, LeakyReLU, Hardtanh, mean over time, clamp."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 8, 3, padding=1, stride=2)
        self.norm = nn.GroupNorm(2, 8)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x):
        h = nn.functional.hardtanh(self.act(self.norm(self.conv(x))), -0.5, 0.5)
        return torch.clamp(h.mean(dim=-1), min=-0.1), h.max(dim=2)[0], h.argmax(dim=2)


def cnn():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), nn.ReLU(), nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3), nn.Softmax(dim=1))


def models():
    """(name, module, inputs) for every fixture."""
    g = torch.Generator().manual_seed(1)
    mask = torch.triu(torch.full((5, 5), float("-inf")), 1)
    return [
        ("mlp", nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)),
         (torch.randn(4, 5, generator=g),)),
        ("cnn", cnn(), (torch.randn(2, 2, 8, 8, generator=g),)),
        ("branchy", Branchy(), (torch.randn(3, 6, generator=g).abs(),)),
        ("opsmix", OpsMix(), (torch.randint(0, 10, (2, 5), generator=g), torch.randn(2, 8, generator=g))),
        ("tf", nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True),
         (torch.randn(2, 5, 16, generator=g),)),
        ("attn", Attn(), (torch.randn(2, 5, 16, generator=g),
                          torch.tensor([[False] * 5, [False, False, False, True, True]]))),
        ("encoder", nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True, norm_first=True,
                                                                     activation="gelu"), 2, enable_nested_tensor=False),
         (torch.randn(2, 5, 16, generator=g),)),
        ("conv1d", Conv1dNet(), (torch.randn(2, 3, 9, generator=g),)),
        ("tfmask", TfMasked(), (torch.randn(2, 5, 16, generator=g), mask)),
    ]


def randomize_bn(m):
    """Non-trivial running statistics so batch norm really normalizes."""
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)


def flat_outputs(out):
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in flat_outputs(x)]
    if isinstance(out, torch.Tensor):
        return [out.detach().numpy()]
    if isinstance(out, bool):
        return [np.array(out)]
    if isinstance(out, int):
        return [np.array(out, dtype=np.int64)]
    return [np.array(out, dtype=np.float64)]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    for name, model, inputs in models():
        randomize_bn(model)
        model.eval()
        torch.jit.script(model).save(os.path.join(out_dir, f"{name}_script.pt"))
        torch.jit.trace(model, inputs, check_trace=False).save(os.path.join(out_dir, f"{name}_trace.pt"))
        for i, x in enumerate(inputs):
            np.save(os.path.join(out_dir, f"{name}_in{i}.npy"), x.numpy())
        for i, y in enumerate(flat_outputs(model(*inputs))):
            np.save(os.path.join(out_dir, f"{name}_out{i}.npy"), y)
    total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"wrote {len(os.listdir(out_dir))} files, {total} bytes, to {out_dir}")


if __name__ == "__main__":
    main()
