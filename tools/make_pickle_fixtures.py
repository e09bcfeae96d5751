#!/usr/bin/python3
"""Writes the PyTorch-file fixtures of Kiln's pickle / torch archive tests (src/test/resources/torch/).

Run with the system Python that has torch (1.13 on the build machines): /usr/bin/python3 tools/make_pickle_fixtures.py

Real torch files (made by torch.save / torch.jit.save):
  tensors.pt        dict of tensors in every storage type, views sharing one storage (a transpose, a
                    slice with an offset, a strided slice), a 0-d and an empty tensor, a Parameter,
                    nested containers and a big int. MANIFEST.txt lists each tensor's
                    name, Kiln dtype, shape, strides, storage offset and storage key; tensors_expected.npz
                    holds each one's values (contiguous; uint8/int16 as int32, bfloat16 as float32).
  mlp_state.pt      state_dict of Sequential(Linear(5, 8), BatchNorm1d(8), ReLU, Linear(8, 3)) after a few
                    training-mode passes (so running stats are not the defaults); mlp_io.npz holds an input x
                    [4, 5] and the eval-mode output y [4, 3].
  checkpoint.pt     {"model": <that state dict>, "epoch": 3, "optimizer": {"state": {0: {...}}}}.
  scripted.pt       torch.jit.script of a module with a Linear child, a transposed buffer and an int attribute.
  traced_const.pt   torch.jit.trace of a function with a tensor constant (constants.pkl + constants/0).
  legacy.pt         the pre-1.6 non-zip torch.save format (Kiln refuses it with a clear message).

Plain pickles (Python's pickle module, no torch):
  values_p2.pkl, values_p4.pkl, values_p5.pkl   VALUES below in protocols 2, 4 and 5 (memo, FRAME,
                    SHORT_BINUNICODE, EMPTY_SET/ADDITEMS, FROZENSET, BYTEARRAY8, LONG1, shared references).

Hand-made hostile files (Kiln must refuse them without executing anything; none of them is ever
unpickled by Python here):
  evil_os_system.pkl          GLOBAL os.system + REDUCE('touch kiln_pwned_os_system')
  evil_builtins_eval.pkl      GLOBAL builtins.eval + REDUCE
  evil_subprocess_popen.pkl   STACK_GLOBAL subprocess.Popen + REDUCE
  evil_posix_system.pkl       STACK_GLOBAL posix.system through the memo (BINPUT/BINGET), protocol 4 FRAME
  evil_in_tensor.pkl          a torch-looking pickle whose persistent id's storage type is os.system
  evil.pt                     a torch zip whose data.pkl is evil_os_system.pkl
  zip_size_lie.pt             tensors.pt with a central-directory entry size larger than the file
  zip_bomb.pt                 a zip whose deflated data.pkl declares 1 GB from ~1 KB
  zip_dotdot.pt               a zip with a member named archive/../../etc/passwd
  deep_lists.pkl              lists nested 5000 deep
  cycle.pkl                   a list that contains itself
  huge_binunicode.pkl         BINUNICODE declaring 4 GB with 3 bytes following
"""
import io
import os
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "src", "test", "resources", "torch")

KILN_DTYPE = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
              torch.int64: "I64", torch.int32: "I32", torch.int16: "I32", torch.int8: "I8",
              torch.uint8: "I32", torch.bool: "BOOL"}


def path(name):
    return os.path.join(OUT, name)


