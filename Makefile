# The workspace's entry points. README: `make demo` (main job), `make test` (all tests).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
ACTIVATE := source $(VENV)/bin/activate && source scripts/env.sh
WITH_WS := $(ACTIVATE) && source install/setup.bash
COLCON_FLAGS ?= --symlink-install --base-paths src --event-handlers console_direct- summary+
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: setup build test lint demo bench clean

setup:
	bash scripts/setup.sh

install/setup.bash build: setup
	$(ACTIVATE) && colcon build $(COLCON_FLAGS)

test: build
	$(WITH_WS) && echo "ROS_DOMAIN_ID=$$ROS_DOMAIN_ID ROS_AUTOMATIC_DISCOVERY_RANGE=$$ROS_AUTOMATIC_DISCOVERY_RANGE" \
	    "FASTRTPS_DEFAULT_PROFILES_FILE=$${FASTRTPS_DEFAULT_PROFILES_FILE:-}" \
	  && python -m pytest $(PYTEST_ARGS)

lint: setup
	$(ACTIVATE) && ruff check src tests bench tools launch docker

demo: build
	$(WITH_WS) && python -m tools.demo $(DEMO_ARGS)

bench: build
	$(WITH_WS) && for b in bench/bench_*.py; do echo "== $$b"; python "$$b" || exit 1; done

clean:
	rm -rf build install log
