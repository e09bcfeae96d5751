#!/usr/bin/env python3
"""Writes the safetensors fixtures of Kiln's tests (src/test/resources/safetensors/).

The `safetensors` Python package is not installed on the build machines (nor in Debian), so the
bytes are written by hand with struct/json following the format's specification, laid out as the
reference (Rust) implementation lays them out:
  * 8-byte little-endian header length N, then N bytes of compact UTF-8 JSON padded with spaces to
    a multiple of 8, then the data buffer;
  * "__metadata__" first, then the tensors in data order, sorted by dtype size (largest first)
    and then by name, so that every tensor is aligned; data_offsets are relative to the buffer.
Only the standard library is used; re-running the script reproduces the files byte for byte.

all_dtypes.safetensors (metadata {"format": "pt", "source": "tools/make_safetensors_fixtures.py"}):
  f64    F64  [3]     1e300, -0.1, 3.141592653589793
  i64    I64  [3]     -2**63, 2**63 - 1, 2**53 + 1
  empty  F32  [0, 3]  (no data)
  f32    F32  [2, 3]  0.5, -1.25, 3.0, float32(0.001), -7.75, 1e20 (as float32)
  i32    I32  [2, 2]  -2**31, 2**31 - 1, 0, -7
  scalar F32  []      42.0
  bf16   BF16 [4]     1.0, -2.5, 0.15625, 65280.0       (all exact in bfloat16)
  f16    F16  [2, 2]  0.5, -65504.0, 2**-14, 1 + 2**-10 (all exact in float16)
  bool   BOOL [3]     true, false, true
  i8     I8   [5]     -128, -1, 0, 1, 127

names_and_escapes.safetensors (tensors in this data order): tensor names and metadata that exercise JSON string escapes and
UTF-8 (metadata {"note": "quote \\" backslash \\\\ newline \\n tab \\t", "unicode": "température ✓ \\U0001F600"}):
  "emb/é"         F32 [1]     -1
  layer.0.weight  F32 [2, 2]  1, 2, 3, 4
  "we\\"ird"      I32 [1]     7
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "test", "resources", "safetensors")

SIZES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "BF16": 2, "F16": 2, "BOOL": 1, "I8": 1}


def bf16(values):
    out = b""
    for v in values:
        bits = struct.unpack("<I", struct.pack("<f", v))[0]
        assert bits & 0xFFFF == 0, f"{v} is not exact in bfloat16"
        out += struct.pack("<H", bits >> 16)
    return out


def pack(dtype, values):
    if dtype == "BF16":
        return bf16(values)
    fmt = {"F64": "d", "I64": "q", "F32": "f", "I32": "i", "F16": "e", "BOOL": "?", "I8": "b"}[dtype]
    return struct.pack("<" + fmt * len(values), *values)


def write(path, tensors, metadata):
    """tensors: {name: (dtype, shape, values)}; laid out as the reference implementation does."""
    order = sorted(tensors, key=lambda n: (-SIZES[tensors[n][0]], n))
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    buf = b""
    for name in order:
        dtype, shape, values = tensors[name]
        data = pack(dtype, values)
        n = 1
        for d in shape:
            n *= d
        assert len(data) == n * SIZES[dtype], name
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + buf)
    print(f"{os.path.basename(path)}: {8 + len(js) + len(buf)} bytes, header {len(js)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    write(os.path.join(OUT, "all_dtypes.safetensors"), {
        "f64": ("F64", [3], [1e300, -0.1, 3.141592653589793]),
        "i64": ("I64", [3], [-2**63, 2**63 - 1, 2**53 + 1]),
        "f32": ("F32", [2, 3], [0.5, -1.25, 3.0, 0.001, -7.75, 1e20]),
        "i32": ("I32", [2, 2], [-2**31, 2**31 - 1, 0, -7]),
        "scalar": ("F32", [], [42.0]),
        "empty": ("F32", [0, 3], []),
        "bf16": ("BF16", [4], [1.0, -2.5, 0.15625, 65280.0]),
        "f16": ("F16", [2, 2], [0.5, -65504.0, 2.0**-14, 1 + 2.0**-10]),
        "bool": ("BOOL", [3], [True, False, True]),
        "i8": ("I8", [5], [-128, -1, 0, 1, 127]),
    }, {"format": "pt", "source": "tools/make_safetensors_fixtures.py"})
    write(os.path.join(OUT, "names_and_escapes.safetensors"), {
        "layer.0.weight": ("F32", [2, 2], [1, 2, 3, 4]),
        "emb/\u00e9": ("F32", [1], [-1]),
        "we\"ird": ("I32", [1], [7]),
    }, {"note": "quote \" backslash \\ newline \n tab \t", "unicode": "temp\u00e9rature \u2713 \U0001F600"})


if __name__ == "__main__":
    main()
