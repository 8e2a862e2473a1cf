# Two entry points for a fresh machine: `make demo` (the main job: `rsmooth demo`) and `make test` (the fast
# suite: no `slow` or `integration` tests; `make test-all` runs every test). Each creates a virtual environment
# in $(VENV), installs torch and the package into it, then runs.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1
PIP_DEPS = $(TORCH) torchvision==0.29.1 numpy scipy tqdm pytest ninja "setuptools>=64" wheel scikit-learn matplotlib mpmath hypothesis
SOURCES = setup.py pyproject.toml $(wildcard csrc/*.* csrc/*/*.* rsmooth_ext/*.py rsmooth_ext/*/*.py)
PY = $(VENV)/bin/python
FAST = not slow and not integration
# The venv's pytest script, not `python -m pytest` (which puts the source tree, without its built _C, first on
# sys.path). pytest exits 5 when it selected no test: make fails on any non-zero exit, so that fails too.
PYTEST = $(VENV)/bin/pytest -q tests

.PHONY: install demo test test-all bench clean

$(VENV)/.installed: $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(PIP_DEPS)
	$(PY) -m pip install --no-build-isolation --no-deps -v . > $(VENV)/build.log 2>&1 || (tail -60 $(VENV)/build.log; exit 1)
	grep "rsmooth_ext build:" $(VENV)/build.log || true
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/rsmooth demo

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_sampling.py --json benchmarks/results/sampling_cpu.json
	$(PY) benchmarks/bench_certify.py --json benchmarks/results/certify_cpu.json

test: $(VENV)/.installed
	$(PYTEST) -m "$(FAST)"

test-all: $(VENV)/.installed
	$(PYTEST)

clean:
	rm -rf build *.egg-info $(VENV)
