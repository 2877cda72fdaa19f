#!/usr/bin/env bash
# Trains the shipped model (models/ddr_resnet18_sim.pt) on the simulated cell's unordered images:
# identical-view pretraining, then CCL + identical-view (lambda 0.1), as DESIGN.md prescribes.
# Reuses the data of scripts/compare_methods.sh (run that first, or set DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
DATA=${DATA:-runs/compare/data/unordered}
OUT=${OUT:-runs/shipped}
WIDTH=${WIDTH:-32}
IV_EPOCHS=${IV_EPOCHS:-6}
CCL_EPOCHS=${CCL_EPOCHS:-3}
common=(--data "$DATA" --size 128x160 --fit crop --width "$WIDTH" --descriptor-dim 64 --batch-size 4
        --workers 1 --steps-per-epoch 200)
[ -f "$OUT/identical_view/best.pt" ] || \
  $DDR train --method identical-view --epochs "$IV_EPOCHS" --lr 5e-4 --out "$OUT/identical_view" "${common[@]}"
[ -f "$OUT/ccl_identical_view/best.pt" ] || \
  $DDR train --method ccl+identical-view --epochs "$CCL_EPOCHS" --lr 1e-4 \
    --init "$OUT/identical_view/best.pt" --out "$OUT/ccl_identical_view" "${common[@]}"
