#!/usr/bin/env bash
# The paper's real-cell data path, end to end on the simulated cell. After the camera no step sees
# a pose or a mask: the bag holds only the camera topics.
#   1. ddr sim record-bag    a fixed overhead camera (30 Hz) over a heap the operator reshuffles:
#                            still stretches (repeated frames), hands, knocks that blur a frame;
#                            written as a rosbag2 (mcap) of the RealSense topics, as the bag_recorder
#                            node writes it (on a real cell: record_training_bag.launch.py)
#   2. ddr bag extract       training images; repeated and blurred frames dropped
#   3. ddr sim record-bag + ddr bag extract + ddr pairs synthetic
#                            a second, short recording (a later session) held out: augmented pairs
#                            of its frames validate training and calibrate the heatmap scale
#   4. ddr train             identical-view pretraining
#   5. ddr train             CCL + identical-view (lambda 0.1) from 4
#   6. ddr calibrate         the heatmap eta, stored in the checkpoint
#   7. ddr sim annotate-reference   the simulated operator clicks the tea box's faces once
#   8. ddr sim pick          suction picks on new heaps: target success in OUT/picks/results.json
# PRESET=full (default; about 8 min on 2 idle cores) or tiny (seconds, for the test). Every
# variable below can also be set in the environment; a finished step is not run again.
# AUGMENTATION=geometric CONTEXT_SWAP=0.5 PARTNER_GAP=10: the recipe of docs/real_cell.md
# (`ddr train --augmentation / --context-swap / --partner-gap`); unset, each method's defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
DDR=${DDR:-.venv/bin/ddr}
PRESET=${PRESET:-full}
OUT=${OUT:-runs/real_cell}
SEED=${SEED:-0}
# XFeat (pretrained, installs offline) where this ddr offers it, else a ResNet-18 from scratch
if $DDR train --help | grep -q xfeat; then DEFAULT_BACKBONE=xfeat; else DEFAULT_BACKBONE=resnet18; fi
BACKBONE=${BACKBONE:-$DEFAULT_BACKBONE}
case $PRESET in
  full)
    FRAMES=${FRAMES:-1200}          # recorded frames (30 Hz stamps), about 550 kept
    CHECK_FRAMES=${CHECK_FRAMES:-60}  # the held-out recording
    SIZE=${SIZE:-480x640}           # recorded: the camera's resolution
    CELL_SIZE=${CELL_SIZE:-240x320} # trained (whole frames resized), calibrated, annotated, picked
    IV_EPOCHS=${IV_EPOCHS:-2}
    CCL_EPOCHS=${CCL_EPOCHS:-2}
    STEPS=${STEPS:-100}             # steps per epoch
    WIDTH=${WIDTH:-32}              # ResNet backbones only
    TRIALS=${TRIALS:-20}
    BLUR_EVERY=${BLUR_EVERY:-3}     # one shuffle in this many blurs a frame
    ;;
  tiny)
    FRAMES=${FRAMES:-12}
    CHECK_FRAMES=${CHECK_FRAMES:-6}
    SIZE=${SIZE:-64x80}
    CELL_SIZE=${CELL_SIZE:-64x80}
    IV_EPOCHS=${IV_EPOCHS:-1}
    CCL_EPOCHS=${CCL_EPOCHS:-1}
    STEPS=${STEPS:-1}
    WIDTH=${WIDTH:-8}
    TRIALS=${TRIALS:-1}
    BLUR_EVERY=${BLUR_EVERY:-1}
    ;;
  *) echo "PRESET must be full or tiny, got $PRESET" >&2; exit 2 ;;
esac
REPEATS=${REPEATS:-2}               # repeated frames of each still heap
AUGMENTATION=${AUGMENTATION:-}
CONTEXT_SWAP=${CONTEXT_SWAP:-0}
PARTNER_GAP=${PARTNER_GAP:-}
BATCH=${BATCH:-4}
WORKERS=${WORKERS:-1}

mkdir -p "$OUT"
# timed STEP COMMAND...: run it (a failure ends the script), then add its wall time to OUT/timings.txt
timed() {
  local step=$1 start=$SECONDS
  shift
  "$@" || exit
  echo "$step $(( SECONDS - start )) s" >> "$OUT/timings.txt"
}

