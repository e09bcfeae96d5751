#!/usr/bin/env python3
"""Real-architecture fixtures with random weights: BERT (Hugging Face module layout), GPT-2 (HF
layout: prefill, and one decode step with past key/values in and presents out) and ResNet-50
(torchvision, weights=None), each as ONNX opset 13 and 17 (dynamic batch/sequence), traced and
scripted TorchScript, with the inputs and the eager model's outputs as .npy goldens.

The modules below are written out in plain torch, following transformers' modeling_bert.py and
modeling_gpt2.py (explicit q/k/v Linear, view/permute, matmul + softmax, additive mask, erf GELU,
pooler; GPT-2's Conv1D (addmm), tanh GELU, causal-mask buffer + where, tied LM head), so that the
exported graphs have the shape HF exports have. --small builds the same code at a tiny size
(2 layers, d=16) for the committed test fixtures; the default is the real size (BERT-base,
GPT-2 small, ResNet-50) for benchmarks, written to an ignored folder.

Files, for each NAME in bert, gpt2, gpt2_decode, resnet50:
  NAME_op13.onnx NAME_op17.onnx NAME_trace.pt NAME_script.pt
  NAME_in0.npy ... (in the order of forward's arguments / the ONNX inputs), NAME_out0.npy ...
ONNX input names: bert: input_ids, attention_mask; gpt2: input_ids; gpt2_decode: input_ids, past;
resnet50: input. Outputs: bert: last_hidden_state, pooler_output; gpt2/gpt2_decode: logits,
present (past/present are stacked: (layers, 2 [key, value], batch, heads, positions, head_dim)).

usage: /usr/bin/python3 tools/make_real_models.py [--small] [--out DIR] [--only bert,gpt2,...]
         [--formats op13,op17,trace,script]
  default OUT: testdata/real-models with --small, else build-dir/models
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import Bottleneck, ResNet

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MASK_MIN = float(torch.finfo(torch.float32).min)

SMALL = dict(bert=dict(vocab=32, d=16, layers=2, heads=2, ffn=32, max_pos=16, types=2),
             gpt2=dict(vocab=32, d=16, layers=2, heads=2, n_pos=16),
             resnet=dict(width=2, layers=[1, 1, 1, 1], classes=10, image=32),
             bert_in=(2, 8), gpt2_in=(2, 8), decode_past=7)
FULL = dict(bert=dict(vocab=30522, d=768, layers=12, heads=12, ffn=3072, max_pos=512, types=2),
            gpt2=dict(vocab=50257, d=768, layers=12, heads=12, n_pos=1024),
            resnet=None, bert_in=(1, 128), gpt2_in=(1, 64), decode_past=63)


# ---------------------------------------------------------------- BERT (modeling_bert.py layout)
class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab"], c["d"])
        self.position_embeddings = nn.Embedding(c["max_pos"], c["d"])
        self.token_type_embeddings = nn.Embedding(c["types"], c["d"])
        self.LayerNorm = nn.LayerNorm(c["d"], eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, input_ids):
        seq_length = input_ids.size(1)
        position_ids = torch.arange(seq_length, dtype=torch.long, device=input_ids.device)
        position_ids = position_ids.unsqueeze(0).expand_as(input_ids)
        token_type_ids = torch.zeros_like(input_ids)
        e = self.word_embeddings(input_ids) + self.position_embeddings(position_ids) \
            + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_attention_heads = c["heads"]
        self.attention_head_size = c["d"] // c["heads"]
        self.all_head_size = c["d"]
        self.query = nn.Linear(c["d"], c["d"])
        self.key = nn.Linear(c["d"], c["d"])
        self.value = nn.Linear(c["d"], c["d"])
        self.dropout = nn.Dropout(0.1)

    def transpose_for_scores(self, x):
        x = x.view(x.size(0), x.size(1), self.num_attention_heads, self.attention_head_size)
        return x.permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        attention_scores = attention_scores + attention_mask
        attention_probs = self.dropout(F.softmax(attention_scores, dim=-1))
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        return context_layer.view(context_layer.size(0), context_layer.size(1), self.all_head_size)


class BertSelfOutput(nn.Module):
    def __init__(self, c, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, c["d"])
        self.LayerNorm = nn.LayerNorm(c["d"], eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c["d"])

    def forward(self, hidden_states, attention_mask):
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["d"], c["ffn"])

    def forward(self, hidden_states):
        return F.gelu(self.dense(hidden_states))  # erf GELU, as HF's "gelu"


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c["ffn"])  # BertOutput: dense(ffn->d), dropout, LayerNorm(+residual)

    def forward(self, hidden_states, attention_mask):
        attention_output = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["layers"])])

    def forward(self, hidden_states, attention_mask):
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states, attention_mask)
        return hidden_states


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["d"], c["d"])
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)
        self.mask_min = MASK_MIN  # HF: torch.finfo(dtype).min

    def forward(self, input_ids, attention_mask):
        extended = attention_mask[:, None, None, :].to(torch.float32)
        extended = (1.0 - extended) * self.mask_min
        sequence_output = self.encoder(self.embeddings(input_ids), extended)
        return sequence_output, self.pooler(sequence_output)


# ---------------------------------------------------------------- GPT-2 (modeling_gpt2.py layout)
class Conv1D(nn.Module):
    """HF's Conv1D: a linear layer with the weight stored (in, out), applied with addmm."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.randn(nf) * 0.02)

    def forward(self, x):
        out = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return out.view(x.size(0), x.size(1), self.nf)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class GPT2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = c["n_pos"]
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.uint8)).view(1, 1, n, n))
        self.num_heads = c["heads"]
        self.head_dim = c["d"] // c["heads"]
        self.embed_dim = c["d"]
        self.c_attn = Conv1D(3 * c["d"], c["d"])
        self.c_proj = Conv1D(c["d"], c["d"])
        self.attn_dropout = nn.Dropout(0.1)
        self.resid_dropout = nn.Dropout(0.1)
        self.mask_min = MASK_MIN  # HF: torch.finfo(attn_weights.dtype).min

    def _split_heads(self, x):
        return x.view(x.size(0), x.size(1), self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _attn(self, query, key, value):
        attn_weights = torch.matmul(query, key.transpose(-1, -2))
        attn_weights = attn_weights / torch.full([], value.size(-1) ** 0.5, dtype=attn_weights.dtype,
                                                 device=attn_weights.device)
        query_length, key_length = query.size(-2), key.size(-2)
        causal_mask = self.bias[:, :, key_length - query_length: key_length, :key_length].to(torch.bool)
        mask_value = torch.full([], self.mask_min, dtype=attn_weights.dtype).to(attn_weights.device)
        attn_weights = torch.where(causal_mask, attn_weights, mask_value)
        attn_weights = self.attn_dropout(F.softmax(attn_weights, dim=-1))
        return torch.matmul(attn_weights, value)

    def forward(self, hidden_states, layer_past: torch.Tensor, use_past: bool):
        query, key, value = self.c_attn(hidden_states).split(self.embed_dim, dim=2)
        query = self._split_heads(query)
        key = self._split_heads(key)
        value = self._split_heads(value)
        if use_past:
            key = torch.cat((layer_past[0], key), dim=-2)
            value = torch.cat((layer_past[1], value), dim=-2)
        present = torch.stack((key, value))
        a = self._attn(query, key, value).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size(0), a.size(1), self.embed_dim)
        return self.resid_dropout(self.c_proj(a)), present


