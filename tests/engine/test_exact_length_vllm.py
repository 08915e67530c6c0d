"""Forced output lengths on vLLM, in process (one engine for the module), with the tiny model
that emits EOS at once (tests/helpers/eos_model.py): ignore_eos requests stream exactly their length,
a request that honours EOS stops after one token."""
from __future__ import annotations

import pytest

from bench.backends.vllm_engine import VLLMBackend
from tests.helpers.eos_model import build_eos_model
from tests.helpers.vllm_helpers import check_stream, distinct_prompts, request, run
from tests.helpers.vllm_present import skip_without_vllm

skip_without_vllm()


@pytest.fixture(scope="module")
def engine(loop, tiny_path, tmp_path_factory):
    path = build_eos_model(tiny_path, tmp_path_factory.mktemp("eos") / "tiny-eos")
    backend = VLLMBackend(path, {"max_model_len": 512, "env": {"VLLM_CPU_KVCACHE_SPACE": "1"}}, seed=0)
    loop.run_until_complete(backend.start())
    yield backend
    loop.run_until_complete(backend.stop())


def test_vllm_forces_length_on_a_model_that_emits_eos_at_once(engine, loop, tiny_tokenizer):
    eos = tiny_tokenizer.eos_token_id
    prompts = distinct_prompts(4, 20, salt=5)
    free = request("free", prompts[0], 20)
    free = type(free)(**{**{f: getattr(free, f) for f in free.__slots__}, "ignore_eos": False})
    natural = run(loop, engine, [free])[0]
    assert natural.ok and natural.output_token_ids == (eos,)     # the model really stops at once
    reqs = [request(f"f{i}", p, n) for i, (p, n) in enumerate(zip(prompts[1:], (1, 9, 33)))]
    for s, r in zip(run(loop, engine, reqs), reqs):
        check_stream(s, r)                                       # exactly max_output_tokens