# 1-2: the training recording and its images
recording=(--size "$SIZE" --repeats "$REPEATS" --blur-every "$BLUR_EVERY")
[ -f "$OUT/bag_manifest.json" ] || timed record $DDR sim record-bag --out "$OUT/bag" --frames "$FRAMES" \
  "${recording[@]}" --seed "$SEED" --manifest "$OUT/bag_manifest.json"
[ -f "$OUT/extract.txt" ] || { timed extract $DDR bag extract "$OUT/bag" "$OUT/images" \
  --no-progress > "$OUT/extract.partial" \
  && mv "$OUT/extract.partial" "$OUT/extract.txt"; }
cat "$OUT/extract.txt"

# 3: a held-out recording of a later session -> augmented pairs with exact targets
[ -f "$OUT/check_bag_manifest.json" ] || timed record_check $DDR sim record-bag --out "$OUT/check_bag" \
  --frames "$CHECK_FRAMES" "${recording[@]}" --seed $(( SEED + 1 )) --manifest "$OUT/check_bag_manifest.json"
[ -f "$OUT/check_extract.txt" ] || { timed extract_check $DDR bag extract "$OUT/check_bag" "$OUT/check_images" \
  --no-progress > "$OUT/check_extract.partial" \
  && mv "$OUT/check_extract.partial" "$OUT/check_extract.txt"; }
[ -f "$OUT/check_pairs/pairs.json" ] || timed check_pairs $DDR pairs synthetic \
  --images "$OUT/check_images" --out "$OUT/check_pairs" --size "$CELL_SIZE" --pairs-per-image 1 --seed "$SEED"

# 4-5: identical-view, then CCL + identical-view from it
model=(--backbone "$BACKBONE")
[ "$BACKBONE" = xfeat ] || model+=(--width "$WIDTH")
common=("${model[@]}" --data "$OUT/images" --size "$CELL_SIZE" --fit resize --batch-size "$BATCH"
        --workers "$WORKERS" --steps-per-epoch "$STEPS" --val-pairs "$OUT/check_pairs/pairs.json" --seed "$SEED")
[ -z "$AUGMENTATION" ] || common+=(--augmentation "$AUGMENTATION")
[ "$CONTEXT_SWAP" = 0 ] || common+=(--context-swap "$CONTEXT_SWAP")
cycle=(); [ -z "$PARTNER_GAP" ] || cycle=(--partner-gap "$PARTNER_GAP")
[ -f "$OUT/identical_view/best.pt" ] || timed train_identical_view $DDR train --method identical-view \
  "${common[@]}" --epochs "$IV_EPOCHS" --out "$OUT/identical_view" --overwrite
[ -f "$OUT/ccl_identical_view/best.pt" ] || timed train_ccl_identical_view $DDR train \
  --method ccl+identical-view "${common[@]}" "${cycle[@]}" --epochs "$CCL_EPOCHS" --init "$OUT/identical_view/best.pt" \
  --out "$OUT/ccl_identical_view" --overwrite
MODEL=$OUT/ccl_identical_view/best.pt

# 6-8: calibrate, annotate once, pick
[ -f "$OUT/calibrate.txt" ] || { timed calibrate $DDR calibrate --model "$MODEL" \
  --pairs "$OUT/check_pairs/pairs.json" --images "$OUT/check_pairs" > "$OUT/calibrate.partial" \
  && mv "$OUT/calibrate.partial" "$OUT/calibrate.txt"; }
cat "$OUT/calibrate.txt"
[ -f "$OUT/annotation/reference.json" ] || timed annotate $DDR sim annotate-reference --model "$MODEL" \
  --out "$OUT/annotation" --size "$CELL_SIZE" --seed "$SEED"
[ -f "$OUT/picks/results.json" ] || timed pick $DDR sim pick --gripper suction --trials "$TRIALS" \
  --model "$MODEL" --annotations "$OUT/annotation/reference.json" --out "$OUT/picks" --size "$CELL_SIZE" \
  --seed "$SEED"
cat "$OUT/timings.txt"
