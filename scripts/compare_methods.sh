#!/usr/bin/env bash
# Reproduces the method comparison of docs/results.md on the simulated cell:
# data -> six rows (the untrained start, XFeat, identical-view, CCL, CCL + identical-view,
# geometric) -> evaluation on held-out cross-scene pairs and, where `ddr pairs stereo` can build
# them, real stereo pairs -> OUT/results_*.md.
# BACKBONE=resnet18 starts from random weights (WIDTH scales it); BACKBONE=xfeat from XFeat's
# pretrained trunk (COLOUR=1 adds colour input). Budgets are environment variables so a GPU
# machine can run the paper-sized version:
#   OUT SIZE CROP BACKBONE COLOUR WIDTH STEPS IV_EPOCHS CCL_EPOCHS GEO_EPOCHS GEO_STEPS
#   IV_LR CCL_LR GEO_LR PARTNER_GAP TRAIN_IMAGES TEST_PAIRS
# and for the unordered training data: TILT OBJECT_SET HIRES_IMAGES, VAL_PAIRS (best.pt chosen on
# that many validation pairs of training objects, seed VAL_SEED, never on the test pairs); PHOTOS: a
# folder of real photographs (`ddr photos`) whose identical-view term joins every unordered-image
# row; AUGMENTATION and CONTEXT_SWAP: `ddr train --augmentation / --context-swap` for those rows.
# TRAIN_SEED: `ddr train --seed` for every row; DATA: the data folder (default OUT/data), so a
# second seed trains and is scored on the first's data.
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
OUT=${OUT:-runs/compare}
SIZE=${SIZE:-240x320}        # rendered and evaluated size
CROP=${CROP:-128x160}        # native-scale training crops (unordered images)
BACKBONE=${BACKBONE:-resnet18}
COLOUR=${COLOUR:-0}          # xfeat: 1 = colour input beside its grey one
WIDTH=${WIDTH:-32}           # resnet: backbone width (64 = standard ResNet-18)
IV_LR=${IV_LR:-5e-4}
CCL_LR=${CCL_LR:-1e-4}
GEO_LR=${GEO_LR:-3e-4}
PARTNER_GAP=${PARTNER_GAP:-}  # CCL: B within this many frames of A (a recording's heap); empty: any image
STEPS=${STEPS:-100}          # steps per epoch
IV_EPOCHS=${IV_EPOCHS:-3}
CCL_EPOCHS=${CCL_EPOCHS:-2}
GEO_EPOCHS=${GEO_EPOCHS:-2}
GEO_STEPS=${GEO_STEPS:-50}   # full 240x320 frames cost ~4x a 128x160 crop: equal compute to 400 IV steps
TRAIN_IMAGES=${TRAIN_IMAGES:-200}
TEST_PAIRS=${TEST_PAIRS:-60}
TILT=${TILT:-0}              # each recording's camera tilted up to this many degrees
OBJECT_SET=${OBJECT_SET:-train}  # train-wide: 8 more training products per type, labelled from more photos
HIRES_IMAGES=${HIRES_IMAGES:-0}  # this many more unordered frames at 480x640, the launch files' size
VAL_PAIRS=${VAL_PAIRS:-0}
VAL_SEED=${VAL_SEED:-7}
AUGMENTATION=${AUGMENTATION:-}   # empty: each method's default (synthetic: every augmentation on)
CONTEXT_SWAP=${CONTEXT_SWAP:-0}
PHOTOS=${PHOTOS:-}
TRAIN_SEED=${TRAIN_SEED:-0}

data=${DATA:-$OUT/data}
unordered_data=(--kind unordered --hands --tilt "$TILT" --object-set "$OBJECT_SET")
[ -f "$data/unordered/metadata.json" ] || \
  $DDR sim dataset "${unordered_data[@]}" --out "$data/unordered" --count "$TRAIN_IMAGES" --size "$SIZE" --seed 0
[ "$HIRES_IMAGES" = 0 ] || [ -f "$data/unordered/480x640/metadata.json" ] || \
  $DDR sim dataset "${unordered_data[@]}" --out "$data/unordered/480x640" --count "$HIRES_IMAGES" --size 480x640 \
    --seed 1
