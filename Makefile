# Two entry points, both safe on a fresh clone: `make demo` and `make test`.
# Everything installs into .venv from this repository's own files (pyproject.toml).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One pip command for everything: pynq pins numpy<2 and protobuf<6, and only a single
# resolution with torch and onnx keeps pip from picking an onnx that breaks it.
# torch is pinned to 2.13.0 in pyproject.toml (the CPU wheel on the build machines).
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[all]'
	touch $@

install: $(INSTALLED)

demo: install
	$(VENV)/bin/edgemoe doctor
	$(VENV)/bin/edgemoe fixed

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q tests

bench: install
	$(PY) benchmarks/fx_matmul.py
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/emulator_overhead.py

clean:
	rm -rf $(VENV) build artifacts reports .pytest_cache .ruff_cache
