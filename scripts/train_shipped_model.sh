#!/usr/bin/env bash
# Trains the shipped model (models/ddr_resnet18_sim.pt): the comparison's geometric row
# (scripts/compare_methods.sh) continued on 40 posed RGB-D sequences, on 128x160 native-scale
# crops (a quarter of a full frame's compute), choosing the best epoch by AUC@50 on held-out
# cross-scene pairs of training objects (not the test pairs), then stored in fp16.
# Budgets are environment variables: OUT COMPARE EPOCHS STEPS LR.
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
OUT=${OUT:-runs/long}
COMPARE=${COMPARE:-runs/compare}
EPOCHS=${EPOCHS:-30}
STEPS=${STEPS:-200}
LR=${LR:-3e-4}

[ -f "$COMPARE/geometric/best.pt" ] || bash scripts/compare_methods.sh
mkdir -p "$OUT/train"
[ -d "$OUT/train/seed1" ] || cp -r "$COMPARE/data/rgbd" "$OUT/train/seed1"
[ -f "$OUT/train/seed11/metadata.json" ] || \
  $DDR sim dataset --kind rgbd-sequences --out "$OUT/train/seed11" --count 32 --size 240x320 --seed 11
[ -f "$OUT/val/pairs.json" ] || \
  $DDR sim dataset --kind cross-scene-pairs --out "$OUT/val" --count 16 --size 240x320 --object-set train --seed 7

[ -f "$OUT/geo/best.pt" ] || \
  $DDR train --method geometric --data "$OUT/train" --size 128x160 --fit crop --width 32 --descriptor-dim 64 \
    --batch-size 4 --workers 1 --steps-per-epoch "$STEPS" --epochs "$EPOCHS" --lr "$LR" \
    --init "$COMPARE/geometric/best.pt" --val-pairs "$OUT/val/pairs.json" --out "$OUT/geo"

.venv/bin/python - "$OUT/geo/best.pt" models/ddr_resnet18_sim.pt <<'EOF'
import sys
from dense_descriptor_ros.model import load_checkpoint, save_checkpoint
model, meta = load_checkpoint(sys.argv[1])
save_checkpoint(sys.argv[2], model, half=True, method=meta["method"], training_config=meta["training_config"],
                metrics=meta["metrics"], epoch=meta["epoch"])
print(f"stored {sys.argv[1]} (epoch {meta['epoch']}) as {sys.argv[2]} in fp16")
EOF
