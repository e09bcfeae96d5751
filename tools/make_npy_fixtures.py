#!/usr/bin/env python3
"""Generates the .npy/.npz fixtures read by dev.kiln.io tests (src/test/resources/npy/).

Run from the repository root:  python3 tools/make_npy_fixtures.py
Needs only numpy (bfloat16 files are written by hand, as ml_dtypes' np.save would write them).

Every array's values come from a formula of its C-order flat index i (0..n-1), so the tests can
compute the expected values without another data file. MANIFEST.txt lists, per array:
    file  member  descr  shape  fortran_order  version  formula
Formulas (the Java test implements the same table):
    float  : (i - 5.5) * 0.25            exact in float16, bfloat16, float32, float64
    int8   : i * 23 - 128                covers -128 .. 125
    int32  : i * 100003 - 500000
    int64  : (i - 6) * (10**17 + 3)      beyond 2**53, so exactness of int64 is checked
    bool   : i % 3 == 0
    arange : i
    c3.5   : the constant 3.5 (0-d array)
Files with formula 'error' are valid NumPy files whose dtype Kiln refuses (complex, object,
unsigned, unicode); the test expects a clear error naming the file and the dtype.
"""
import os
import struct
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "test", "resources", "npy")

FORMULAS = {
    "float": lambda i: (i - 5.5) * 0.25,
    "int8": lambda i: i * 23 - 128,
    "int32": lambda i: i * 100003 - 500000,
    "int64": lambda i: (i - 6) * (10**17 + 3),
    "bool": lambda i: i % 3 == 0,
    "arange": lambda i: i,
}

manifest = []


def values(formula, shape, dtype):
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    if formula == "c3.5":
        return np.array(3.5, dtype=dtype)
    v = FORMULAS[formula](i)
    return np.asarray(v).astype(dtype).reshape(shape)


def record(file, member, descr, shape, fortran, version, formula):
    shape_s = "x".join(str(d) for d in shape) if shape else "()"
    manifest.append(f"{file} {member} {descr} {shape_s} {fortran} {version} {formula}")


def save(file, arr, formula, version=None):
    path = os.path.join(OUT, file)
    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=True)
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    v = "%d.%d" % (version or (1, 0))
    record(file, "-", descr, arr.shape, fortran, v, formula)


def save_bf16(file, shape, formula, descr):
    """bfloat16 as ml_dtypes + np.save write it: raw 2-byte bf16 bit patterns, descr '<V2'."""
    f32 = values(formula, shape, np.float32)
    bits = (f32.view(np.uint32) >> 16).astype("<u2")  # values are exact in bf16, truncation is exact
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    with open(os.path.join(OUT, file), "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(bits.tobytes())
    record(file, "-", descr, shape, False, "1.0", formula)


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith((".npy", ".npz")) or old == "MANIFEST.txt":
            os.remove(os.path.join(OUT, old))
    s = (3, 4)
    # every dtype, little-endian (numpy's native order here)
    for name, dt, formula in [("f2", "<f2", "float"), ("f4", "<f4", "float"), ("f8", "<f8", "float"),
                              ("i1", "|i1", "int8"), ("i4", "<i4", "int32"), ("i8", "<i8", "int64"),
                              ("b1", "|b1", "bool")]:
        save(f"{name}.npy", values(formula, s, dt), formula)
    # big-endian: byte-swapped on load
    for name, dt, formula in [("f2", ">f2", "float"), ("f4", ">f4", "float"), ("f8", ">f8", "float"),
                              ("i4", ">i4", "int32"), ("i8", ">i8", "int64")]:
        save(f"be_{name}.npy", values(formula, s, dt), formula)
    # bfloat16, both spellings: ml_dtypes' '<V2' and a plain numpy void '|V2'
    save_bf16("bf16.npy", s, "float", "<V2")
    save_bf16("bf16_void.npy", s, "float", "|V2")
    # Fortran order (3-d float32, and 2-d big-endian int32: transpose + swap together)
    save("fortran_f4.npy", np.asfortranarray(values("arange", (2, 3, 4), "<f4")), "arange")
    save("fortran_be_i4.npy", np.asfortranarray(values("int32", s, ">i4")), "int32")
    # 0-d, empty, 1-d
    save("scalar_f8.npy", values("c3.5", (), "<f8"), "c3.5")
    save("empty_f4.npy", np.zeros((0, 3), dtype="<f4"), "float")
    save("vec_i8.npy", values("int64", (12,), "<i8"), "int64")
    # header versions 2.0 and 3.0
    save("v2_f4.npy", values("float", (2, 3), "<f4"), "float", version=(2, 0))
    save("v3_f4.npy", values("float", (2, 3), "<f4"), "float", version=(3, 0))
    # dtypes Kiln refuses
    save("complex64.npy", np.array([1 + 2j, 3 - 4j], dtype="<c8"), "error")
    save("object.npy", np.array([1, "a"], dtype=object), "error")
    save("uint16.npy", np.arange(4, dtype="<u2"), "error")
    save("unicode.npy", np.array(["ab", "c"]), "error")
    # npz, stored and deflated (np.savez / np.savez_compressed)
    formulas = {"a": ("float", s, "<f4"), "b": ("int64", (2, 6), "<i8"),
                "c": ("bool", (12,), "|b1"), "big": ("arange", (1000,), "<f4")}
    arrays = {k: values(f, shape, dt) for k, (f, shape, dt) in formulas.items()}
    np.savez(os.path.join(OUT, "stored.npz"), **arrays)
    np.savez_compressed(os.path.join(OUT, "compressed.npz"), **arrays)
    for file in ("stored.npz", "compressed.npz"):
        for k, (f, shape, dt) in formulas.items():
            record(file, k, np.lib.format.dtype_to_descr(arrays[k].dtype), shape, False, "1.0", f)
    with open(os.path.join(OUT, "MANIFEST.txt"), "w") as f:
        f.write("# file member descr shape fortran_order version formula  (made by tools/make_npy_fixtures.py)\n")
        f.write("\n".join(manifest) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, x)) for x in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
