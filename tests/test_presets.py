"""Preset folders (config + tokenizer, no weights), the meta-device build, and the HF dummy path."""
import asyncio
import json
import shutil

import pytest

from bench.errors import UserError
from bench.models import presets, resolve_model
from bench.models.presets import PRESETS


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    return {name: presets.build_preset(name, root) for name in ("llama-3.2-1b", "qwen2.5-7b")}


@pytest.mark.parametrize("name", ["llama-3.2-1b", "qwen2.5-7b"])
def test_folder_has_exact_config_and_full_vocab_tokenizer(built, name):
    from transformers import AutoTokenizer

    path, preset = built[name], PRESETS[name]
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


@pytest.fixture(scope="module")
def small_dummy(built, tmp_path_factory):
    """The Llama-3.2-1B preset's tokenizer and config, shrunk to 2 layers of width 64 so the HF
    dummy-weight path runs on 2 CPU cores (head_dim 64 as in the real model)."""
    path = tmp_path_factory.mktemp("small") / "m"
    shutil.copytree(built["llama-3.2-1b"], path)
    cfg = {**PRESETS["llama-3.2-1b"].config, "hidden_size": 64, "intermediate_size": 128,
           "num_hidden_layers": 2, "num_attention_heads": 1, "num_key_value_heads": 1}
    (path / "config.json").write_text(json.dumps(cfg))
    return path


@pytest.mark.engine
def test_hf_backend_builds_dummy_weights_and_generates(small_dummy):
    from bench.backends.hf import HFBackend
    from bench.run.driver import measure, now_ns
    from bench.types import Request

    b = HFBackend(str(small_dummy), {"max_batch_size": 2, "model_kwargs": {"attn_implementation": "sdpa"},
                                     "compile": False})
    asyncio.run(b.start())
    try:
        info = b.info()
        assert info["attn_implementation"] == "sdpa" and info["dtype"] == "torch.float32"
        assert b.model.model.layers[0].mlp.up_proj.weight.std().item() == pytest.approx(0.02, rel=0.2)
        reqs = [Request(id=f"r{i}", prompt_token_ids=tuple(range(5, 25 + i)), max_output_tokens=6)
                for i in range(2)]
        samples = asyncio.run(_gather(b, reqs, measure, now_ns))
        assert [s.output_tokens for s in samples] == [6, 6] and all(s.ok for s in samples)
    finally:
        asyncio.run(b.stop())


async def _gather(b, reqs, measure, now_ns):
    return await asyncio.gather(*(measure(b, r, now_ns()) for r in reqs))


@pytest.mark.engine
def test_compile_option_compiles_the_decode_step_with_same_outputs(tiny_path):
    """compile: true goes through transformers' generate-time torch.compile (also on the CPU);
    greedy outputs must not change. The first call compiles (about 20 s on 2 cores)."""
    from bench.backends.hf import HFBackend
    from bench.run.driver import measure, now_ns
    from bench.types import Request

    req = Request(id="c", prompt_token_ids=tuple(range(5, 30)), max_output_tokens=8)
    outs = {}
    for flag in (False, True):
        b = HFBackend(tiny_path, {"max_batch_size": 1, "compile": flag})
        asyncio.run(b.start())
        try:
            s = asyncio.run(_gather(b, [req], measure, now_ns))[0]
            assert s.ok, s.error
            outs[flag] = s.output_token_ids
            assert hasattr(b.model, "_compiled_call") == flag
        finally:
            asyncio.run(b.stop())
    assert outs[True] == outs[False]


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
