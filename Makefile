# KPI Workbench: `make run` serves the app, `make test` runs every test (set-up included).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: install run test browsers lint bench clean

install: $(STAMP) browsers

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(PY) -m kpi_core.cli seed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# Debian packages, installed when missing and running as root: Chromium for the browser tests, Japanese fonts (the
# pages and the PDF report embed Noto Sans CJK), Graphviz `dot` (the KPI tree in reports), Pango (WeasyPrint's
# text layout) and poppler-utils (the tests read the PDF back with pdftotext).
SYSTEM_PACKAGES := chromium fonts-noto-cjk graphviz libpango-1.0-0 libpangoft2-1.0-0 poppler-utils
browsers:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' || ! command -v dot >/dev/null \
	    || ! command -v pdftotext >/dev/null || ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing $(SYSTEM_PACKAGES) (apt)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_PACKAGES); \
	  else \
	    echo "System packages missing: run 'sudo apt-get install $(SYSTEM_PACKAGES)' (reports and tests need them)"; \
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
