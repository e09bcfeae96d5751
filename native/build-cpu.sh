#!/usr/bin/env bash
# build-cpu.sh: compiles Kiln's native CPU kernels (native/cpu/*.c) into one shared library,
# loaded through the FFM API when present (int8 VNNI GEMM, blocked conv, f32 GEMM/GEMV, streaming
# elementwise and activation kernels; see docs/KERNEL_LAB.md). Without it Kiln runs its Vector API kernels; nothing else changes.
#
# Usage: native/build-cpu.sh [OUT_DIR]      (default: target/native-cpu; the jar packs it as
#                                            native/libkiln_cpu.so)
# Env:   CC (default: gcc, else cc). x86-64 Linux only; elsewhere the script skips with exit 0.
# -O3, all warnings are errors. -ffp-contract=off: a multiply followed by an add stays two
# roundings (GCC would fuse them into an fma), as in the Java twins the kernels are tested
# against bit for bit; the kernels write their fmas explicitly. The AVX-512 code is compiled per function (target attributes),
# and the library reports at run time whether the CPU can execute it.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/target/native-cpu}"
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "build-cpu: skipped (native kernels are x86-64 Linux only)" >&2
    exit 0
fi
cc="${CC:-$(command -v gcc || command -v cc || true)}"
if [ -z "$cc" ]; then
    echo "build-cpu: no C compiler (gcc); Kiln will use its Vector API kernels" >&2
    exit 0
fi
mkdir -p "$out/native"
if "$cc" -O3 -ffp-contract=off -fPIC -shared -Wall -Wextra -Werror -o "$out/native/libkiln_cpu.so" "$here"/native/cpu/*.c; then
    echo "build-cpu: $out/native/libkiln_cpu.so ($(stat -c %s "$out/native/libkiln_cpu.so") bytes)"
else
    echo "build-cpu: compile failed" >&2
    exit 1
fi
