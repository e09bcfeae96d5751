#!/usr/bin/env python3
"""Text-generation fixtures: a GPT-2-style byte-level BPE tokenizer trained here, a tiny GPT-2 decoder and a
tiny Llama-architecture decoder with random weights exported to ONNX with optimum's decoder-with-past naming,
and greedy goldens.

Everything goes to testdata/decoder/ (see the README.md written there):
  tokenizer.json            Hugging Face tokenizers format (ByteLevel pre-tokenizer/decoder, BPE model)
  vocab.json, merges.txt    the same tokenizer as GPT-2's classic pair
  tokenizer_cases.json      {"cases":[{"text","ids"}]}: this script's encoder on ~45 varied strings
  gpt2_tiny.onnx            opset 17; inputs input_ids, attention_mask, past_key_values.{i}.key/.value;
                            outputs logits, present.{i}.key/.value (the same file serves the empty-cache
                            first step, past_sequence = 0, and the later steps)
  gpt2_tiny_config.json     vocab_size, n_positions, n_embd, n_layer, n_head, eos_token_id
  gpt2_tiny_hf/             the same weights in Hugging Face's GPT-2 layout, names without the "transformer."
                            prefix: config.json (model_type gpt2, tie_word_embeddings false, ...),
                            model.safetensors (F32, Conv1D weights [in, out], with lm_head.weight), tokenizer.json
  greedy.json               {"cases":[{"prompt","prompt_ids","new_ids","text"}]}: 32 greedy tokens from the
                            eager module with its KV cache (prefill in one call, then one token per step)
  llama_tiny.onnx           a Llama-architecture decoder (RMSNorm, RoPE, grouped-query attention with 4 query
                            and 2 key/value heads, SwiGLU MLP, untied lm_head), written here in PyTorch; the
                            inputs/outputs of gpt2_tiny.onnx, the cache holding the 2 key/value heads
  llama_tiny_config.json    vocab_size, max_position_embeddings, hidden_size, num_hidden_layers,
                            num_attention_heads, num_key_value_heads, eos_token_id
  llama_greedy.json         greedy.json's prompts and format, from the Llama module

Tokenizer: GPT-2's bytes_to_unicode for the 256 base symbols, ids 0..255 in the insertion order of
bytes_to_unicode() (GPT-2's own order: '!'..'~', '¡'..'¬', '®'..'ÿ', then bytes 0..32, 127..160, 173 as
'Ā'.. - the same ids GPT-2's encoder.json gives them), then 300 merges learnt here (standard BPE on the
pre-token counts: the most frequent adjacent pair, ties to the smallest (left, right) by code point),
then <|endoftext|> with the next id. Pre-tokenization uses GPT-2's regex
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
with the third-party `regex` module when it is installed; without it the same pattern runs on Python's
`re`, with \\p{L} and \\p{N} spelled out as explicit code-point classes built from unicodedata (general
categories L* and N*) and \\s as Unicode's White_Space set - the same matches, not an approximation.

Training text: fortunes-min's three cookie files (fortunes, literature, riddles) from
/usr/share/games/fortunes (or /usr/share/fortune), else from the fortunes-min .deb in apt's cache
(/var/cache/apt/archives, read in memory), else /usr/share/common-licenses. Which one was used is
printed and written to the README.

Runs on CPU with Debian's python3-torch (1.13), python3-onnx and numpy; onnxruntime is not needed: the
exported graphs are checked with onnx.checker and run by the small numpy ONNX interpreter below against
the eager modules (empty cache and a 5-token cache, batch 2 with a padding mask, and the greedy loops); the
Llama module is also checked against a separate numpy implementation (no cache, a loop over heads).

usage: /usr/bin/python3 tools/make_decoder_fixtures.py [--out DIR]
Deterministic: a rerun on the same machine writes byte-identical files.

       /usr/bin/python3 tools/make_decoder_fixtures.py --large OUT_DIR
writes, instead, a benchmark-scale model that is not committed (e.g. OUT_DIR = build-dir/models/gen):
  gpt2_small_gen.onnx           the same module, export and names at GPT-2 small's shape (12 layers, n_embd 768,
                                12 heads, n_positions 1024, vocab 50257), random weights (seed 20); one ~650 MB file
  gpt2_small_gen_config.json    the keys of gpt2_tiny_config.json
  greedy.json                   one case: "The quick brown fox", 16 greedy tokens of the eager module with its cache
  tokenizer.json                a copy of testdata/decoder/tokenizer.json (ids < 557; the model's others have no token)
and, for peers that only run GPT-2 with its LM head tied to wte (Jlama 0.8.4's GPT2Model reads no lm_head.weight),
the same model with lm_head = wte (every other weight as above):
  gpt2_small_tied.onnx          its export (same names, inputs and outputs as gpt2_small_gen.onnx)
  greedy_tied.json              one case, greedy.json's format: the same prompt, 64 greedy tokens of the eager tied
                                module with its cache, plus "min_gap" (smallest top-1/top-2 logit gap over the steps)
                                and "min_gap_step" (the index of that new id)
  hf/                           the tied model in Hugging Face's GPT-2 layout, names without the "transformer."
                                prefix: config.json (model_type gpt2, n_ctx, tie_word_embeddings true, ...),
                                model.safetensors (F32, Conv1D weights [in, out], no lm_head.weight), tokenizer.json

       /usr/bin/python3 tools/make_decoder_fixtures.py --llama-hf DIR
writes, instead, only DIR/llama_tiny_hf/ (DIR normally testdata/decoder; committed): llama_tiny.onnx's module rebuilt
with its seed and init from DIR/tokenizer.json's vocab (the tokenizer is not retrained and no other file is
rewritten; the rebuilt module must give DIR/llama_greedy.json's ids and its tensors must be llama_tiny.onnx's
initializers) in Hugging Face's LlamaForCausalLM layout:
  llama_tiny_hf/config.json        architectures LlamaForCausalLM, model_type llama, vocab_size, hidden_size,
                                   intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
                                   max_position_embeddings, rms_norm_eps, rope_theta, hidden_act silu,
                                   tie_word_embeddings false, bos/eos the special id, torch_dtype float32
  llama_tiny_hf/model.safetensors  F32, LlamaForCausalLM's names: model.embed_tokens.weight,
                                   model.layers.{i}.input_layernorm.weight,
                                   model.layers.{i}.self_attn.{q,k,v,o}_proj.weight ([out, in] as nn.Linear),
                                   model.layers.{i}.post_attention_layernorm.weight,
                                   model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.norm.weight, lm_head.weight
  llama_tiny_hf/tokenizer.json     a copy of DIR/tokenizer.json
checked: read back equal, a fresh module from the files bit-identical, the float64 numpy Llama within 1e-4.

       /usr/bin/python3 tools/make_decoder_fixtures.py --large-llama OUT_DIR
writes, instead, a benchmark-scale Llama that is not committed (e.g. OUT_DIR = build-dir/models/gen):
  llama_1b_hf/                  TinyLlama-1.1B's shape (22 layers, hidden 2048, intermediate 5632, 32 heads and 4
                                key/value heads of 64, vocab 32000, max_position_embeddings 2048, rms_norm_eps 1e-5,
                                rope_theta 10000), 1,100,048,384 random weights (seed 24; matrices and the embedding
                                normal(0, 0.02), RMSNorm weights 1), in llama_tiny_hf/'s layout: config.json,
                                model.safetensors (one ~4.4 GB F32 file, written tensor by tensor from the module's
                                memory), tokenizer.json (a copy of testdata/decoder/tokenizer.json: ids < 557; the
                                model's others have no token)
  llama_1b_greedy.json          one case, greedy.json's format: "The quick brown fox", 32 greedy tokens of the eager
                                module with its cache ("text" null when an id has no token), plus "min_gap" and
                                "min_gap_step" as in greedy_tied.json

       /usr/bin/python3 tools/make_decoder_fixtures.py --torchscript DIR
writes, instead, only two traced TorchScript decoders to DIR (normally testdata/decoder; committed): gpt2_tiny.onnx's
and llama_tiny.onnx's modules rebuilt with their seeds and init from DIR/tokenizer.json's vocab (the tokenizer is not
retrained and no other file is rewritten; each rebuilt module must give DIR/greedy.json's / DIR/llama_greedy.json's
ids), each torch.jit.trace'd with batch 1, 3 new tokens and a random past of 5 and saved by torch.jit.save less the
code/**/*.debug_pkl records (Python stacks with absolute paths and this script's line numbers):
  gpt2_tiny_trace.pt    forward(input_ids [B,T] int64, attention_mask [B,P+T] int64, past_key, past_value,
                        past_key0, past_value0 [B,4,P,16]) -> (logits [B,T,V], present k0, v0, k1, v1 [B,4,P+T,16]);
                        the names are the tracer's (layer 0, then layer 1 with a 0 suffix); the graph reads B, T and P
                        from its inputs, so the empty past (P = 0) of the first step works
  llama_tiny_trace.pt   the same forward with 2 key/value heads in the cache; the inv_freq buffer is kept in the file
checked: the file loaded back has that forward, agrees with the eager module on other batch sizes, sequences and past
lengths, and its greedy loop (prefill with an empty past, then one token per step) gives every golden case's ids.

       /usr/bin/python3 tools/make_decoder_fixtures.py --gguf DIR
writes, instead, only llama_tiny.onnx's module (rebuilt with its seed and init from DIR/tokenizer.json's vocab; the
tokenizer is not retrained and no other file is rewritten; it must give DIR/llama_greedy.json's ids) in GGUF v3 as
llama.cpp's convert_hf_to_gguf.py lays out a Llama, by a GGUF writer of this script's own, and a reference, to DIR
(normally testdata/decoder; committed):
  llama_tiny_f32.gguf        every tensor F32 (general.file_type 0)
  llama_tiny_q8_0.gguf       attn_q/k/v/output, ffn_gate/up of each layer and output.weight Q8_0 (file_type 7)
  llama_tiny_q4_0.gguf       the same tensors Q4_0 (file_type 2); in both, ffn_down (ne[0] = 172, not a multiple of
                             32), token_embd and the norms stay F32. Quantized as ggml's quantize_row_q8_0_ref /
                             quantize_row_q4_0_ref (float32 arithmetic, f16 scales)
  llama_tiny_gguf_ref.json   {"prompt_ids": llama_greedy.json's 3 prompts, "q8_0" / "q4_0": per prompt the last
                             position's logits of a float64 Llama over that file's dequantized tensors}, 6 decimals
little-endian; general.alignment 32 (the data section and each tensor's data start at a multiple, each tensor's data
zero-padded to one); tensor names token_embd.weight, blk.{i}.attn_norm/attn_q/attn_k/attn_v/attn_output/ffn_norm/
ffn_gate/ffn_up/ffn_down.weight, output_norm.weight, output.weight, dims ne[0] first ([in, out] for a [out, in] weight);
attn_q/attn_k rows permuted from HF's rotate_half order to GGML's interleaved RoPE pairs (row h*hd + 2i + b = HF row
h*hd + b*hd/2 + i); metadata general.*, llama.* (context_length, embedding_length, block_count, feed_forward_length,
attention.head_count(_kv), rope.freq_base, rope.dimension_count, attention.layer_norm_rms_epsilon) and the GPT-2 BPE
tokenizer (tokenizer.ggml.model "gpt2", pre "gpt-2", tokens, token_type, merges, bos/eos_token_id).
checked: a GGUF reader of this script's own reads each file back (header, metadata, infos, offsets, padding, size)
and dequantizes it; F32 tensors == the module's (q/k un-permuted), Q8_0/Q4_0 bytes == a scalar re-quantization; a
float64 GGUF Llama (interleaved RoPE on the permuted q/k) over the F32 file == llama_reference on the module within
1e-4 and gives llama_greedy.json's ids.
"""
import argparse
import collections
import glob
import hashlib
import io
import json
import math
import os
import re as std_re
import struct
import tarfile
import unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
NUM_MERGES = 300
SPECIAL = "<|endoftext|>"
SEED = 20
CFG = dict(n_positions=128, n_embd=64, n_layer=2, n_head=4)
NEW_TOKENS = 32
# --large: GPT-2 small's shape (vocab as GPT-2's; the fixture tokenizer uses only ids < 557)
LARGE_CFG = dict(vocab=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)
LARGE_STEM = "gpt2_small_gen"
LARGE_PROMPT = "The quick brown fox"
LARGE_NEW_TOKENS = 16
LARGE_TIED_STEM = "gpt2_small_tied"
LARGE_TIED_NEW_TOKENS = 64
LARGE_RECORDED_NEW_IDS = [262, 40207, 16939, 19528, 45041, 29983, 35043, 29983, 2830, 15958, 15345, 19752, 4101,
                          44639, 34213, 38562]  # what --large gave here (torch 1.13, 2 threads), quoted in the README
PROMPTS = [
    "The quick brown fox",
    "Hello, world! ",
    "A banker is a fellow who lends you his umbrella when the sun is shining and wants it back "
    "the minute it begins to rain.",
]
FORTUNE_FILES = ("fortunes", "literature", "riddles")  # fortunes-min's cookie files
LICENSE_FILES = ("Apache-2.0", "Artistic", "BSD", "GPL-2", "GPL-3", "LGPL-2.1", "MPL-2.0")


# ---------------------------------------------------------------- training text
def _split_fortunes(text):
    """A cookie file's fortunes, split on the '%' lines."""
    docs, cur = [], []
    for line in text.split("\n"):
        if line == "%":
            docs.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    docs.append("\n".join(cur))
    return [d for d in docs if d.strip()]


def _deb_members(path, wanted):
    """{name: bytes} for the wanted paths inside a .deb's data.tar.* (an ar archive), read in memory."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"!<arch>\n":
        return {}
    pos, out = 8, {}
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        data = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                for m in tar.getmembers():
                    n = m.name.lstrip("./")
                    if n in wanted and m.isfile():
                        out[n] = tar.extractfile(m).read()
    return out


def load_corpus():
    """(description, list of documents)."""
    for d in ("/usr/share/games/fortunes", "/usr/share/fortune"):
        paths = [os.path.join(d, f) for f in FORTUNE_FILES]
        if all(os.path.isfile(p) for p in paths):
            docs = []
            for p in paths:
                with open(p, "rb") as f:
                    docs += _split_fortunes(f.read().decode("utf-8"))
            return f"{d}/{{{','.join(FORTUNE_FILES)}}}", docs
    for deb in sorted(glob.glob("/var/cache/apt/archives/fortunes-min_*.deb")) + \
            sorted(glob.glob("/var/cache/apt/archives/fortunes_*.deb")):
        wanted = {f"usr/share/games/fortunes/{f}" for f in FORTUNE_FILES}
        got = _deb_members(deb, wanted)
        if set(got) == wanted:
            docs = []
            for f in FORTUNE_FILES:
                docs += _split_fortunes(got[f"usr/share/games/fortunes/{f}"].decode("utf-8"))
            return (f"/usr/share/games/fortunes/{{{','.join(FORTUNE_FILES)}}} as packaged in "
                    f"{deb}, read from the package file (fortunes-min is not installed)"), docs
    paths = [os.path.join("/usr/share/common-licenses", f) for f in LICENSE_FILES]
    paths = [p for p in paths if os.path.isfile(p)]
    if not paths:
        raise SystemExit("no training text found (fortunes or /usr/share/common-licenses)")
    docs = []
    for p in paths:
        with open(p, "rb") as f:
            docs += [d for d in f.read().decode("utf-8", errors="replace").split("\n\n") if d.strip()]
    return "/usr/share/common-licenses/{" + ",".join(os.path.basename(p) for p in paths) + "}", docs


# ---------------------------------------------------------------- GPT-2 byte-level pieces
def bytes_to_unicode():
    """GPT-2's map from the 256 byte values to printable characters (insertion order = GPT-2's ids)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_ENCODER = bytes_to_unicode()
BYTE_DECODER = {v: k for k, v in BYTE_ENCODER.items()}
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Unicode's White_Space property (what \s means in Oniguruma / the regex module with Unicode)
WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
               (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000)]


def _class_body(ranges):
    def esc(cp):
        return "\\U%08x" % cp
    return "".join(esc(a) if a == b else esc(a) + "-" + esc(b) for a, b in ranges)


def _category_ranges(prefix):
    ranges, start, prev = [], None, None
    for cp in range(0x110000):
        if unicodedata.category(chr(cp)).startswith(prefix):
            if start is None:
                start = cp
            prev = cp
        elif start is not None:
            ranges.append((start, prev))
            start = None
    if start is not None:
        ranges.append((start, prev))
    return ranges


def compile_pretokenizer():
    """(compiled pattern, description)."""
    try:
        import regex  # noqa: F401 - optional
        return regex.compile(GPT2_PATTERN), "the `regex` module with GPT-2's pattern as written"
    except ImportError:
        pass
    L = _class_body(_category_ranges("L"))
    N = _class_body(_category_ranges("N"))
    S = _class_body(WHITE_SPACE)
    pat = (r"'s|'t|'re|'ve|'m|'ll|'d| ?[" + L + "]+| ?[" + N + "]+| ?[^" + S + L + N + "]+|[" + S + "]+(?![^" + S +
           "])|[" + S + "]+")
    return std_re.compile(pat), (f"Python's `re` (the `regex` module is not installed) with \\p{{L}}, \\p{{N}} spelled "
                                 f"out from unicodedata {unicodedata.unidata_version} general categories L*, N* and "
                                 f"\\s as Unicode White_Space")


PRETOKENIZER, PRETOKENIZER_DESC = compile_pretokenizer()


def pretokenize(text):
    return PRETOKENIZER.findall(text)


def to_byte_level(piece):
    return "".join(BYTE_ENCODER[b] for b in piece.encode("utf-8"))


# ---------------------------------------------------------------- BPE training
def train_bpe(docs, num_merges):
    words = collections.Counter()
    for d in docs:
        for piece in pretokenize(d):
            words[to_byte_level(piece)] += 1
    # symbols of each distinct pre-token (sorted for a fixed order), with its count
    entries = [[list(w), c] for w, c in sorted(words.items())]
    vocab = {ch: i for i, ch in enumerate(BYTE_ENCODER.values())}
    merges = []
    for _ in range(num_merges):
        pairs = collections.Counter()
        for syms, c in entries:
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        new = best[0] + best[1]
        if new not in vocab:  # (a token made by two different merges keeps its first id)
            vocab[new] = len(vocab)
        for e in entries:
            syms = e[0]
            if len(syms) < 2:
                continue
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == best[0] and syms[i + 1] == best[1]:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            e[0] = out
    return vocab, merges


