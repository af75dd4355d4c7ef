# Quick start: `make demo` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow bench clean

setup: $(STAMP)

# torch first, pinned: the CPU build lies on local disk; an unpinned torch would pull CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: setup
	$(PY) -m kimik2.demo

# unit tests of kimik2 and of the engine, then the course's own proof (kimi-course verify)
test: setup
	$(PY) -m pytest -q
	$(PY) -m kimi_course verify

test-slow: setup
	$(PY) -m pytest -q -m slow

bench: setup
	$(PY) benchmarks/bench_model.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
