# Nudge: `make demo` and `make test` set everything up themselves (a .venv with the dev extra).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install test test-fast lint demo up down bench openapi schemas clean

help:
	@echo "make demo   - local stack + 30 virtual days of users, report and charts"
	@echo "make test   - the whole test suite (unit, integration, end-to-end)"
	@echo "make lint   - ruff, mypy, the import contract, cfn-lint"
	@echo "make bench  - cold imports, write units per event, throughput"
	@echo "make up / make down - the embedded local stack in the background"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: $(STAMP)
	@$(PY) -m pytest -n 2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache  # layers and capability seams (pyproject: importlinter)
	$(VENV)/bin/cfn-lint template.yaml

demo: $(STAMP)  # `make demo USERS=1000` for a bigger town
	$(PY) -m nudge_local.demo $(if $(USERS),--users $(USERS))

up: $(STAMP)
	$(VENV)/bin/nudge local up

down: $(STAMP)
	$(VENV)/bin/nudge local down

bench: $(STAMP)
	$(PY) -m tests.bench.run

openapi: $(STAMP)
	$(PY) -c 'from nudge.api.openapi import write_mobile_openapi; write_mobile_openapi()'
	$(PY) -c 'from nudge.api.openapi import write_admin_openapi; write_admin_openapi()'

schemas: $(STAMP)  # JSON Schemas of the marketer config files, for editors and CI
	$(PY) -c 'import json; from nudge.models.campaign import Campaign; \
	open("schemas/campaign.schema.json", "w").write(json.dumps(Campaign.model_json_schema(by_alias=True), indent=2, sort_keys=True) + "\n")'
	$(PY) -c 'import json; from nudge.models.survey import survey_json_schema; \
	open("schemas/survey.schema.json", "w").write(json.dumps(survey_json_schema(), indent=2, sort_keys=True) + "\n")'

clean:
	rm -rf .nudge reports .pytest_cache .mypy_cache .ruff_cache
