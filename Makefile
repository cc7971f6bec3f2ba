# Switchboard — `make help` lists the targets.
PY := .venv/bin/python

.PHONY: help run test lint typecheck bench install install-dev browser

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## create .venv with the pinned runtime dependencies
	@deploy/bootstrap.sh

install-dev:  ## create .venv with runtime and test dependencies
	@deploy/bootstrap.sh --dev

browser:  ## install Debian's chromium, espeak-ng (the tests' voice notes) and libmagic (needs root and apt)
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }
	@command -v espeak-ng >/dev/null && [ -e /usr/share/misc/magic.mgc ] || { apt-get update -q && apt-get install -y -q espeak-ng libmagic1; }

run: install  ## run the demo (demo mode: public console logins) on embedded Postgres + Redis; Ctrl-C stops all
	@SWITCHBOARD_DEMO=$${SWITCHBOARD_DEMO:-true} $(PY) deploy/run.py

lint: install-dev  ## ruff, the layer contract (import-linter), mypy, the migrations check and the deployment files (deploy/validate.py)
	@$(PY) -m ruff check .
	@.venv/bin/lint-imports --no-cache
	@$(PY) -m ruff format --check .
	@$(PY) -m mypy .  # loads the settings, which start nothing
	@$(PY) manage.py makemigrations --check --dry-run
	@$(PY) deploy/validate.py

test: install-dev browser lint  ## the whole test suite (lint, then pytest on real services)
	@$(PY) -m pytest

bench: install-dev  ## benchmarks: each prints a table
	@$(PY) -m bench
