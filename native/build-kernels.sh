#!/usr/bin/env bash
# build-kernels.sh: compiles every kernels/*.cu into a fatbin for the CUDA backend.
#
# Usage: native/build-kernels.sh [OUT_DIR]        (default: target/kernels)
# Env:   NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
#        KILN_KERNELS="elementwise reduce"  build only these files (default: all)
#
# Each kernels/<name>.cu becomes OUT_DIR/<name>.fatbin holding sm_90 SASS, compute_90 PTX (JIT
# for newer GPUs) and sm_80 SASS. -O3, no --use_fast_math (accuracy); all nvcc warnings are
# errors. The files are compiled in parallel (one nvcc per file); the script prints one line
# per file with its size and exits non-zero if any file fails to compile.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$here/target/kernels}"
nvcc="${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}"
if [ ! -x "$nvcc" ]; then
    echo "build-kernels: nvcc not found (set NVCC or install the CUDA toolkit)" >&2
    exit 2
fi
mkdir -p "$out"
flags=(-fatbin -O3 -std=c++17 -Werror all-warnings -I "$here/kernels"
       -gencode arch=compute_90,code=sm_90
       -gencode arch=compute_90,code=compute_90
       -gencode arch=compute_80,code=sm_80)

if [ -n "${KILN_KERNELS:-}" ]; then
    sources=(); for k in $KILN_KERNELS; do sources+=("$here/kernels/$k.cu"); done
else
    sources=("$here"/kernels/*.cu)
fi

pids=(); names=()
for src in "${sources[@]}"; do
    name="$(basename "$src" .cu)"
    rm -f "$out/$name.fatbin" "$out/$name.log"
    "$nvcc" "${flags[@]}" -o "$out/$name.fatbin" "$src" >"$out/$name.log" 2>&1 &
    pids+=($!); names+=("$name")
done

failed=0
for i in "${!pids[@]}"; do
    name="${names[$i]}"
    if wait "${pids[$i]}" && [ -s "$out/$name.fatbin" ]; then
        printf '%-14s %9d bytes  %s\n' "$name" "$(stat -c %s "$out/$name.fatbin")" "$out/$name.fatbin"
        rm -f "$out/$name.log"
    else
        echo "FAILED $name (kernels/$name.cu):" >&2
        cat "$out/$name.log" >&2
        rm -f "$out/$name.fatbin"
        failed=1
    fi
done
exit $failed
