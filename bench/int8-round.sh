#!/usr/bin/env bash
# Quantized real-scale models against ONNX Runtime (issue #16): dynamic int8 (BERT-base, GPT-2 decode) and
# weight-only 4/8-bit (GPT-2 decode, com.microsoft MatMulNBits), plus the f32 rows they compare with,
# every number a ratio to a peer run in the same process.
#   bench/int8-round.sh [OUT_DIR]        (default: bench/results/int8-round-DATE)
# Needs the build and the full-size fixtures in build-dir/models (/usr/bin/python3 tools/make_real_models.py);
# writes the int8 files there with kiln quantize (dynamic, per-tensor weight scales). Run it on an idle machine.
# The int8 path needs about 40 calls to reach speed (JIT), hence --warmup 40.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-bench/results/int8-round-$(date -u +%Y%m%d-%H%M)}"
m=build-dir/models
mkdir -p "$out"
lscpu > "$out/lscpu.txt"
./kiln quantize "$m/bert_op17.onnx" --out "$m/bert_op17_int8.onnx" --shape input_ids=1x128 --shape attention_mask=1x128 > "$out/quantize-bert.txt" 2>&1
./kiln quantize "$m/gpt2_decode_op17.onnx" --out "$m/gpt2_decode_op17_int8.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x63x64 > "$out/quantize-gpt2-decode.txt" 2>&1
./kiln quantize "$m/gpt2_decode_op17.onnx" --weight-only 4 --out "$m/gpt2_decode_op17_w4.onnx" > "$out/quantize-gpt2-decode-w4.txt" 2>&1
./kiln quantize "$m/gpt2_decode_op17.onnx" --weight-only 8 --out "$m/gpt2_decode_op17_w8.onnx" > "$out/quantize-gpt2-decode-w8.txt" 2>&1
run() { local name=$1; shift; ./kiln bench "$@" --compare ort --json "$out/$name.json" > "$out/$name.txt" 2>&1 || true; }
run bert-int8-1x128 "$m/bert_op17_int8.onnx" --shape input_ids=1x128 --shape attention_mask=1x128 --warmup 40 --iters 30
run bert-f32-1x128 "$m/bert_op17.onnx" --shape input_ids=1x128 --shape attention_mask=1x128 --warmup 20 --iters 30
run bert-int8-2x128 "$m/bert_op17_int8.onnx" --shape input_ids=2x128 --shape attention_mask=2x128 --warmup 40 --iters 20
run bert-int8-8x128 "$m/bert_op17_int8.onnx" --shape input_ids=8x128 --shape attention_mask=8x128 --warmup 20 --iters 10
run gpt2-decode-63-int8 "$m/gpt2_decode_op17_int8.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x63x64 --warmup 40 --iters 60
run gpt2-decode-63-f32 "$m/gpt2_decode_op17.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x63x64 --warmup 20 --iters 60
run gpt2-decode-63-w4 "$m/gpt2_decode_op17_w4.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x63x64 --warmup 40 --iters 60
run gpt2-decode-63-w8 "$m/gpt2_decode_op17_w8.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x63x64 --warmup 40 --iters 20
run gpt2-decode-511-int8 "$m/gpt2_decode_op17_int8.onnx" --shape input_ids=1x1 --shape past=12x2x1x12x511x64 --warmup 40 --iters 40
run resnet50-b1 "$m/resnet50_op17.onnx" --shape input=1x3x224x224 --warmup 20 --iters 20
run resnet50-b8 "$m/resnet50_op17.onnx" --shape input=8x3x224x224 --warmup 5 --iters 10
echo "wrote $out"
