# Two commands for a new user: `make run` and `make test`. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT


.PHONY: run test install install-test assets supabase-start supabase-stop bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

assets: package.json
	scripts/build_assets

install: $(VENV)/.runtime assets

install-test: $(VENV)/.dev assets
	scripts/install_system_deps

## make run: install, create the SQLite database and the first admin, serve on HOST:PORT
run: install
	$(VENV)/bin/flask --app wsgi users ensure-admin
	@echo "Switchboard on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

## make test: install what the tests need (system packages too) and run the whole suite
test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

supabase-start: install
	scripts/local_supabase start

supabase-stop:
	scripts/local_supabase stop

clean:
	rm -rf $(VENV) .local .cache

## make bench: every benchmark on loopback, one table (also saved under bench/results/)
bench: install-test
	$(PY) bench/run.py $(BENCH_ARGS)
