# rnnkit: `make demo` trains a character LSTM on tiny Shakespeare and prints a sample;
# `make test` runs the test suite. Both set up (or reuse) a virtualenv in .venv first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_CPU := torch==2.13.0
DEMO_TIME ?= 5m
DEMO_DIR ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
PYTEST_ARGS ?= -n 2

# Data for named datasets: a local copy beside the checkout when there is one (as in CI),
# otherwise rnnkit downloads it once into ~/.cache/rnnkit (checksummed).
ifneq ($(wildcard ../shared/data/tinyshakespeare/input.txt),)
export RNNKIT_DATA_DIR ?= $(abspath ../shared/data)
endif

.PHONY: setup demo test test-slow lint clean

setup: $(VENV)/.installed

# Without a CUDA GPU, install the CPU build of torch first so pip does not fetch a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "CUDA GPU found: installing torch with CUDA support"; \
	else \
		echo "no CUDA GPU: installing the CPU build, $(TORCH_CPU)"; \
		$(BIN)/python -m pip install --quiet "$(TORCH_CPU)"; \
	fi
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/rnnkit train lm --data tinyshakespeare --out $(DEMO_DIR) --time $(DEMO_TIME)
	$(BIN)/rnnkit sample $(DEMO_DIR) --prime "ROMEO:" --length 600 --temperature 0.8

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
