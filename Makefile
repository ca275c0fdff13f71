# The two commands of the README:
#   make book   install into .venv, make sure MNIST is there, and build the book into _build/html, every chapter executed afresh
#   make test   install into .venv, lint (ruff) and type-check (mypy), then run every test: unit tests and
#               every chapter under nbval
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHAPTERS := $(shell grep -l '^kernelspec:' book/*.md)

.PHONY: book test install data
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

book: install data
	rm -rf _build/html _build/jupyter_execute _build/.doctrees
	$(BIN)/jupyter-book build . --all -n -W --keep-going

test: install data
	$(BIN)/ruff check snnmath tests
	$(BIN)/mypy snnmath
	rm -rf _build/nbval && mkdir -p _build/nbval
	for f in $(CHAPTERS); do \
	  $(BIN)/jupytext --quiet --to ipynb -o _build/nbval/$$(basename $$f .md).ipynb $$f || exit 1; \
	done
	$(BIN)/python -m pytest tests _build/nbval --nbval-lax
