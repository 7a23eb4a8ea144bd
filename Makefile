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

# The Spark 3.5 line (Delta 3.3, Spark NLP 5.5): a second environment, built on demand by `make test-spark35`.
VENV35 := .venv-spark35
BIN35 := $(VENV35)/bin
STAMP35 := $(VENV35)/.installed
JARS35 := jars/spark35/lib/.resolved

.PHONY: install install-spark35 demo test test-fast test-spark35 lint bench clean help

help:
	@echo "make demo | make test | make test-spark35 | make lint | make bench | make clean"

$(STAMP): pyproject.toml constraints/spark41.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints/spark41.txt -e ".[dev]"
	@touch $@

$(STAMP35): pyproject.toml constraints/spark35.txt
	test -x $(BIN35)/python || $(PY) -m venv $(VENV35)
	$(BIN35)/pip install -q --upgrade pip
	$(BIN35)/pip install -q -c constraints/spark35.txt -e ".[dev]"
	@touch $@

$(JARS35): jars/spark35/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is required to resolve the Spark 3.5 line's jars: apt-get install maven"; exit 1; }
	rm -rf jars/spark35/lib
	mvn -q -B -f jars/spark35/pom.xml dependency:copy-dependencies
	@touch $@

install-spark35: $(STAMP35) $(JARS35)

$(JARS): jars/pom.xml
	@command -v mvn >/dev/null || { echo "Maven (mvn) is required to resolve the Delta jars: apt-get install maven"; exit 1; }
	rm -rf jars/lib
	mvn -q -B -f jars/pom.xml dependency:copy-dependencies
	@touch $@

install: $(STAMP) $(JARS)

$(DEMO_KEY):
	@mkdir -p .seglib && umask 077 && $(BIN)/python -c "import secrets; print(secrets.token_hex(32))" > $@
	@echo "generated a local demo pseudonymization key in $@ (git-ignored; never use it in production)"

# Two consecutive weekly snapshots of the generator's world (it ends on generator.end_date, 2026-11-01), in one process
# (`seg run --then`): the world is generated and ingested as of the last snapshot, then 2026-10-25 trains every model
# and publishes, and 2026-11-01 scores with the champions, refits the clustering and publishes again, so the segment
# history and transitions have something to say. Last, one segment as a consumer sees it. The demo's warehouse
# (conf/base.yaml: .seglib/warehouse) is rebuilt each time (segment history only moves forward); MLflow's store is kept.
DEMO_FIRST ?= 2026-10-25
DEMO_SECOND ?= 2026-11-01
demo: install $(DEMO_KEY)
	rm -rf .seglib/warehouse
	export SEGLIB_PSEUDONYM_KEY=$${SEGLIB_PSEUDONYM_KEY:-$$(cat $(DEMO_KEY))}; set -e; \
	  $(BIN)/seg run --config conf/local.yaml --generate --as-of $(DEMO_FIRST) --then $(DEMO_SECOND) $(DEMO_ARGS); \
	  $(BIN)/seg show --config conf/local.yaml --segment "At-risk" --limit 5

# pytest-xdist, one test file per worker at a time (module fixtures built once), in collection order: the end-to-end
# spark-submit run, the longest, is collected second and starts at once. Two workers: a third (the e2e worker only
# waits for its cluster) made the suite slower, 16 min 19 s against 13 min 14 s, as the cores are already busy; the
# slowest tests are listed last.
PYTEST := $(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# Both Spark lines: the main suite on Spark 4.1, then the Spark 3.5 profile's tests (tests/spark35, Spark NLP).
test: install install-spark35
	$(PYTEST) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-spark35

# tests/spark35 is collected only under pyspark 3.5 (its conftest); the other tests belong to the 4.1 run. They run
# offline: in a new network namespace (util-linux `unshare`, as an unprivileged user) holding only loopback, so a
# pass proves that no annotator downloads anything (test_the_network_is_cut_off checks the cut).
OFFLINE := unshare --map-root-user --net sh -c 'ip link set lo up && exec "$$0" "$$@"'
test-spark35: install-spark35
	SEGLIB_JARS_DIR=$(CURDIR)/jars/spark35/lib $(OFFLINE) $(BIN35)/pytest -q --durations=5 tests/spark35 $(PYTEST35_ARGS)

test-fast: install
	$(PYTEST) -m "not e2e" $(PYTEST_ARGS)

# mypy: seglib/ as configured in pyproject.toml ([tool.mypy]); the package ships py.typed, so its types are checked.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,bench]"
	@touch $@

bench: install $(BENCH_STAMP) $(DEMO_KEY)
	SEGLIB_PSEUDONYM_KEY=$${SEGLIB_PSEUDONYM_KEY:-$$(cat $(DEMO_KEY))} $(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf .seglib spark-warehouse metastore_db derby.log .pytest_cache
