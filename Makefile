# Every target creates .venv on first use and reuses it afterwards.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
# torch and torchvision must be a matching pair; this one installs and imports on CPU-only and CUDA machines.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint install clean-venv bench wheel-check

$(STAMP): setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel cython numpy
	$(PIP) install -q $(TORCH)
	# basicsr 1.4.2 is an sdist that needs torch at build time: build it against the torch above.
	$(PIP) install -q --no-build-isolation -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mprnet-demo

# One OpenMP thread per process: the suite runs tiny models and several multi-process jobs on 2 cores, where
# spinning thread pools cost far more than they give (seen on a loaded machine: a tiny forward 2.6 s with two
# threads, 21 ms with one).
test: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q $(PYTEST_ARGS) tests

# The quick part (under a minute on 2 cores): everything but the tests marked slow (subprocesses, several processes,
# BasicSR's pipelines, the MMEngine Runner, training). tests/README.md says what is where.
test-fast: $(STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS) tests

# What a user gets from pip: sdist -> wheel -> a fresh environment (not -e) -> the commands from an empty folder
# (scripts/wheel_check.sh). Kept out of `make test` (a second 5 GB environment, a few minutes); .ci/run runs both.
wheel-check:
	TORCH='$(TORCH)' scripts/wheel_check.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check mprnet_plugin datasets_prep tests benchmarks scripts

bench: $(STAMP)
	$(PY) benchmarks/forward.py

clean-venv:
	rm -rf $(VENV)
