# Two commands do all the set-up on a fresh machine:
#   make run    creates .venv, installs, creates the database, imports the demo roster,
#               starts the service with embedded SQLite + embedded Redis + the fake WeChat platform
#   make test   creates .venv, installs, runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@# setuptools warns that bot/, handlers/, models/ and qr/ sit in the working directory: that is the layout.
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mashang roster import roster.example.toml
	$(BIN)/mashang serve --demo

lint: $(STAMP)
	$(BIN)/ruff check bot handlers models qr tests scripts
	$(BIN)/mypy bot handlers models qr
	$(BIN)/vulture bot handlers models qr tests scripts tests/vulture_allowlist.py \
		--ignore-decorators "@*.handler,@pytest.fixture,@*.setter" --ignore-names "Meta,test_*,pytest_*"

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint pytest

clean:
	rm -rf $(VENV) data
