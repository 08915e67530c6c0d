"""Preset folders (config + tokenizer, no weights), the meta-device build, and the HF dummy path."""
import json

import pytest

from bench.errors import UserError
from bench.models import presets, resolve_model
from bench.models.presets import PRESETS


@pytest.mark.parametrize("name", ["llama-3.2-1b", "qwen2.5-7b"])
def test_folder_has_exact_config_and_full_vocab_tokenizer(preset_folders, name):
    from transformers import AutoTokenizer

    path, preset = preset_folders[name], PRESETS[name]
    assert json.loads((path / "config.json").read_text()) == preset.config
    assert presets.is_dummy(path) and not list(path.glob("*.safetensors"))
    assert sum(f.stat().st_size for f in path.iterdir()) < 10 * 2**20   # no weights: a few MB
    tok = AutoTokenizer.from_pretrained(path)
    assert len(tok) == preset.vocab_size
    assert tok.bos_token_id == preset.config["bos_token_id"]
    assert tok.eos_token_id == preset.config["eos_token_id"]
    ids = tok("tokens of generated text, decoded back.")["input_ids"]
    assert max(ids) < preset.vocab_size and tok.decode(ids) == "tokens of generated text, decoded back."


@pytest.mark.parametrize("name", list(PRESETS))
def test_transformers_builds_the_shape_on_meta_with_the_published_size(tmp_path, name):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    (tmp_path / "config.json").write_text(json.dumps(PRESETS[name].config))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tmp_path), dtype=torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == PRESETS[name].published_params
    assert model.config.tie_word_embeddings == PRESETS[name].config["tie_word_embeddings"]


def test_resolve_preset_names(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    path = resolve_model("preset:llama-3.1-8b")
    assert path.endswith("preset-llama-3.1-8b") and presets.is_dummy(path)
    with pytest.raises(UserError, match="unknown preset.*preset:llama-3.2-1b"):
        resolve_model("preset:llama-9")


def test_models_list_shows_presets(capsys):
    from bench.cli import main
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "preset:llama-3.1-8b" in out and "8.03 B params" in out and "preset:qwen2.5-7b" in out


def test_gpu_h100_config_validates():
    from bench import config
    specs = config.load("configs/gpu-h100.yaml")
    assert {s.model for s in specs} == {"preset:llama-3.1-8b"}
    sweep = [s for s in specs if s.load.kind != "capacity"]
    arms = {(s.backend.name, s.backend.options.get("compile")) for s in sweep}
    assert arms == {("hf", False), ("hf", True), ("vllm", None)}
    assert all(s.backend.options["load_format"] == "dummy" for s in specs if s.backend.name == "vllm")
    assert {s.workload.kind for s in sweep} == {"chat", "chat_multiturn", "rag", "agentic"}
    assert {s.load.concurrency for s in sweep} == {1, 8, 32} and len(sweep) == 36
    # agent tasks per hour per H100 at SLO: one capacity search per backend, over concurrent tasks
    searches = [s for s in specs if s.load.kind == "capacity"]
    assert {(s.backend.name, s.backend.options.get("compile")) for s in searches} == arms and len(searches) == 3
    assert all(s.workload.kind == "agentic" and s.load.search.over == "concurrency"
               and s.slo.task_latency_ms and s.slo.target == 0.9 for s in searches)
    assert len({s.label for s in specs}) == 39
