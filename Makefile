# The two commands: `make run` serves on http://127.0.0.1:8000, `make test` runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: run test lint system-deps deploy-test clean

run: $(VENV)/.installed
	$(VENV)/bin/stylewave serve

test: $(VENV)/.installed-dev system-deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check app workers models tests benchmarks deploy
	$(VENV)/bin/ruff format --check app workers models tests benchmarks deploy
	$(VENV)/bin/mypy

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Stamps make a re-install a no-op until pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

# Debian packages the tests use: chromium (browser test) and docker-compose (validates the compose file).
# Installed when missing and we are root; otherwise those tests skip with a reason.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "not root: skipping the install of$$missing (the tests that need them will skip)"; \
	  fi; \
	fi

# The docker-compose stack, built and broken on purpose (deploy/deploy_test.py; README, "Deployment"). Needs root
# where Docker is missing: it installs Debian's docker.io and docker-compose and starts dockerd.
deploy-test: $(VENV)/.installed
	$(PY) deploy/deploy_test.py

clean:
	rm -rf $(VENV) data .pytest_cache
