# Developer entry points. `.ci/run` runs the same lint commands on a fresh machine, then the README's test command.
PYTHON ?= .venv/bin/python

.PHONY: venv lint test test-fast bench image-check

# The venv the other targets use, at the exact versions of constraints.txt (as the README and .ci/run install).
venv:
	python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]'

# Lint and type checks live here, not in pytest: a test run answers "does it work", this answers "is it tidy".
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

# The whole suite, as CI runs it (PostgreSQL tests need the server at 127.0.0.1:5432).
test:
	$(PYTHON) -m pytest

# Everything not marked slow: the unit tier and the quick end-to-end tests, for the edit-test loop.
test-fast:
	$(PYTHON) -m pytest -m "not slow"

# The benchmark harness at tiny sizes (no goal is judged); drop --quick for the real figures.
bench:
	$(PYTHON) -m bench --quick

# Build the image with podman and run it as Kubernetes would (deploy/image/check.sh; minutes, not in the suite).
# PYTHON_IMAGE=python:3.11-slim-bookworm where a registry can be reached; without it, a debootstrap base.
image-check:
	deploy/image/check.sh
