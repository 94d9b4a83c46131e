# Two entry points, both safe on a fresh clone: `make demo` and `make test`.
# Everything installs into .venv from this repository's own files (pyproject.toml).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install system-tools demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One pip command for everything: pynq pins numpy<2 and protobuf<6, and only a single
# resolution with torch and onnx keeps pip from picking an onnx that breaks it.
# torch is pinned to 2.13.0 in pyproject.toml (the CPU wheel on the build machines).
$(INSTALLED): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[all]'
	touch $@

# Icarus Verilog and yosys come from Debian: the RTL tests run on Icarus as a second
# simulator and `edgemoe rtl estimate` synthesizes with yosys. Best effort: without root or
# apt the tests that need them are skipped, and `edgemoe doctor` says so.
SYSTEM_TOOLS := iverilog yosys chromium

system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y --no-install-recommends $(SYSTEM_TOOLS) >/dev/null 2>&1 \
		|| (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends $(SYSTEM_TOOLS) >/dev/null 2>&1) \
		|| echo "warning: could not install$$missing with apt-get"; \
	elif [ -n "$$missing" ]; then echo "note:$$missing not installed (apt-get install$$missing)"; fi

install: $(INSTALLED) system-tools

# The whole flow on the tiny config (train ... emulated board, report); a second run skips
# every stage whose inputs have not changed (stamps in build/demo/).
demo: install
	$(VENV)/bin/edgemoe doctor
	$(VENV)/bin/edgemoe demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# On every core (pytest-xdist); a module whose tests share a costly fixture stays on one
# worker (its xdist_group).
test: lint
	$(PY) -m pytest -q -n auto --dist loadgroup tests

bench: install
	$(PY) benchmarks/fx_matmul.py
	$(PY) benchmarks/sim_speed.py
	$(PY) benchmarks/emulator_overhead.py
	$(PY) benchmarks/rtl_speed.py

clean:
	rm -rf $(VENV) build artifacts reports .pytest_cache .ruff_cache