# ---------------------------------------------------------------- encoding / decoding
class Tokenizer:
    def __init__(self, vocab, merges, special):
        self.vocab = vocab
        self.ranks = {pair: r for r, pair in enumerate(merges)}
        self.special = special
        self.id_to_token = {i: t for t, i in vocab.items()}

    def bpe(self, word):
        """Hugging Face tokenizers' BPE word merge: repeatedly merge the adjacent pair of lowest rank (the
        leftmost one among equal ranks) until no pair has a rank."""
        syms = list(word)
        while len(syms) > 1:
            best, pos = None, -1
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best):
                    best, pos = r, i
            if best is None:
                break
            syms[pos:pos + 2] = [syms[pos] + syms[pos + 1]]
        return syms

    def bpe_gpt2(self, word):
        """OpenAI's encoder.py merge loop (all occurrences of the best bigram at once): a cross-check."""
        word = tuple(word)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
        return list(word)

    def encode_plain(self, text, gpt2_loop=False):
        ids = []
        for piece in pretokenize(text):
            syms = (self.bpe_gpt2 if gpt2_loop else self.bpe)(to_byte_level(piece))
            ids += [self.vocab[s] for s in syms]
        return ids

    def encode(self, text, gpt2_loop=False):
        """HF's encode(add_special_tokens=False): the literal special token is split off first (it maps to
        its id), the text between is pre-tokenized and BPE-encoded on its own."""
        ids = []
        parts = text.split(self.special)
        for k, part in enumerate(parts):
            if k:
                ids.append(self.vocab[self.special])
            ids += self.encode_plain(part, gpt2_loop)
        return ids

    def decode_bytes(self, ids):
        out = bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            out += tok.encode("utf-8") if tok == self.special else bytes(BYTE_DECODER[c] for c in tok)
        return bytes(out)

    def decode(self, ids):
        """HF ByteLevel decoder: bytes joined, invalid UTF-8 replaced by U+FFFD; special tokens kept as text."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")


TOKENIZER_CASES = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "x",
    " ",
    "   ",
    "\n\n\n",
    "   leading spaces",
    "trailing spaces   ",
    " both ends ",
    "a  b",
    "multiple   spaces   between   words",
    "line one\nline two\n\nline four",
    "ends with a newline\n",
    "tabs\tand\t\ttabs",
    "mixed \t\n whitespace \r\n end",
    "I'm sure you'll see it's what we've done, they'd say; we're here and don't know.",
    "DON'T SHOUT: I'M HERE, IT'S LOUD",
    "'s 's's it's's",
    "numbers 123 4567 89.01 1,000,000 and 2024-01-31",
    "year2024 3rd 42nd abc123def",
    "E = mc\u00b2, \u00bd cup, \u216b o'clock, \u0663\u0664 and \uff11\uff12",
    "punctuation!!! ??? ... --- *** (parens) [brackets] {braces}",
    "quotes \"double\" 'single' `back` \u201ccurly\u201d",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "def f(x):\n    return x * 2  # comment\n",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade co\u00f6perate",
    "Stra\u00dfe \u00c5ngstr\u00f6m \u00d8resund \u0141\u00f3d\u017a",
    "e\u0301 vs \u00e9, a\u0308\u0304 and n\u0303",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u043a\u0430\u0438 \u0420\u0443\u0441\u0441\u043a\u0438\u0439 "
    "\u0442\u0435\u043a\u0441\u0442",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\u4e2d\u6587\uff0c\u6807\u70b9\u3002\u548c English mixed",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "emoji \U0001f600\U0001f44d\U0001f3fd \U0001f1eb\U0001f1f7 family \U0001f468\u200d\U0001f469\u200d\U0001f467!",
    "NBSP\u00a0here, two\u00a0\u00a0NBSP, NBSP\u00a0!, ideographic\u3000\u3000space, thin\u2009space",
    "zero\u200bwidth and soft\u00adhyphen",
    "control \x00\x01\x07 chars \x7f and \x1f",
    "<|endoftext|>",
    "Hello<|endoftext|>World",
    "before <|endoftext|> after",
    "<|endoftext|><|endoftext|>",
    "<|endoftext|>\n",
    "almost <|endoftext| special and <|endoftext",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "A banker is a fellow who lends you his umbrella when the sun is shining\n"
    "and wants it back the minute it begins to rain.\n\t\t-- Mark Twain",
]


# ---------------------------------------------------------------- the model (modeling_gpt2.py layout)
class Conv1D(nn.Module):
    """HF's Conv1D: a linear layer with the weight stored [in, out], applied with addmm."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.empty(nf))

    def forward(self, x):
        out = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return out.view(x.size(0), x.size(1), self.nf)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.d, self.heads, self.hd = d, heads, d // heads
        self.c_attn = Conv1D(3 * d, d)
        self.c_proj = Conv1D(d, d)

    def _split(self, x):
        return x.view(x.size(0), x.size(1), self.heads, self.hd).permute(0, 2, 1, 3)

    def forward(self, x, past_key, past_value, keep):
        q, k, v = self.c_attn(x).split(self.d, dim=2)
        q, k, v = self._split(q), self._split(k), self._split(v)
        k = torch.cat((past_key, k), dim=-2)
        v = torch.cat((past_value, v), dim=-2)
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.hd)
        w = torch.where(keep, w, torch.tensor(torch.finfo(torch.float32).min, dtype=w.dtype))
        a = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        a = a.view(a.size(0), a.size(1), self.d)
        return self.c_proj(a), k, v


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(4 * d, d)
        self.c_proj = Conv1D(d, 4 * d)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.attn = Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.mlp = MLP(d)

    def forward(self, x, past_key, past_value, keep):
        a, k, v = self.attn(self.ln_1(x), past_key, past_value, keep)
        x = x + a
        return x + self.mlp(self.ln_2(x)), k, v


class TinyGPT2(nn.Module):
    """forward(input_ids [B,T] int64, attention_mask [B,P+T] int64, past k0, v0, k1, v1, ... [B,H,P,hd])
    -> (logits [B,T,V], present k0, v0, ... [B,H,P+T,hd]). Positions P..P+T-1 come from the past length;
    query t may see key j when j <= P + t and attention_mask[b, j] != 0 (others get float32's min before
    the softmax)."""

    def __init__(self, vocab, n_positions, n_embd, n_layer, n_head):
        super().__init__()
        self.n_layer = n_layer
        self.vocab_size = vocab
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(n_positions, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)  # untied

    def forward(self, input_ids, attention_mask, *past):
        past_len = past[0].size(2)
        seq = input_ids.size(1)
        positions = torch.arange(past_len, past_len + seq, dtype=torch.long)
        x = self.wte(input_ids) + self.wpe(positions).unsqueeze(0)
        key_pos = torch.arange(0, past_len + seq, dtype=torch.long)
        causal = key_pos.unsqueeze(0) <= positions.unsqueeze(1)  # [T, P+T]
        keep = causal.unsqueeze(0).unsqueeze(0) & (attention_mask != 0).unsqueeze(1).unsqueeze(2)  # [B,1,T,P+T]
        presents = []
        for i, block in enumerate(self.h):
            x, k, v = block(x, past[2 * i], past[2 * i + 1], keep)
            presents += [k, v]
        return (self.lm_head(self.ln_f(x)), *presents)

    def cache_dims(self):
        """(heads in the cache, head size)."""
        return self.h[0].attn.heads, self.h[0].attn.hd


def init_weights(model, gen):
    """Weights normal(0, 0.1) (larger than GPT-2's 0.02, so that greedy decoding is not one token repeated),
    biases normal(0, 0.02), LayerNorm gain 1 + normal(0, 0.05), shift normal(0, 0.02)."""
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            std, base = 0.1, 0.0
        elif name.endswith("weight"):  # LayerNorm gains
            std, base = 0.05, 1.0
        else:
            std, base = 0.02, 0.0
        p.data.copy_(base + torch.randn(p.shape, generator=gen) * std)


def empty_past(model, batch):
    heads, hd = model.cache_dims()
    return [torch.zeros(batch, heads, 0, hd) for _ in range(2 * model.n_layer)]


def greedy(step, prompt_ids, n_new):
    """step(input_ids, attention_mask, past) -> (logits, presents): prefill, then one token per step."""
    ids = torch.tensor([prompt_ids], dtype=torch.long)
    logits, past = step(ids, torch.ones_like(ids), None)
    new = []
    for _ in range(n_new):
        nxt = int(torch.argmax(logits[0, -1]))  # first index among equal maxima
        new.append(nxt)
        total = len(prompt_ids) + len(new)
        logits, past = step(torch.tensor([[nxt]]), torch.ones(1, total, dtype=torch.long), past)
    return new


def eager_step(model):
    def step(ids, mask, past):
        with torch.no_grad():
            out = model(ids, mask, *(past if past is not None else empty_past(model, ids.size(0))))
        return out[0], list(out[1:])
    return step


# ---------------------------------------------------------------- a tiny Llama (modeling_llama.py layout)
LLAMA_SEED = 21
LLAMA_STEM = "llama_tiny"
LLAMA_CFG = dict(max_position_embeddings=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=172, rms_norm_eps=1e-5, rope_theta=10000.0)


class RMSNorm(nn.Module):
    """LlamaRMSNorm: weight * x / sqrt(mean(x^2) + eps) over the last axis."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def rotate_half(x, half):
    """HF Llama's rotate_half: (x1, x2) -> (-x2, x1), x1 the first half of the last axis."""
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    """HF's repeat_kv: [B, kv, S, hd] -> [B, kv * n_rep, S, hd], query head h reading key/value head h // n_rep."""
    b, kv, s, hd = x.shape
    return x[:, :, None, :, :].expand(b, kv, n_rep, s, hd).reshape(b, kv * n_rep, s, hd)


class LlamaAttention(nn.Module):
    def __init__(self, d, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.hd, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(heads * self.hd, d, bias=False)

    def forward(self, x, cos, sin, past_key, past_value, keep):
        b, t = x.size(0), x.size(1)
        q = self.q_proj(x).view(b, t, self.heads, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.hd).transpose(1, 2)
        half = self.hd // 2
        q = q * cos + rotate_half(q, half) * sin
        k = k * cos + rotate_half(k, half) * sin  # the cache holds the rotated keys, as HF's does
        k = torch.cat((past_key, k), dim=2)
        v = torch.cat((past_value, v), dim=2)
        n_rep = self.heads // self.kv_heads
        w = torch.matmul(q, repeat_kv(k, n_rep).transpose(2, 3)) / math.sqrt(self.hd)
        w = torch.where(keep, w, torch.tensor(torch.finfo(torch.float32).min, dtype=w.dtype))
        a = torch.matmul(F.softmax(w, dim=-1), repeat_kv(v, n_rep)).transpose(1, 2).contiguous()
        a = a.view(b, t, self.heads * self.hd)
        return self.o_proj(a), k, v


class LlamaMLP(nn.Module):
    def __init__(self, d, inner):
        super().__init__()
        self.gate_proj = nn.Linear(d, inner, bias=False)
        self.up_proj = nn.Linear(d, inner, bias=False)
        self.down_proj = nn.Linear(inner, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, d, heads, kv_heads, inner, eps):
        super().__init__()
        self.input_layernorm = RMSNorm(d, eps)
        self.self_attn = LlamaAttention(d, heads, kv_heads)
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.mlp = LlamaMLP(d, inner)

    def forward(self, x, cos, sin, past_key, past_value, keep):
        a, k, v = self.self_attn(self.input_layernorm(x), cos, sin, past_key, past_value, keep)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), k, v


class TinyLlama(nn.Module):
    """forward(input_ids [B,T] int64, attention_mask [B,P+T] int64, past k0, v0, k1, v1, ... [B,KV,P,hd])
    -> (logits [B,T,V], present k0, v0, ... [B,KV,P+T,hd]), KV the key/value heads (fewer than the query heads).
    Positions P..P+T-1 come from the past length and rotate q and k (RoPE, rotate_half); masking as TinyGPT2."""

    def __init__(self, vocab, max_position_embeddings, hidden_size, num_hidden_layers, num_attention_heads,
                 num_key_value_heads, intermediate_size, rms_norm_eps, rope_theta):
        super().__init__()
        self.n_layer = num_hidden_layers
        self.vocab_size = vocab
        self.embed_tokens = nn.Embedding(vocab, hidden_size)
        self.layers = nn.ModuleList([LlamaDecoderLayer(hidden_size, num_attention_heads, num_key_value_heads,
                                                       intermediate_size, rms_norm_eps)
                                     for _ in range(num_hidden_layers)])
        self.norm = RMSNorm(hidden_size, rms_norm_eps)
        self.lm_head = nn.Linear(hidden_size, vocab, bias=False)  # untied
        hd = hidden_size // num_attention_heads
        # LlamaRotaryEmbedding's inv_freq (not a parameter, not in the state dict)
        self.register_buffer("inv_freq", 1.0 / (rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd)),
                             persistent=False)

    def forward(self, input_ids, attention_mask, *past):
        past_len = past[0].size(2)
        seq = input_ids.size(1)
        positions = torch.arange(past_len, past_len + seq, dtype=torch.long)
        freqs = positions.float().unsqueeze(1) * self.inv_freq.unsqueeze(0)  # [T, hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [T, hd]
        cos = emb.cos().unsqueeze(0).unsqueeze(0)  # [1, 1, T, hd]
        sin = emb.sin().unsqueeze(0).unsqueeze(0)
        key_pos = torch.arange(0, past_len + seq, dtype=torch.long)
        causal = key_pos.unsqueeze(0) <= positions.unsqueeze(1)  # [T, P+T]
        keep = causal.unsqueeze(0).unsqueeze(0) & (attention_mask != 0).unsqueeze(1).unsqueeze(2)  # [B,1,T,P+T]
        x = self.embed_tokens(input_ids)
        presents = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, cos, sin, past[2 * i], past[2 * i + 1], keep)
            presents += [k, v]
        return (self.lm_head(self.norm(x)), *presents)

    def cache_dims(self):
        a = self.layers[0].self_attn
        return a.kv_heads, a.hd


