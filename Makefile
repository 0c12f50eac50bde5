# make test: set up .venv if needed, lint, run the whole suite. make run: the local stack.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# LocalStack (host mode, no Docker) in its own venv: its pins clash with requirements.txt.
LS_VENV := .localstack
LS_STAMP := $(LS_VENV)/.installed

# The console (web/): npm ci when the lock file changed, a build when its sources changed.
WEB := web
WEB_CI_STAMP := $(WEB)/node_modules/.stamp-ci
WEB_BUILD_STAMP := $(WEB)/dist/.stamp-build
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json $(WEB)/package.json
CHROMIUM := /usr/bin/chromium

.PHONY: test run lint fmt bench clean localstack console console-lint console-test chromium

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

$(WEB_CI_STAMP): $(WEB)/package-lock.json
	@echo "console: package-lock.json changed, npm ci"
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $(WEB_CI_STAMP)

$(WEB_BUILD_STAMP): $(WEB_CI_STAMP) $(WEB_SOURCES)
	@echo "console: sources changed, npm run build"
	cd $(WEB) && npm run build
	touch $(WEB_BUILD_STAMP)

console: $(WEB_BUILD_STAMP)
	@echo "console: web/dist is up to date"

console-lint: $(WEB_CI_STAMP)
	cd $(WEB) && npm run lint && npm run check:types

console-test: $(WEB_CI_STAMP)
	cd $(WEB) && npm test

# Debian's Chromium for the browser tests; never a browser download by a tool.
chromium:
	test -x $(CHROMIUM) || (apt-get update && apt-get install -y chromium)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint console-lint console-test console chromium $(LS_STAMP)
	$(PY) -m pytest

run: $(STAMP) console
	$(PY) -m devstack.server

fmt: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Every benchmark runs even if one fails (helpers such as _setup.py are not benchmarks); the
# exit status says whether all passed.
bench: $(STAMP)
	@failed=""; for f in bench/[!_]*.py; do echo "== $$f"; $(PY) $$f || failed="$$failed $$f"; done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) $(LS_VENV) .local .pytest_cache $(WEB)/node_modules $(WEB)/dist
