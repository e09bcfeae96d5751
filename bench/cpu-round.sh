#!/usr/bin/env bash
# One CPU benchmark round (issues #14/#15): every number a ratio to a peer run in the same process.
#   bench/cpu-round.sh [OUT_DIR]        (default: bench/results/cpu-round-DATE)
# Needs the build (./kiln info builds it), Debian python3-onnx for the single-op models, and for the
# model rows the full-size fixtures in build-dir/models (/usr/bin/python3 tools/make_real_models.py).
# Run it on an otherwise idle machine: on the 2-core VMs anything else running moves ratios by 30%+.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/cpu-round-$(date -u +%Y%m%d-%H%M)}"
mkdir -p "$out"
lscpu > "$out/lscpu.txt"
./kiln info > "$out/info.txt" 2>&1
./kiln bench gemm --shapes 256x256x256,512x512x512,1024x1024x1024,2048x2048x2048,inference --json "$out/gemm.json" > "$out/gemm.txt" 2>&1
./kiln bench bf16 --json "$out/bf16.json" > "$out/bf16.txt" 2>&1
./kiln bench elementwise --json "$out/elementwise.json" > "$out/elementwise.txt" 2>&1
/usr/bin/python3 tools/make_op_models.py target/op-models > /dev/null
java_bin="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java"
"$java_bin" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -cp "bench/target/kiln-bench-0.1.0-SNAPSHOT.jar:target/kiln-0.1.0-SNAPSHOT.jar:$(cat bench/target/classpath.txt)" \
  dev.kiln.bench.onnx.OnnxInferenceBench --batch 1,8 --warmup-ms 1500 --iters 25 target/op-models/*.onnx > "$out/ops-vs-ort.txt" 2>&1
m=build-dir/models
if [ -d "$m" ]; then
  ./kiln bench "$m/resnet50_op17.onnx" --shape input=1x3x224x224 --compare ort --json "$out/resnet50-b1.json" > "$out/resnet50-b1.txt" 2>&1 || true
  ./kiln bench "$m/bert_op17.onnx" --shape input_ids=1x128 --shape attention_mask=1x128 --compare ort --json "$out/bert-1x128.json" > "$out/bert-1x128.txt" 2>&1 || true
  ./kiln bench "$m/gpt2_op17.onnx" --shape input_ids=1x64 --compare ort --json "$out/gpt2-prefill-1x64.json" > "$out/gpt2-prefill-1x64.txt" 2>&1 || true
  ./kiln bench "$m/gpt2_decode_op17.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x63x64 --compare ort --warmup 20 --iters 60 \
    --json "$out/gpt2-decode-63.json" > "$out/gpt2-decode-63.txt" 2>&1 || true
  ./kiln bench "$m/gpt2_decode_op17.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x511x64 --compare ort --warmup 10 --iters 40 \
    --json "$out/gpt2-decode-511.json" > "$out/gpt2-decode-511.txt" 2>&1 || true
fi
echo "wrote $out"