def llama_reference(model, ids):
    """The logits [T, V] of one unpadded sequence, from the module's weights by a separate numpy implementation
    of the same architecture: no cache, one query head at a time, RoPE as explicit rotations of the pairs
    (i, i + hd/2) by the angle position * theta^(-2i/hd), query head h reading key/value head h // (heads / kv)."""
    sd = {n: p.detach().numpy().astype(np.float64) for n, p in model.named_parameters()}
    c = LLAMA_CFG
    heads, kv, d = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd, eps = d // heads, c["rms_norm_eps"]
    T = len(ids)

    def rms(x, w):
        return w * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)

    ang = np.arange(T)[:, None] * c["rope_theta"] ** (-np.arange(0, hd, 2) / hd)[None, :]  # [T, hd/2]

    def rope(m):  # [T, hd]
        x1, x2 = m[:, :hd // 2], m[:, hd // 2:]
        return np.concatenate([x1 * np.cos(ang) - x2 * np.sin(ang), x2 * np.cos(ang) + x1 * np.sin(ang)], -1)

    x = sd["embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        p = f"layers.{i}."
        hn = rms(x, sd[p + "input_layernorm.weight"])
        q = hn @ sd[p + "self_attn.q_proj.weight"].T
        k = hn @ sd[p + "self_attn.k_proj.weight"].T
        v = hn @ sd[p + "self_attn.v_proj.weight"].T
        att = np.zeros((T, heads * hd))
        for h in range(heads):
            g = h // (heads // kv)
            qh = rope(q[:, h * hd:(h + 1) * hd])
            kh = rope(k[:, g * hd:(g + 1) * hd])
            s = qh @ kh.T / math.sqrt(hd)
            s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            att[:, h * hd:(h + 1) * hd] = (s / s.sum(-1, keepdims=True)) @ v[:, g * hd:(g + 1) * hd]
        x = x + att @ sd[p + "self_attn.o_proj.weight"].T
        hn = rms(x, sd[p + "post_attention_layernorm.weight"])
        gate = hn @ sd[p + "mlp.gate_proj.weight"].T
        up = hn @ sd[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ sd[p + "mlp.down_proj.weight"].T
    return rms(x, sd["norm.weight"]) @ sd["lm_head.weight"].T


# ---------------------------------------------------------------- a small numpy ONNX interpreter
def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def run_onnx(model_proto, feeds):
    """Runs a (torch-exported, topologically ordered) ONNX graph with numpy; only the ops this export uses."""
    from onnx import numpy_helper
    g = model_proto.graph
    env = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    env.update(feeds)
    env[""] = None
    np_types = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}
    for node in g.node:
        a = _attrs(node)
        x = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Constant":
            y = numpy_helper.to_array(a["value"])
        elif op == "Shape":
            y = np.array(x[0].shape, dtype=np.int64)
        elif op == "Gather":
            y = np.take(x[0], x[1].astype(np.int64), axis=a.get("axis", 0))
        elif op == "Unsqueeze":
            y = x[0]
            for ax in sorted(int(v) % (x[0].ndim + len(x[1])) for v in x[1]):
                y = np.expand_dims(y, ax)
        elif op == "Squeeze":
            y = np.squeeze(x[0], axis=tuple(int(v) for v in x[1])) if len(x) > 1 and x[1] is not None \
                else np.squeeze(x[0])
        elif op == "Concat":
            y = np.concatenate(x, axis=a["axis"])
        elif op == "Reshape":
            shape = [int(s) for s in x[1]]
            shape = [x[0].shape[i] if s == 0 and not a.get("allowzero", 0) else s for i, s in enumerate(shape)]
            y = x[0].reshape(shape)
        elif op == "Range":
            y = np.arange(x[0], x[1], x[2]).astype(x[0].dtype)
        elif op in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "LessOrEqual", "Greater", "And"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Equal": np.equal,
                 "Less": np.less, "LessOrEqual": np.less_equal, "Greater": np.greater, "And": np.logical_and}
            if op == "Div":
                y = (x[0] // x[1]) if np.issubdtype(x[0].dtype, np.integer) else x[0] / x[1]
            else:
                y = f[op](x[0], x[1])
            if op in ("Add", "Sub", "Mul", "Div", "Pow"):
                y = np.asarray(y).astype(x[0].dtype)
        elif op in ("Not", "Tanh", "Sqrt", "Neg", "Identity", "Sin", "Cos"):
            y = {"Not": np.logical_not, "Tanh": np.tanh, "Sqrt": np.sqrt, "Neg": np.negative,
                 "Identity": lambda v: v, "Sin": np.sin, "Cos": np.cos}[op](x[0])
        elif op == "Sigmoid":
            y = (1.0 / (1.0 + np.exp(-x[0]))).astype(x[0].dtype)
        elif op == "Cast":
            y = x[0].astype(np_types[a["to"]])
        elif op == "Where":
            y = np.where(x[0], x[1], x[2])
        elif op == "MatMul":
            y = np.matmul(x[0], x[1])
        elif op == "Gemm":
            A = x[0].T if a.get("transA", 0) else x[0]
            B = x[1].T if a.get("transB", 0) else x[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(x) > 2 and x[2] is not None:
                y = y + a.get("beta", 1.0) * x[2]
            y = y.astype(np.float32)
        elif op == "Transpose":
            y = np.transpose(x[0], a.get("perm"))
        elif op == "Split":
            ax = a.get("axis", 0)
            sizes = x[1] if len(x) > 1 and x[1] is not None else a.get("split")
            y = np.split(x[0], np.cumsum(sizes)[:-1], axis=ax)
        elif op == "Slice":
            starts, ends = x[1], x[2]
            axes = x[3] if len(x) > 3 and x[3] is not None else range(len(starts))
            steps = x[4] if len(x) > 4 and x[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x[0].ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            y = x[0][tuple(sl)]
        elif op == "Softmax":
            ax = a.get("axis", -1)
            m = x[0] - x[0].max(axis=ax, keepdims=True)
            e = np.exp(m)
            y = e / e.sum(axis=ax, keepdims=True)
        elif op == "LayerNormalization":
            ax = a.get("axis", -1)
            axes = tuple(range(ax % x[0].ndim, x[0].ndim))
            mu = x[0].mean(axis=axes, keepdims=True)
            var = ((x[0] - mu) ** 2).mean(axis=axes, keepdims=True)
            y = (x[0] - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * x[1]
            if len(x) > 2 and x[2] is not None:
                y = y + x[2]
            y = y.astype(np.float32)
        elif op == "ReduceMean":
            y = x[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
            y = np.full(tuple(int(s) for s in x[0]), v.reshape(-1)[0], dtype=v.dtype)
        elif op == "Expand":
            y = x[0] * np.ones(tuple(int(s) for s in x[1]), dtype=x[0].dtype)
        else:
            raise NotImplementedError(f"numpy ONNX interpreter: op {op}")
        outs = y if op == "Split" else [y]
        for name, val in zip(node.output, outs):
            env[name] = np.asarray(val)
    return [env[o.name] for o in g.output]


# ---------------------------------------------------------------- writing
def write_json(path, obj, pretty=True):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2 if pretty else None)
        f.write("\n")


def write_cases(path, cases):
    """{"cases":[...]} with one case per line."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write('{"cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")


def tokenizer_json(vocab, merges, special_id):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": special_id, "content": SPECIAL, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


def export_onnx(model, path, n_layer):
    in_names = ["input_ids", "attention_mask"]
    out_names = ["logits"]
    axes = {"input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "past_sequence + sequence"},
            "logits": {0: "batch", 1: "sequence"}}
    for i in range(n_layer):
        for kv in ("key", "value"):
            in_names.append(f"past_key_values.{i}.{kv}")
            out_names.append(f"present.{i}.{kv}")
            axes[f"past_key_values.{i}.{kv}"] = {0: "batch", 2: "past_sequence"}
            axes[f"present.{i}.{kv}"] = {0: "batch", 2: "past_sequence + sequence"}
    # traced with a non-empty cache (batch 2, sequence 3, past 5) so that nothing specialises on 0
    gen = torch.Generator().manual_seed(1)
    heads, hd = model.cache_dims()
    ids = torch.randint(0, model.vocab_size, (2, 3), generator=gen)
    mask = torch.ones(2, 8, dtype=torch.long)
    past = [torch.randn(2, heads, 5, hd, generator=gen) for _ in range(2 * n_layer)]
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask, *past), path, opset_version=17, input_names=in_names,
                          output_names=out_names, dynamic_axes=axes, do_constant_folding=True)
    return in_names, out_names


def greedy_cases(model, tok, special_id, max_positions):
    """greedy.json's cases for PROMPTS from the eager module with its KV cache; checks that a full no-cache pass
    gives the same argmaxes (the cache is consistent) and that each case has at least 5 distinct ids.
    (cases, per case the smallest gap between the largest and the second largest logit over its steps)."""
    step = eager_step(model)
    g_cases, gaps = [], []
    for prompt in PROMPTS:
        p_ids = tok.encode(prompt)
        new = greedy(step, p_ids, NEW_TOKENS)
        assert len(p_ids) + NEW_TOKENS <= max_positions
        assert len(set(new)) >= 5, f"greedy on {prompt!r} has only {len(set(new))} distinct ids: {new}"
        full = torch.tensor([p_ids + new])
        with torch.no_grad():
            full_logits = model(full, torch.ones_like(full), *empty_past(model, 1))[0]
        assert [int(t) for t in full_logits[0, len(p_ids) - 1:-1].argmax(-1)] == new, "cache vs no-cache"
        top2 = full_logits[0, len(p_ids) - 1:-1].topk(2, dim=-1).values
        gaps.append(float((top2[:, 0] - top2[:, 1]).min()))
        raw = tok.decode_bytes(new)
        try:
            raw.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        g_cases.append({"prompt": prompt, "prompt_ids": p_ids, "new_ids": new, "text": tok.decode(new)})
        print(f"greedy {prompt!r}: {len(p_ids)} prompt ids, {len(set(new))} distinct new ids, "
              f"eos {'present' if special_id in new else 'absent'}, continuation bytes "
              f"{'valid' if valid else 'NOT valid'} UTF-8, smallest top-1/top-2 logit gap {gaps[-1]:.4f}")
    return g_cases, gaps


def export_and_verify(model, onnx_path, tok, g_cases):
    """Exports the module to onnx_path (export_onnx) and checks the graph: onnx.checker, the names, the numpy
    interpreter against the eager module (past 0 and 5, batch 2 with a left-padded row) and the greedy loops.
    (input names, output names)."""
    import onnx
    in_names, out_names = export_onnx(model, onnx_path, model.n_layer)
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto, full_check=True)
    got_in = [i.name for i in proto.graph.input]
    got_out = [o.name for o in proto.graph.output]
    assert got_in == in_names and got_out == out_names, (got_in, got_out)
    print("onnx inputs:", got_in)
    print("onnx outputs:", got_out)
    print("onnx ops:", sorted({n.op_type for n in proto.graph.node}))
    vocab_size = model.vocab_size
    heads, hd = model.cache_dims()

    def onnx_step(ids, mask, past):
        if past is None:
            past = empty_past(model, ids.size(0))
        feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
        for i, p in enumerate(past):
            feeds[in_names[2 + i]] = p.numpy() if isinstance(p, torch.Tensor) else p
        res = run_onnx(proto, feeds)
        return torch.from_numpy(res[0]), list(res[1:])

    def compare(ids, mask, past, what):
        with torch.no_grad():
            want = model(ids, mask, *past)
        got = run_onnx(proto, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                               **{n: p.numpy() for n, p in zip(in_names[2:], past)}})
        assert len(got) == len(want)
        err = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))
        assert all(g.shape == tuple(w.shape) for g, w in zip(got, want))
        b, t = ids.shape
        assert want[0].shape == (b, t, vocab_size), want[0].shape
        assert all(w.shape == (b, heads, past[0].size(2) + t, hd) for w in want[1:]), [w.shape for w in want]
        assert err < 1e-4, f"{what}: onnx vs eager max abs diff {err}"
        print(f"onnx == eager ({what}): shapes {[tuple(w.shape) for w in want[:2]]}, max abs diff {err:.2e}")
        return want

    ids = torch.tensor([tok.encode(PROMPTS[2])[:5]])
    pre = compare(ids, torch.ones(1, 5, dtype=torch.long), empty_past(model, 1), "past 0, batch 1, sequence 5")
    compare(torch.tensor([[7]]), torch.ones(1, 6, dtype=torch.long), list(pre[1:]), "past 5, batch 1, sequence 1")
    compare(torch.tensor([[7, 8, 9]]), torch.ones(1, 8, dtype=torch.long), list(pre[1:]),
            "past 5, batch 1, sequence 3")
    gen2 = torch.Generator().manual_seed(2)
    ids2 = torch.randint(0, vocab_size, (2, 4), generator=gen2)
    mask2 = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    pre2 = compare(ids2, mask2, empty_past(model, 2), "past 0, batch 2, sequence 4, row 0 left-padded")
    compare(torch.tensor([[3], [4]]), torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]), list(pre2[1:]),
            "past 4, batch 2, sequence 1, row 0 left-padded")
    for c in g_cases:
        assert greedy(onnx_step, c["prompt_ids"], NEW_TOKENS) == c["new_ids"], "onnx greedy differs"
    print("onnx greedy == eager greedy for all prompts")
    return in_names, out_names


def tiny_llama(vocab_size):
    """llama_tiny.onnx's module: LLAMA_CFG seeded with LLAMA_SEED and initialised by init_weights, in eval mode (the
    fixture modes rebuild it with this, call for call)."""
    torch.manual_seed(LLAMA_SEED)
    gen = torch.Generator().manual_seed(LLAMA_SEED)
    model = TinyLlama(vocab_size, **LLAMA_CFG)
    init_weights(model, gen)
    model.eval()
    return model


def check_greedy(out, label, model, tok, golden):
    """The module's greedy ids (with the cache) are every case's of out/golden, and its prompts' ids the tokenizer's;
    returns the cases."""
    with open(os.path.join(out, golden), encoding="utf-8") as f:
        g_cases = json.load(f)["cases"]
    step = eager_step(model)
    for g in g_cases:
        assert tok.encode(g["prompt"]) == g["prompt_ids"], f"prompt ids of {g['prompt']!r}"
        assert greedy(step, g["prompt_ids"], len(g["new_ids"])) == g["new_ids"], \
            f"rebuilt {label}: greedy on {g['prompt']!r} differs from {golden}"
    print(f"{label}: rebuilt module == {golden} ({len(g_cases)} cases, greedy with the cache)")
    return g_cases


def make_llama(out, tok, vocab_size, special_id):
    """llama_tiny.onnx, llama_tiny_config.json, llama_greedy.json; a dict for the README."""
    c = LLAMA_CFG
    model = tiny_llama(vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"llama: {c}, vocab {vocab_size}: {n_params} parameters")
    write_json(os.path.join(out, LLAMA_STEM + "_config.json"),
               {"vocab_size": vocab_size, "max_position_embeddings": c["max_position_embeddings"],
                "hidden_size": c["hidden_size"], "num_hidden_layers": c["num_hidden_layers"],
                "num_attention_heads": c["num_attention_heads"], "num_key_value_heads": c["num_key_value_heads"],
                "eos_token_id": special_id})

    # the module against the separate numpy implementation (float64), on each prompt followed by 20 more ids
    gen3 = torch.Generator().manual_seed(3)
    worst = 0.0
    for prompt in PROMPTS:
        ids = tok.encode(prompt) + [int(i) for i in torch.randint(0, vocab_size, (20,), generator=gen3)]
        with torch.no_grad():
            got = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long),
                        *empty_past(model, 1))[0][0].numpy()
        ref = llama_reference(model, ids)
        err = float(np.abs(got - ref).max())
        assert err < 1e-4, f"llama module vs numpy reference: max abs diff {err}"
        worst = max(worst, err)
    print(f"llama module == numpy reference (3 sequences of 28..71 tokens): max abs diff {worst:.2e}")

    g_cases, gaps = greedy_cases(model, tok, special_id, c["max_position_embeddings"])
    write_cases(os.path.join(out, "llama_greedy.json"), g_cases)
    import onnx
    onnx_path = os.path.join(out, LLAMA_STEM + ".onnx")
    in_names, out_names = export_and_verify(model, onnx_path, tok, g_cases)
    ops = sorted({n.op_type for n in onnx.load(onnx_path).graph.node})
    return {"n_params": n_params, "in_names": in_names, "out_names": out_names, "g_cases": g_cases, "gaps": gaps,
            "ops": ops, "ref_err": worst}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def load_fixture_tokenizer(path):
    """(Tokenizer, special id) from a tokenizer.json this script wrote (testdata/decoder/tokenizer.json)."""
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    merges = [tuple(m.split(" ")) for m in tj["model"]["merges"]]
    assert all(len(m) == 2 for m in merges), "a merge is not 'left right'"
    special_id = vocab[SPECIAL]
    return Tokenizer(vocab, merges, SPECIAL), special_id


def main_large(out):
    """--large OUT_DIR: the GPT-2 small benchmark model (not committed), its config, one greedy case and a copy
    of the fixture tokenizer."""
    import shutil
    import time
    import onnx
    torch.set_num_threads(2)
    os.makedirs(out, exist_ok=True)
    fixture_tok = os.path.join(ROOT, "testdata", "decoder", "tokenizer.json")
    tok, special_id = load_fixture_tokenizer(fixture_tok)
    shutil.copyfile(fixture_tok, os.path.join(out, "tokenizer.json"))

    t0 = time.time()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = TinyGPT2(**LARGE_CFG)
    init_weights(model, gen)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"GPT-2 small layout {LARGE_CFG}: {n_params} parameters, init {time.time() - t0:.1f} s")
    write_json(os.path.join(out, LARGE_STEM + "_config.json"),
               {"vocab_size": LARGE_CFG["vocab"], "n_positions": LARGE_CFG["n_positions"],
                "n_embd": LARGE_CFG["n_embd"], "n_layer": LARGE_CFG["n_layer"], "n_head": LARGE_CFG["n_head"],
                "eos_token_id": special_id})

    # ---- greedy case (eager module with its KV cache)
    step = eager_step(model)
    p_ids = tok.encode(LARGE_PROMPT)
    t0 = time.time()
    new = greedy(step, p_ids, LARGE_NEW_TOKENS)
    print(f"eager greedy ({LARGE_NEW_TOKENS} tokens): {time.time() - t0:.1f} s")
    full = torch.tensor([p_ids + new])
    with torch.no_grad():
        full_logits = model(full, torch.ones_like(full), *empty_past(model, 1))[0]
    assert [int(t) for t in full_logits[0, len(p_ids) - 1:-1].argmax(-1)] == new, "cache vs no-cache"
    in_tok = all(i < len(tok.id_to_token) for i in new)
    case = {"prompt": LARGE_PROMPT, "prompt_ids": p_ids, "new_ids": new,
            "text": tok.decode(new) if in_tok else None}
    write_cases(os.path.join(out, "greedy.json"), [case])
    print(f"greedy {LARGE_PROMPT!r}: prompt_ids {p_ids}")
    print(f"  new_ids {new}")
    print(f"  {len(set(new))} distinct, {sum(i >= len(tok.id_to_token) for i in new)} of {len(new)} outside the "
          f"tokenizer's {len(tok.id_to_token)} ids, eos {'present' if special_id in new else 'absent'}")
    if new == LARGE_RECORDED_NEW_IDS:
        print("  == the ids recorded in testdata/decoder/README.md")
    else:
        print(f"  WARNING: differ from the ids recorded in testdata/decoder/README.md: {LARGE_RECORDED_NEW_IDS}")

    # ---- ONNX (one file: < 2 GB, so torch.onnx.export does not switch to external data)
    onnx_path = os.path.join(out, LARGE_STEM + ".onnx")
    t0 = time.time()
    in_names, out_names = export_onnx(model, onnx_path, LARGE_CFG["n_layer"])
    export_s = time.time() - t0
    print(f"export: {export_s:.1f} s, {os.path.getsize(onnx_path)} bytes")
    extra = sorted(set(os.listdir(out)) - {"tokenizer.json", "greedy.json", LARGE_STEM + "_config.json",
                                           LARGE_STEM + ".onnx", LARGE_TIED_STEM + ".onnx", "greedy_tied.json",
                                           "hf"})
    assert not extra, f"unexpected files (external data?) in {out}: {extra}"
    proto = onnx.load(onnx_path)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer), "external data"
    onnx.checker.check_model(proto, full_check=True)
    got_in = [i.name for i in proto.graph.input]
    got_out = [o.name for o in proto.graph.output]
    assert got_in == in_names and got_out == out_names, (got_in, got_out)
    print(f"onnx: opset {proto.opset_import[0].version}, {len(got_in)} inputs, {len(got_out)} outputs, "
          f"ops {sorted({n.op_type for n in proto.graph.node})}")

    def onnx_run(ids, mask, past):
        return run_onnx(proto, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                **{n: (p.numpy() if isinstance(p, torch.Tensor) else p)
                                   for n, p in zip(in_names[2:], past)}})

    def compare(ids, mask, past, what):
        with torch.no_grad():
            want = model(ids, mask, *past)
        got = onnx_run(ids, mask, past)
        assert len(got) == len(want) and all(g.shape == tuple(w.shape) for g, w in zip(got, want))
        err = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))
        scale = max(float(np.abs(w.numpy()).max()) for w in want)
        assert err < 1e-4 * max(1.0, scale), f"{what}: onnx vs eager max abs diff {err} (max abs value {scale})"
        print(f"onnx == eager ({what}): max abs diff {err:.2e} (max abs value {scale:.1f})")
        return want

    pre = compare(torch.tensor([p_ids[:5]]), torch.ones(1, 5, dtype=torch.long), empty_past(model, 1),
                  "past 0, batch 1, sequence 5")
    compare(torch.tensor([[7]]), torch.ones(1, 6, dtype=torch.long), list(pre[1:]), "past 5, batch 1, sequence 1")

    def onnx_step(ids, mask, past):
        res = onnx_run(ids, mask, past if past is not None else empty_past(model, ids.size(0)))
        return torch.from_numpy(res[0]), list(res[1:])

    assert greedy(onnx_step, p_ids, LARGE_NEW_TOKENS) == new, "onnx greedy differs"
    print("onnx greedy == eager greedy")
    print(f"export time {export_s:.1f} s")

    large_tied(out, model, tok, special_id, p_ids, fixture_tok)
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if os.path.isdir(path):
            for sub in sorted(os.listdir(path)):
                print(f"{os.path.getsize(os.path.join(path, sub)):>10}  {name}/{sub}")
        else:
            print(f"{os.path.getsize(path):>10}  {name}")


def write_safetensors(path, tensors):
    """The safetensors format: 8-byte little-endian header length, a JSON header {name: {dtype, shape,
    data_offsets [begin, end) relative to the data}} (padded with spaces to a multiple of 8 bytes), the raw
    little-endian data. tensors: list of (name, float32 numpy array), written in that order."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    arrays = []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        arrays.append(a)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-(8 + len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for a in arrays:
            f.write(a.tobytes())


def read_safetensors(path):
    """{name: numpy array} from a file write_safetensors wrote (F32 only)."""
    with open(path, "rb") as f:
        blob = f.read()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    base = 8 + n
    return {k: np.frombuffer(blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]], dtype="<f4")
            .reshape(v["shape"]) for k, v in header.items() if v["dtype"] == "F32"}


def large_tied(out, model, tok, special_id, p_ids, fixture_tok):
    """--large, second part: the same module with lm_head tied to wte (model is changed in place), exported to
    LARGE_TIED_STEM.onnx, its greedy golden (LARGE_TIED_NEW_TOKENS tokens) and OUT/hf/ in Hugging Face's GPT-2
    layout for peers that load safetensors (Jlama)."""
    import shutil
    import time
    import onnx
    model.lm_head.weight = model.wte.weight  # tied: every other weight as in LARGE_STEM.onnx
    step = eager_step(model)
    t0 = time.time()
    new = greedy(step, p_ids, LARGE_TIED_NEW_TOKENS)
    full = torch.tensor([p_ids + new])
    with torch.no_grad():
        full_logits = model(full, torch.ones_like(full), *empty_past(model, 1))[0]
    assert [int(t) for t in full_logits[0, len(p_ids) - 1:-1].argmax(-1)] == new, "tied: cache vs no-cache"
    top2 = full_logits[0, len(p_ids) - 1:-1].topk(2, dim=-1).values
    gaps = top2[:, 0] - top2[:, 1]
    gap, gap_step = float(gaps.min()), int(gaps.argmin())
    in_tok = all(i < len(tok.id_to_token) for i in new)
    write_cases(os.path.join(out, "greedy_tied.json"),
                [{"prompt": LARGE_PROMPT, "prompt_ids": p_ids, "new_ids": new,
                  "text": tok.decode(new) if in_tok else None, "min_gap": round(gap, 6), "min_gap_step": gap_step}])
    print(f"tied greedy ({LARGE_TIED_NEW_TOKENS} tokens, {time.time() - t0:.1f} s): new_ids {new}")
    print(f"  {len(set(new))} distinct, {sum(i >= len(tok.id_to_token) for i in new)} outside the tokenizer, "
          f"smallest top-1/top-2 logit gap {gap:.4f} (new id {gap_step})")

    onnx_path = os.path.join(out, LARGE_TIED_STEM + ".onnx")
    t0 = time.time()
    in_names, out_names = export_onnx(model, onnx_path, LARGE_CFG["n_layer"])
    print(f"tied export: {time.time() - t0:.1f} s, {os.path.getsize(onnx_path)} bytes")
    proto = onnx.load(onnx_path)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer), "external data"
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == in_names and [o.name for o in proto.graph.output] == out_names

    def onnx_step(ids, mask, past):
        res = run_onnx(proto, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                               **{n: (p.numpy() if isinstance(p, torch.Tensor) else p)
                                  for n, p in zip(in_names[2:], past if past is not None
                                                  else empty_past(model, ids.size(0)))}})
        return torch.from_numpy(res[0]), list(res[1:])

    assert greedy(onnx_step, p_ids, LARGE_TIED_NEW_TOKENS) == new, "tied: onnx greedy differs"
    print("tied: onnx greedy == eager greedy")

    # ---- Hugging Face GPT-2 layout (GPT2LMHeadModel's state dict without the "transformer." prefix)
    hf = os.path.join(out, "hf")
    os.makedirs(hf, exist_ok=True)
    lc = LARGE_CFG
    write_json(os.path.join(hf, "config.json"), {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": lc["vocab"], "n_ctx": lc["n_positions"], "n_positions": lc["n_positions"],
        "n_embd": lc["n_embd"], "n_head": lc["n_head"], "n_layer": lc["n_layer"], "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True,
        "bos_token_id": special_id, "eos_token_id": special_id, "torch_dtype": "float32",
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
        "use_cache": True})
    state = [(k, v.detach().numpy()) for k, v in model.state_dict().items() if k != "lm_head.weight"]
    names = [k for k, _ in state]
    want = ["wte.weight", "wpe.weight"] + [f"h.{i}.{n}" for i in range(lc["n_layer"]) for n in (
        "ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
        "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
        "mlp.c_proj.bias")] + ["ln_f.weight", "ln_f.bias"]
    assert names == want, names
    st_path = os.path.join(hf, "model.safetensors")
    write_safetensors(st_path, state)
    back = read_safetensors(st_path)
    assert list(back) == names and all(np.array_equal(back[k], v) for k, v in state), "safetensors round trip"
    assert back["h.0.attn.c_attn.weight"].shape == (lc["n_embd"], 3 * lc["n_embd"])
    del back
    shutil.copyfile(fixture_tok, os.path.join(hf, "tokenizer.json"))
    print(f"hf/: config.json, model.safetensors ({os.path.getsize(st_path)} bytes, {len(state)} tensors, "
          f"read back equal), tokenizer.json")


HF_TINY_DIR = "gpt2_tiny_hf"
HF_BLOCK_NAMES = ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                  "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                  "mlp.c_proj.weight", "mlp.c_proj.bias")


