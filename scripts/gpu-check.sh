#!/usr/bin/env bash
# Every GPU measurement docs/benchmarks.md and docs/hymotion.md list, in one run (`motionbridge bench gpu`):
# HY-Motion-1.0 and -Lite at 50 steps against the upstream-style path, first preview, batch 8, peak memory,
# bf16-vs-fp32 rotation difference, text encoders on the GPU and on the CPU. Writes gpu-check.json and
# gpu-check.md to --out-dir (default ./gpu-check). Without --weights DIR the networks have random weights of the
# published shapes, and the report says so. Stops starting sections after --budget-s (420 s), ends within 8 min.
#
#   scripts/gpu-check.sh                          # on a CUDA machine
#   scripts/gpu-check.sh --weights ~/models       # with a fetch-weights folder
#   scripts/gpu-check.sh --smoke --out-dir /tmp/x # tiny networks on the CPU: checks the script itself
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [[ -x .venv/bin/python ]]; then python=.venv/bin/python; fi
if [[ " $* " != *" --smoke "* ]]; then
    if ! nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; then
        echo "error: no CUDA GPU here (nvidia-smi failed); --smoke checks the script on a CPU" >&2
        exit 2
    fi
fi
exec timeout 480 "$python" -m bridge.cli bench gpu "$@"
