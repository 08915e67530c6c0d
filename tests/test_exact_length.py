"""Forced output lengths: a model that really emits EOS early still streams exactly
max_output_tokens on hf, and the driver turns any other count into a `length_mismatch` error."""
from __future__ import annotations

import asyncio

import pytest

from bench.backends.base import Backend, Chunk
from bench.backends.hf import HFBackend
from bench.metrics import core
from bench.run.driver import measure, now_ns
from bench.types import Request
from tests.eos_model import build_eos_model


def req(i: int, n_out: int, **kw) -> Request:
    return Request(id=f"r{i}", prompt_token_ids=tuple(range(10, 18 + i)), max_output_tokens=n_out, **kw)


async def gather(backend, reqs):
    return await asyncio.gather(*(measure(backend, r, now_ns()) for r in reqs))


class ShortBackend(Backend):
    """An injected fault: a server that ends every stream one token early (as EOS would)."""
    async def stream(self, request):
        for i in range(request.max_output_tokens - 1):
            yield Chunk(token_ids=(i,))


def test_driver_flags_a_short_forced_stream_as_length_mismatch():
    s_forced, s_free = asyncio.run(gather(ShortBackend("m", {}), [req(0, 5), req(1, 5, ignore_eos=False)]))
    assert s_forced.error.startswith("length_mismatch") and "4 of 5" in s_forced.error
    assert not s_forced.ok and s_forced.output_tokens == 4
    assert s_free.ok                      # a request that honours EOS may stop early
    assert core.error_reasons([s_forced, s_free]) == {"length_mismatch": 1}


@pytest.fixture(scope="module")
def eos_path(tiny_path, tmp_path_factory):
    return build_eos_model(tiny_path, tmp_path_factory.mktemp("eos") / "tiny-eos")


@pytest.mark.engine
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
