# KPI Workbench: `make run` serves the app, `make test` runs every test (set-up included).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: install run test browsers lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(PY) -m kpi_core.cli seed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Chromium (Debian's package) and Japanese fonts for the browser tests; installed when missing and running as root.
browsers:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing chromium and fonts-noto-cjk (apt)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; \
	  else \
	    echo "Chromium or fonts-noto-cjk missing: run 'sudo apt-get install chromium fonts-noto-cjk' (browser tests need them)"; \
	  fi; \
	fi

test: install browsers
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check kpi_core pages app.py tests bench

bench: install
	$(PY) bench/bench_import.py

clean:
	rm -rf $(VENV) .pytest_cache
