"""Forced output lengths on hf: a model that really emits EOS at once still streams exactly
max_output_tokens, alone and in a batch with rows that honour EOS."""
from __future__ import annotations

import asyncio

import pytest

from bench.backends.hf import HFBackend
from tests.helpers.eos_model import build_eos_model
from tests.unit.test_exact_length import gather, req


@pytest.fixture(scope="module")
def eos_path(tiny_path, tmp_path_factory):
    return build_eos_model(tiny_path, tmp_path_factory.mktemp("eos") / "tiny-eos")


def test_hf_forces_length_on_a_model_that_emits_eos_at_once(eos_path, tiny_tokenizer):
    eos = tiny_tokenizer.eos_token_id
    backend = HFBackend(eos_path, {"max_batch_size": 4, "batch_wait_ms": 50})
    asyncio.run(backend.start())
    try:
        natural = asyncio.run(gather(backend, [req(0, 20, ignore_eos=False)]))[0]
        assert natural.ok and natural.output_token_ids == (eos,)      # the model really stops at once
        alone = asyncio.run(gather(backend, [req(1, 17)]))[0]
        # batched: rows of different lengths, one of which honours EOS (it must not be padded)
        mixed = asyncio.run(gather(backend, [req(2, 9), req(3, 33), req(4, 12, ignore_eos=False), req(5, 1)]))
    finally:
        asyncio.run(backend.stop())
    for s, n in zip([alone, *mixed], [17, 9, 33, None, 1]):
        assert s.ok, s.error
        if n is None:
            assert s.output_token_ids == (eos,)
            continue
        assert s.output_tokens == n == len(s.output_token_ids)
        assert eos not in s.output_token_ids and backend.pad_id not in s.output_token_ids
