# Nudge: `make demo` and `make test` set everything up themselves (a .venv with the dev extra).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install test test-fast lint demo chaos fuzz up down bench openapi schemas package clean chromium console-shots

help:
	@echo "make demo   - local stack + 30 virtual days of users, report and charts"
	@echo "make test   - the whole test suite (unit, integration, end-to-end)"
	@echo "make lint   - ruff, mypy, the import contract, cfn-lint"
	@echo "make bench  - cold imports, write units per event, throughput"
	@echo "make chaos  - the local stack with DynamoDB throttled and FCM failing: every event and push accounted"
	@echo "make fuzz   - schemathesis: 10,000 generated requests from the OpenAPI documents, every answer documented"
	@echo "make up / make down - the embedded local stack in the background"
	@echo "make console-shots - a full-page PNG of every console page into reports/console/"
	@echo "make package - sam build (arm64, no Docker; needs Python 3.13) into .aws-sam/build"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the console's browser tests (tests/browser): installed with apt when
# missing (as root or with sudo -n); otherwise a clear failure, never a skipped browser test.
chromium:
	@sh infra/local/ensure_chromium.sh

# pytest exits 5 when it collected nothing: that is a failure here, never a pass.
test: $(STAMP) chromium
	@$(PY) -m pytest -n 2 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e and not browser" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache  # layers and capability seams (pyproject: importlinter)
	$(VENV)/bin/cfn-lint template.yaml

demo: $(STAMP)  # `make demo USERS=1000` for a bigger town; KEEP=1 leaves it up (console)
	$(PY) -m nudge_local.demo $(if $(USERS),--users $(USERS)) $(if $(KEEP),--keep)

chaos: $(STAMP)  # 20 % of DynamoDB calls throttled, 20 % of FCM sends failed; then without faults
	$(PY) -m nudge_local.chaos

# `make fuzz CASES=50000 SEED=7` for a longer run, or to replay one (it prints its seed)
fuzz: $(STAMP)
	$(PY) -m nudge_local.fuzz $(if $(CASES),--cases $(CASES)) $(if $(SEED),--seed $(SEED))

up: $(STAMP)
	$(VENV)/bin/nudge local up

down: $(STAMP)
	$(VENV)/bin/nudge local down

# every console page as a full-page PNG (reports/console/<page>.png), signed in on the dev
# provider; uses the stack `make demo KEEP=1` left up in .nudge/demo, else starts its own
console-shots: $(STAMP) chromium
	$(PY) -m nudge_local.console_shots

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

# The real `sam build`, without Docker: the arm64 layer comes from pip's aarch64 wheels. SAM
# needs a working python3.13 (the functions' runtime): PATH first (a pyenv shim that is not
# active fails the check), then pyenv's versions. Its pip cache is the usual ~/.cache/pip.
# Then the built code is compiled to 3.13 bytecode: /opt and /var/task are read-only in Lambda,
# so without shipped .pyc files every cold start compiles each module it imports from source
# (unchecked-hash: zips need not keep the mtimes a timestamp .pyc is checked against).
package: $(STAMP)
	@py313=; for c in "$$(command -v python3.13)" $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13; do \
	  if [ -x "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; \
	  then py313=$$c; break; fi; \
	done; \
	if [ -z "$$py313" ]; then \
	  echo "make package: sam build needs Python 3.13 (runtime python3.13), found neither on PATH" \
	    "nor under pyenv: install it (pyenv install 3.13, or your OS's python3.13 package)" >&2; \
	  exit 1; \
	fi; \
	echo "make package: sam build with $$py313"; \
	PATH="$$(dirname "$$py313"):$(CURDIR)/$(VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 \
	  $(VENV)/bin/sam build --template-file template.yaml --build-dir .aws-sam/build \
	  --cached --cache-dir .aws-sam/cache --parallel && \
	"$$py313" -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build >/dev/null

clean:
	rm -rf .nudge reports .pytest_cache .mypy_cache .ruff_cache
