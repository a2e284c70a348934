# engagebot: `make run` starts the bot, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCALES := locales
CATALOGS := $(wildcard $(LOCALES)/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
PYTEST_WORKERS ?= auto

.PHONY: run test install synapse compile extract update lint format bench chaos clean

# DATABASE_URL from the environment, else from .env; a PostgreSQL one needs its driver installed.
DATABASE_URL ?= $(shell sed -n 's/^[[:space:]]*\(export[[:space:]]\+\)\?DATABASE_URL[[:space:]]*=[[:space:]]*//Ip' .env 2>/dev/null | tail -n 1)
PG_STAMP := $(VENV)/.postgresql-stamp

run: install $(if $(findstring postgres,$(DATABASE_URL)),$(PG_STAMP))
	$(BIN)/engagebot db upgrade
	$(BIN)/engagebot demo-data --if-empty
	$(BIN)/engagebot run

$(PG_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[postgresql]'
	touch $@

# The Matrix tests talk to a real Synapse homeserver on 127.0.0.1: it comes from PyPI into a
# virtualenv of its own (its pinned dependencies are not the bot's). Where it cannot be
# installed, those tests are skipped and say why. `--dist loadgroup` keeps them on one worker,
# so one Synapse serves them all.
SYNAPSE_VENV := .venv-synapse
SYNAPSE_STAMP := $(SYNAPSE_VENV)/.installed-stamp

test: install $(SYNAPSE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

synapse: $(SYNAPSE_STAMP)

$(SYNAPSE_STAMP):
	$(PYTHON) -m venv $(SYNAPSE_VENV)
	$(SYNAPSE_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SYNAPSE_VENV)/bin/python -m pip install --quiet 'matrix-synapse>=1.100' \
		&& touch $@ || echo "Synapse could not be installed: the Matrix tests will be skipped"

install: $(STAMP) $(COMPILED)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Compiled catalogs are build output: made here, never committed.
compile: $(COMPILED)

$(LOCALES)/%/LC_MESSAGES/messages.mo: $(LOCALES)/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --domain messages --input-file $< --output-file $@ --locale $*

# Translators' workflow: extract the sentences from the code, then merge them into every catalog.
extract: $(STAMP)
	$(BIN)/pybabel extract --mapping-file babel.cfg --output-file $(LOCALES)/messages.pot \
		--project engagebot --version 0.1 --copyright-holder "engagebot" \
		--add-comments TRANSLATORS: --no-location --sort-output \
		--keywords _ --keywords ngettext:1,2 --keywords pgettext:1c,2 --keywords N_ \
		bot handlers

update: extract
	$(BIN)/pybabel update --domain messages --input-file $(LOCALES)/messages.pot \
		--output-dir $(LOCALES) --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python -m bot.catalogs fill-source

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m benchmarks

# The crash suite at full size: the real bot killed, restarted and flooded (tests/chaos/).
chaos: install
	CHAOS_SCALE=full $(BIN)/pytest -m chaos -q

clean:
	rm -rf $(VENV) $(SYNAPSE_VENV) $(COMPILED) .pytest_cache
