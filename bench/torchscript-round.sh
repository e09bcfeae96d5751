#!/bin/bash
# The real-scale models through TorchScript (issue #15): for each traced and scripted file of
# tools/make_real_models.py, Kiln's outputs against PyTorch's golden ones (kiln run, max |diff|
# and max |diff| / max |golden|), then Kiln's latency (kiln bench FILE.pt) and PyTorch 1.13's own
# (tools/bench_torch.py, a separate process, run right after), both on 2 threads. Prints a table.
# usage: bench/torchscript-round.sh [OUT_DIR]     (needs build-dir/models from make_real_models.py)
set -euo pipefail
cd "$(dirname "$0")/.."
m=build-dir/models
out=${1:-target/torchscript-round}
mkdir -p "$out"
py=/usr/bin/python3
inputs() {   # the golden inputs of a model, in forward's order
  case $1 in
    bert) echo "$m/bert_in0.npy $m/bert_in1.npy" ;;
    gpt2) echo "$m/gpt2_in0.npy" ;;
    gpt2_decode) echo "$m/gpt2_decode_in0.npy $m/gpt2_decode_in1.npy" ;;
    resnet50) echo "$m/resnet50_in0.npy" ;;
  esac
}
p50() { awk -v e="$2" '$1 == e { print $5 }' "$1"; }
rows=()
for model in resnet50 bert gpt2 gpt2_decode; do
  for kind in trace script; do
    f=$m/${model}_$kind.pt
    [ -f "$f" ] || { echo "missing $f (run tools/make_real_models.py)" >&2; continue; }
    args=(); for i in $(inputs $model); do args+=(--input "$i"); done
    rm -rf "$out/$model-$kind-out"
    ./kiln run "$f" "${args[@]}" --output-dir "$out/$model-$kind-out" > "$out/$model-$kind-run.txt" 2>&1
    diff=$($py - "$out/$model-$kind-out" "$m/${model}_out" <<'PY'
import sys, glob, numpy as np
outs = sorted(glob.glob(sys.argv[1] + "/*.npy"))
worst_abs = worst_rel = 0.0
for i, o in enumerate(outs):
    gold = np.load(f"{sys.argv[2]}{i}.npy"); got = np.load(o)
    if got.shape != gold.shape: print(f"shape {got.shape} vs {gold.shape}"); sys.exit()
    d = float(np.max(np.abs(got.astype(np.float64) - gold)))
    worst_abs = max(worst_abs, d); worst_rel = max(worst_rel, d / max(float(np.max(np.abs(gold))), 1e-30))
print(f"{worst_abs:.1e} (rel {worst_rel:.1e}, {len(outs)} outputs)")
PY
)
    rm -rf "$out/$model-$kind-out"    # the outputs are large (GPT-2's logits: 13 MB); the diff above is what is kept
    warm=20; iters=30
    [ $model = gpt2_decode ] && { warm=30; iters=60; }
    ./kiln bench "$f" "${args[@]}" --warmup $warm --iters $iters > "$out/$model-$kind-kiln.txt" 2>&1
    $py tools/bench_torch.py "$f" "${args[@]}" --threads 2 --warmup $warm --iters $iters > "$out/$model-$kind-torch.txt" 2>&1
    k=$(p50 "$out/$model-$kind-kiln.txt" kiln); t=$(p50 "$out/$model-$kind-torch.txt" pytorch)
    rows+=("$(printf '| %-12s | %-6s | %8s | %8s | %5.2f | %s |' $model $kind "$k" "$t" "$(echo "$k / $t" | bc -l)" "$diff")")
  done
done
echo "| model | file | Kiln p50 ms | PyTorch 1.13 p50 ms | Kiln/PyTorch | Kiln vs PyTorch's outputs, max abs diff |"
echo "|---|---|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