def tensors_fixture():
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.25 - 1.375
    t = OrderedDict()
    t["f32"] = base
    t["f32_t"] = base.t()                 # strides (1, 4), shares storage
    t["f32_slice"] = base[1:, 1:3]        # offset 5, strides (4, 1)
    t["f32_step"] = base[:, ::2]          # strides (4, 2)
    t["f64"] = torch.tensor([1e300, -0.1, 3.141592653589793], dtype=torch.float64)
    t["f16"] = torch.tensor([[0.5, -65504.0], [2.0 ** -14, 1 + 2.0 ** -10]], dtype=torch.float16)
    t["bf16"] = torch.tensor([1.0, -2.5, 0.15625, 65280.0], dtype=torch.bfloat16)
    t["i64"] = torch.tensor([-2 ** 63, 2 ** 63 - 1, 2 ** 53 + 1, 7], dtype=torch.int64)
    t["i32"] = torch.tensor([[-2 ** 31, 2 ** 31 - 1], [0, -7]], dtype=torch.int32)
    t["i16"] = torch.tensor([-32768, 32767, -1, 5], dtype=torch.int16)[1:]   # widened, offset 1
    t["i8"] = torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8)
    u8 = torch.tensor([[0, 1, 2], [128, 254, 255]], dtype=torch.uint8)
    t["u8_t"] = u8.t()                    # widened from a non-contiguous view
    t["bool"] = torch.tensor([True, False, True])
    t["scalar"] = torch.tensor(42.5)
    t["empty"] = torch.zeros(0, 3)
    t["param"] = torch.nn.Parameter(torch.tensor([0.5, -0.5]))
    obj = dict(t)
    obj["nested"] = {"list": [t["i8"], 1, 2.5, "text", None, True], "tuple": (1, "two", 3.0), "big": 2 ** 70,
                     "neg": -2 ** 40, "bytes": b"\x00\x01\xff"}
    torch.save(obj, path("tensors.pt"))

    keys = {}
    lines = ["# name kiln_dtype shape strides offset storage_key (written by tools/make_pickle_fixtures.py)"]
    expected = {}
    for name, x in t.items():
        ptr = x.storage().data_ptr()
        key = keys.setdefault(ptr, str(len(keys)))
        shape = "x".join(str(s) for s in x.shape) or "()"
        stride = "x".join(str(s) for s in x.stride()) or "()"
        widened = x.dtype in (torch.uint8, torch.int16)
        if widened:   # Kiln copies these into contiguous int32
            stride = "x".join(str(s) for s in torch.empty(x.shape).stride()) or "()"
        offset = 0 if widened else x.storage_offset()
        lines.append(f"{name} {KILN_DTYPE[x.dtype]} {shape} {stride} {offset} {key}")
        v = x.detach()
        if x.dtype == torch.bfloat16:
            v = v.float()
        elif widened:
            v = v.int()
        expected[name] = v.contiguous().numpy()
    with open(path("MANIFEST.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    np.savez(path("tensors_expected.npz"), **expected)


def mlp_fixture():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(16, 5) * 2 + 0.5)
    m.eval()
    x = torch.randn(4, 5)
    with torch.no_grad():
        y = m(x)
    torch.save(m.state_dict(), path("mlp_state.pt"))
    np.savez(path("mlp_io.npz"), x=x.numpy(), y=y.numpy())
    opt = {"state": {0: {"momentum_buffer": torch.ones(2)}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    torch.save({"model": m.state_dict(), "epoch": 3, "optimizer": opt}, path("checkpoint.pt"))


class Scripted(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)
        self.register_buffer("table", torch.arange(6.0).reshape(2, 3).t())
        self.k = 3

    def forward(self, x):
        return self.fc(x) * 2.0 + self.k


CONST = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def add_const(x):
    return x + CONST


def torchscript_fixtures():
    torch.manual_seed(1)
    torch.jit.save(torch.jit.script(Scripted()), path("scripted.pt"))
    torch.jit.save(torch.jit.trace(add_const, torch.zeros(2, 3)), path("traced_const.pt"))
    torch.save({"w": torch.ones(2)}, path("legacy.pt"), _use_new_zipfile_serialization=False)


SHARED = [1, 2]
VALUES = {"ints": [0, 1, -1, 255, 256, 65535, 65536, -2 ** 31, 2 ** 31 - 1, 2 ** 63 - 1, -2 ** 63, 2 ** 64, -2 ** 70],
          "floats": [0.5, -1e300, float("inf")], "text": "h\u00e9llo \u2713", "bytes": b"\x00\xffab",
          "none": None, "bools": (True, False), "tuple": (1, (2, 3), ()), "set": {7}, "frozen": frozenset({8}),
          "shared": (SHARED, SHARED), "nested": {"k": [{"x": 1.25}]}, 3: "int key"}


def values_fixtures():
    import pickle
    for proto in (2, 4, 5):
        v = dict(VALUES)
        if proto == 5:
            v["bytearray"] = bytearray(b"ba")
        write(f"values_p{proto}.pkl", pickle.dumps(v, protocol=proto))


# ---------------------------------------------------------------------------- hostile files

def unicode_op(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def reduce_call(global_ops, arg):
    return b"\x80\x02" + global_ops + unicode_op(arg) + b"\x85R."


def stack_global(module, name):
    return unicode_op(module) + unicode_op(name) + b"\x93"


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def zip_with(name, members, compress=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as z:
        for n, data in members:
            z.writestr(n, data)
    return buf.getvalue()


def hostile_fixtures():
    os_system = reduce_call(b"cos\nsystem\n", "touch kiln_pwned_os_system")
    write("evil_os_system.pkl", os_system)
    write("evil_builtins_eval.pkl", reduce_call(b"cbuiltins\neval\n", "open('kiln_pwned_eval', 'w')"))
    write("evil_subprocess_popen.pkl", reduce_call(stack_global("subprocess", "Popen"), "touch kiln_pwned_popen"))
    body = (unicode_op("posix") + b"\x94" + unicode_op("system") + b"\x94" + b"h\x00h\x01\x93"
            + unicode_op("touch kiln_pwned_posix") + b"\x85R.")
    write("evil_posix_system.pkl", b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body)
    # a torch-looking tensor whose storage type global is os.system
    pid = b"(" + unicode_op("storage") + b"cos\nsystem\n" + unicode_op("0") + unicode_op("cpu") + b"K\x01tQ"
    write("evil_in_tensor.pkl", b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00K\x01\x85K\x01\x85\x89}tR.")
    write("evil.pt", zip_with("evil.pt", [("archive/data.pkl", os_system), ("archive/version", b"3\n")]))

    data = bytearray(open(path("tensors.pt"), "rb").read())
    cd = data.index(b"PK\x01\x02")                # first central-directory entry
    struct.pack_into("<II", data, cd + 20, 0x7FFFFFF0, 0x7FFFFFF0)  # compressed and uncompressed size
    write("zip_size_lie.pt", bytes(data))

    bomb = zip_with("zip_bomb.pt", [("archive/data.pkl", b"\x80\x02N." + b"\x00" * 200000)], zipfile.ZIP_DEFLATED)
    bomb = bytearray(bomb)
    cd = bomb.index(b"PK\x01\x02")
    struct.pack_into("<I", bomb, cd + 24, 1 << 30)   # declares 1 GB uncompressed
    write("zip_bomb.pt", bytes(bomb))
    write("zip_dotdot.pt", zip_with("zip_dotdot.pt", [("archive/data.pkl", b"\x80\x02N."),
                                                      ("archive/../../etc/passwd", b"x")]))

    depth = 5000
    write("deep_lists.pkl", b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b".")
    write("cycle.pkl", b"\x80\x02]q\x00h\x00a.")
    write("huge_binunicode.pkl", b"\x80\x02X" + struct.pack("<I", 0xFFFFFFFF) + b"abc")


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors_fixture()
    mlp_fixture()
    torchscript_fixtures()
    values_fixtures()
    hostile_fixtures()
    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
