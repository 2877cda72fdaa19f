#!/usr/bin/env bash
# Trains the shipped model (models/ddr_resnet18_sim.pt): the comparison's identical-view
# checkpoint (scripts/compare_methods.sh) continued with CCL + identical-view (lambda 0.1) for
# three times the comparison row's CCL budget, on the simulated cell's unordered images.
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
DATA=${DATA:-runs/compare/data/unordered}
INIT=${INIT:-runs/compare/identical_view/best.pt}
OUT=${OUT:-runs/shipped}
CCL_EPOCHS=${CCL_EPOCHS:-3}
$DDR train --method ccl+identical-view --data "$DATA" --size 128x160 --fit crop --batch-size 4 --workers 1 \
  --steps-per-epoch 200 --epochs "$CCL_EPOCHS" --lr 1e-4 --init "$INIT" --out "$OUT"
# fp16 storage for the repository (loads back as fp32)
.venv/bin/python - "$OUT/best.pt" models/ddr_resnet18_sim.pt <<'PY'
import sys
from dense_descriptor_ros.model import load_checkpoint, save_checkpoint
model, meta = load_checkpoint(sys.argv[1])
meta = {k: v for k, v in meta.items() if k not in ("model", "stride", "git_revision", "created", "stored_dtype")}
print(save_checkpoint(sys.argv[2], model, half=True, source_checkpoint=sys.argv[1], **meta))
PY
