# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.dcgan.main \
	  --config experiments/dcgan/configs/default.py:cpu \
	  --workdir $${WORKDIR:-workdirs/demo}

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup tests

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,torch]'
	$(PY) -m benchmarks.bench_conv
	$(PY) -m benchmarks.bench_dcgan
	$(PY) -m benchmarks.bench_metrics
	$(PY) -m benchmarks.bench_tracking
	$(PY) -m benchmarks.bench_fields

clean:
	rm -rf $(VENV) workdirs
