# The two commands: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test test-fast lint bench clean chromium sandbox-deps

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Dayshift needs Python 3.11 or newer")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@$(MAKE) --no-print-directory chromium
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP) sandbox-deps
	@$(VENV)/bin/dayshift auto

# Most of the suite's time is waiting (dev servers, subprocesses, the CLI's compressed days), so it runs on
# TEST_WORKERS pytest-xdist workers; then the few tests marked `serial` (they bound wall-clock time, e.g. SIGTERM
# within 10 s) run alone, so a busy neighbour cannot starve them. Both phases run; either failing fails the target.
TEST_WORKERS ?= 4
test: $(STAMP) sandbox-deps
	rc=0; \
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal -m "not serial" || rc=$$?; \
	$(PY) -m pytest -q -p no:cacheprovider -m serial || rc=$$?; \
	exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not devserver and not cli"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/storage_bench.py
	$(PY) bench/agent_bench.py
	$(PY) bench/slack_bench.py
	$(PY) bench/day_bench.py --users 10 50

clean:
	rm -rf $(VENV) .dayshift .pytest_cache .mypy_cache .ruff_cache

# The dashboard's browser tests drive Debian's chromium with Playwright (`playwright install` cannot download here).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  { apt-get update -q && apt-get install -y -q chromium; } || \
	  echo "Could not install chromium: run  apt-get install -y chromium  (browser tests skip until then)" >&2; \
	else \
	  echo "The dashboard's browser tests need chromium: run  sudo apt-get install -y chromium  (they skip until then)" >&2; \
	fi
# Agents' shell commands run in Claude Code's OS sandbox, which needs bubblewrap and socat on Linux.
# Installed here when apt is available and we are root; otherwise the one command is printed (compute
# tasks are refused at pre-validation, never run unsandboxed, until they are installed).
sandbox-deps:
	@if [ "$$(uname -s)" != Linux ] || (command -v bwrap && command -v socat) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing bubblewrap and socat (the OS sandbox for agents' shell commands)"; \
	  apt-get install -y -qq bubblewrap socat >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap socat >/dev/null; } || \
	  echo "Could not install them: run  apt-get install -y bubblewrap socat"; \
	else \
	  echo "Shell tasks need the OS sandbox: run  sudo apt-get install -y bubblewrap socat"; \
	fi
