# The two commands of the README:
#   make book   install into .venv, make sure MNIST is there, and build the book into _build/html, every chapter executed afresh
#   make test   install into .venv, lint (ruff) and type-check (mypy), then run every test: unit tests and
#               every chapter under nbval
#   make chromium  Debian's chromium (when missing, as root with apt-get) for tests/test_offline_math.py, which opens
#               a built page in a real browser with no network; `make test` runs it, `make book` does not need it
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHAPTERS := $(shell grep -l '^kernelspec:' book/*.md)

.PHONY: book test install data chromium
install: $(VENV)/.installed

# MNIST: a local copy ($$SNNMATH_DATA/mnist, ../shared/data/mnist or the cache), else downloaded and verified
data: install
	$(BIN)/python -m snnmath.data fetch

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Idempotent: nothing happens where /usr/bin/chromium exists; apt-get update only when apt knows no chromium yet.
# Where it cannot be installed (no apt-get, not root, no package), tests/test_offline_math.py skips and says why.
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium for tests/test_offline_math.py"; \
	  apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || echo "chromium could not be installed: tests/test_offline_math.py will be skipped"; \
	fi

book: install data
	rm -rf _build/html _build/jupyter_execute _build/.doctrees
	$(BIN)/jupyter-book build . --all -n -W --keep-going

test: install data chromium
	$(BIN)/ruff check snnmath tests
	$(BIN)/mypy snnmath
	rm -rf _build/nbval && mkdir -p _build/nbval
	for f in $(CHAPTERS); do \
	  $(BIN)/jupytext --quiet --to ipynb -o _build/nbval/$$(basename $$f .md).ipynb $$f || exit 1; \
	done
	$(BIN)/python -m pytest tests _build/nbval --nbval-lax
