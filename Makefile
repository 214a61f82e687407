# The two set-up commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Fonts the synthetic plate generator draws with (matplotlib's are the fallback) and Prometheus +
# promtool for the observability tests; Chromium for the WHIP browser test.
SYSTEM_PACKAGES := fonts-liberation fonts-urw-base35 fonts-freefont-ttf fonts-roboto-unhinted fonts-dejavu-core \
	fonts-opendin fonts-bebas-neue fonts-open-sans prometheus chromium

.PHONY: demo test lint system-packages clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local-triton,tools,train,dev]'
	touch $@

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing Debian packages ($$missing); run as root or install them for full font variety"; fi; \
	fi

demo: system-packages $(INSTALLED)
	$(BIN)/anpr demo

lint: $(INSTALLED)
	$(BIN)/ruff check server training benchmarks deploy tests
	$(BIN)/ruff format --check server training benchmarks deploy tests
	$(BIN)/mypy server/anpr

test: system-packages $(INSTALLED) lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
