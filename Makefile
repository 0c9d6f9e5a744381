# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv (if needed) and installs replaytest into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# The page tests (tests/test_view_browser.py) drive Debian's chromium; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "make: installing Debian's chromium for the browser tests (apt-get)"; \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >/dev/null || { \
	    echo "make: could not install chromium; the browser tests need it: run as root, or 'apt-get update && apt-get install -y chromium'" >&2; \
	    exit 1; }; }

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .replaytest demo-out
