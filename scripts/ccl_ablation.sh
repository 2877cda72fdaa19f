#!/usr/bin/env bash
# The paper's CCL ablation on the comparison's data: CCL from the identical-view row with the
# quantile of keypoints kept q in {0.2, 0.35, 0.5, 1.0}, with and without variance scaling, each
# scored on the held-out cross-scene pairs (unseen label variants) -> OUT/ablation.md and .png.
# Each row is the model after its last step (last.pt), not the best validation epoch, which
# could be the shared init.
# Run scripts/compare_methods.sh first (same OUT, BACKBONE, COLOUR): it makes the data and the init.
#   OUT BACKBONE COLOUR CROP STEPS EPOCHS CCL_LR PARTNER_GAP AUGMENTATION CONTEXT_SWAP
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
OUT=${OUT:-runs/compare}
BACKBONE=${BACKBONE:-resnet18}
COLOUR=${COLOUR:-0}
CROP=${CROP:-128x160}
STEPS=${STEPS:-100}
EPOCHS=${EPOCHS:-1}
CCL_LR=${CCL_LR:-1e-4}
PARTNER_GAP=${PARTNER_GAP:-10}
AUGMENTATION=${AUGMENTATION:-}
CONTEXT_SWAP=${CONTEXT_SWAP:-0}

data=$OUT/data
init=$OUT/identical_view/best.pt
[ -f "$init" ] || { echo "no $init: run scripts/compare_methods.sh with OUT=$OUT first" >&2; exit 2; }
# the comparison's validation pairs (VAL_PAIRS), else those the identical-view run made itself
val=$data/val/pairs.json; [ -f "$val" ] || val=$OUT/identical_view/val/pairs.json
flags=(--method ccl --data "$data/unordered" --size "$CROP" --fit crop --init "$init" --batch-size 4
       --workers 1 --steps-per-epoch "$STEPS" --epochs "$EPOCHS" --lr "$CCL_LR" --partner-gap "$PARTNER_GAP"
       --val-pairs "$val")
[ -z "$AUGMENTATION" ] || flags+=(--augmentation "$AUGMENTATION")
[ "$CONTEXT_SWAP" = 0 ] || flags+=(--context-swap "$CONTEXT_SWAP")
for q in 0.2 0.35 0.5 1.0; do
  for scaling in scaled unscaled; do
    name=q${q}_$scaling; run=$OUT/ablation/$name
    switch=--variance-scaling; [ "$scaling" = unscaled ] && switch=--no-variance-scaling
    [ -f "$run/last.pt" ] || $DDR train "${flags[@]}" --quantile "$q" "$switch" --out "$run"
    [ -f "$OUT/eval_ablation/$name/metrics.json" ] || \
      $DDR evaluate --model "$run/last.pt" --pairs "$data/test/pairs.json" --images "$data/test" \
        --out "$OUT/eval_ablation/$name" --name "$name" --device cpu
  done
done
.venv/bin/python -m dense_descriptor_ros.evaluation.ablation "$OUT/eval_ablation" "$OUT/ablation.md"
