# Two commands do all the set-up on a fresh machine:
#   make quickstart   create/reuse .venv from the lock file, train Q-learning on Taxi-v4,
#                     evaluate it and plot its learning curve (runs/quickstart/)
#   make test         create/reuse .venv from the lock file, lint, run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the CPU wheel of torch lies in /opt/wheels on our machines; elsewhere pip reads the index
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := -q --disable-pip-version-check -c constraints.txt $(if $(WHEELS),--find-links $(WHEELS),)
STAMP := $(VENV)/.tidyrl-dev-installed

.PHONY: venv quickstart test lint format check bench-quick bench-report clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) torch==2.13.0
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev,bench,atari,mujoco,box2d,export,imitation]'
	touch $@

quickstart: $(STAMP)
	$(BIN)/tidyrl train q-learning Taxi-v4 --steps 100000 --seed 0 --run-dir runs/quickstart \
		--set alpha=0.5 eval_every=5000 eval_episodes=5
	$(BIN)/tidyrl eval runs/quickstart --episodes 10
	$(BIN)/tidyrl plot runs/quickstart --out runs/quickstart/learning_curve.png

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks

test: lint
	$(BIN)/python -m pytest -n 2 --durations=15
	$(MAKE) bench-quick

# the quick benchmark suite: small learning runs that fail CI on a learning regression
bench-quick: $(STAMP)
	$(BIN)/tidyrl bench run quick --check --out $$(mktemp -d)

# regenerate benchmarks/RESULTS.md and benchmarks/plots/ from benchmarks/results/*.json
bench-report: $(STAMP)
	$(BIN)/tidyrl bench report

check: test

clean:
	rm -rf $(VENV) runs .pytest_cache
