# One place for the set-up; README's two commands call these targets.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := .setup-done

.PHONY: setup system-deps run test test-fast bench clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	$(PYTHON) -m model.build
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium and its driver (real-browser tests), docker-compose (validates the compose file)
system-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v docker-compose >/dev/null || { \
	  apt-get -o DPkg::Lock::Timeout=600 update && \
	  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends chromium chromium-driver docker-compose; }

run: setup
	$(PYTHON) -m app --host $(HOST) --port $(PORT)

test: setup system-deps
	$(PYTHON) -m pytest -q

test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

bench: setup
	$(PYTHON) -m bench.throughput --json
	$(PYTHON) -m bench.latency --json

clean:
	rm -rf $(STAMP) .pytest_cache
