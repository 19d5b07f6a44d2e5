# Two entry points: `make demo` (demo sweep, fit, plots, report) and `make test` (the test suite).
# Each creates the virtual environment it needs on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test venv

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Two workers, one test file each at a time (a file's module fixtures are built once).
test: $(VENV)/.installed
	$(PY) -m pytest -q -n 2 --dist loadfile tests

demo: $(VENV)/.installed
	$(PY) demo.py --workdir=demo_out
