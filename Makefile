# make test: set up .venv if needed, lint, run the whole suite. make run: the local stack.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# LocalStack (host mode, no Docker) in its own venv: its pins clash with requirements.txt.
LS_VENV := .localstack
LS_STAMP := $(LS_VENV)/.installed

.PHONY: test run lint fmt bench clean localstack

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(LS_STAMP): requirements-localstack.txt
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-localstack.txt
	touch $(LS_STAMP)

localstack: $(LS_STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint $(LS_STAMP)
	$(PY) -m pytest

run: $(STAMP)
	$(PY) -m chalicelib.local.server

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) $(LS_VENV) .local .pytest_cache