def gpt2_reference(sd, config, ids):
    """The logits [T, V] of one unpadded sequence from an HF GPT-2 state dict (names without "transformer.",
    numpy arrays) and its config.json, by a separate numpy implementation in float64: no cache, one head at a
    time, LayerNorm (x - mean) / sqrt(biased var + eps) * g + b, Conv1D x @ W[in, out] + b, scores / sqrt(head
    size) with key j hidden from query t when j > t, gelu_new, lm_head x @ W.T."""
    sd = {k: v.astype(np.float64) for k, v in sd.items()}
    d, heads, eps = config["n_embd"], config["n_head"], config["layer_norm_epsilon"]
    hd, T = d // heads, len(ids)

    def ln(x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * g + b

    def gelu(x):
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    x = sd["wte.weight"][ids] + sd["wpe.weight"][np.arange(T)]
    for i in range(config["n_layer"]):
        w = lambda n: sd[f"h.{i}.{n}"]  # noqa: E731
        qkv = ln(x, w("ln_1.weight"), w("ln_1.bias")) @ w("attn.c_attn.weight") + w("attn.c_attn.bias")
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        att = np.zeros((T, d))
        for h in range(heads):
            cols = slice(h * hd, (h + 1) * hd)
            sc = q[:, cols] @ k[:, cols].T / math.sqrt(hd)
            sc[np.triu(np.ones((T, T), dtype=bool), 1)] = -np.inf
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            att[:, cols] = (sc / sc.sum(-1, keepdims=True)) @ v[:, cols]
        x = x + att @ w("attn.c_proj.weight") + w("attn.c_proj.bias")
        m = gelu(ln(x, w("ln_2.weight"), w("ln_2.bias")) @ w("mlp.c_fc.weight") + w("mlp.c_fc.bias"))
        x = x + m @ w("mlp.c_proj.weight") + w("mlp.c_proj.bias")
    x = ln(x, sd["ln_f.weight"], sd["ln_f.bias"])
    return x @ (sd["lm_head.weight"] if "lm_head.weight" in sd else sd["wte.weight"]).T


def write_tiny_hf(out, model, special_id, g_cases):
    """OUT/gpt2_tiny_hf/: gpt2_tiny.onnx's weights (the module's, untied lm_head) in Hugging Face's GPT-2 layout:
    config.json, model.safetensors, a copy of tokenizer.json. Checks: the safetensors file read back equals the
    state dict; a fresh TinyGPT2 loaded from it (strict) gives bit-identical logits and the same greedy ids as the
    module; a float64 numpy implementation over the file's tensors and config.json agrees within 1e-4.
    A dict for the README."""
    import shutil
    hf = os.path.join(out, HF_TINY_DIR)
    os.makedirs(hf, exist_ok=True)
    c = CFG
    config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": model.vocab_size, "n_ctx": c["n_positions"], "n_positions": c["n_positions"],
        "n_embd": c["n_embd"], "n_head": c["n_head"], "n_layer": c["n_layer"], "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "tie_word_embeddings": False,
        "bos_token_id": special_id, "eos_token_id": special_id, "torch_dtype": "float32",
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "scale_attn_weights": True,
        "use_cache": True}
    write_json(os.path.join(hf, "config.json"), config)
    state = [(k, v.detach().numpy()) for k, v in model.state_dict().items()]
    names = [k for k, _ in state]
    want = ["wte.weight", "wpe.weight"] + [f"h.{i}.{n}" for i in range(c["n_layer"]) for n in HF_BLOCK_NAMES] + \
        ["ln_f.weight", "ln_f.bias", "lm_head.weight"]
    assert names == want, names
    st_path = os.path.join(hf, "model.safetensors")
    write_safetensors(st_path, state)
    shutil.copyfile(os.path.join(out, "tokenizer.json"), os.path.join(hf, "tokenizer.json"))

    # read back: the same tensors (names, order, shapes, bits)
    back = read_safetensors(st_path)
    assert list(back) == names and all(np.array_equal(back[k], v) for k, v in state), "safetensors round trip"
    d, V = c["n_embd"], model.vocab_size
    shapes = {k: tuple(v.shape) for k, v in back.items()}
    assert shapes["h.0.attn.c_attn.weight"] == (d, 3 * d) and shapes["h.0.attn.c_proj.weight"] == (d, d)
    assert shapes["h.0.mlp.c_fc.weight"] == (d, 4 * d) and shapes["h.0.mlp.c_proj.weight"] == (4 * d, d)
    assert shapes["lm_head.weight"] == (V, d) and shapes["wte.weight"] == (V, d)
    assert shapes["wpe.weight"] == (c["n_positions"], d)
    assert not np.array_equal(back["lm_head.weight"], back["wte.weight"]), "lm_head should be untied"
    with open(os.path.join(hf, "config.json"), encoding="utf-8") as f:
        config_back = json.load(f)

    # a fresh module from the file only: bit-identical logits (no cache, with a cache, batch 2 with padding)
    # and the same greedy ids
    fresh = TinyGPT2(config_back["vocab_size"], config_back["n_positions"], config_back["n_embd"],
                     config_back["n_layer"], config_back["n_head"])
    fresh.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in back.items()}, strict=True)
    fresh.eval()
    checks = 0
    for g in g_cases:
        ids = torch.tensor([g["prompt_ids"] + g["new_ids"]])
        mask = torch.ones_like(ids)
        with torch.no_grad():
            a = model(ids, mask, *empty_past(model, 1))
            b = fresh(ids, mask, *empty_past(fresh, 1))
        assert all(torch.equal(x, y) for x, y in zip(a, b)), "fresh module from safetensors: logits differ"
        with torch.no_grad():
            a2 = model(torch.tensor([[7, 8, 9]]), torch.ones(1, ids.size(1) + 3, dtype=torch.long), *a[1:])
            b2 = fresh(torch.tensor([[7, 8, 9]]), torch.ones(1, ids.size(1) + 3, dtype=torch.long), *b[1:])
        assert all(torch.equal(x, y) for x, y in zip(a2, b2)), "fresh module from safetensors: cached step differs"
        assert greedy(eager_step(fresh), g["prompt_ids"], NEW_TOKENS) == g["new_ids"], "fresh module: greedy"
        checks += 1
    ids2 = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 12]])
    mask2 = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    with torch.no_grad():
        assert all(torch.equal(x, y) for x, y in zip(model(ids2, mask2, *empty_past(model, 2)),
                                                      fresh(ids2, mask2, *empty_past(fresh, 2)))), "padded batch"
    print(f"{HF_TINY_DIR}: a fresh module from model.safetensors == the module, bit for bit ({checks} prompts + "
          f"32 new ids without cache, a 3-token cached step, a left-padded batch of 2; greedy ids equal)")

    # an independent float64 numpy implementation from the file's tensors and config.json
    worst = 0.0
    for g in g_cases:
        seq = g["prompt_ids"] + g["new_ids"]
        ref = gpt2_reference(back, config_back, seq)
        with torch.no_grad():
            got = model(torch.tensor([seq]), torch.ones(1, len(seq), dtype=torch.long),
                        *empty_past(model, 1))[0][0].numpy()
        err = float(np.abs(got - ref).max())
        assert err < 1e-4, f"{HF_TINY_DIR}: numpy reference vs module max abs diff {err}"
        assert [int(t) for t in ref[len(g["prompt_ids"]) - 1:-1].argmax(-1)] == g["new_ids"], "reference argmax"
        worst = max(worst, err)
    print(f"{HF_TINY_DIR}: float64 numpy GPT-2 from the safetensors + config.json == the module: max abs diff "
          f"{worst:.2e}, argmaxes = greedy.json's new ids")
    for name in sorted(os.listdir(hf)):
        print(f"{os.path.getsize(os.path.join(hf, name)):>9}  {HF_TINY_DIR}/{name}")
    return {"shapes": shapes, "size": os.path.getsize(st_path), "ref_err": worst}


# ---------------------------------------------------------------- Llama in Hugging Face's layout
LLAMA_HF_DIR = "llama_tiny_hf"
# --large-llama: TinyLlama-1.1B's shape (vocab as its; the fixture tokenizer uses only ids < 557)
LARGE_LLAMA_DIR = "llama_1b_hf"
LARGE_LLAMA_VOCAB = 32000
LARGE_LLAMA_CFG = dict(max_position_embeddings=2048, hidden_size=2048, num_hidden_layers=22, num_attention_heads=32,
                       num_key_value_heads=4, intermediate_size=5632, rms_norm_eps=1e-5, rope_theta=10000.0)
LARGE_LLAMA_SEED = 24  # seeds 22 and 23 (std 0.02) give near-ties of 0.0002 and 0.0006 between the top two logits
                       # in the greedy run; 24 gives 0.0056 (logits about 0.9 std)
LARGE_LLAMA_STD = 0.02
LARGE_LLAMA_NEW_TOKENS = 32
LLAMA_HF_LAYER_NAMES = ("input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                        "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight")


def llama_hf_name(name):
    """TinyLlama's state-dict name -> LlamaForCausalLM's (everything but lm_head under "model.")."""
    return name if name == "lm_head.weight" else "model." + name


def llama_module_name(hf_name):
    """LlamaForCausalLM's name -> TinyLlama's (the inverse of llama_hf_name)."""
    return hf_name[len("model."):] if hf_name.startswith("model.") else hf_name


def llama_hf_shapes(vocab, cfg):
    """[(HF name, shape)] of LlamaForCausalLM's state dict in TinyLlama's parameter order (nn.Linear [out, in])."""
    d, inner = cfg["hidden_size"], cfg["intermediate_size"]
    hd = d // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    layer = dict(zip(LLAMA_HF_LAYER_NAMES, ((d,), (q, d), (kv, d), (kv, d), (d, q), (d,), (inner, d), (inner, d),
                                            (d, inner))))
    return [("model.embed_tokens.weight", (vocab, d))] + \
        [(f"model.layers.{i}.{n}", layer[n]) for i in range(cfg["num_hidden_layers"]) for n in LLAMA_HF_LAYER_NAMES] + \
        [("model.norm.weight", (d,)), ("lm_head.weight", (vocab, d))]


def llama_hf_config(vocab, cfg, special_id):
    """config.json for LlamaForCausalLM (untied head, SiLU, float32)."""
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
            "hidden_size": cfg["hidden_size"], "intermediate_size": cfg["intermediate_size"],
            "num_hidden_layers": cfg["num_hidden_layers"], "num_attention_heads": cfg["num_attention_heads"],
            "num_key_value_heads": cfg["num_key_value_heads"],
            "max_position_embeddings": cfg["max_position_embeddings"], "rms_norm_eps": cfg["rms_norm_eps"],
            "rope_theta": cfg["rope_theta"], "hidden_act": "silu", "tie_word_embeddings": False,
            "bos_token_id": special_id, "eos_token_id": special_id, "torch_dtype": "float32"}


def safetensors_header(entries):
    """The header bytes write_safetensors writes for [(name, shape)] of F32 tensors (padded, without the 8-byte
    length)."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        nbytes = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return hb + b" " * (-(8 + len(hb)) % 8)


def safetensors_size(entries):
    """The size of the file write_safetensors writes for [(name, shape)] of F32 tensors."""
    return 8 + len(safetensors_header(entries)) + sum(4 * math.prod(s) for _, s in entries)


def write_safetensors_streaming(path, tensors):
    """write_safetensors's file (the same bytes), one tensor at a time without a copy of the whole state:
    tensors is a list of (name, float32 torch tensor or numpy array), each written from its own memory."""
    hb = safetensors_header([(name, tuple(a.shape)) for name, a in tensors])
    with open(path, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for name, a in tensors:
            a = a.detach().contiguous().numpy() if isinstance(a, torch.Tensor) else np.ascontiguousarray(a)
            assert a.dtype == np.float32 and a.dtype.byteorder in "=<" and np.little_endian, (name, a.dtype)
            f.write(memoryview(a.reshape(-1)).cast("B"))


def safetensors_memmap(path):
    """{name: read-only numpy memmap} of a file write_safetensors wrote (F32 only), nothing read into memory."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    out = {}
    for k, v in header.items():
        assert v["dtype"] == "F32", (k, v["dtype"])
        b, e = v["data_offsets"]
        count = (e - b) // 4
        out[k] = np.memmap(path, dtype="<f4", mode="r", offset=8 + n + b, shape=(count,)).reshape(v["shape"]) \
            if count else np.zeros(v["shape"], dtype="<f4")
    return out


def llama_hf_state(model):
    """[(HF name, parameter tensor)] of a TinyLlama (no copies; inv_freq is a non-persistent buffer, not in it)."""
    state = [(llama_hf_name(k), v) for k, v in model.state_dict().items()]
    return state


class _FileParams:
    """named_parameters() over TinyLlama-named tensors read from a file, for llama_reference."""

    def __init__(self, tensors):
        self.tensors = tensors

    def named_parameters(self):
        return iter(self.tensors.items())


def main_llama_hf(out):
    """--llama-hf DIR: DIR/llama_tiny_hf/, llama_tiny.onnx's weights (make_llama's module, rebuilt with its seed and
    init from DIR/tokenizer.json's vocab size; nothing else in DIR is rewritten) in Hugging Face's LlamaForCausalLM
    layout: config.json, model.safetensors, a copy of tokenizer.json. Checks: the rebuilt module gives
    llama_greedy.json's ids; the file read back equals the module's tensors; a fresh TinyLlama loaded from it gives
    bit-identical logits and greedy ids; llama_reference over the file's tensors agrees with the module within 1e-4."""
    import shutil
    torch.set_num_threads(1)
    tok_path = os.path.join(out, "tokenizer.json")
    tok, special_id = load_fixture_tokenizer(tok_path)
    vocab_size = len(tok.vocab)
    c = LLAMA_CFG
    model = tiny_llama(vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"llama: {c}, vocab {vocab_size}: {n_params} parameters (rebuilt with seed {LLAMA_SEED})")
    g_cases = check_greedy(out, "llama", model, tok, "llama_greedy.json")

    hf = os.path.join(out, LLAMA_HF_DIR)
    os.makedirs(hf, exist_ok=True)
    write_json(os.path.join(hf, "config.json"), llama_hf_config(vocab_size, c, special_id))
    state = [(k, v.detach().numpy()) for k, v in llama_hf_state(model)]
    names = [k for k, _ in state]
    want = llama_hf_shapes(vocab_size, c)
    assert names == [k for k, _ in want], names
    assert all(tuple(v.shape) == s for (_, v), (_, s) in zip(state, want)), [v.shape for _, v in state]
    st_path = os.path.join(hf, "model.safetensors")
    write_safetensors(st_path, state)
    assert os.path.getsize(st_path) == safetensors_size(want), "safetensors size"
    shutil.copyfile(tok_path, os.path.join(hf, "tokenizer.json"))

    back = read_safetensors(st_path)
    assert list(back) == names and all(np.array_equal(back[k], v) for k, v in state), "safetensors round trip"
    assert not np.array_equal(back["lm_head.weight"], back["model.embed_tokens.weight"]), "lm_head should be untied"
    onnx_path = os.path.join(out, LLAMA_STEM + ".onnx")
    if os.path.isfile(onnx_path):  # the same weights as llama_tiny.onnx: each tensor is an initializer, as is or
        import onnx                # transposed (the exporter stores MatMul weights [in, out])
        from onnx import numpy_helper
        inits = [numpy_helper.to_array(t) for t in onnx.load(onnx_path).graph.initializer]
        for k, v in back.items():
            assert any(np.array_equal(i, v) or np.array_equal(i, v.T) for i in inits
                       if i.shape in (v.shape, v.T.shape) and i.dtype == np.float32), f"{k} not in {onnx_path}"
        print(f"every tensor is an initializer of {LLAMA_STEM}.onnx (as is or transposed)")
    with open(os.path.join(hf, "config.json"), encoding="utf-8") as f:
        config_back = json.load(f)
    cfg_back = {k: config_back[k] for k in c}
    assert cfg_back == c and config_back["vocab_size"] == vocab_size, config_back

    # a fresh module from the file and config.json only: bit-identical logits (no cache, a cached step) and greedy
    fresh = TinyLlama(config_back["vocab_size"], **cfg_back)
    fresh.load_state_dict({llama_module_name(k): torch.from_numpy(v.copy()) for k, v in back.items()}, strict=True)
    fresh.eval()
    for g in g_cases:
        ids = torch.tensor([g["prompt_ids"] + g["new_ids"]])
        mask = torch.ones_like(ids)
        with torch.no_grad():
            a = model(ids, mask, *empty_past(model, 1))
            b = fresh(ids, mask, *empty_past(fresh, 1))
            assert all(torch.equal(x, y) for x, y in zip(a, b)), "fresh module from safetensors: logits differ"
            m3 = torch.ones(1, ids.size(1) + 3, dtype=torch.long)
            a2 = model(torch.tensor([[7, 8, 9]]), m3, *a[1:])
            b2 = fresh(torch.tensor([[7, 8, 9]]), m3, *b[1:])
        assert all(torch.equal(x, y) for x, y in zip(a2, b2)), "fresh module from safetensors: cached step differs"
        assert greedy(eager_step(fresh), g["prompt_ids"], len(g["new_ids"])) == g["new_ids"], "fresh: greedy"
    print(f"{LLAMA_HF_DIR}: a fresh module from model.safetensors + config.json == the module, bit for bit "
          f"({len(g_cases)} prompts + new ids without cache, a 3-token cached step; greedy ids equal)")

    # llama_reference (float64 numpy) over the file's tensors, names mapped back, against the module
    gen3 = torch.Generator().manual_seed(3)
    ids = tok.encode(PROMPTS[0]) + [int(i) for i in torch.randint(0, vocab_size, (20,), generator=gen3)]
    file_params = _FileParams({llama_module_name(k): torch.from_numpy(v.copy()) for k, v in back.items()})
    ref = llama_reference(file_params, ids)
    with torch.no_grad():
        got = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), *empty_past(model, 1))[0][0]
    err = float(np.abs(got.numpy() - ref).max())
    assert err < 1e-4, f"{LLAMA_HF_DIR}: numpy reference vs module max abs diff {err}"
    print(f"{LLAMA_HF_DIR}: float64 numpy Llama (llama_reference) over the safetensors == the module on "
          f"{len(ids)} ids ({PROMPTS[0]!r} + 20): max abs diff {err:.2e}")
    for name in sorted(os.listdir(hf)):
        p = os.path.join(hf, name)
        print(f"{os.path.getsize(p):>9}  {sha256(p)[:16]}  {LLAMA_HF_DIR}/{name}")


# ---------------------------------------------------------------- TorchScript traces of the two tiny decoders
TS_SUFFIX = "_trace.pt"
TS_STEMS = ("gpt2_tiny", LLAMA_STEM)
TS_EXAMPLE_T, TS_EXAMPLE_P = 3, 5  # the trace's example inputs: batch 1, 3 new tokens after a past of 5
TS_SEED = 25  # the example inputs' ids and past tensors
# forward's arguments after self, as TorchScript names them in both files: the first two from the module's signature,
# the *past ones from the decoder layers' forward (past_key, past_value), made unique by the tracer with a suffix
TS_ARG_NAMES = ("input_ids", "attention_mask", "past_key", "past_value", "past_key0", "past_value0")


def save_torchscript(module, path):
    """torch.jit.save(module) to path, less the debug records (code/**/*.debug_pkl: the Python stack of each traced op,
    with absolute file paths and this script's line numbers, which would change the file with every edit above the
    model classes and with the checkout's location). The other records are copied unchanged and in their order by
    torch's own zip writer (archive prefix from the file name, 64-byte aligned data, the same version record);
    torch.jit.load does not need the debug records. [(record, size)] of what was written."""
    import zipfile
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    blob = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = z.namelist()
        contents = {n: z.read(n) for n in names}
    prefix = names[0].split("/")[0] + "/"
    assert all(n.startswith(prefix) for n in names), names
    version = int(contents[prefix + "version"].decode("ascii"))
    writer = torch._C.PyTorchFileWriter(path)
    writer.set_min_version(version)
    kept = []
    for n in names:
        rec = n[len(prefix):]
        if rec == "version" or rec.endswith(".debug_pkl"):
            continue
        writer.write_record(rec, contents[n], len(contents[n]))
        kept.append((rec, len(contents[n])))
    writer.write_end_of_file()
    del writer
    stem = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path) as z:  # the same records, bytes and order, under the file's own prefix
        back = [(n[len(stem) + 1:], z.read(n)) for n in z.namelist()]
    assert [r for r, _ in back] == [r for r, _ in kept] + ["version"], [r for r, _ in back]
    assert all(data == contents[prefix + r] for r, data in back), "a record changed"
    return kept + [("version", len(contents[prefix + "version"]))]


