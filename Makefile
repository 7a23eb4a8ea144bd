# seglib: every target installs what it needs first, so a fresh clone needs only `make demo` / `make test`.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JARS := jars/lib/.resolved
export SEGLIB_JARS_DIR ?= $(CURDIR)/jars/lib
# The demo's pseudonymization key lives outside git (see README "Privacy"); real runs set SEGLIB_PSEUDONYM_KEY.
DEMO_KEY := .seglib/pseudonym.key

.PHONY: install jars demo test test-fast lint bench clean help

help:
	@echo "make demo | make test | make lint | make bench | make clean"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

$(JARS): jars/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is required to resolve the Delta jars: apt-get install maven"; exit 1; }
	rm -rf jars/lib
	mvn -q -B -f jars/pom.xml dependency:copy-dependencies
	@touch $@

install: $(STAMP) $(JARS)

$(DEMO_KEY):
	@mkdir -p .seglib && umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > $@
	@echo "generated a local demo pseudonymization key in $@ (git-ignored; never use it in production)"

demo: install $(DEMO_KEY)
	SEGLIB_PSEUDONYM_KEY=$${SEGLIB_PSEUDONYM_KEY:-$$(cat $(DEMO_KEY))} \
	  $(BIN)/seg run --config conf/local.yaml --generate $(DEMO_ARGS)

# pytest-xdist, one test file per worker at a time (module fixtures built once), in collection order: the end-to-end
# spark-submit run, the longest, is collected second and starts at once. Two workers: a third (the e2e worker only
# waits for its cluster) made the suite slower, 16 min 19 s against 13 min 14 s, as the cores are already busy; the
# slowest tests are listed last.
PYTEST := $(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

test: install
	$(PYTEST) $(PYTEST_ARGS)

test-fast: install
	$(PYTEST) -m "not e2e" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,bench]"
	@touch $@

bench: install $(BENCH_STAMP) $(DEMO_KEY)
	SEGLIB_PSEUDONYM_KEY=$${SEGLIB_PSEUDONYM_KEY:-$$(cat $(DEMO_KEY))} $(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf .seglib spark-warehouse metastore_db derby.log .pytest_cache