class GPT2MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = Conv1D(4 * c["d"], c["d"])
        self.c_proj = Conv1D(c["d"], 4 * c["d"])
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.dropout(self.c_proj(gelu_new(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c["d"], eps=1e-5)
        self.attn = GPT2Attention(c)
        self.ln_2 = nn.LayerNorm(c["d"], eps=1e-5)
        self.mlp = GPT2MLP(c)

    def forward(self, hidden_states, layer_past: torch.Tensor, use_past: bool):
        attn_output, present = self.attn(self.ln_1(hidden_states), layer_past, use_past)
        hidden_states = attn_output + hidden_states
        return hidden_states + self.mlp(self.ln_2(hidden_states)), present


class GPT2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c["vocab"], c["d"])
        self.wpe = nn.Embedding(c["n_pos"], c["d"])
        self.drop = nn.Dropout(0.1)
        self.h = nn.ModuleList([GPT2Block(c) for _ in range(c["layers"])])
        self.ln_f = nn.LayerNorm(c["d"], eps=1e-5)

    def forward(self, input_ids, past: torch.Tensor, use_past: bool):
        past_length = past.size(-2) if use_past else 0
        position_ids = torch.arange(past_length, input_ids.size(-1) + past_length, dtype=torch.long,
                                    device=input_ids.device)
        position_ids = position_ids.unsqueeze(0).view(-1, input_ids.size(-1))
        hidden_states = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        presents = []
        for i, block in enumerate(self.h):
            hidden_states, present = block(hidden_states, past[i], use_past)
            presents.append(present)
        return self.ln_f(hidden_states), torch.stack(presents)


class GPT2LMHeadModel(nn.Module):
    """Prefill: input_ids (B, T) -> logits (B, T, vocab), present (L, 2, B, H, T, hd)."""

    def __init__(self, c):
        super().__init__()
        self.transformer = GPT2Model(c)
        self.lm_head = nn.Linear(c["d"], c["vocab"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied
        self.register_buffer("no_past", torch.zeros(c["layers"], 2, 1, 1, 0, 1))

    def forward(self, input_ids):
        hidden, presents = self.transformer(input_ids, self.no_past, False)
        return self.lm_head(hidden), presents


class GPT2Decode(nn.Module):
    """A decode step: input_ids (B, 1), past (L, 2, B, H, P, hd) -> logits (B, 1, vocab), present (.., P+1, ..)."""

    def __init__(self, lm):
        super().__init__()
        self.transformer = lm.transformer
        self.lm_head = lm.lm_head

    def forward(self, input_ids, past):
        hidden, presents = self.transformer(input_ids, past, True)
        return self.lm_head(hidden), presents


# ---------------------------------------------------------------- ResNet-50 (torchvision)
class SmallResNet(ResNet):
    """torchvision's ResNet (its Bottleneck blocks, _make_layer and forward) with the stem and
    stage widths scaled from 64 down to `width`: the graph of ResNet-50 at a test size."""

    def __init__(self, width, layers, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(Bottleneck, width, layers[0])
        self.layer2 = self._make_layer(Bottleneck, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(Bottleneck, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(Bottleneck, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * Bottleneck.expansion, num_classes)


def randomize_batchnorm(model, gen):
    """Random BN statistics and affine terms, so that BN is not an identity in the goldens."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def init_transformer(model, gen):
    """HF-like init (normal(0, 0.02) weights), random LayerNorm affine terms and biases."""
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            p.data.copy_(torch.randn(p.shape, generator=gen) * 0.02)
        elif "LayerNorm.weight" in name or name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            p.data.copy_(1 + torch.randn(p.shape, generator=gen) * 0.1)
        else:
            p.data.copy_(torch.randn(p.shape, generator=gen) * 0.02)


# ---------------------------------------------------------------- building and writing
def build(name, cfg, gen):
    """(model, example inputs, ONNX input names, ONNX output names, dynamic axes)."""
    if name == "bert":
        c = cfg["bert"]
        model = BertModel(c)
        init_transformer(model, gen)
        b, t = cfg["bert_in"]
        ids = torch.randint(0, c["vocab"], (b, t), generator=gen)
        mask = torch.ones(b, t, dtype=torch.long)
        if b > 1:
            mask[1, t - max(1, t // 4):] = 0  # the second row is padded
        axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}}
        return model, (ids, mask), ["input_ids", "attention_mask"], ["last_hidden_state", "pooler_output"], axes
    if name in ("gpt2", "gpt2_decode"):
        c = cfg["gpt2"]
        lm = GPT2LMHeadModel(c)
        init_transformer(lm, gen)
        b, t = cfg["gpt2_in"]
        out_axes = {"logits": {0: "batch", 1: "sequence"}, "present": {2: "batch", 4: "positions"}}
        if name == "gpt2":
            ids = torch.randint(0, c["vocab"], (b, t), generator=gen)
            return lm, (ids,), ["input_ids"], ["logits", "present"], {"input_ids": {0: "batch", 1: "sequence"}, **out_axes}
        p = cfg["decode_past"]
        prompt = torch.randint(0, c["vocab"], (b, p), generator=gen)
        with torch.no_grad():
            _, past = lm.eval()(prompt)  # a real cache: the presents of a prefill over the prompt
        ids = torch.randint(0, c["vocab"], (b, 1), generator=gen)
        axes = {"input_ids": {0: "batch", 1: "sequence"}, "past": {2: "batch", 4: "past_positions"}, **out_axes}
        return GPT2Decode(lm), (ids, past), ["input_ids", "past"], ["logits", "present"], axes
    if name == "resnet50":
        r = cfg["resnet"]
        if r is None:
            model, size, b = torchvision.models.resnet50(weights=None), 224, 1
        else:
            model, size, b = SmallResNet(r["width"], r["layers"], r["classes"]), r["image"], 2
        randomize_batchnorm(model, gen)
        x = torch.randn(b, 3, size, size, generator=gen)
        return model, (x,), ["input"], ["output"], {"input": {0: "batch"}, "output": {0: "batch"}}
    raise SystemExit(f"unknown model {name}")


def flatten(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def write(name, cfg, out_dir, formats, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model, inputs, in_names, out_names, axes = build(name, cfg, gen)
    model.eval()
    with torch.no_grad():
        outputs = flatten(model(*inputs))
        for i, x in enumerate(inputs):
            np.save(os.path.join(out_dir, f"{name}_in{i}.npy"), x.numpy())
        for i, y in enumerate(outputs):
            np.save(os.path.join(out_dir, f"{name}_out{i}.npy"), y.numpy())
        for opset in (13, 17):
            if f"op{opset}" in formats:
                torch.onnx.export(model, inputs, os.path.join(out_dir, f"{name}_op{opset}.onnx"), opset_version=opset,
                                  input_names=in_names, output_names=out_names, dynamic_axes=axes,
                                  do_constant_folding=True)
        if "trace" in formats:
            torch.jit.trace(model, inputs, check_trace=False).save(os.path.join(out_dir, f"{name}_trace.pt"))
    if "script" in formats:
        scripted = torch.jit.script(model)
        with torch.no_grad():  # the scripted module must agree with eager before it becomes a fixture
            for want, got in zip(outputs, flatten(scripted(*inputs))):
                assert torch.allclose(want, got, atol=1e-5), f"{name}: scripted output differs from eager"
        scripted.save(os.path.join(out_dir, f"{name}_script.pt"))
    sizes = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir) if f.startswith(name + "_"))
    print(f"{name}: inputs {[tuple(x.shape) for x in inputs]} outputs {[tuple(y.shape) for y in outputs]}, "
          f"{sizes / 1e6:.2f} MB", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="the tiny test configurations (committed under testdata/)")
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--only", default="bert,gpt2,gpt2_decode,resnet50")
    ap.add_argument("--formats", default="op13,op17,trace,script")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    out_dir = args.out or os.path.join(ROOT, "testdata", "real-models" if args.small else "")
    if not args.out and not args.small:
        out_dir = os.path.join(ROOT, "build-dir", "models")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    cfg = SMALL if args.small else FULL
    for name in args.only.split(","):
        write(name, cfg, out_dir, set(args.formats.split(",")), args.seed)
    print(f"wrote {os.path.abspath(out_dir)}")


if __name__ == "__main__":
    sys.exit(main())
