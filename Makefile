# HomeFollow. Quick start: `make run`, then `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
SOURCES := homefollow patient_portal clinician_portal rules
CATALOGUES := $(wildcard homefollow/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)
PYTEST_ARGS ?=
# Every package, transitive ones included, is pinned with its hashes in the lock files, and pip
# refuses anything else (see docs/security.md, supply chain).
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes
LOCK_VENV := .venv-lock
# pip-compile reads only PyPI, so that the hashes are the published ones, whatever pip.conf says.
PIP_COMPILE := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
	$(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url --index-url https://pypi.org/simple

.PHONY: run test lint machine install install-test lock translations messages scheduler screenshots hazard-log clean

run: install translations  ## Migrate, load demo data, serve web + scheduler on :5000
	HOMEFOLLOW_DEMO=1 $(FLASK) db upgrade
	HOMEFOLLOW_DEMO=1 $(FLASK) demo load
	HOMEFOLLOW_DEMO=1 $(FLASK) serve --host 127.0.0.1 --port 5000

test: machine install-test translations lint  ## Set-up, lint and type-check, then the whole suite
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

machine:  ## What the tests need beyond Python packages: PostgreSQL and chromium (.ci/setup)
	@.ci/setup

lint: install-test  ## ruff and mypy, configured in pyproject.toml; `make test` runs it first
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(VENV)/.installed
install-test: $(VENV)/.test-installed

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed: apt-get install python3"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Python's venv module is missing: apt-get install python3-venv"; exit 1; }

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.test-installed: requirements-test.txt $(VENV)/.installed
	$(PIP_INSTALL) -r requirements-test.txt
	touch $@

lock: $(LOCK_VENV)/.installed  ## Rewrite the hash-locked requirements*.txt from requirements*.in (developers)
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-test.txt requirements-test.in
	$(PIP_COMPILE) --allow-unsafe --output-file requirements-lock.txt requirements-lock.in

$(LOCK_VENV)/.installed: requirements-lock.txt
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-lock.txt
	touch $@

translations: $(COMPILED)

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

messages: install  ## Extract strings and update the nb and en catalogues (developers)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k t:2 -k N_ --no-location --sort-output -o homefollow/translations/messages.pot $(SOURCES)
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i homefollow/translations/messages.pot -d homefollow/translations

hazard-log: install  ## Render docs/safety/hazard-log.md from docs/safety/hazards.yaml and check every control's tests
	$(BIN)/python -m tools.hazard_log

screenshots: install-test translations  ## Phone-size screenshots of the main pages into docs/screenshots/
	$(BIN)/python -m tests.browser.screenshots

scheduler: install  ## Only the scheduler process
	$(FLASK) scheduler run

clean:
	rm -rf $(VENV) $(LOCK_VENV) instance test-artifacts