[ "$VAL_PAIRS" = 0 ] || [ -f "$data/val/pairs.json" ] || \
  $DDR sim dataset --kind cross-scene-pairs --out "$data/val" --count "$VAL_PAIRS" --size "$SIZE" \
    --object-set train --seed "$VAL_SEED"
[ -f "$data/rgbd/metadata.json" ] || \
  $DDR sim dataset --kind rgbd-sequences --out "$data/rgbd" --count 8 --size "$SIZE" --seed 1
[ -f "$data/test/pairs.json" ] || \
  $DDR sim dataset --kind cross-scene-pairs --out "$data/test" --count "$TEST_PAIRS" --size "$SIZE" \
    --object-set test --seed 2
[ -f "$data/test_seen/pairs.json" ] || \
  $DDR sim dataset --kind cross-scene-pairs --out "$data/test_seen" --count 40 --size "$SIZE" \
    --object-set train --seed 5

if [ "$BACKBONE" = xfeat ]; then
  common=(--backbone xfeat); start=pretrained
  [ "$COLOUR" = 1 ] && common+=(--colour)
else
  common=(--backbone "$BACKBONE" --width "$WIDTH"); start=random_init
fi
common+=(--descriptor-dim 64 --batch-size 4 --workers 1 --steps-per-epoch "$STEPS" --seed "$TRAIN_SEED")
unordered=(--data "$data/unordered" --size "$CROP" --fit crop)
[ "$VAL_PAIRS" = 0 ] || unordered+=(--val-pairs "$data/val/pairs.json")
[ -z "$PHOTOS" ] || unordered+=(--photos "$PHOTOS")
[ -z "$AUGMENTATION" ] || unordered+=(--augmentation "$AUGMENTATION")
[ "$CONTEXT_SWAP" = 0 ] || unordered+=(--context-swap "$CONTEXT_SWAP")
# later options win: per-row settings after the common ones
train() { local name=$1; shift; [ -f "$OUT/$name/best.pt" ] || $DDR train "${common[@]}" "$@" --out "$OUT/$name"; }

train $start --method identical-view "${unordered[@]}" --epochs 0
train identical_view --method identical-view "${unordered[@]}" --epochs "$IV_EPOCHS" --lr "$IV_LR"
cycle=(--epochs "$CCL_EPOCHS" --lr "$CCL_LR" --init "$OUT/identical_view/best.pt")
[ -n "$PARTNER_GAP" ] && cycle+=(--partner-gap "$PARTNER_GAP")
train ccl --method ccl "${unordered[@]}" "${cycle[@]}"
train ccl_identical_view --method ccl+identical-view "${unordered[@]}" "${cycle[@]}"
train geometric --method geometric --data "$data/rgbd" --size "$SIZE" --epochs "$GEO_EPOCHS" \
  --steps-per-epoch "$GEO_STEPS" --lr "$GEO_LR"

models=($start:$OUT/$start/best.pt identical_view:$OUT/identical_view/best.pt
        ccl:$OUT/ccl/best.pt ccl_identical_view:$OUT/ccl_identical_view/best.pt
        geometric:$OUT/geometric/best.pt)
if $DDR evaluate --help | grep -q xfeat; then models+=(xfeat:xfeat); fi
# real photographs with ground truth (evaluation only): Middlebury Aloe (Debian opencv-doc) and
# Motorcycle (scikit-image)
for source in middlebury-aloe skimage-motorcycle; do
  [ -f "$data/stereo_$source/pairs.json" ] || \
    $DDR pairs stereo --source "$source" --size "$SIZE" --out "$data/stereo_$source"
done
# test: unseen label variants; test_seen: training objects in new heaps; stereo_*: real photos
for set in test test_seen stereo_middlebury-aloe stereo_skimage-motorcycle; do
  for entry in "${models[@]}"; do
    name=${entry%%:*}; model=${entry#*:}
    [ -f "$OUT/eval_$set/$name/metrics.json" ] || \
      $DDR evaluate --model "$model" --pairs "$data/$set/pairs.json" --images "$data/$set" \
        --out "$OUT/eval_$set/$name" --name "$name" --device cpu
  done
  .venv/bin/python -m dense_descriptor_ros.evaluation.comparison "$OUT/eval_$set" "$OUT/results_$set.md"
done
