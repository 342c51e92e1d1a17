# KPI Workbench: `make run` serves the app, `make test` runs every test (set-up included).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: install run test system browsers lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install system
	$(PY) -m kpi_core.cli seed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

# System packages from Debian, installed when missing and running as root: Chromium and Japanese fonts for the
# browser tests and the reports, an emoji font (status markers), Graphviz for the KPI tree, Pango for the PDF report's text layout (WeasyPrint),
# poppler-utils to read PDFs back in tests, PostgreSQL (the tests and benchmarks start a throwaway cluster).
browsers: system
system:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' || missing="$$missing fonts-noto-cjk"; \
	fc-list 2>/dev/null | grep -qi 'Noto Color Emoji' || missing="$$missing fonts-noto-color-emoji"; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || missing="$$missing libpango-1.0-0 libpangoft2-1.0-0"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "Installing$$missing (apt)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else \
	    echo "Missing system packages:$$missing -- run 'sudo apt-get install$$missing' (tests need them)"; \
	  fi; \
	fi

test: install system
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check kpi_core pages app.py tests bench

bench: install
	$(PY) bench/bench_import.py
	$(PY) bench/bench_health.py
	$(PY) bench/bench_report.py

clean:
	rm -rf $(VENV) .pytest_cache
