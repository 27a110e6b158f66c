# Two commands do all the set-up on a fresh machine:
#   make quickstart   create/reuse .venv from the lock file, train PPO on CartPole-v1,
#                     evaluate it, plot its learning curve and record an episode as a GIF
#                     (runs/quickstart/)
#   make test         create/reuse .venv from the lock file, lint, run the test suite, the quick
#                     benchmark suite and the strict docs build
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the CPU wheel of torch lies in /opt/wheels on our machines; elsewhere pip reads the index
WHEELS := $(wildcard /opt/wheels)
PIP_FLAGS := -q --disable-pip-version-check -c constraints.txt $(if $(WHEELS),--find-links $(WHEELS),)
STAMP := $(VENV)/.tidyrl-dev-installed

.PHONY: venv quickstart test lint format check bench-quick bench-report docs clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) torch==2.13.0
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev,bench,atari,mujoco,box2d,export,imitation,multiagent,minigrid,docs,ray,dmc,modelbased]'
	touch $@

# PPO with its defaults (RL-Zoo's CartPole-v1 hyper-parameters); --overwrite makes a rerun start
# afresh instead of refusing the directory
quickstart: $(STAMP)
	$(BIN)/tidyrl train ppo CartPole-v1 --steps 40000 --seed 0 --run-dir runs/quickstart --overwrite
	$(BIN)/tidyrl eval runs/quickstart --episodes 10
	$(BIN)/tidyrl plot runs/quickstart --out runs/quickstart/learning_curve.png
	$(BIN)/tidyrl eval runs/quickstart --episodes 1 --video runs/quickstart/episode.gif

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/hooks
	$(BIN)/ruff format --check src tests benchmarks docs/hooks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks docs/hooks

test: lint
	$(BIN)/python -m pytest -n 2 --durations=15
	$(MAKE) bench-quick
	$(MAKE) docs

# the quick benchmark suite: small learning runs that fail CI on a learning regression
bench-quick: $(STAMP)
	$(BIN)/tidyrl bench run quick --check --out $$(mktemp -d)

# regenerate benchmarks/RESULTS.md and benchmarks/plots/ from benchmarks/results/*.json
bench-report: $(STAMP)
	$(BIN)/tidyrl bench report

# the documentation site, built into site/; --strict (also set in mkdocs.yml) fails on any
# warning: a broken link or anchor, a page missing from the nav, a docstring that does not render
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

check: test

clean:
	rm -rf $(VENV) runs site .pytest_cache
