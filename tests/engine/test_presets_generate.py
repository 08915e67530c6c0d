"""A preset's HF dummy-weight path generates on the CPU (shrunk to 2 layers), and the compile
option compiles the decode step without changing greedy outputs."""
import asyncio
import json
import shutil

import pytest

from bench.models.presets import PRESETS


@pytest.fixture(scope="module")
def small_dummy(preset_folders, tmp_path_factory):
    """The Llama-3.2-1B preset's tokenizer and config, shrunk to 2 layers of width 64 so the HF
    dummy-weight path runs on 2 CPU cores (head_dim 64 as in the real model)."""
    path = tmp_path_factory.mktemp("small") / "m"
    shutil.copytree(preset_folders["llama-3.2-1b"], path)
    cfg = {**PRESETS["llama-3.2-1b"].config, "hidden_size": 64, "intermediate_size": 128,
           "num_hidden_layers": 2, "num_attention_heads": 1, "num_key_value_heads": 1}
    (path / "config.json").write_text(json.dumps(cfg))
    return path


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