def trace_decoder(out, stem, model, tok, golden):
    """DIR/<stem>_trace.pt: torch.jit.trace of the module's forward with batch 1, TS_EXAMPLE_T new tokens and a
    random past of TS_EXAMPLE_P (torch's trace check re-traces with three other shapes, the empty past among them),
    saved by save_torchscript. Checks: the module gives the golden file's ids; the loaded file's forward has
    TS_ARG_NAMES; it agrees with the module on other batch sizes, sequences and past lengths (0 included, a padded
    row); the greedy loop through it (prefill with an empty past, then one token per step) gives every case's ids."""
    import warnings
    g_cases = check_greedy(out, stem, model, tok, golden)

    heads, hd = model.cache_dims()
    gen = torch.Generator().manual_seed(TS_SEED)

    def inputs(batch, t, p):
        ids = torch.randint(0, model.vocab_size, (batch, t), generator=gen)
        past = [torch.randn(batch, heads, p, hd, generator=gen) for _ in range(2 * model.n_layer)]
        return (ids, torch.ones(batch, p + t, dtype=torch.long), *past)

    example = inputs(1, TS_EXAMPLE_T, TS_EXAMPLE_P)
    checks = [example, inputs(1, 5, 0), inputs(1, 1, 7), inputs(2, 2, 4)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            traced = torch.jit.trace(model, example, check_inputs=checks)
    for msg in sorted({str(w.message).split(". ")[0] for w in caught}):
        why = " (the float32-min fill of the masked scores: a constant, as meant)" \
            if msg.startswith("torch.tensor results are registered as constants") else ""
        print(f"  tracer warning: {msg}{why}")
    path = os.path.join(out, stem + TS_SUFFIX)
    records = save_torchscript(traced, path)

    loaded = torch.jit.load(path)
    schema = loaded.forward.schema
    arg_names = tuple(a.name for a in schema.arguments[1:])
    print(f"{stem}{TS_SUFFIX}: forward schema: {schema}")
    assert arg_names == TS_ARG_NAMES, arg_names
    sig = loaded.code[:loaded.code.index(":\n")]
    print("  forward as TorchScript prints it: " + " ".join(sig.split()))

    # the loaded file against the eager module on shapes other than the example's
    worst = 0.0
    gen2 = torch.Generator().manual_seed(2)
    shapes = [(1, 5, 0), (1, 1, 5), (1, 3, 5), (1, 1, 63), (2, 4, 0), (2, 1, 4)]
    for batch, t, p in shapes:
        ids = torch.randint(0, model.vocab_size, (batch, t), generator=gen2)
        mask = torch.ones(batch, p + t, dtype=torch.long)
        if batch == 2:
            mask[0, :2] = 0  # a left-padded row
        past = [torch.randn(batch, heads, p, hd, generator=gen2) for _ in range(2 * model.n_layer)]
        with torch.no_grad():
            want = model(ids, mask, *past)
            got = loaded(ids, mask, *past)
        assert len(got) == len(want) and all(g.shape == w.shape for g, w in zip(got, want)), \
            ([tuple(g.shape) for g in got], [tuple(w.shape) for w in want])
        assert got[0].shape == (batch, t, model.vocab_size) and got[1].shape == (batch, heads, p + t, hd)
        worst = max(worst, max(float((g - w).abs().max()) for g, w in zip(got, want)))
    assert worst < 1e-5, f"{stem}{TS_SUFFIX} vs the eager module: max abs diff {worst}"
    print(f"  loaded file == eager module on (batch, sequence, past) {shapes}: max abs diff {worst:.1e}")

    def ts_step(ids, mask, past):
        with torch.no_grad():
            res = loaded(ids, mask, *(past if past is not None else empty_past(model, ids.size(0))))
        return res[0], list(res[1:])

    for g in g_cases:
        assert greedy(ts_step, g["prompt_ids"], len(g["new_ids"])) == g["new_ids"], \
            f"{stem}{TS_SUFFIX}: greedy on {g['prompt']!r} differs from {golden}"
    print(f"  greedy through the loaded file (prefill with past 0, then one token per step) == {golden} "
          f"({len(g_cases)} cases)")
    state = {k: tuple(v.shape) for k, v in loaded.state_dict().items()}
    print(f"  {len(records)} records, state {len(state)} tensors ({sum(math.prod(s) for s in state.values())} "
          f"values); {os.path.getsize(path)} bytes, sha256 {sha256(path)}")
    return state


def main_torchscript(out):
    """--torchscript DIR: DIR/gpt2_tiny_trace.pt and DIR/llama_tiny_trace.pt, traced TorchScript decoders of
    gpt2_tiny.onnx's and llama_tiny.onnx's modules (main()'s and make_llama's, rebuilt with their seeds and init from
    DIR/tokenizer.json's vocab size; the tokenizer is not retrained and nothing else in DIR is rewritten)."""
    torch.set_num_threads(1)
    tok, special_id = load_fixture_tokenizer(os.path.join(out, "tokenizer.json"))
    vocab_size = len(tok.vocab)
    # main()'s GPT-2, call for call
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    gpt2 = TinyGPT2(vocab_size, **CFG)
    init_weights(gpt2, gen)
    gpt2.eval()
    llama = tiny_llama(vocab_size)
    for stem, model, golden in ((TS_STEMS[0], gpt2, "greedy.json"), (TS_STEMS[1], llama, "llama_greedy.json")):
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{stem}: vocab {vocab_size}, {n_params} parameters (rebuilt)")
        trace_decoder(out, stem, model, tok, golden)
    for stem in TS_STEMS:
        p = os.path.join(out, stem + TS_SUFFIX)
        print(f"{os.path.getsize(p):>9}  {sha256(p)}  {stem}{TS_SUFFIX}")


# ---------------------------------------------------------------- GGUF files of the tiny Llama
GGUF_STEM = LLAMA_STEM
GGUF_REF = "llama_tiny_gguf_ref.json"
GGUF_ALIGNMENT = 32
GGUF_VERSION = 3
# GGUF metadata value types (gguf.h's gguf_type) and the little-endian struct formats of the scalar ones
GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16, GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL, GGUF_STRING, \
    GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64 = range(13)
GGUF_SCALAR_FMT = {GGUF_UINT8: "<B", GGUF_INT8: "<b", GGUF_UINT16: "<H", GGUF_INT16: "<h", GGUF_UINT32: "<I",
                   GGUF_INT32: "<i", GGUF_FLOAT32: "<f", GGUF_BOOL: "<?", GGUF_UINT64: "<Q", GGUF_INT64: "<q",
                   GGUF_FLOAT64: "<d"}
GGUF_TYPE_NAMES = {GGUF_UINT8: "uint8", GGUF_INT8: "int8", GGUF_UINT16: "uint16", GGUF_INT16: "int16",
                   GGUF_UINT32: "uint32", GGUF_INT32: "int32", GGUF_FLOAT32: "float32", GGUF_BOOL: "bool",
                   GGUF_STRING: "string", GGUF_ARRAY: "array", GGUF_UINT64: "uint64", GGUF_INT64: "int64",
                   GGUF_FLOAT64: "float64"}
# ggml tensor types used here: (name, elements per block, bytes per block)
GGML_F32, GGML_Q4_0, GGML_Q8_0 = 0, 2, 8
GGML_TYPES = {GGML_F32: ("F32", 1, 4), GGML_Q4_0: ("Q4_0", 32, 18), GGML_Q8_0: ("Q8_0", 32, 34)}
# the three files: (suffix, general.file_type (llama_ftype: 0 ALL_F32, 2 MOSTLY_Q4_0, 7 MOSTLY_Q8_0), type of the
# quantized matrices)
GGUF_VARIANTS = (("f32", 0, GGML_F32), ("q8_0", 7, GGML_Q8_0), ("q4_0", 2, GGML_Q4_0))
# llama.cpp's per-layer names (convert_hf_to_gguf.py's tensor map) -> the module's (modeling_llama.py's)
GGUF_LAYER_NAMES = (("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
                    ("attn_v", "self_attn.v_proj"), ("attn_output", "self_attn.o_proj"),
                    ("ffn_norm", "post_attention_layernorm"), ("ffn_gate", "mlp.gate_proj"),
                    ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"))
GGUF_QUANTIZED = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")  # + output.weight


def gguf_names(n_layer):
    """[(GGUF name, module parameter name)] in the files' order (llama.cpp's converter's names)."""
    return [("token_embd.weight", "embed_tokens.weight")] + \
        [(f"blk.{i}.{g}.weight", f"layers.{i}.{m}.weight") for i in range(n_layer) for g, m in GGUF_LAYER_NAMES] + \
        [("output_norm.weight", "norm.weight"), ("output.weight", "lm_head.weight")]


def gguf_is_quantized(name):
    """Whether a tensor is quantized in the Q8_0 / Q4_0 files (when its rows are whole blocks)."""
    return name == "output.weight" or (name.startswith("blk.") and name.split(".")[2] in GGUF_QUANTIZED)


def gguf_permute(w, n_head):
    """convert_hf_to_gguf.py's q/k permutation: the rows of each head from HF's rotate_half order [first half; second
    half] to GGML's interleaved RoPE pairs: row h*hd + 2*i + b of the result = row h*hd + b*(hd/2) + i of w."""
    hd = w.shape[0] // n_head
    return w.reshape(n_head, 2, hd // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_unpermute(w, n_head):
    """The inverse of gguf_permute."""
    hd = w.shape[0] // n_head
    return w.reshape(n_head, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensor_types(shapes, qtype):
    """{GGUF name: ggml type} for {GGUF name: numpy shape}: the quantized matrices in qtype when their rows (ne[0], the
    input dim) are whole blocks of 32, otherwise F32 (as convert_hf_to_gguf.py falls back for such rows)."""
    out = {}
    for name, shape in shapes.items():
        blk = GGML_TYPES[qtype][1]
        out[name] = qtype if gguf_is_quantized(name) and shape[-1] % blk == 0 else GGML_F32
    return out


def gguf_nbytes(ggml_type, shape):
    _, blk, size = GGML_TYPES[ggml_type]
    assert shape[-1] % blk == 0, (ggml_type, shape)
    return math.prod(shape[:-1]) * (shape[-1] // blk) * size


def gguf_metadata(tok, special_id, file_type):
    """[(key, GGUF value type, value)] of a file (an array's value is (element type, list))."""
    c = LLAMA_CFG
    tokens = sorted(tok.vocab, key=lambda t: tok.vocab[t])
    assert [tok.vocab[t] for t in tokens] == list(range(len(tokens))), "vocab ids are not 0..V-1"
    merges = sorted(tok.ranks, key=lambda p: tok.ranks[p])
    return [
        ("general.architecture", GGUF_STRING, "llama"),
        ("general.name", GGUF_STRING, GGUF_STEM),
        ("general.alignment", GGUF_UINT32, GGUF_ALIGNMENT),
        ("general.file_type", GGUF_UINT32, file_type),
        ("llama.context_length", GGUF_UINT32, c["max_position_embeddings"]),
        ("llama.embedding_length", GGUF_UINT32, c["hidden_size"]),
        ("llama.block_count", GGUF_UINT32, c["num_hidden_layers"]),
        ("llama.feed_forward_length", GGUF_UINT32, c["intermediate_size"]),
        ("llama.attention.head_count", GGUF_UINT32, c["num_attention_heads"]),
        ("llama.attention.head_count_kv", GGUF_UINT32, c["num_key_value_heads"]),
        ("llama.rope.freq_base", GGUF_FLOAT32, c["rope_theta"]),
        ("llama.rope.dimension_count", GGUF_UINT32, c["hidden_size"] // c["num_attention_heads"]),
        ("llama.attention.layer_norm_rms_epsilon", GGUF_FLOAT32, c["rms_norm_eps"]),
        ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.pre", GGUF_STRING, "gpt-2"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        ("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_INT32, [3 if i == special_id else 1
                                                                 for i in range(len(tokens))])),
        ("tokenizer.ggml.merges", GGUF_ARRAY, (GGUF_STRING, [f"{a} {b}" for a, b in merges])),
        ("tokenizer.ggml.bos_token_id", GGUF_UINT32, special_id),
        ("tokenizer.ggml.eos_token_id", GGUF_UINT32, special_id),
    ]


def _gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _gguf_value(vtype, value):
    if vtype == GGUF_STRING:
        return _gguf_string(value)
    if vtype == GGUF_ARRAY:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(_gguf_value(etype, v) for v in items)
    return struct.pack(GGUF_SCALAR_FMT[vtype], value)


def _pad(n, align=GGUF_ALIGNMENT):
    return -n % align


def gguf_layout(kvs, infos):
    """The bytes before the data section (header, metadata, tensor infos, zero padding to GGUF_ALIGNMENT) and the
    data section's layout for [(name, numpy shape, ggml type)]: (head bytes, [offset relative to the data section],
    data section size). Each tensor's data starts at a multiple of GGUF_ALIGNMENT and is followed by zero padding to
    the next multiple (the last one too), so the file ends on a multiple."""
    offsets, pos = [], 0
    for _, shape, t in infos:
        offsets.append(pos)
        n = gguf_nbytes(t, shape)
        pos += n + _pad(n)
    head = bytearray(b"GGUF")
    head += struct.pack("<IQQ", GGUF_VERSION, len(infos), len(kvs))
    for key, vtype, value in kvs:
        head += _gguf_string(key) + struct.pack("<I", vtype) + _gguf_value(vtype, value)
    for (name, shape, t), off in zip(infos, offsets):
        dims = list(reversed(shape))  # ne[0] first: the fastest-varying (PyTorch's last) axis
        head += _gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        head += struct.pack("<IQ", t, off)
    head += b"\0" * _pad(len(head))
    return bytes(head), offsets, pos


def _round_away(v):
    """C's roundf (halves away from zero) of float32 values, exactly (in float64)."""
    v = v.astype(np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize_q8_0(w):
    """ggml's quantize_row_q8_0_ref over the rows of a float32 [rows, ne0] array (blocks of 32 along ne0), in float32
    arithmetic: d = amax / 127, id = 1 / d (0 when d is 0), q = roundf(x * id); d stored as f16. Bytes."""
    x = np.ascontiguousarray(w, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = _round_away((x * inv[:, None]).astype(np.float32)).astype(np.int8)
    blocks = np.zeros(x.shape[0], dtype=np.dtype([("d", "<f2"), ("qs", "i1", (32,))]))
    blocks["d"] = d.astype(np.float16)
    blocks["qs"] = q
    assert blocks.dtype.itemsize == 34
    return blocks.tobytes()


def quantize_q4_0(w):
    """ggml's quantize_row_q4_0_ref over the rows of a float32 [rows, ne0] array (blocks of 32 along ne0), in float32
    arithmetic: max = the block's value of largest magnitude (the first such, with its sign), d = max / -8,
    id = 1 / d (0 when d is 0), nibble = min(15, (int)(x * id + 8.5)); d stored as f16, then 16 bytes, byte j =
    nibble of element j | nibble of element j + 16 << 4. Bytes."""
    x = np.ascontiguousarray(w, dtype=np.float32).reshape(-1, 32)
    idx = np.abs(x).argmax(axis=1)  # the first index of the largest magnitude
    mx = x[np.arange(x.shape[0]), idx]
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = ((x * inv[:, None]).astype(np.float32) + np.float32(8.5)).astype(np.float32)
    assert (v >= 0).all()
    nib = np.minimum(15, np.floor(v)).astype(np.uint8)  # (int8_t) truncation = floor here (v >= 0)
    blocks = np.zeros(x.shape[0], dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]))
    blocks["d"] = d.astype(np.float16)
    blocks["qs"] = nib[:, :16] | (nib[:, 16:] << 4)
    assert blocks.dtype.itemsize == 18
    return blocks.tobytes()


def _quantize_scalar(w, ggml_type):
    """The same bytes as quantize_q8_0 / quantize_q4_0, one value at a time in plain Python over float32 scalars
    (a cross-check of the vectorized code, the nibble order included)."""
    f32 = np.float32
    x = np.ascontiguousarray(w, dtype=np.float32).reshape(-1)
    out = bytearray()
    for b in range(0, x.size, 32):
        blk = [f32(v) for v in x[b:b + 32]]
        if ggml_type == GGML_Q8_0:
            amax = f32(0)
            for v in blk:
                amax = max(amax, f32(abs(v)))
            d = f32(amax / f32(127))
            inv = f32(f32(1) / d) if d != 0 else f32(0)
            out += np.float16(d).tobytes()
            for v in blk:
                t = float(f32(v * inv))
                q = int(math.floor(abs(t) + 0.5)) * (1 if t >= 0 else -1)
                out += struct.pack("<b", q)
        else:
            amax, mx = f32(0), f32(0)
            for v in blk:
                if amax < abs(v):
                    amax, mx = f32(abs(v)), v
            d = f32(mx / f32(-8))
            inv = f32(f32(1) / d) if d != 0 else f32(0)
            out += np.float16(d).tobytes()
            for j in range(16):
                lo = min(15, int(f32(f32(blk[j] * inv) + f32(8.5))))
                hi = min(15, int(f32(f32(blk[j + 16] * inv) + f32(8.5))))
                out.append(lo | (hi << 4))
    return bytes(out)


def gguf_dequantize(ggml_type, raw, shape):
    """float32 numpy array of the given (numpy) shape from a tensor's bytes, as ggml's dequantize_row_*: F32 as is,
    Q8_0 d * q, Q4_0 d * (nibble - 8) with element j of a block in the low nibble of byte j and element j + 16 in the
    high nibble."""
    if ggml_type == GGML_F32:
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    if ggml_type == GGML_Q8_0:
        b = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "i1", (32,))]))
        x = b["d"].astype(np.float32)[:, None] * b["qs"].astype(np.float32)
    elif ggml_type == GGML_Q4_0:
        b = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]))
        q = np.concatenate([b["qs"] & 0x0F, b["qs"] >> 4], axis=1).astype(np.int32) - 8
        x = b["d"].astype(np.float32)[:, None] * q.astype(np.float32)
    else:
        raise ValueError(f"ggml type {ggml_type}")
    return x.astype(np.float32).reshape(shape)


def gguf_block_scales(ggml_type, raw):
    """The f16 scales d of a Q8_0 / Q4_0 tensor's blocks, as float64."""
    size = GGML_TYPES[ggml_type][2]
    return np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("rest", "u1", (size - 2,))]))["d"].astype(np.float64)


def write_gguf(path, kvs, tensors):
    """A GGUF v3 file: kvs as gguf_metadata gives them, tensors [(name, ggml type, float32 numpy array)] in that
    order (quantized along the last numpy axis, ne[0]). (head size, [offset relative to the data section])."""
    infos = [(name, tuple(a.shape), t) for name, t, a in tensors]
    head, offsets, data_size = gguf_layout(kvs, infos)
    data = bytearray()
    for (name, t, a), off in zip(tensors, offsets):
        assert len(data) == off
        if t == GGML_F32:
            raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        elif t == GGML_Q8_0:
            raw = quantize_q8_0(a)
        else:
            raw = quantize_q4_0(a)
        assert len(raw) == gguf_nbytes(t, a.shape), name
        data += raw + b"\0" * _pad(len(raw))
    assert len(data) == data_size
    with open(path, "wb") as f:
        f.write(head)
        f.write(data)
    return len(head), offsets


