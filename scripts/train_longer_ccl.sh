#!/usr/bin/env bash
# The longer CCL + identical-view run of docs/experiments.md: the comparison's identical-view
# checkpoint (scripts/compare_methods.sh) continued with CCL + 0.1 x identical-view for three
# times the comparison row's CCL budget (600 steps), then scored on both cross-scene test sets.
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
DATA=${DATA:-runs/compare/data}
INIT=${INIT:-runs/compare/identical_view/best.pt}
OUT=${OUT:-runs/ccl_longer}
CCL_EPOCHS=${CCL_EPOCHS:-3}
[ -f "$OUT/best.pt" ] || $DDR train --method ccl+identical-view --data "$DATA/unordered" --size 128x160 \
  --fit crop --batch-size 4 --workers 1 --steps-per-epoch 200 --epochs "$CCL_EPOCHS" --lr 1e-4 \
  --init "$INIT" --out "$OUT"
for set in test test_seen; do
  $DDR evaluate --model "$OUT/best.pt" --pairs "$DATA/$set/pairs.json" --images "$DATA/$set" \
    --out "$OUT/eval_$set" --name ccl_longer --device cpu
done
