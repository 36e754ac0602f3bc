# The two set-up commands are `make run` and `make test`; each creates .venv when it is
# missing and installs from requirements/lock.txt only when the lock has changed.
VENV := .venv
INSTALLED := $(VENV)/.installed
DOMAIN ?= finance_risk
OUTPUT ?= runs/$(DOMAIN)
PYTEST_ARGS ?=
# The suite runs on two workers, a test file per worker at a time (module fixtures run once),
# in the order tests/conftest.py gives (end-to-end files first; xdist would put the files
# with the most tests first, leaving the long pipeline runs to the end).
PYTEST_WORKERS ?= 2

.PHONY: run test lint venv

venv: $(INSTALLED)

$(INSTALLED): requirements/lock.txt requirements/data.txt setup.cfg setup.py pyproject.toml
	scripts/bootstrap.sh
	touch $@

run: $(INSTALLED)
	$(VENV)/bin/aet run $(DOMAIN) --output $(OUTPUT)

test: $(INSTALLED)
	$(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
