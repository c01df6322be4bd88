# Two entry points: `make demo` and `make test`. Both create .venv and install the locked
# dependencies first (only when requirements.lock or pyproject.toml changed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench fuzz lint format lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/offers demo --home demo-home

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# Not part of the tests: the job's stages against the bare libraries (minutes).
bench: $(STAMP)
	$(BIN)/offers bench --work bench-work

# Hostile source files at volume (CI runs 60 of them); outcomes by class in fuzz-report.json.
fuzz: $(STAMP)
	OFFERS_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-10000} OFFERS_FUZZ_REPORT=fuzz-report.json \
		$(BIN)/python -m pytest -q tests/test_fuzz_sources.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-resolve the lock from pyproject.toml (needs network): fresh venv, install, freeze.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) demo-home bench-work fuzz-report.json .pytest_cache .ruff_cache .hypothesis
