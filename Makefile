# The two commands a new user needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gateway demo

lint: $(STAMP)
	$(BIN)/ruff check gateway outbox mappings tests bench
	$(BIN)/mypy gateway outbox mappings
	$(BIN)/lint-imports

# The support pages' browser tests drive Debian's Chromium (no browser is downloaded); as root, install it when
# missing. Without it those tests skip, except under CI=true, where they fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" -eq 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		echo "chromium is not installed (run as root, or apt-get install chromium chromium-driver)" >&2

# Two workers even on two cores: the suite mostly waits (databases, subprocesses, servers), so a second worker
# fills the idle time. loadscope keeps each module on one worker, so module-scoped fixtures are built once.
TEST_WORKERS ?= 2

test: lint browser
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
