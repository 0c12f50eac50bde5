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
	@echo "==> Python: creating $(VENV) and installing requirements-dev.txt (first time: about a minute)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)
	@echo "==> Python environment ready"

$(LS_STAMP): requirements-localstack.txt
	@echo "==> LocalStack: installing its own venv in $(LS_VENV) (first time: about 40 s)"
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

# Every benchmark runs even if one fails (helpers such as _setup.py are not benchmarks); the
# exit status says whether all passed.
bench: $(STAMP)
	@failed=""; for f in bench/[!_]*.py; do echo "== $$f"; $(PY) $$f || failed="$$failed $$f"; done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) $(LS_VENV) .local .pytest_cache
