# Two commands matter: `make demo` and `make test`. Each sets up what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint unit bench clean contracts system-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fairtrail needs Python >= 3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3-venv is missing; installing it with apt-get"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev,ml]'
	@touch $(STAMP)

# Build and test tools from npm (solc, anvil); users of the package need neither.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing; installing Debian's nodejs and npm"; \
	  apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

contracts: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m fairtrail.anchor._solc

demo: $(STAMP)
	@bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy

# Debian's PostgreSQL, Chromium, Pango and poppler for the server store, dashboard and report tests.
system-deps:
	@bash scripts/system-deps.sh

unit: $(STAMP) $(NODE_STAMP) system-deps
	$(BIN)/pytest -n 2 -q

test: lint unit

bench: $(STAMP) $(NODE_STAMP)
	@command -v b3sum >/dev/null || { echo "installing Debian's b3sum for the BLAKE3 baseline"; \
	  apt-get install -y -qq b3sum || echo "b3sum not installed; its row will be skipped"; }
	$(BIN)/python bench/bench_log.py
	$(BIN)/python -W ignore bench/bench_fingerprint.py
	$(BIN)/python -W ignore bench/bench_audit.py
	$(BIN)/python -W ignore bench/bench_anchor.py
	$(BIN)/python -W ignore bench/bench_bundle.py
	$(BIN)/python -W ignore bench/bench_decisions.py --decisions 1000000
	$(BIN)/python -W ignore bench/bench_monitor.py
	$(BIN)/python -W ignore bench/bench_server.py
	$(BIN)/python -W ignore bench/bench_zk.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
