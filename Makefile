# briefs: `make demo` runs the flow over seeds/ into ./out; `make test` runs the test suite.
VENV    ?= .venv
PY      := $(VENV)/bin/python
MODELS  ?= default
SOURCE  ?= seeds
DEST    ?= out
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
# Flow runs send a heartbeat this often; the zombie automation (make deploy) marks a run
# Crashed after three missed ones, and a fanned-out night submits that shard again.
export PREFECT_FLOWS_HEARTBEAT_FREQUENCY ?= 30

.PHONY: setup demo test test-fast docs bench bench-gpu bench-night bench-scale eval eval-extraction soak server deploy deploy-k8s worker warm-worker lint lock clean

setup: $(VENV)/.installed

# torch first, pinned: the CPU build (an unpinned torch pulls a CUDA build of several GB).
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

demo: setup
	$(VENV)/bin/briefs run $(SOURCE) $(DEST) --models $(MODELS)

# Two pytest-xdist workers, each test file on one of them (a file's servers and fixtures stay
# together), in the order tests/conftest.py gives: the long server modules first (xdist would
# put the files with most tests first, so those ran last, on one worker). Each worker has
# its own Prefect API and S3 server. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The unit tier: plain modules called directly, no flow runs or servers.
test-fast: setup
	$(PY) -m pytest -m "not flow and not server"

# The docs site (mkdocs-material) into site/, failing on any warning.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

# Operate: a local Prefect server, the nightly deployment, and a worker for its pool.
# The server keeps its state in PostgreSQL when PREFECT_API_DATABASE_CONNECTION_URL names one
# (postgresql+asyncpg://...; see README, Scaling), else in SQLite under PREFECT_HOME.
server: setup
	@echo "prefect server: database $${PREFECT_API_DATABASE_CONNECTION_URL:-SQLite under PREFECT_HOME}" \
	  | sed -E 's#//([^:@/]+):[^@/]*@#//\1:***@#'
	$(VENV)/bin/prefect server start --host 127.0.0.1

deploy: setup
	$(VENV)/bin/prefect work-pool inspect briefs >/dev/null 2>&1 || \
	  $(VENV)/bin/prefect work-pool create briefs --type process
	$(PY) -m briefs.flows.deployments process --home $(CURDIR)
	$(PY) infra/automations.py

# The same deployments on a Kubernetes work pool (Jobs in the image BRIEFS_IMAGE; README, Scaling).
BRIEFS_IMAGE ?= ghcr.io/example/briefs:latest
deploy-k8s: setup
	$(VENV)/bin/prefect work-pool inspect briefs-k8s >/dev/null 2>&1 || \
	  $(VENV)/bin/prefect work-pool create briefs-k8s --type kubernetes \
	    --base-job-template infra/k8s/base-job-template.json
	$(PY) -m briefs.flows.deployments kubernetes --image $(BRIEFS_IMAGE)
	$(PY) infra/automations.py

worker: setup
	$(VENV)/bin/prefect worker start --pool briefs --type process $(WORKER_ARGS)

# A warm worker: the briefs-warm pool's shard runs in this process, one at a time, keeping the
# models loaded between them (scale.shard_deployment: briefs-shard/warm; docs/scaling.md).
WARM_ARGS ?=
warm-worker: setup
	$(VENV)/bin/briefs warm-worker $(WARM_ARGS)

# Speed and memory of the real architectures (random weights, fixed output lengths): the naive
# transformers loop against briefs run on each engine, side by side (docs/benchmarks.md).
bench: setup
	$(PY) benchmarks/throughput.py

# The same on a CUDA machine; prints the same last line.
bench-gpu: setup
	$(PY) benchmarks/throughput.py --device cuda

# A full-size night, 2,000 articles through the benchmark's models on CTranslate2: RSS of the
# process tree and articles/min per tenth, the curve drawn into the docs (docs/benchmarks.md).
NIGHT_ARGS ?= --articles 2000
bench-night: setup
	$(PY) benchmarks/night.py --plot docs/img/bench-night.png $(NIGHT_ARGS)

# One night of tiny-model articles fanned out over 1 and 2 process workers and 1 and 2 warm
# workers, against one process: a Prefect server on its own PostgreSQL database, moto S3 (README, Scaling).
bench-scale: setup
	$(PY) benchmarks/scale_out.py

# Quality of a preset's models on the shared corpus (README, Quality): ROUGE of summaries, BLEU
# and chrF of translations, e.g. make eval QUALITY_ARGS="--limit 100 --baseline base.json".
eval: setup
	$(VENV)/bin/briefs eval --models $(MODELS) $(QUALITY_ARGS)

# HTML main-text extraction against the corpus's expected texts: ours (tasks/ingest/articles.py) and
# trafilatura's defaults, token precision/recall/F1 per page and per set, time per page.
eval-extraction: setup
	$(PY) benchmarks/eval_extraction.py $(EVAL_ARGS)

# 2,000 tiny-model articles through S3 with 10% injected faults and one kill-and-resume.
soak: setup
	$(PY) -m tests.soak --articles 2000

lint: setup
	$(VENV)/bin/ruff check .

lock: setup
	{ echo "# Pinned dependency set: 'pip install -c constraints.txt' (an unpinned resolve backtracks for minutes)."; \
	  echo "# Regenerate: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^torch=='; echo "torch==2.13.0"; } > constraints.txt

clean:
	rm -rf $(VENV) $(DEST) .pytest_cache
