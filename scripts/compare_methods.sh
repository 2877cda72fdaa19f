#!/usr/bin/env bash
# Reproduces the method comparison of docs/results.md on the simulated cell:
# data -> six rows (random init, XFeat, identical-view, CCL, CCL + identical-view, geometric)
# -> evaluation on held-out cross-scene pairs -> OUT/results.md.
# Budgets are environment variables so a GPU machine can run the paper-sized version:
#   OUT SIZE CROP WIDTH STEPS IV_EPOCHS CCL_EPOCHS GEO_EPOCHS GEO_STEPS TRAIN_IMAGES TEST_PAIRS
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
OUT=${OUT:-runs/compare}
SIZE=${SIZE:-240x320}        # rendered and evaluated size
CROP=${CROP:-128x160}        # native-scale training crops (unordered images)
WIDTH=${WIDTH:-32}           # backbone width (64 = standard ResNet-18)
STEPS=${STEPS:-100}          # steps per epoch
IV_EPOCHS=${IV_EPOCHS:-3}
CCL_EPOCHS=${CCL_EPOCHS:-2}
GEO_EPOCHS=${GEO_EPOCHS:-2}
GEO_STEPS=${GEO_STEPS:-50}   # full 240x320 frames cost ~4x a 128x160 crop: equal compute to 400 IV steps
TRAIN_IMAGES=${TRAIN_IMAGES:-200}
TEST_PAIRS=${TEST_PAIRS:-60}

data=$OUT/data
[ -f "$data/unordered/metadata.json" ] || \
  $DDR sim dataset --kind unordered --out "$data/unordered" --count "$TRAIN_IMAGES" --size "$SIZE" --hands --seed 0
[ -f "$data/rgbd/metadata.json" ] || \
  $DDR sim dataset --kind rgbd-sequences --out "$data/rgbd" --count 8 --size "$SIZE" --seed 1
[ -f "$data/test/pairs.json" ] || \
  $DDR sim dataset --kind cross-scene-pairs --out "$data/test" --count "$TEST_PAIRS" --size "$SIZE" \
    --object-set test --seed 2
[ -f "$data/test_seen/pairs.json" ] || \
  $DDR sim dataset --kind cross-scene-pairs --out "$data/test_seen" --count 40 --size "$SIZE" \
    --object-set train --seed 5

common=(--width "$WIDTH" --descriptor-dim 64 --batch-size 4 --workers 1 --steps-per-epoch "$STEPS")
unordered=(--data "$data/unordered" --size "$CROP" --fit crop)
# later options win: per-row settings after the common ones
train() { local name=$1; shift; [ -f "$OUT/$name/best.pt" ] || $DDR train "${common[@]}" "$@" --out "$OUT/$name"; }

train random_init --method identical-view "${unordered[@]}" --epochs 0
train identical_view --method identical-view "${unordered[@]}" --epochs "$IV_EPOCHS" --lr 5e-4
train ccl --method ccl "${unordered[@]}" --epochs "$CCL_EPOCHS" --lr 1e-4 --init "$OUT/identical_view/best.pt"
train ccl_identical_view --method ccl+identical-view "${unordered[@]}" --epochs "$CCL_EPOCHS" --lr 1e-4 \
  --init "$OUT/identical_view/best.pt"
train geometric --method geometric --data "$data/rgbd" --size "$SIZE" --epochs "$GEO_EPOCHS" \
  --steps-per-epoch "$GEO_STEPS" --lr 3e-4

models=(random_init:$OUT/random_init/best.pt identical_view:$OUT/identical_view/best.pt
        ccl:$OUT/ccl/best.pt ccl_identical_view:$OUT/ccl_identical_view/best.pt
        geometric:$OUT/geometric/best.pt)
if $DDR evaluate --help | grep -q xfeat; then models+=(xfeat:xfeat); fi
# test: unseen label variants; test_seen: training objects in new heaps
for set in test test_seen; do
  for entry in "${models[@]}"; do
    name=${entry%%:*}; model=${entry#*:}
    [ -f "$OUT/eval_$set/$name/metrics.json" ] || \
      $DDR evaluate --model "$model" --pairs "$data/$set/pairs.json" --images "$data/$set" \
        --out "$OUT/eval_$set/$name" --name "$name" --device cpu
  done
  .venv/bin/python -m dense_descriptor_ros.evaluation.comparison "$OUT/eval_$set" "$OUT/results_$set.md"
done
