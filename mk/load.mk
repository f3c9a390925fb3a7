# Load: Locust profiles, SLOs, capacity (load/), benchmarks (harness/bench).
.PHONY: load load-ui load-stress load-open chromium bench bench-data

LOAD_REPORT ?= reports/load

# Any deployment: LOAD_HOST=http://gateway LOAD_ACCOUNTS=user:pass,... make load
load: setup  ## headless load smoke (~60 s, starts a stack if none is up); fails on an SLO breach
	$(PY) -m load.run $${LOAD_WORKERS:+--workers $$LOAD_WORKERS} -- --shape $${SHAPE:-steady} \
		-u $${USERS:-20} -r $${SPAWN_RATE:-10} -t $${DURATION:-60s} \
		--report-dir $(LOAD_REPORT)/$${SHAPE:-steady} $${LOAD_ARGS}

load-ui: setup  ## Locust web UI against the stack (starts one if none is up); prints its URL
	$(PY) -m load.run --ui --web-port $${WEB_PORT:-8089} $${LOAD_WORKERS:+--workers $$LOAD_WORKERS}

load-stress: setup  ## raise load step by step until an SLO breaks; reports the knee (capacity)
	$(PY) -m load.run -- --shape stress -u 1 --step-users $${STEP_USERS:-10} \
		--step-time $${STEP_TIME:-30} --stress-max-users $${MAX_USERS:-300} \
		--report-dir $(LOAD_REPORT)/stress $${LOAD_ARGS}

load-open: setup  ## open workload model: a fixed arrival rate (RATE/s) for DURATION
	$(PY) -m load.run -- --shape open --arrival-rate $${RATE:-5} -t $${DURATION:-60s} \
		--report-dir $(LOAD_REPORT)/open $${LOAD_ARGS}

# The browser test drives the Locust web UI in Debian's Chromium (Playwright's own browser
# download cannot reach its CDN from CI machines).
chromium:  ## Debian's Chromium for the web UI browser test (apt-get, first run only)
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium (browser test)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: chromium
TEST_AFTER += load

bench: setup  ## benchmarks: pipeline vs its NATS ceiling, gateway vs bare ASGI; ratios + JSON
	$(VENV)/bin/harness bench --out $${BENCH_OUT:-reports/bench} $${BENCH_ARGS}

# Needs the local stack (`make up`): it plants records in the archive's database (up to the
# largest size; 1,000,000 by default, about 1.5 GB) and takes backups. Not in `make test`.
bench-data: setup  ## data benchmarks: migration vs raw _bulk, search p50/p95 at 100k and 1M, backup MB/s; JSON
	$(VENV)/bin/harness bench-data --out $${BENCH_OUT:-reports/bench-data} $${BENCH_DATA_ARGS}
