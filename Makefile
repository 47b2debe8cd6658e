# The two commands a new user needs: `make run` (the demo) and `make test` (the suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run chat test bench clean

# Start the demo: a terminal chat with the demo company (no API keys needed).
run: $(VENV)/.installed
	$(BIN)/supportbot migrate
	$(BIN)/supportbot chat

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# Run the whole test suite. pytest exits 5 when it collects no test: that fails too.
test: $(VENV)/.dev-installed
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; exit $$status

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/classifier.py

clean:
	rm -rf $(VENV) .supportbot supportbot.db supportbot.db-wal supportbot.db-shm
