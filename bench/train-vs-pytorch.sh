#!/usr/bin/env bash
# Side-by-side training benchmark on this machine: PyTorch (Debian python3-torch + libopenblas0-pthread)
# and Kiln train the same model on Fashion-MNIST with the same batch, optimizer and threads.
#   bench/train-vs-pytorch.sh [mlp|cnn|all] [epochs=1] [threads=2]
# Prints a table and writes bench/results/train-<model>.json. Needs: apt-get install python3-torch
# libopenblas0-pthread dataset-fashion-mnist.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS=${1:-all}; EPOCHS=${2:-1}; THREADS=${3:-2}
[ "$MODELS" = all ] && MODELS="mlp cnn"
mkdir -p "$ROOT/bench/results"
PY=/usr/bin/python3
$PY -c "import torch" 2>/dev/null || { echo "bench: needs python3-torch (apt-get install python3-torch libopenblas0-pthread)" >&2; exit 2; }
[ -d /usr/share/datasets/fashion-mnist ] || { echo "bench: needs dataset-fashion-mnist" >&2; exit 2; }
printf '%-5s %-8s %12s %12s %10s %10s\n' model engine epoch_s samples/s test_acc ratio
for m in $MODELS; do
  pt=$(OMP_NUM_THREADS=$THREADS $PY "$ROOT/bench/peers/torch_train.py" --model "$m" --epochs "$EPOCHS" --batch 64 --lr 0.05 --threads "$THREADS")
  "$ROOT/kiln" train --model "$m" --epochs "$EPOCHS" --batch 64 --lr 0.05 --threads "$THREADS" --no-progress \
     --json "$ROOT/bench/results/kiln-$m.json" >/dev/null
  kl=$(cat "$ROOT/bench/results/kiln-$m.json")
  $PY - "$m" "$pt" "$kl" "$ROOT/bench/results/train-$m.json" <<'PYEOF'
import json, sys
m, pt, kl, out = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
pe = sum(pt["epoch_seconds"]) / len(pt["epoch_seconds"])
ke = sum(kl["epoch_seconds"]) / len(kl["epoch_seconds"])
print(f"{m:5s} {'pytorch':8s} {pe:12.2f} {pt['samples_per_second']:12.0f} {pt['test_accuracy']:10.4f}")
print(f"{m:5s} {'kiln':8s} {ke:12.2f} {kl['samples_per_second']:12.0f} {kl['test_accuracy']:10.4f} {ke / pe:10.3f}")
json.dump({"model": m, "pytorch": pt, "kiln": kl, "epoch_time_ratio_kiln_over_pytorch": ke / pe}, open(out, "w"), indent=1)
PYEOF
done
