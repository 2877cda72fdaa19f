#!/usr/bin/env bash
# The closed-loop figures of docs/results.md both ways: the same heaps picked in process
# (`ddr sim pick`) and through the launched graph's node processes (`--through-ros`), then
# compared trial by trial. About 6 min on 2 CPU cores for the defaults.
#   OUT MODEL TRIALS SEED
set -euo pipefail
cd "$(dirname "$0")/.."
export MUJOCO_GL=${MUJOCO_GL:-egl}
DDR=${DDR:-.venv/bin/ddr}
OUT=${OUT:-runs/closed_loop}
MODEL=${MODEL:-models/ddr_resnet18_sim.pt}
TRIALS=${TRIALS:-50}
SEED=${SEED:-0}

for entry in suction:tea_box parallel:toothpaste_box; do
  gripper=${entry%%:*}; product=${entry#*:}
  run=$OUT/$gripper
  [ -f "$run/reference/reference.json" ] || \
    $DDR sim annotate-reference --model "$MODEL" --out "$run/reference" --object "$product"
  for mode in in_process through_ros; do
    flag=(); [ "$mode" = through_ros ] && flag=(--through-ros)
    [ -f "$run/$mode/results.json" ] || \
      $DDR sim pick --gripper "$gripper" --trials "$TRIALS" --model "$MODEL" --seed "$SEED" \
        --annotations "$run/reference/reference.json" --out "$run/$mode" "${flag[@]}"
  done
  $DDR sim compare-trials "$run/in_process/results.json" "$run/through_ros/results.json" || true
done