class _GgufCursor:
    def __init__(self, blob):
        self.blob, self.pos = blob, 0

    def take(self, n):
        assert self.pos + n <= len(self.blob), "GGUF: read past the end"
        b = self.blob[self.pos:self.pos + n]
        self.pos += n
        return b

    def scalar(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return self.take(self.scalar("<Q")).decode("utf-8")

    def value(self, vtype):
        if vtype == GGUF_STRING:
            return self.string()
        if vtype == GGUF_ARRAY:
            etype, n = self.scalar("<I"), self.scalar("<Q")
            return etype, [self.value(etype) for _ in range(n)]
        return self.scalar(GGUF_SCALAR_FMT[vtype])


def read_gguf(path):
    """A GGUF file read independently of the writer: {"version", "kv": [(key, type, value)], "tensors": [{"name",
    "dims" (ne[0] first), "type", "offset"}], "alignment", "data_start", "size", "arrays": {name: float32 numpy
    array, dequantized}, "raw": {name: bytes}}. Checks the magic, the version, that each tensor's offset is a
    multiple of the alignment, that tensors follow each other with only padding between and that the file ends
    with the last one's padding."""
    with open(path, "rb") as f:
        blob = f.read()
    cur = _GgufCursor(blob)
    assert cur.take(4) == b"GGUF", "magic"
    version, n_tensors, n_kv = cur.scalar("<I"), cur.scalar("<Q"), cur.scalar("<Q")
    kv = []
    for _ in range(n_kv):
        key = cur.string()
        vtype = cur.scalar("<I")
        kv.append((key, vtype, cur.value(vtype)))
    tensors = []
    for _ in range(n_tensors):
        name = cur.string()
        nd = cur.scalar("<I")
        dims = [cur.scalar("<Q") for _ in range(nd)]
        tensors.append({"name": name, "dims": dims, "type": cur.scalar("<I"), "offset": cur.scalar("<Q")})
    meta = {k: v for k, _, v in kv}
    alignment = meta.get("general.alignment", 32)
    data_start = cur.pos + _pad(cur.pos, alignment)
    assert blob[cur.pos:data_start] == b"\0" * (data_start - cur.pos), "padding before the data section"
    arrays, raw, end = {}, {}, 0
    for t in tensors:
        shape = tuple(reversed(t["dims"]))
        n = gguf_nbytes(t["type"], shape)
        assert t["offset"] % alignment == 0 and t["offset"] == end + _pad(end, alignment), (t["name"], t["offset"])
        b = blob[data_start + t["offset"]:data_start + t["offset"] + n]
        assert len(b) == n, t["name"]
        raw[t["name"]] = b
        arrays[t["name"]] = gguf_dequantize(t["type"], b, shape)
        end = t["offset"] + n
    assert len(blob) == data_start + end + _pad(end, alignment), "file size"
    return {"version": version, "kv": kv, "tensors": tensors, "alignment": alignment, "data_start": data_start,
            "size": len(blob), "arrays": arrays, "raw": raw}


def gguf_llama_reference(meta, w, ids):
    """The logits [T, V] of one unpadded sequence from a GGUF file's metadata and (dequantized) tensors, by a numpy
    float64 Llama in GGML's conventions: no cache, one query head at a time, matrices [out, in] applied as x @ W^T,
    RoPE on the q/k rows as the file has them (permuted): GGML's interleaved pairs (2i, 2i + 1) of each head rotated
    by position * freq_base^(-2i/dimension_count), query head h reading key/value head h // (heads / kv heads)."""
    assert meta["general.architecture"] == "llama"
    d, heads = meta["llama.embedding_length"], meta["llama.attention.head_count"]
    kv, n_rot = meta["llama.attention.head_count_kv"], meta["llama.rope.dimension_count"]
    base, eps = meta["llama.rope.freq_base"], meta["llama.attention.layer_norm_rms_epsilon"]
    hd, T = d // heads, len(ids)
    assert n_rot == hd
    w = {k: v.astype(np.float64) for k, v in w.items()}

    def rms(x, g):
        return g * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)

    ang = np.arange(T)[:, None] * base ** (-np.arange(0, n_rot, 2) / n_rot)[None, :]  # [T, hd/2]
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(m):  # [T, hd], pairs (2i, 2i + 1)
        x0, x1 = m[:, 0::2], m[:, 1::2]
        out = np.empty_like(m)
        out[:, 0::2] = x0 * cos - x1 * sin
        out[:, 1::2] = x0 * sin + x1 * cos
        return out

    x = w["token_embd.weight"][ids]
    for i in range(meta["llama.block_count"]):
        p = f"blk.{i}."
        hn = rms(x, w[p + "attn_norm.weight"])
        q, k, v = (hn @ w[p + n + ".weight"].T for n in ("attn_q", "attn_k", "attn_v"))
        att = np.zeros((T, heads * hd))
        for h in range(heads):
            g = h // (heads // kv)
            s = rope(q[:, h * hd:(h + 1) * hd]) @ rope(k[:, g * hd:(g + 1) * hd]).T / math.sqrt(hd)
            s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            att[:, h * hd:(h + 1) * hd] = (s / s.sum(-1, keepdims=True)) @ v[:, g * hd:(g + 1) * hd]
        x = x + att @ w[p + "attn_output.weight"].T
        hn = rms(x, w[p + "ffn_norm.weight"])
        gate, up = hn @ w[p + "ffn_gate.weight"].T, hn @ w[p + "ffn_up.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "ffn_down.weight"].T
    return rms(x, w["output_norm.weight"]) @ w["output.weight"].T


def _gguf_greedy(meta, w, prompt_ids, n_new):
    """Greedy ids from gguf_llama_reference (a full pass per step, no cache)."""
    ids = list(prompt_ids)
    for _ in range(n_new):
        ids.append(int(np.argmax(gguf_llama_reference(meta, w, ids)[-1])))
    return ids[len(prompt_ids):]


def gguf_plan(vocab_size, tok, special_id):
    """[(file name, metadata, [(name, numpy shape, ggml type)])] of the three files, from the config and the
    tokenizer only (no weights): what the writer writes and the README describes."""
    c = LLAMA_CFG
    shapes = {g: s for g, (_, s) in zip((n for n, _ in gguf_names(c["num_hidden_layers"])),
                                         llama_hf_shapes(vocab_size, c))}
    plans = []
    for suffix, file_type, qtype in GGUF_VARIANTS:
        types = gguf_tensor_types(shapes, qtype)
        plans.append((f"{GGUF_STEM}_{suffix}.gguf", gguf_metadata(tok, special_id, file_type),
                      [(n, shapes[n], types[n]) for n in shapes]))
    return plans


def main_gguf(out):
    """--gguf DIR: DIR/llama_tiny_{f32,q8_0,q4_0}.gguf, llama_tiny.onnx's module (make_llama's, rebuilt with its seed and
    init from DIR/tokenizer.json's vocab size; nothing else in DIR is rewritten) as llama.cpp's converter lays out a
    Llama in GGUF v3 (q/k rows permuted to GGML's interleaved RoPE), all F32 / the matrices in Q8_0 / in Q4_0, and
    DIR/llama_tiny_gguf_ref.json (the float64 reference's last-position logits of the prompts on the quantized
    files' dequantized weights). Checks: the rebuilt module gives llama_greedy.json's ids; each file read back by
    read_gguf has the metadata and tensor infos written, aligned offsets and the module's weights (exactly where F32,
    q/k un-permuted; within the quantization step where quantized, the bytes equal to a scalar re-quantization);
    the float64 GGUF Llama (interleaved RoPE on the permuted q/k) over the F32 file agrees with llama_reference on the
    module within 1e-4 and its greedy ids are llama_greedy.json's."""
    torch.set_num_threads(1)
    tok_path = os.path.join(out, "tokenizer.json")
    tok, special_id = load_fixture_tokenizer(tok_path)
    vocab_size = len(tok.vocab)
    c = LLAMA_CFG
    heads, kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
    model = tiny_llama(vocab_size)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"llama: {c}, vocab {vocab_size}: {n_params} parameters (rebuilt with seed {LLAMA_SEED})")
    g_cases = check_greedy(out, "llama", model, tok, "llama_greedy.json")

    # the permutation as its index formula says, on row numbers
    hd = c["hidden_size"] // heads
    rows = np.arange(heads * hd)
    perm = gguf_permute(rows, heads)
    assert all(perm[h * hd + 2 * i + b] == h * hd + b * (hd // 2) + i
               for h in range(heads) for i in range(hd // 2) for b in (0, 1)), "permutation"
    assert np.array_equal(gguf_unpermute(perm, heads), rows)

    params = {n: p.detach().numpy() for n, p in model.named_parameters()}
    names = gguf_names(c["num_hidden_layers"])
    assert sorted(m for _, m in names) == sorted(params), "tensor names"
    weights = {}  # GGUF name -> float32 array as the file holds it (numpy shape [out, in]; q/k rows permuted)
    for g, m in names:
        a = params[m]
        if g.endswith(".attn_q.weight"):
            a = gguf_permute(a, heads)
        elif g.endswith(".attn_k.weight"):
            a = gguf_permute(a, kv_heads)
        weights[g] = np.ascontiguousarray(a, dtype=np.float32)

    gen3 = torch.Generator().manual_seed(3)
    check_seqs = [tok.encode(p) + [int(i) for i in torch.randint(0, vocab_size, (20,), generator=gen3)]
                  for p in PROMPTS]
    module_refs = [llama_reference(model, ids) for ids in check_seqs]
    ref_json = {"prompt_ids": [g["prompt_ids"] for g in g_cases]}
    for (fname, kvs, infos), (suffix, file_type, qtype) in zip(gguf_plan(vocab_size, tok, special_id),
                                                                  GGUF_VARIANTS):
        path = os.path.join(out, fname)
        assert [n for n, _, _ in infos] == [g for g, _ in names]
        assert all(weights[n].shape == s for n, s, _ in infos)
        head_size, offsets = write_gguf(path, kvs, [(n, t, weights[n]) for n, _, t in infos])
        back = read_gguf(path)
        # header, metadata, tensor infos, alignment
        assert back["version"] == GGUF_VERSION and back["alignment"] == GGUF_ALIGNMENT
        for (k, t, v), (k2, t2, v2) in zip(kvs, back["kv"]):
            assert (k, t) == (k2, t2), (k, k2)
            if t == GGUF_FLOAT32:
                assert v2 == float(np.float32(v)), (k, v, v2)
            else:
                assert v2 == v, k
        assert len(back["kv"]) == len(kvs)
        meta = {k: v for k, _, v in back["kv"]}
        tokens = meta["tokenizer.ggml.tokens"][1]
        assert tokens == [tok.id_to_token[i] for i in range(vocab_size)], "tokens"
        assert [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"][1]] == \
            [tuple(m.split(" ")) for m in json.load(open(tok_path, encoding="utf-8"))["model"]["merges"]], "merges"
        assert meta["tokenizer.ggml.token_type"][1].count(3) == 1 and tokens[special_id] == SPECIAL
        assert back["data_start"] == head_size and head_size % GGUF_ALIGNMENT == 0
        assert [t["name"] for t in back["tensors"]] == [n for n, _, _ in infos]
        assert [t["dims"] for t in back["tensors"]] == [list(reversed(s)) for _, s, _ in infos]
        assert [t["type"] for t in back["tensors"]] == [t for _, _, t in infos]
        assert [t["offset"] for t in back["tensors"]] == offsets
        # the tensors: F32 exactly the module's (q/k un-permuted); quantized within the step, bytes as the scalar
        # quantizer's
        worst_q = 0.0
        for name, shape, t in infos:
            got = back["arrays"][name]
            assert got.dtype == np.float32 and got.shape == shape
            mname = dict(names)[name]
            if t == GGML_F32:
                un = got
                if name.endswith(".attn_q.weight"):
                    un = gguf_unpermute(got, heads)
                elif name.endswith(".attn_k.weight"):
                    un = gguf_unpermute(got, kv_heads)
                assert np.array_equal(un, params[mname]), f"{fname}: {name} differs from {mname}"
                continue
            assert back["raw"][name] == _quantize_scalar(weights[name], t), f"{fname}: {name}: bytes"
            x = weights[name].reshape(-1, 32)
            amax = np.abs(x).max(axis=1)
            d16 = np.abs(gguf_block_scales(t, back["raw"][name]))
            d32 = amax.astype(np.float64) / (127 if t == GGML_Q8_0 else 8)
            err = np.abs(got.reshape(-1, 32).astype(np.float64) - x).max(axis=1)
            # Q8_0: half a step; Q4_0: a whole step for the values clamped at +7 (the opposite of the largest)
            bound = (0.5 if t == GGML_Q8_0 else 1.0) * d16 + (127 if t == GGML_Q8_0 else 8) * np.abs(d16 - d32) \
                + 1e-6 * amax
            assert (err <= bound).all(), f"{fname}: {name}: dequantization error {err.max()}"
            worst_q = max(worst_q, float((err / np.maximum(amax, 1e-30)).max()))
        n_types = collections.Counter(GGML_TYPES[t][0] for _, _, t in infos)
        print(f"{fname}: GGUF v{back['version']}, {len(back['kv'])} metadata keys, {len(infos)} tensors "
              f"({', '.join(f'{v} {k}' for k, v in sorted(n_types.items()))}), data section at {back['data_start']}, "
              f"{back['size']} bytes; read back: metadata, infos, offsets"
              + (", F32 tensors == the module's (q/k un-permuted)" if qtype == GGML_F32 else
                 f", F32 tensors == the module's, {GGML_TYPES[qtype][0]} bytes == the scalar quantizer's, "
                 f"dequantized within the step (max error / block amax {worst_q:.4f})"))
        # the float64 GGUF Llama over the file's (dequantized) tensors
        w = back["arrays"]
        diffs = [float(np.abs(gguf_llama_reference(meta, w, ids) - ref).max())
                 for ids, ref in zip(check_seqs, module_refs)]
        if qtype == GGML_F32:
            assert max(diffs) < 1e-4, f"{fname}: GGUF reference vs llama_reference: max abs diff {max(diffs)}"
            for g in g_cases:
                assert _gguf_greedy(meta, w, g["prompt_ids"], len(g["new_ids"])) == g["new_ids"], \
                    f"{fname}: greedy on {g['prompt']!r}"
            print(f"  float64 GGUF Llama (interleaved RoPE, permuted q/k) == llama_reference on the module "
                  f"(3 sequences of 28..71 ids): max abs diff {max(diffs):.1e}; its greedy ids (no cache) == "
                  f"llama_greedy.json's ({len(g_cases)} cases)")
            continue
        same = []
        for g in g_cases:
            got = _gguf_greedy(meta, w, g["prompt_ids"], len(g["new_ids"]))
            same.append(next((j for j, (a, b) in enumerate(zip(got, g["new_ids"])) if a != b), len(got)))
        print(f"  float64 GGUF Llama on the dequantized weights vs llama_reference on the module: max abs diff "
              f"{max(diffs):.3f} (logits up to {max(float(np.abs(r).max()) for r in module_refs):.1f}); its greedy "
              f"ids (no cache) follow llama_greedy.json's for the first {same} of {len(g_cases[0]['new_ids'])}")
        ref_json[suffix] = [[round(float(v), 6) for v in gguf_llama_reference(meta, w, g["prompt_ids"])[-1]]
                            for g in g_cases]
    ref_path = os.path.join(out, GGUF_REF)
    with open(ref_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("{\n")
        f.write('"prompt_ids": [\n' + ",\n".join("  " + json.dumps(p) for p in ref_json["prompt_ids"]) + "\n]")
        for key in ("q8_0", "q4_0"):
            f.write(f',\n"{key}": [\n' + ",\n".join("  " + json.dumps(r) for r in ref_json[key]) + "\n]")
        f.write("\n}\n")
    with open(ref_path, encoding="utf-8") as f:
        assert json.load(f) == ref_json, GGUF_REF
    for fname, _, _ in gguf_plan(vocab_size, tok, special_id):
        p = os.path.join(out, fname)
        print(f"{os.path.getsize(p):>9}  {sha256(p)}  {fname}")
    print(f"{os.path.getsize(ref_path):>9}  {sha256(ref_path)}  {GGUF_REF}")


def init_large_llama(model, gen, std):
    """--large-llama's init: matrices and the embedding normal(0, std) (in place, in parameter order), RMSNorm
    weights 1."""
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            p.data.normal_(0.0, std, generator=gen)
        else:
            p.data.fill_(1.0)


def main_large_llama(out):
    """--large-llama OUT_DIR: a random-weight Llama at TinyLlama-1.1B's shape in Hugging Face's layout
    (OUT_DIR/llama_1b_hf/, not committed) and one greedy case (OUT_DIR/llama_1b_greedy.json)."""
    import resource
    import shutil
    import time
    torch.set_num_threads(2)
    fixture_tok = os.path.join(ROOT, "testdata", "decoder", "tokenizer.json")
    tok, special_id = load_fixture_tokenizer(fixture_tok)
    hf = os.path.join(out, LARGE_LLAMA_DIR)
    os.makedirs(hf, exist_ok=True)
    c, vocab = LARGE_LLAMA_CFG, LARGE_LLAMA_VOCAB

    t0 = time.time()
    torch.manual_seed(LARGE_LLAMA_SEED)
    gen = torch.Generator().manual_seed(LARGE_LLAMA_SEED)
    model = TinyLlama(vocab, **c)
    init_large_llama(model, gen, LARGE_LLAMA_STD)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"llama {c}, vocab {vocab}: {n_params} parameters, seed {LARGE_LLAMA_SEED}, std {LARGE_LLAMA_STD}; "
          f"init {time.time() - t0:.1f} s")

    # ---- greedy case (eager module with its KV cache), checked by a no-cache pass
    p_ids = tok.encode(LARGE_PROMPT)
    t0 = time.time()
    new = greedy(eager_step(model), p_ids, LARGE_LLAMA_NEW_TOKENS)
    greedy_s = time.time() - t0
    full = torch.tensor([p_ids + new])
    t0 = time.time()
    with torch.no_grad():
        full_logits = model(full, torch.ones_like(full), *empty_past(model, 1))[0]
    full_s = time.time() - t0
    assert [int(t) for t in full_logits[0, len(p_ids) - 1:-1].argmax(-1)] == new, "cache vs no-cache"
    top2 = full_logits[0, len(p_ids) - 1:-1].topk(2, dim=-1).values
    gaps = top2[:, 0] - top2[:, 1]
    gap, gap_step = float(gaps.min()), int(gaps.argmin())
    del full_logits, top2
    in_tok = all(i < len(tok.id_to_token) for i in new)
    write_cases(os.path.join(out, "llama_1b_greedy.json"),
                [{"prompt": LARGE_PROMPT, "prompt_ids": p_ids, "new_ids": new,
                  "text": tok.decode(new) if in_tok else None, "min_gap": round(gap, 6), "min_gap_step": gap_step}])
    print(f"greedy {LARGE_PROMPT!r} ({LARGE_LLAMA_NEW_TOKENS} tokens with the cache: {greedy_s:.1f} s; "
          f"no-cache pass {full_s:.1f} s): prompt_ids {p_ids}")
    print(f"  new_ids {new}")
    print(f"  {len(set(new))} distinct, {sum(i >= len(tok.id_to_token) for i in new)} of {len(new)} outside the "
          f"tokenizer's {len(tok.id_to_token)} ids, eos {'present' if special_id in new else 'absent'}, "
          f"smallest top-1/top-2 logit gap {gap:.4f} (new id {gap_step})")

    # ---- Hugging Face layout, written tensor by tensor from the module's memory
    write_json(os.path.join(hf, "config.json"), llama_hf_config(vocab, c, special_id))
    state = llama_hf_state(model)
    want = llama_hf_shapes(vocab, c)
    assert [k for k, _ in state] == [k for k, _ in want], [k for k, _ in state]
    assert all(tuple(v.shape) == s for (_, v), (_, s) in zip(state, want))
    st_path = os.path.join(hf, "model.safetensors")
    t0 = time.time()
    write_safetensors_streaming(st_path, state)
    write_s = time.time() - t0
    assert os.path.getsize(st_path) == safetensors_size(want), "safetensors size"
    t0 = time.time()
    back = safetensors_memmap(st_path)
    assert list(back) == [k for k, _ in state], "safetensors names"
    for k, v in state:
        assert np.array_equal(back[k], v.detach().numpy()), f"safetensors round trip: {k}"
    del back
    print(f"{LARGE_LLAMA_DIR}/model.safetensors: {os.path.getsize(st_path)} bytes, {len(state)} tensors, written in "
          f"{write_s:.1f} s, read back equal ({time.time() - t0:.1f} s)")
    shutil.copyfile(fixture_tok, os.path.join(hf, "tokenizer.json"))
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GiB")
    for name in sorted(os.listdir(hf)):
        print(f"{os.path.getsize(os.path.join(hf, name)):>11}  {LARGE_LLAMA_DIR}/{name}")
    print(f"{os.path.getsize(os.path.join(out, 'llama_1b_greedy.json')):>11}  llama_1b_greedy.json")


def main_rope(out):
    """DIR/llama_rope_inv_freq.json: rotary inv_freq per rope_scaling type as transformers computes
    it (_compute_default_rope_parameters, _compute_linear_scaling_rope_parameters and
    _compute_llama3_parameters, in torch float32), the golden of LlamaDecoderRopeTest."""
    def base_inv_freq(theta, dim):
        return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))

    def llama3(inv_freq, factor, low, high, old):
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv_freq
        f = torch.where(wavelen > low_wl, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * f / factor + smooth * f
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        return torch.where(medium, smoothed, f)

    cases = []
    for theta, dim in [(500000.0, 64), (500000.0, 128), (10000.0, 16)]:
        b = base_inv_freq(theta, dim)
        l3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 8192}
        cases.append({"theta": theta, "head_dim": dim, "rope_scaling": l3, "inv_freq": [float(x) for x in llama3(b, 8.0, 1.0, 4.0, 8192)]})
        cases.append({"theta": theta, "head_dim": dim, "rope_scaling": {"rope_type": "linear", "factor": 4.0},
                      "inv_freq": [float(x) for x in (b / 4.0)]})
        cases.append({"theta": theta, "head_dim": dim, "rope_scaling": None, "inv_freq": [float(x) for x in b]})
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "llama_rope_inv_freq.json")
    with open(path, "w") as f:
        json.dump({"note": "inv_freq as transformers computes it per rope_scaling (torch float32); "
                           "tools/make_decoder_fixtures.py --rope DIR", "torch": torch.__version__, "cases": cases}, f, indent=1)
    print("wrote", path, len(cases), "cases")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata", "decoder"))
    ap.add_argument("--large", metavar="OUT_DIR",
                    help="write the GPT-2 small benchmark model (not committed) to OUT_DIR instead of the fixtures")
    ap.add_argument("--llama-hf", metavar="DIR",
                    help="write DIR/llama_tiny_hf/ (llama_tiny.onnx's weights in Hugging Face's Llama layout) from "
                         "DIR/tokenizer.json and nothing else")
    ap.add_argument("--large-llama", metavar="OUT_DIR",
                    help="write a random-weight Llama at TinyLlama-1.1B's shape in Hugging Face's layout (not "
                         "committed) and its greedy case to OUT_DIR instead of the fixtures")
    ap.add_argument("--torchscript", metavar="DIR",
                    help="write DIR/gpt2_tiny_trace.pt and DIR/llama_tiny_trace.pt (traced TorchScript decoders of "
                         "gpt2_tiny.onnx's and llama_tiny.onnx's modules) from DIR/tokenizer.json and nothing else")
    ap.add_argument("--gguf", metavar="DIR",
                    help="write DIR/llama_tiny_{f32,q8_0,q4_0}.gguf (llama_tiny.onnx's weights in llama.cpp's GGUF "
                         "layout) and DIR/llama_tiny_gguf_ref.json from DIR/tokenizer.json and nothing else")
    ap.add_argument("--rope", metavar="DIR",
                    help="write DIR/llama_rope_inv_freq.json (rotary inv_freq per rope_scaling type, as transformers "
                         "computes it) and nothing else")
    args = ap.parse_args()
    modes = {"large": main_large, "llama_hf": main_llama_hf, "large_llama": main_large_llama,
             "torchscript": main_torchscript, "gguf": main_gguf, "rope": main_rope}
    chosen = [(dest, run) for dest, run in modes.items() if getattr(args, dest)]
    if len(chosen) > 1:
        ap.error("--large, --llama-hf, --large-llama, --torchscript, --gguf and --rope are separate runs")
    if chosen:
        dest, run = chosen[0]
        run(getattr(args, dest))
        return
    out = args.out
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)

    # ---- tokenizer
    source, docs = load_corpus()
    corpus_sha = hashlib.sha256("\n".join(docs).encode("utf-8")).hexdigest()
    print(f"training text: {source}: {len(docs)} documents, {sum(map(len, docs))} characters, "
          f"sha256 {corpus_sha}")
    print(f"pre-tokenizer: {PRETOKENIZER_DESC}")
    vocab, merges = train_bpe(docs, NUM_MERGES)
    assert len(merges) == NUM_MERGES, len(merges)
    special_id = len(vocab)
    vocab[SPECIAL] = special_id
    vocab_size = len(vocab)
    tok = Tokenizer(vocab, merges, SPECIAL)
    print(f"vocab {vocab_size} (256 bytes + {vocab_size - 257} merged tokens + {SPECIAL} = {special_id})")

    write_json(os.path.join(out, "tokenizer.json"), tokenizer_json(vocab, merges, special_id))
    write_json(os.path.join(out, "vocab.json"), vocab, pretty=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")

    cases = []
    for text in TOKENIZER_CASES:
        ids = tok.encode(text)
        assert ids == tok.encode(text, gpt2_loop=True), f"HF and GPT-2 merge loops differ on {text!r}"
        assert tok.decode(ids) == text, f"round trip failed on {text!r}"
        cases.append({"text": text, "ids": ids})
    for d in docs:  # the two merge loops agree on the whole training text too
        assert tok.encode(d) == tok.encode(d, gpt2_loop=True)
    write_cases(os.path.join(out, "tokenizer_cases.json"), cases)

    # ---- model
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = TinyGPT2(vocab_size, **CFG)
    init_weights(model, gen)
    model.eval()
    write_json(os.path.join(out, "gpt2_tiny_config.json"),
               {"vocab_size": vocab_size, "n_positions": CFG["n_positions"], "n_embd": CFG["n_embd"],
                "n_layer": CFG["n_layer"], "n_head": CFG["n_head"], "eos_token_id": special_id})

    g_cases, _ = greedy_cases(model, tok, special_id, CFG["n_positions"])
    write_cases(os.path.join(out, "greedy.json"), g_cases)

    # ---- ONNX
    in_names, out_names = export_and_verify(model, os.path.join(out, "gpt2_tiny.onnx"), tok, g_cases)

    # ---- Llama
    llama = make_llama(out, tok, vocab_size, special_id)

    # ---- the GPT-2 weights in Hugging Face's layout (after the Llama: the fresh module draws from torch's RNG)
    hf_info = write_tiny_hf(out, model, special_id, g_cases)

    write_readme(out, source, corpus_sha, vocab_size, special_id, in_names, out_names, g_cases, llama, hf_info)

    total = 0
    for name in sorted(os.listdir(out)):
        p = os.path.join(out, name)
        for sub in (sorted(os.listdir(p)) if os.path.isdir(p) else [""]):
            q = os.path.join(p, sub) if sub else p
            total += os.path.getsize(q)
            print(f"{os.path.getsize(q):>9}  {sha256(q)[:16]}  {name}{'/' + sub if sub else ''}")
    print(f"{total:>9}  total")


def llama_readme(vocab_size, special_id, llama):
    c = LLAMA_CFG
    heads, kv, d = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd, inner, layers = d // heads, c["intermediate_size"], c["num_hidden_layers"]
    text = f"""
## Llama-architecture model: `{LLAMA_STEM}.onnx`, `{LLAMA_STEM}_config.json`, `llama_greedy.json`

A Llama-architecture decoder written in the script in PyTorch (modeling_llama.py layout and parameter names;
the transformers library is not used): token embedding `embed_tokens` (no position embedding), {layers} decoder
layers, each `x + self_attn(input_layernorm(x))` then `x + mlp(post_attention_layernorm(x))`, final RMSNorm
`norm`, untied `lm_head`; no biases anywhere.

- RMSNorm: `weight * x / sqrt(mean(x^2) + eps)` over the hidden axis, eps {c["rms_norm_eps"]}, learned weight
  (exported as Pow, ReduceMean, Add, Sqrt, Div, Mul).
- Attention, grouped-query: `q_proj` {d} -> {heads} heads x {hd}, `k_proj` and `v_proj` {d} -> {kv} key/value
  heads x {hd}, `o_proj` {heads * hd} -> {d}. Rotary position embeddings on q and k with HF Llama's `rotate_half` convention:
  the rotated pairs are (i, i + {hd // 2}) of each head (not the interleaved (2i, 2i + 1) of Meta's checkpoints),
  angle = position * inv_freq[i], inv_freq[i] = {c["rope_theta"]:g}^(-2i/{hd}), i = 0..{hd // 2 - 1};
  `q * cos + rotate_half(q) * sin` with cos/sin of `cat(angles, angles)` computed in the graph (Cos, Sin; no
  table, so max_position_embeddings bounds nothing in the graph). Positions are past_sequence ..
  past_sequence + sequence - 1, from the past length as in `gpt2_tiny.onnx`. The cache holds the ROTATED keys
  (as HF's does) of the {kv} key/value heads; for the scores k and v are repeated to {heads} heads as HF's
  `repeat_kv` does (expand + reshape: query head h reads key/value head h // {heads // kv}). Scores / sqrt({hd}),
  then the masking of `gpt2_tiny.onnx` (causal and attention_mask; float32's min, not -inf), softmax.
- MLP, SwiGLU: `down_proj(silu(gate_proj(x)) * up_proj(x))`, {d} -> {inner} -> {d} (silu exported as Sigmoid, Mul).
- vocab {vocab_size} (this tokenizer), hidden {d}, {llama["n_params"]:,} parameters. Random weights (torch.manual_seed({LLAMA_SEED}) and a
  generator seeded {LLAMA_SEED}): matrices and the embedding normal(0, 0.1), RMSNorm weights 1 + normal(0, 0.05).

ONNX as `gpt2_tiny.onnx`: opset 17, traced with batch 2, sequence 3, past 5, the same names, order and dynamic
axes; only the cache has {kv} heads, not {heads}:

| | name | type, shape |
|---|---|---|
| in | `input_ids` | int64 [batch, sequence] |
| in | `attention_mask` | int64 [batch, past_sequence + sequence], 1 = attend, 0 = masked (padding) |
| in | `past_key_values.{{i}}.key`, `past_key_values.{{i}}.value`, i = 0..{layers - 1} | float32 [batch, {kv}, past_sequence, {hd}] |
| out | `logits` | float32 [batch, sequence, {vocab_size}] |
| out | `present.{{i}}.key`, `present.{{i}}.value` | float32 [batch, {kv}, past_sequence + sequence, {hd}] |

Input order: {", ".join(llama["in_names"])}. Output order: {", ".join(llama["out_names"])}.
The first step passes an empty cache (four [batch, {kv}, 0, {hd}] tensors). There is no `position_ids` input
(optimum's exports of real Llama models have one, int64 [batch, sequence], after attention_mask).
Op types: {", ".join(llama["ops"])}.

Checked by the script: the module against a separate numpy implementation of the architecture (float64, no
cache, one query head at a time, the RoPE pairs rotated explicitly) on each prompt followed by 20 random ids,
max abs difference < 1e-4 (about 3e-6 here); then as `gpt2_tiny.onnx`: `onnx.checker` (full check), the graph
in the numpy interpreter against the eager module (past 0, past 5 with sequence 1 and 3, batch 2 with a
left-padded row, past 0 then past 4; max abs difference < 1e-4, cache shapes [batch, {kv}, past + sequence, {hd}])
and the greedy loop through the graph giving every case's ids. onnxruntime was not run.

`{LLAMA_STEM}_config.json`: vocab_size, max_position_embeddings, hidden_size, num_hidden_layers,
num_attention_heads, num_key_value_heads, eos_token_id ({special_id}), as in HF's LlamaConfig; the
rest is fixed as above: intermediate_size {inner}, rms_norm_eps {c["rms_norm_eps"]}, rope_theta {c["rope_theta"]:g}, head_dim {hd},
no rope_scaling, tie_word_embeddings false.

`llama_greedy.json`: the prompts, format and procedure of `greedy.json` (prefill with an empty cache, then
one token per step, {NEW_TOKENS} new ids, argmax, no stop at eos; `text` decoded with U+FFFD for invalid UTF-8,
which each continuation here has), from this module. The smallest gap between the largest and the second
largest logit over a case's steps is {", ".join(f"{g:.3f}" for g in llama["gaps"])} (no near-ties).

| prompt | prompt_ids | new_ids |
|---|---|---|
"""
    for g in llama["g_cases"]:
        text += f"| `{json.dumps(g['prompt'])}` | {g['prompt_ids']} | {g['new_ids']} |\n"
    return text


def write_readme(out, source, corpus_sha, vocab_size, special_id, in_names, out_names, g_cases, llama,
                 hf_info):
    layers = CFG["n_layer"]
    heads = CFG["n_head"]
    hd = CFG["n_embd"] // heads
    text = f"""# Text-generation fixtures (tokenizer, tiny GPT-2 and Llama decoders, greedy goldens)

Made by `/usr/bin/python3 tools/make_decoder_fixtures.py` (run from the repository root; Debian's
python3-torch 1.13, python3-onnx, numpy; CPU only). A rerun writes byte-identical files (checked with
`sha256sum testdata/decoder/*`) as long as the training text and the torch/onnx versions are the same.

## Tokenizer: `tokenizer.json`, `vocab.json`, `merges.txt`

A GPT-2-style byte-level BPE trained by the script:

- Training text: {source}
  ({NUM_MERGES} merges; sha256 of the documents joined by newlines: `{corpus_sha}`).
- Base symbols: GPT-2's `bytes_to_unicode()`; ids 0..255 in that function's insertion order, which is
  GPT-2's own order (`!`=0 .. `~`=93, `¡`..`¬`, `®`..`ÿ`, then bytes 0..32, 127..160, 173 as `Ā`..`Ń`
  = 188..255): so a byte's id is NOT its value - read the vocab.
- Pre-tokenization: GPT-2's regex
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{{L}}+| ?\\p{{N}}+| ?[^\\s\\p{{L}}\\p{{N}}]+|\\s+(?!\\S)|\\s+`
  (case-sensitive: `'M`, `'S` are not contractions). Run here with {PRETOKENIZER_DESC}.
  `\\s` is Unicode White_Space (so NBSP U+00A0, U+2009, U+3000 are whitespace; U+200B and U+001F are not),
  `\\p{{L}}`/`\\p{{N}}` are the general categories (so `²`, `½`, `Ⅻ` are numbers and combining marks (Mn)
  fall in the third class). In Java this is `Pattern.compile(..., Pattern.UNICODE_CHARACTER_CLASS)`;
  without that flag `\\s` is ASCII-only and the NBSP case in `tokenizer_cases.json` splits differently.
- Merges: {NUM_MERGES}, learnt by standard BPE over the pre-token counts (most frequent adjacent pair;
  ties to the smallest (left, right) pair by code point), ids 256..{special_id - 1} in merge order.
- Special token `<|endoftext|>` = {special_id}, the last id; vocab size {vocab_size} (it is in the model vocab,
  in `vocab.json` and in `added_tokens`, as in GPT-2's files).
- `tokenizer.json`: Hugging Face tokenizers format (ByteLevel pre-tokenizer without prefix space, BPE model,
  merges as `"left right"` strings in merge order, ByteLevel decoder). `vocab.json` (token -> id) and
  `merges.txt` (`#version: 0.2`, then one `left right` per line, newline-terminated) are the classic pair.

`tokenizer_cases.json`: `{{"cases":[{{"text": ..., "ids": [...]}}]}}`, {len(TOKENIZER_CASES)} strings
(ASCII, whitespace runs, newlines, tabs, contractions, digits, accented and combining letters, Greek,
Cyrillic, Arabic, Hebrew, CJK, Hangul, emoji with ZWJ/modifiers/flags, NBSP, control characters, the empty
string and literal `<|endoftext|>`) with the ids of the script's encoder, which does what HF tokenizers'
`encode(text, add_special_tokens=False)` does: the literal text `<|endoftext|>` is split off first and
maps to {special_id}; each piece between is pre-tokenized, mapped to byte-level symbols and merged by
lowest rank repeatedly (leftmost among equal ranks). The script checks that OpenAI's encoder.py merge loop
gives the same ids and that decoding gives every text back.

## Model: `gpt2_tiny.onnx`, `gpt2_tiny_config.json`

A GPT-2-architecture decoder written in the script (modeling_gpt2.py layout): token + learned position
embeddings, {layers} pre-LN blocks (LayerNorm eps 1e-5; fused `c_attn` Conv1D with [in, out] weight applied
by addmm; causal attention with {heads} heads of {hd}; tanh-GELU MLP 4x), final LayerNorm, untied `lm_head`
Linear without bias. vocab {vocab_size}, n_positions {CFG["n_positions"]}, n_embd {CFG["n_embd"]}. Random weights
(seed {SEED}): matrices and embeddings normal(0, 0.1), biases normal(0, 0.02), LayerNorm gain
1 + normal(0, 0.05), shift normal(0, 0.02).

ONNX opset 17 (`torch.onnx.export`, traced with batch 2, sequence 3, past 5; dynamic axes), Hugging Face
optimum's decoder-with-past naming:

| | name | type, shape |
|---|---|---|
| in | `input_ids` | int64 [batch, sequence] |
| in | `attention_mask` | int64 [batch, past_sequence + sequence], 1 = attend, 0 = masked (padding) |
| in | `past_key_values.{{i}}.key`, `past_key_values.{{i}}.value`, i = 0..{layers - 1} | float32 [batch, {heads}, past_sequence, {hd}] |
| out | `logits` | float32 [batch, sequence, {vocab_size}] |
| out | `present.{{i}}.key`, `present.{{i}}.value` | float32 [batch, {heads}, past_sequence + sequence, {hd}] |

Input order: {", ".join(in_names)}. Output order: {", ".join(out_names)}.
The first step passes an EMPTY cache (past_sequence = 0: four [batch, {heads}, 0, {hd}] tensors); the same
file serves later steps. Positions are past_sequence .. past_sequence + sequence - 1, computed inside the
graph from the past length (not from the mask). Query t sees key j when j <= past_sequence + t and
attention_mask[b, j] != 0; other scores are set to float32's min (-3.4028235e38) before the softmax, so a
row with every key masked gets a uniform softmax, not NaN.

Checked by the script: `onnx.checker` (full check), and the graph run by a small numpy ONNX interpreter
in the script against the eager module: past 0 (batch 1, sequence 5), past 5 (sequence 1 and 3),
batch 2 with a left-padded row (past 0 then past 4), max abs difference < 1e-4, and the whole greedy loop
for every prompt gives the same ids. onnxruntime was not available and was not run.

`gpt2_tiny_config.json`: vocab_size, n_positions, n_embd, n_layer, n_head, eos_token_id ({special_id}).

`{HF_TINY_DIR}/`: the same weights in Hugging Face's GPT-2 layout, for loaders of HF checkpoints:
`config.json` (model_type gpt2, n_ctx = n_positions {CFG["n_positions"]}, n_embd {CFG["n_embd"]}, n_head {heads}, n_layer {layers},
vocab_size {vocab_size}, layer_norm_epsilon 1e-5, activation_function gelu_new, tie_word_embeddings false,
bos/eos {special_id}), `model.safetensors` (F32, {hf_info["size"]:,} bytes; GPT2LMHeadModel's state dict without the
`transformer.` prefix: `wte.weight` [{vocab_size}, {CFG["n_embd"]}], `wpe.weight`, `h.{{i}}.ln_1/ln_2.weight/bias`,
`h.{{i}}.attn.c_attn.weight` [{CFG["n_embd"]}, {3 * CFG["n_embd"]}] (Conv1D [in, out]: q, k, v column blocks), `h.{{i}}.attn.c_proj`,
`h.{{i}}.mlp.c_fc` [{CFG["n_embd"]}, {4 * CFG["n_embd"]}], `h.{{i}}.mlp.c_proj` [{4 * CFG["n_embd"]}, {CFG["n_embd"]}] weight/bias, `ln_f.weight/bias`, and
`lm_head.weight` [{vocab_size}, {CFG["n_embd"]}] (untied, applied as x @ W^T)) and a copy of `tokenizer.json`. Checked by
the script: a fresh module loaded from the file gives bit-identical logits and `greedy.json`'s ids, and a float64
numpy GPT-2 over the file's tensors and `config.json` agrees with the module within 1e-4 ({hf_info["ref_err"]:.0e} here).

## Greedy goldens: `greedy.json`

`{{"cases":[{{"prompt", "prompt_ids", "new_ids", "text"}}]}}`: for each prompt, the eager module with its KV
cache: the prompt in one call with an empty cache (attention_mask all ones), then one token per step
(attention_mask all ones over past + 1), argmax of the last position's logits (first index on ties),
{NEW_TOKENS} new tokens, no stopping at eos. `text` is the continuation alone (`new_ids` decoded:
byte-level bytes joined, invalid UTF-8 replaced by U+FFFD, special tokens kept as their text).
With random weights the continuations contain stray bytes >= 0x80, so each `text` here has U+FFFD in it:
one per maximal invalid subsequence, as Rust's `String::from_utf8_lossy` (HF) and Python's
`errors="replace"` do (Java's `new String(bytes, UTF_8)` gives the same on these three; it differs from
them on encoded surrogates such as ED A0 80, one U+FFFD instead of three).
The script checks each case has at least 5 distinct ids, that a no-cache pass over prompt + new ids
gives the same argmaxes, and that the ONNX graph reproduces the ids.

Batching: no left-padded batch is recorded. Hugging Face computes position ids from the attention
mask's cumulative sum under left padding, but this model takes positions from the past length, so a
left-padded row would see shifted positions and differ from its unpadded run. The expected result of a
batch of these prompts is each prompt's own unpadded case (run them as separate batch-1 sequences, or
batch only prompts of equal length).

| prompt | prompt_ids | new_ids |
|---|---|---|
"""
    for c in g_cases:
        text += f"| `{json.dumps(c['prompt'])}` | {c['prompt_ids']} | {c['new_ids']} |\n"
    text += llama_readme(vocab_size, special_id, llama)
    lc = LARGE_CFG
    text += f"""
## Benchmark-scale model: `--large OUT_DIR` (not committed)

    /usr/bin/python3 tools/make_decoder_fixtures.py --large build-dir/models/gen

(`build-dir/` is git-ignored) writes a GPT-2-small-sized decoder for benchmarks to OUT_DIR and nothing
here (about 35 s on 2 CPU threads, 10 s of it the export, 4.7 GB peak memory):

- `{LARGE_STEM}.onnx`: the module, export, ONNX names and dynamic axes of `gpt2_tiny.onnx` (opset 17,
  traced with batch 2, sequence 3, past 5) at GPT-2 small's shape: {lc["n_layer"]} layers, n_embd {lc["n_embd"]},
  {lc["n_head"]} heads of {lc["n_embd"] // lc["n_head"]}, n_positions {lc["n_positions"]}, vocab {lc["vocab"]}, untied `lm_head` without
  bias; 163,037,184 parameters with random weights, the same init as above (seed {SEED}). One file of
  about 652 MB (under protobuf's 2 GB, so the exporter writes no external data).
- `{LARGE_STEM}_config.json`: the keys of `gpt2_tiny_config.json`; eos_token_id is {special_id}, this
  tokenizer's `<|endoftext|>` (GPT-2's 50256 has no token here).
- `tokenizer.json`: a copy of this directory's, so that `kiln generate OUT_DIR/{LARGE_STEM}.onnx --prompt ...`
  finds it next to the model (and the context length in `{LARGE_STEM}_config.json`). It has ids 0..{special_id}
  only; the model's other {lc["vocab"] - vocab_size} ids have no token.
- `greedy.json`: one case in the format above: `{json.dumps(LARGE_PROMPT)}` (prompt_ids from this
  tokenizer), {LARGE_NEW_TOKENS} greedy new ids from the eager module with its KV cache (prefill, then one token
  per step, no stop at eos); `text` is null when a new id is >= {vocab_size} (no token to decode).

The script checks that a no-cache pass gives the same argmaxes, `onnx.checker` (full check), the ONNX
graph against the eager module (numpy interpreter: past 0 and past 5, max abs difference < 1e-4 of the
largest value) and that the ONNX greedy loop gives the same ids; it prints whether the ids equal the
ones recorded here (torch 1.13, CPU):

| prompt | prompt_ids | new_ids |
|---|---|---|
| `{json.dumps(LARGE_PROMPT)}` | {g_cases[0]['prompt_ids']} | {LARGE_RECORDED_NEW_IDS} |

It does not degenerate (15 distinct ids of 16: 29983 comes twice, no loop, no eos), but with random
weights over the whole vocab, 15 of the 16 new ids (all but the first, 262) are >= {vocab_size}: outside this
tokenizer, so they have no text, and a generator that decodes each new id with this tokenizer has to
handle ids it cannot decode from the second new token on.
"""
    text += llama_hf_readme(vocab_size, special_id)
    text += torchscript_readme(vocab_size)
    text += gguf_readme(out)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def llama_hf_readme(vocab_size, special_id):
    """The README's section on llama_tiny_hf/ (written by --llama-hf; sizes from the shapes)."""
    c = LLAMA_CFG
    heads, kv, d = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd, inner = d // heads, c["intermediate_size"]
    shapes = llama_hf_shapes(vocab_size, c)
    n_params = sum(math.prod(s) for _, s in shapes)
    return f"""
## Llama in Hugging Face's layout: `{LLAMA_HF_DIR}/` (`--llama-hf`)

    /usr/bin/python3 tools/make_decoder_fixtures.py --llama-hf testdata/decoder

writes `{LLAMA_HF_DIR}/` and nothing else: the module of `{LLAMA_STEM}.onnx` rebuilt with the same seed and init
from this directory's `tokenizer.json` (not retrained), in Hugging Face's LlamaForCausalLM layout, for loaders
of HF checkpoints:

- `config.json`: architectures LlamaForCausalLM, model_type llama, vocab_size {vocab_size}, hidden_size {d},
  intermediate_size {inner}, num_hidden_layers {c["num_hidden_layers"]}, num_attention_heads {heads}, num_key_value_heads {kv},
  max_position_embeddings {c["max_position_embeddings"]}, rms_norm_eps {c["rms_norm_eps"]}, rope_theta {c["rope_theta"]}, hidden_act silu,
  tie_word_embeddings false, bos/eos {special_id}, torch_dtype float32 (head_dim {hd}; no rope_scaling).
- `model.safetensors` (F32, {safetensors_size(shapes):,} bytes, {n_params:,} parameters), LlamaForCausalLM's names:
  `model.embed_tokens.weight` [{vocab_size}, {d}], per layer `model.layers.{{i}}.input_layernorm.weight` [{d}],
  `model.layers.{{i}}.self_attn.q_proj.weight` [{heads * hd}, {d}], `k_proj`/`v_proj` [{kv * hd}, {d}], `o_proj` [{d}, {heads * hd}],
  `model.layers.{{i}}.post_attention_layernorm.weight` [{d}], `model.layers.{{i}}.mlp.gate_proj.weight`/`up_proj` [{inner}, {d}],
  `down_proj` [{d}, {inner}], then `model.norm.weight` [{d}] and `lm_head.weight` [{vocab_size}, {d}] (untied). Matrices are
  nn.Linear's [out, in], applied as x @ W^T; q_proj and k_proj rows are in HF's `rotate_half` order (RoPE pairs
  (i, i + {hd // 2}) of each head, as in `{LLAMA_STEM}.onnx`); no `inv_freq` tensor.
- `tokenizer.json`: a copy of this directory's.

Checked by the script: the rebuilt module gives `llama_greedy.json`'s ids; every tensor is an initializer of
`{LLAMA_STEM}.onnx` (as is or transposed); the file read back equals the module's tensors; a fresh module from
`model.safetensors` and `config.json` gives bit-identical logits (no cache and a 3-token cached step) and
`llama_greedy.json`'s ids; the float64 numpy Llama of the section above over the file's tensors agrees with the
module within 1e-4 (about 2e-6 here) on `"The quick brown fox"` followed by 20 random ids.
`--large-llama OUT_DIR` writes a random-weight model of TinyLlama-1.1B's shape in the same layout (not
committed; see the script's docstring).
"""


def torchscript_readme(vocab_size):
    """The README's section on the TorchScript traces (written by --torchscript; names and shapes from the configs)."""
    hd, hd_l = CFG["n_embd"] // CFG["n_head"], LLAMA_CFG["hidden_size"] // LLAMA_CFG["num_attention_heads"]
    assert hd == hd_l and CFG["n_layer"] == LLAMA_CFG["num_hidden_layers"] == 2 == len(TS_ARG_NAMES) // 2 - 1
    kv = LLAMA_CFG["num_key_value_heads"]
    n_llama = sum(math.prod(s) for _, s in llama_hf_shapes(vocab_size, LLAMA_CFG))
    sig = ", ".join(f"{n}: Tensor" for n in TS_ARG_NAMES)
    g, l = (s + TS_SUFFIX for s in TS_STEMS)
    return f"""
## TorchScript traces: `{g}`, `{l}` (`--torchscript`)

    /usr/bin/python3 tools/make_decoder_fixtures.py --torchscript testdata/decoder

writes these two files and nothing else: the modules of `{TS_STEMS[0]}.onnx` and `{TS_STEMS[1]}.onnx` rebuilt with their
seeds and init from this directory's `tokenizer.json` (not retrained), each traced with `torch.jit.trace` (torch 1.13)
and saved as a TorchScript archive, for loaders of TorchScript files:

- `forward`, the same in both files, as TorchScript's code and schema name it:
  `def forward(self, {sig}) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]`.
  `input_ids` int64 [batch, sequence], `attention_mask` int64 [batch, past_sequence + sequence], then the past of
  layer 0 (`{TS_ARG_NAMES[2]}`, `{TS_ARG_NAMES[3]}`) and layer 1 (`{TS_ARG_NAMES[4]}`, `{TS_ARG_NAMES[5]}`: the tracer names the module's
  `*past` arguments after the decoder layers' parameters), float32 [batch, H, past_sequence, {hd}] with H = {CFG["n_head"]} (GPT-2) or
  {kv} (Llama: the key/value heads). It returns logits float32 [batch, sequence, {vocab_size}], then the presents of layer 0
  (key, value) and layer 1, [batch, H, past_sequence + sequence, {hd}]: the inputs and outputs of the ONNX files, in
  their order (TorchScript passes them by position) and with their meaning (positions from the past length,
  the masking).
- Traced with batch {1}, sequence {TS_EXAMPLE_T} and a random past of {TS_EXAMPLE_P}; the graph reads the sizes from its inputs
  (`aten::size` into `view`, `arange`), so other batch sizes, sequences and past lengths work, the empty past
  [batch, H, 0, {hd}] of the first step included. The `arange`s carry `device="cpu"`.
- The archive (zip, entries stored, written by torch's own writer: every record under `{TS_STEMS[0]}_trace/` resp.
  `{TS_STEMS[1]}_trace/`, tensor data 64-byte aligned): `data.pkl` (the module tree; tensors as persistent ids into
  `data/N`), `data/N`, `code/__torch__.py` and `code/__torch__/...` (the TorchScript source of each module; the
  script's class names, some under a `___torch_mangle_N` path component), `constants.pkl` and `constants/N` (the
  scalars the tracer kept as tensors: the score divisor sqrt({hd}), float32's min, GELU's coefficients in GPT-2,
  RMSNorm's eps and repeat_kv's factor in the Llama), `version`. The `code/**/*.debug_pkl` records that
  `torch.jit.save` writes are left out (the Python stack of each traced op, with absolute paths and the script's
  line numbers); `torch.jit.load` does not need them.
- Tensors: GPT-2, the module's {len(HF_BLOCK_NAMES) * CFG["n_layer"] + 5} under the names of `{HF_TINY_DIR}/model.safetensors` (`wte.weight`,
  `wpe.weight`, `h.{{i}}.*`, `ln_f.*`, `lm_head.weight`; Conv1D weights [in, out]). Llama: `inv_freq` [{hd // 2}] (RoPE's
  inverse frequencies, a buffer the eager module leaves out of its state dict; TorchScript keeps it), then the
  {len(llama_hf_shapes(vocab_size, LLAMA_CFG))} tensors ({n_llama:,} parameters) of `{LLAMA_HF_DIR}/model.safetensors` without the `model.` prefix
  (`embed_tokens.weight`, `layers.{{i}}.*`, `norm.weight`, `lm_head.weight`; nn.Linear weights [out, in]).

Checked by the script: each rebuilt module gives its greedy file's ids; torch's trace check re-traces with
(batch, sequence, past) = (1, 5, 0), (1, 1, 7), (2, 2, 4) and compares; the file loaded back by `torch.jit.load`
has the forward above, agrees with the eager module on (1, 5, 0), (1, 1, 5), (1, 3, 5), (1, 1, 63), (2, 4, 0)
and (2, 1, 4) with a left-padded row (max abs difference < 1e-5; 0 here), and the greedy loop through it
(prefill with the empty past, then one token per step) gives every case of `greedy.json` / `llama_greedy.json`.
A rerun writes byte-identical files (the GPT-2 is traced first: the mangle numbers in the Llama file's class
names count on from it).
"""


def gguf_readme(out):
    """The README's section on the GGUF files (written by --gguf; the layout from the config and OUT/tokenizer.json)."""
    tok, special_id = load_fixture_tokenizer(os.path.join(out, "tokenizer.json"))
    vocab_size = len(tok.vocab)
    c = LLAMA_CFG
    heads, kv, d = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd, inner = d // heads, c["intermediate_size"]
    plans = gguf_plan(vocab_size, tok, special_id)
    layouts = [gguf_layout(kvs, infos) for _, kvs, infos in plans]
    kvs0 = plans[0][1]

    def show(t, v):
        if t == GGUF_ARRAY:
            return f"array of {GGUF_TYPE_NAMES[v[0]]} ({len(v[1])})"
        return f"{GGUF_TYPE_NAMES[t]} {json.dumps(v) if t == GGUF_STRING else (f'{v:g}' if t == GGUF_FLOAT32 else v)}"

    kv_lines = "\n".join(f"| `{k}` | {t} | {show(t, v) if k != 'general.file_type' else 'uint32 0 / 7 / 2'} |"
                         for k, t, v in kvs0)
    rows = []
    for n, (name, shape, _) in enumerate(plans[0][2]):
        cells = []
        for (_, _, infos), (_, offsets, _) in zip(plans, layouts):
            t = infos[n][2]
            cells.append(f"{GGML_TYPES[t][0]} @ {offsets[n]} ({gguf_nbytes(t, shape)})")
        rows.append(f"| `{name}` | {list(reversed(shape))} | {' | '.join(cells)} |")
    sizes = [len(h) + ds for h, _, ds in layouts]
    f32, q8, q4 = (p[0] for p in plans)
    return f"""
## GGUF: `{f32}`, `{q8}`, `{q4}`, `{GGUF_REF}` (`--gguf`)

    /usr/bin/python3 tools/make_decoder_fixtures.py --gguf testdata/decoder

writes these four files and nothing else: the module of `{LLAMA_STEM}.onnx` rebuilt with the same seed and init from this
directory's `tokenizer.json` (not retrained), in GGUF v3 as llama.cpp's `convert_hf_to_gguf.py` lays out a Llama,
written by the script's own GGUF writer (gguf-py is not used), for loaders of GGUF files: all F32 ({sizes[0]:,} bytes),
the matrices in Q8_0 ({sizes[1]:,} bytes) and in Q4_0 ({sizes[2]:,} bytes).

File layout (little-endian throughout):

- Header: magic `GGUF` (bytes 47 47 55 46), version uint32 {GGUF_VERSION}, tensor count uint64 ({len(plans[0][2])}), metadata count uint64
  ({len(kvs0)}).
- Metadata, in this order: key (string), value type uint32 (gguf_type: 0 uint8, 1 int8, 2 uint16, 3 int16, 4 uint32,
  5 int32, 6 float32, 7 bool, 8 string, 9 array, 10 uint64, 11 int64, 12 float64), value. A string is a uint64 byte
  length then that many UTF-8 bytes (no terminator); an array is the element type uint32, the count uint64, then the
  elements.
- Tensor infos, in the data's order: name (string), n_dims uint32, n_dims uint64 dims with ne[0] first (the
  fastest-varying axis: a PyTorch [out, in] weight has dims [in, out]), ggml type uint32 (0 F32, 8 Q8_0, 2 Q4_0),
  offset uint64 relative to the start of the data section.
- Zero bytes up to the next multiple of `general.alignment` ({GGUF_ALIGNMENT}): the data section starts at byte {len(layouts[0][0])} in each
  file (the three headers differ only in `general.file_type`'s value and the tensor types/offsets, not in size). Each
  tensor's data starts at a multiple of {GGUF_ALIGNMENT} from there and is followed by zero bytes up to the next multiple (the
  last one too: each file's size is a multiple of {GGUF_ALIGNMENT}).

| key | gguf_type | value |
|---|---|---|
{kv_lines}

(The float32 values are the float32s nearest 10000 and 1e-05; the latter reads back as 9.99999974738e-06.)

`tokenizer.ggml.tokens` holds the {vocab_size} tokens of `tokenizer.json`'s vocab in id order (the byte-level strings,
`Ġ` for a space), `tokenizer.ggml.token_type` 1 (normal) for each but `<|endoftext|>` = {special_id}, which is 3 (control),
`tokenizer.ggml.merges` the {len(tok.ranks)} merges as `"left right"` in rank order. `tokenizer.ggml.pre` `"gpt-2"` names llama.cpp's
pre-tokenizer for GPT-2's regex (the one of this tokenizer); without it llama.cpp falls back to another split.

Tensors (dims ne[0] first; type @ offset in the data section (bytes), per file):

| name | dims | `{f32}` | `{q8}` | `{q4}` |
|---|---|---|---|---|
{chr(10).join(rows)}

- Names and roles: `token_embd` = embed_tokens (row i = token i's embedding: dims [{d}, {vocab_size}]), per layer
  `attn_norm` = input_layernorm, `attn_q/k/v/output` = q/k/v/o_proj, `ffn_norm` = post_attention_layernorm,
  `ffn_gate/up/down` = gate/up/down_proj, then `output_norm` = norm and `output` = lm_head (untied). Matrices are
  applied as y = W x with W's rows the dims[1] outputs, each row dims[0] contiguous values.
- `attn_q` (with {heads} heads) and `attn_k` (with {kv}) have their rows permuted as `convert_hf_to_gguf.py` does, from Hugging
  Face's `rotate_half` order to GGML's interleaved RoPE: row h*{hd} + 2i + b of the GGUF tensor is row h*{hd} + b*{hd // 2} + i of
  q_proj/k_proj (i = 0..{hd // 2 - 1}, b = 0, 1). RoPE then rotates the adjacent pairs (2i, 2i + 1) of each head by the angle
  position * {c["rope_theta"]:g}^(-2i/{hd}) (GGML's normal mode; `llama.rope.dimension_count` {hd} = the head size), which
  gives what `rotate_half` gives on the unpermuted weights. `attn_v` and the others are not permuted.
- Q8_0 (type 8): blocks of 32 consecutive values along ne[0], 34 bytes each: the scale d as IEEE half (2 bytes),
  then 32 int8 q; value = d * q. Q4_0 (type 2): blocks of 32 along ne[0], 18 bytes: d as half, then 16 bytes, byte j
  holding element j in its low nibble and element j + 16 in its high nibble, each stored as q + 8 (0..15); value =
  d * (nibble - 8). A row of ne[0] values is ne[0] / 32 consecutive blocks; the rows follow each other.
- Quantized as ggml's reference quantizers (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`) do, in float32: Q8_0
  d = max|x| / 127, q = roundf(x * (1/d)); Q4_0 d = m / -8 with m the block's value of largest magnitude (the first such,
  its sign kept), nibble = min(15, (int)(x * (1/d) + 8.5)); the f32 d rounded to half (to nearest even) for the file.
  The Q8_0 and Q4_0 files quantize `attn_q`, `attn_k`, `attn_v`, `attn_output`, `ffn_gate`, `ffn_up` of each layer and
  `output.weight`; `ffn_down`'s ne[0] is the intermediate size {inner}, not a multiple of 32, so it stays F32 in every file
  (as `convert_hf_to_gguf.py` falls back to a float type for such tensors), as do `token_embd` and the norms.

`{GGUF_REF}`: `{{"prompt_ids": [the 3 prompts' ids of llama_greedy.json], "q8_0": [per prompt, the {vocab_size} logits of its
last position], "q4_0": [the same]}}`, rounded to 6 decimals, from a float64 numpy Llama in GGML's conventions
(interleaved RoPE on the permuted q/k, no cache) over the dequantized tensors of `{q8}` / `{q4}`: what
a loader that dequantizes those files exactly should give, up to its float32 arithmetic.

Checked by the script: the rebuilt module gives `llama_greedy.json`'s ids; each file is read back by a GGUF reader of
the script's own (magic, version, counts, the metadata keys, types and values written, the tensor names, dims, types
and offsets, the alignment, the padding and the file size); the F32 tensors equal the module's (q/k after undoing the
permutation); the Q8_0 / Q4_0 bytes equal a second, scalar re-quantization and dequantize within the quantization
step; the float64 GGUF Llama over `{f32}` agrees with the float64 Llama of the section above on the module's own
(unpermuted) weights within 1e-4 (about 1e-10 here) on each prompt followed by 20 random ids, and its greedy ids
(no cache) are `llama_greedy.json`'s. For scale: over the Q8_0 file's weights the logits move by up to about 0.07
(logits up to 3.7) and the greedy ids stay `llama_greedy.json`'s except from the 27th new id of the third prompt; over
the Q4_0 file's by up to about 1.2, and the greedy ids leave them by the 7th new id (the second prompt's at the
first). (gguf-py 0.19, installed aside
and not needed by the script, reads the three files with the same data start, metadata and dequantized tensors, and
its `quantize` gives the same Q8_0 / Q4_0 bytes.)
"""


if __name__ == "__main__":
    main()
