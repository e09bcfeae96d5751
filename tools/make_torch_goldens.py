#!/usr/bin/python3
"""Golden fixtures from real PyTorch for Kiln's layer/loss/optimizer tests.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 tools/make_torch_goldens.py
Writes src/test/resources/golden/<case>.npz (float32 unless noted). Each file holds the inputs
and parameters Kiln must load, the forward output "out", and gradients "grad_<name>" of the
scalar loss sum(out * g) for a fixed random upstream gradient "g".
"""
import os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "src", "test", "resources", "golden")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(1234)


def save(name, **arrays):
    np.savez(os.path.join(OUT, name + ".npz"),
             **{k: (v.detach().numpy() if torch.is_tensor(v) else np.asarray(v)) for k, v in arrays.items()})


def rand(*shape):
    return (torch.rand(*shape) * 4 - 2).requires_grad_(True)


def module_case(name, module, x, extra_inputs=()):
    out = module(x, *extra_inputs)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    arrays = {"x": x, "out": out, "g": g}
    if x.grad is not None:
        arrays["grad_x"] = x.grad
    for pname, p in module.named_parameters():
        arrays["param." + pname] = p
        arrays["grad." + pname] = p.grad
    for bname, b in module.named_buffers():
        arrays["buffer." + bname] = b
    save(name, **arrays)


# layers
module_case("linear", nn.Linear(7, 4), rand(5, 7))
module_case("linear_3d", nn.Linear(6, 3), rand(2, 4, 6))
module_case("conv2d", nn.Conv2d(3, 4, 3, stride=2, padding=1), rand(2, 3, 9, 8))
module_case("conv2d_groups", nn.Conv2d(4, 6, (3, 2), stride=1, padding=(1, 0), dilation=(2, 1), groups=2), rand(2, 4, 7, 6))
module_case("maxpool2d", nn.MaxPool2d(2), rand(2, 3, 8, 6))
module_case("maxpool2d_s1p1", nn.MaxPool2d(3, stride=2, padding=1), rand(1, 2, 7, 9))
module_case("avgpool2d", nn.AvgPool2d(3, stride=2, padding=1), rand(2, 2, 7, 6))
module_case("adaptive_avgpool2d", nn.AdaptiveAvgPool2d((3, 2)), rand(2, 3, 7, 5))
bn = nn.BatchNorm2d(3)
with torch.no_grad():
    bn.weight.uniform_(0.5, 1.5)
    bn.bias.uniform_(-0.5, 0.5)
module_case("batchnorm2d_train", bn, rand(4, 3, 5, 5))
bn1 = nn.BatchNorm1d(5)
module_case("batchnorm1d_train", bn1, rand(8, 5))
ln = nn.LayerNorm([4, 6])
with torch.no_grad():
    ln.weight.uniform_(0.5, 1.5)
    ln.bias.uniform_(-0.5, 0.5)
module_case("layernorm", ln, rand(3, 4, 6))
for act in ["ReLU", "GELU", "SiLU", "Tanh", "Sigmoid"]:
    module_case("act_" + act.lower(), getattr(nn, act)(), rand(4, 33))
module_case("act_gelu_tanh", nn.GELU(approximate="tanh"), rand(4, 33))
module_case("softmax", nn.Softmax(dim=1), rand(4, 7, 3))
module_case("log_softmax", nn.LogSoftmax(dim=-1), rand(5, 9))

emb = nn.Embedding(10, 4)
idx = torch.tensor([[1, 3, 3], [9, 0, 2]])
out = emb(idx)
g = torch.randn_like(out)
(out * g).sum().backward()
save("embedding", idx=idx.numpy().astype(np.int64), out=out, g=g, **{"param.weight": emb.weight, "grad.weight": emb.weight.grad})

mha = nn.MultiheadAttention(8, 2, dropout=0.0, batch_first=True)
x = rand(2, 5, 8)
out, _ = mha(x, x, x)
g = torch.randn_like(out)
(out * g).sum().backward()
arrays = {"x": x, "out": out, "g": g, "grad_x": x.grad}
for n, p in mha.named_parameters():
    arrays["param." + n] = p
    arrays["grad." + n] = p.grad
save("mha", **arrays)

enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
module_case("transformer_encoder_layer", enc, rand(2, 5, 8))

# losses: value and gradient wrt the input
logits = rand(6, 5)
target = torch.tensor([0, 4, 2, 2, 1, 3])
for name, fn in [("cross_entropy", lambda a: F.cross_entropy(a, target)),
                 ("cross_entropy_smooth", lambda a: F.cross_entropy(a, target, label_smoothing=0.1)),
                 ("nll", lambda a: F.nll_loss(F.log_softmax(a, 1), target))]:
    a = logits.detach().clone().requires_grad_(True)
    loss = fn(a)
    loss.backward()
    save("loss_" + name, x=a, target=target.numpy().astype(np.int64), out=loss, grad_x=a.grad)
y = torch.rand(6, 5) * 4 - 2
p = torch.softmax(torch.rand(6, 5), 1)
for name, fn, tgt in [("mse", F.mse_loss, y), ("l1", F.l1_loss, y),
                      ("bce_with_logits", F.binary_cross_entropy_with_logits, torch.rand(6, 5)),
                      ("kl_div", lambda a, t: F.kl_div(F.log_softmax(a, 1), t, reduction="batchmean"), p)]:
    a = logits.detach().clone().requires_grad_(True)
    loss = fn(a, tgt)
    loss.backward()
    save("loss_" + name, x=a, target=tgt, out=loss, grad_x=a.grad)


# optimizers: 10 steps on a small MLP with a fixed batch
def mlp():
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


xb = torch.rand(8, 6) * 4 - 2
yb = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
for name, make in [("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3)),
                   ("sgd_nesterov", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True)),
                   ("adam", lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=1e-3)),
                   ("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.01))]:
    m = mlp()
    init = {"init." + k: v.detach().clone() for k, v in m.state_dict().items()}
    opt = make(m.parameters())
    losses = []
    for _ in range(10):
        opt.zero_grad()
        loss = F.cross_entropy(m(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    final = {"final." + k: v.detach().clone() for k, v in m.state_dict().items()}
    save("optim_" + name, x=xb, target=yb.numpy().astype(np.int64), losses=np.array(losses, dtype=np.float64), **init, **final)

print("wrote", len(os.listdir(OUT)), "files to", os.path.abspath(OUT))
