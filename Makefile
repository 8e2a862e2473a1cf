# Two entry points for a fresh machine: `make demo` (the main job: `rsmooth demo`) and `make test`.
# Both create a virtual environment in $(VENV), install torch and the package into it, then run.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.14.1
PIP_DEPS = $(TORCH) torchvision==0.29.1 numpy scipy tqdm pytest ninja "setuptools>=64" wheel scikit-learn matplotlib mpmath hypothesis
SOURCES = setup.py pyproject.toml $(wildcard csrc/*.* csrc/*/*.* rsmooth_ext/*.py rsmooth_ext/*/*.py)
PY = $(VENV)/bin/python

.PHONY: install demo test bench clean

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
	$(VENV)/bin/pytest -q tests

clean:
	rm -rf build *.egg-info $(VENV)
