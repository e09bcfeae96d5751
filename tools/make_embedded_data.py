#!/usr/bin/env python3
"""Makes Kiln's small embedded Fashion-MNIST subset (src/main/resources/dev/kiln/data/).

Reads the real Fashion-MNIST IDX files (Debian package dataset-fashion-mnist installs them in
/usr/share/datasets/fashion-mnist) and writes the first N_TRAIN training and N_TEST test
examples as gzipped IDX files with the same layout (magic, big-endian dims, ubyte data).
Only the standard library is used. The output is deterministic (gzip mtime 0), so re-running
the script reproduces the committed files byte for byte.

usage: tools/make_embedded_data.py [SRC_DIR] [OUT_DIR]
"""
import gzip
import os
import struct
import sys

N_TRAIN = 2000
N_TEST = 500
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = os.path.join(HERE, "..", "src", "main", "resources", "dev", "kiln", "data")


def read_idx(path):
    """Returns (type code, dims, payload bytes) of a (gzipped) IDX file."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise ValueError(f"{path}: not an IDX file")
    dims = list(struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim]))
    return code, dims, data[4 + 4 * ndim:]


def write_idx(path, code, dims, payload):
    header = struct.pack(">HBB", 0, code, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        # mtime=0 and no file name in the gzip header: reproducible bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(header + payload)


def subset(src, out, split, n):
    for kind, idx in (("images", "idx3"), ("labels", "idx1")):
        code, dims, payload = read_idx(os.path.join(src, f"{split}-{kind}-{idx}-ubyte.gz"))
        row = 1
        for d in dims[1:]:
            row *= d
        dims[0] = n
        name = f"fashion-mnist-{split}-{n}-{kind}-{idx}-ubyte.gz"
        write_idx(os.path.join(out, name), code, dims, payload[:n * row])
        if kind == "labels":
            counts = [payload[:n].count(c) for c in range(10)]
            print(f"{name}: {os.path.getsize(os.path.join(out, name))} bytes, class counts {counts}")
        else:
            print(f"{name}: {os.path.getsize(os.path.join(out, name))} bytes")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    out = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    subset(src, out, "train", N_TRAIN)
    subset(src, out, "t10k", N_TEST)


if __name__ == "__main__":
    main()
