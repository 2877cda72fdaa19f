#!/usr/bin/env bash
# The prepared GPU check (issue 26): every figure a GPU machine should give, in one JSON, in
# under 8 minutes on an H100, with no network (models from models/). From anywhere:
#
#   bash scripts/gpu_check.sh           # CUDA: docs/benchmarks/gpu_check_<gpu name>.json
#   bash scripts/gpu_check.sh --smoke   # tiny sizes on the CPU, what the test suite runs
#
# Extra arguments go to `python -m benchmarks.gpu_check` (--out FILE, --sizes 320x240,...).
# PYTHON picks the interpreter: the project's .venv when there is one, else python3 (on the
# lent GPU machines, the one that holds CUDA PyTorch). The JSON is rewritten after every
# section, so the 8-minute guard below keeps what was measured if it ever fires.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if [[ " $* " == *" --smoke "* ]]; then
    exec "$PYTHON" -m benchmarks.gpu_check "$@"
fi
if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: $PYTHON's torch sees no CUDA device; run with --smoke on a CPU machine" >&2
    exit 2
fi
out=()
if [[ " $* " != *" --out "* ]]; then  # the JSON is named for the device
    gpu=$("$PYTHON" -c "import torch; print(torch.cuda.get_device_name(0))")
    slug=$(echo "$gpu" | tr '[:upper:]' '[:lower:]' | sed -E 's/^nvidia //; s/[^a-z0-9]+/_/g; s/^_|_$//g')
    out=(--out "docs/benchmarks/gpu_check_${slug}.json")
fi
exec timeout --signal=INT 480 "$PYTHON" -m benchmarks.gpu_check "${out[@]}" "$@"
