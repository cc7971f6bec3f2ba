#!/usr/bin/env bash
# The H200 run of `python -m bench.gpu` (issue #13): one script, one table.
#
# Here first: bash bench/gpu_prepare.sh (fills .gpu-carry/). Then, with the device tool:
#   run(command="bash bench/gpu_device.sh", carry=[".gpu-carry"], timeout_s=600)
# The machine has Python 3.12, torch 2.11 and transformers 5.17 and no network: a venv that
# sees those system packages gets the carried wheels; the tables land in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/bench-gpu-out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -m venv --system-site-packages /tmp/sb-venv
/tmp/sb-venv/bin/pip install --quiet --no-index --no-deps .gpu-carry/wheels/*.whl
PY=/tmp/sb-venv/bin/python
export PYTHONPATH="$PWD/platform:$PWD" BENCH_TOKENIZER="$PWD/.gpu-carry/tokenizer"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
# The scheduler's settings, for (a) and (b) alike: warm up at start; compile level from the
# environment (0: eager; 1-3: the library's torch.compile / CUDA graph presets).
export SWITCHBOARD_LLM_WARMUP=1 SWITCHBOARD_LLM_COMPILE_LEVEL="${SWITCHBOARD_LLM_COMPILE_LEVEL:-0}"
$PY -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0))" | tee "$OUT/versions.txt"
# (a) first: it needs only torch and transformers, so its table comes back even if (b) fails.
timeout 240 $PY -m bench.gpu --only library 2>&1 | tee "$OUT/library.txt" || true
timeout 330 $PY -m bench.gpu --only platform 2>&1 | tee "$OUT/platform.txt" || true
cp .switchboard/bench/logs/bench.log "$OUT/worker.log" 2>/dev/null || true
grep -h "^| " "$OUT/library.txt" "$OUT/platform.txt" | sort -u -r > "$OUT/table.md" || true
